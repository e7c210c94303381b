"""Durable units: records are reused only under the same derived fingerprint and owned files;
every field of a task is in its fingerprint except the pinned list of exclusions."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pytest

from dsir.featurize import HashedNgramFeaturizer, Sha256NgramFeaturizer
from dsir.io.paths import InputFile
from dsir.io.writers import ShardLimits
from dsir.dedup.rule import SignatureSpec
from dsir.filters import Filters
from dsir.pipeline.tasks import CountTask, FitResult, FitTask, ReadSpec, ScoreTask, WriteTask
from dsir.pipeline.units import (
    DurableUnit, RunState, array_digest, excluded_fields, file_identity, fingerprint, load_record, run_unit,
    save_record, task_fingerprint,
)
from dsir.reports.samples import SampleSpec
from dsir.sample.methods import KeyRule


@dataclass
class Result:
    n: int
    a: np.ndarray


def _work(task) -> Result:
    calls, path = task
    calls.append(1)
    if path:
        with open(path, "wb") as fh:
            fh.write(b"owned")
    return Result(7, np.arange(5, dtype=np.int64))


def _unit(state, fn, task, fp, owned=()):
    return DurableUnit(fn, task, state.record_path("score", 0), fp, Result, owned, state.resume)


def test_record_round_trip_and_fingerprint_check(tmp_path):
    path = str(tmp_path / "x.rec")
    save_record(path, "fp1", {"n": 3}, {"c": np.array([1, 2, 3])}, {})
    header, arrays = load_record(path, "fp1")
    assert header["meta"] == {"n": 3} and arrays["c"].tolist() == [1, 2, 3]
    assert load_record(path, "fp2") is None
    assert load_record(str(tmp_path / "missing.rec"), "fp1") is None
    with open(path, "r+b") as fh:
        fh.truncate(12)
    assert load_record(path, "fp1") is None


def test_record_arrays_are_a_zstd_npz_and_older_zlib_records_still_load(tmp_path):
    import io
    import json

    import zstandard

    path = str(tmp_path / "x.rec")
    counts = np.zeros(1 << 16, np.int64)
    counts[7] = 3
    save_record(path, "fp", {}, {"counts": counts}, {})
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    assert json.loads(data[8: 8 + n])["arrays"] == "npz.zst"
    assert zstandard.ZstdDecompressor().decompress(data[8 + n:])[:2] == b"PK"  # an .npz inside
    assert len(data) < counts.nbytes / 20  # compressed: the counts are mostly zeros
    assert np.array_equal(load_record(path, "fp")[1]["counts"], counts)
    with open(path, "r+b") as fh:  # a torn payload is not a record: recompute
        fh.truncate(len(data) - 5)
    assert load_record(path, "fp") is None
    header = json.dumps({"fingerprint": "fp", "meta": {}, "owned": {}, "arrays": True}).encode()
    old = io.BytesIO()
    np.savez_compressed(old, counts=counts)  # the format before zstd
    with open(path, "wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header + old.getvalue())
    assert np.array_equal(load_record(path, "fp")[1]["counts"], counts)


def test_run_unit_reuses_only_a_matching_record(tmp_path):
    state = RunState(str(tmp_path), resume=True)
    calls: list = []
    owned = str(tmp_path / "owned.bin")
    unit = _unit(state, _work, (calls, owned), "fp", (owned,))
    first = run_unit(unit)
    again = run_unit(unit)
    assert len(calls) == 1 and again.n == 7 and again.a.tolist() == first.a.tolist()
    run_unit(_unit(state, _work, (calls, owned), "other", (owned,)))
    assert len(calls) == 2
    os.unlink(owned)  # an owned file vanished: the record no longer vouches for anything
    run_unit(_unit(state, _work, (calls, owned), "other", (owned,)))
    assert len(calls) == 3


def test_without_resume_everything_is_recomputed(tmp_path):
    calls: list = []
    unit = _unit(RunState(str(tmp_path), resume=False), _work, (calls, None), "fp")
    run_unit(unit)
    run_unit(unit)
    assert len(calls) == 2


class _Boom(Exception):
    pass


def _fail(task) -> Result:
    raise _Boom


def test_a_stale_record_is_removed_before_the_unit_runs(tmp_path):
    state = RunState(str(tmp_path), resume=True)
    owned = str(tmp_path / "owned.bin")
    run_unit(_unit(state, _work, ([], owned), "old", (owned,)))
    with pytest.raises(_Boom):
        run_unit(_unit(state, _fail, None, "new", (owned,)))
    # Neither the old record nor its file survives a failed recomputation.
    assert not os.path.exists(state.record_path("score", 0)) and not os.path.exists(owned)


def test_file_identity_sees_changes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "x"}\n')
    f = InputFile(str(path), "jsonl", None, path.stat().st_size)
    before = fingerprint(file=file_identity(f), seed=1)
    assert before == fingerprint(file=file_identity(f), seed=1)
    assert before != fingerprint(file=file_identity(f), seed=2)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert before != fingerprint(file=file_identity(f), seed=1)
    assert array_digest(np.zeros(3)) != array_digest(np.zeros(3, dtype=np.float32))


# -- derived fingerprints ---------------------------------------------------------------------

#: The only fields left out of fingerprints, and why: each names where a unit writes its
#: files in the work directory, or how a file is cut into batches; none changes a result.
EXCLUDED = {
    ReadSpec: ["block_bytes"],
    CountTask: ["block_bytes"],
    FitTask: ["rejects_path"],
    ScoreTask: ["scores_path", "rejects_path"],
    WriteTask: ["scores_path"],
    SampleSpec: [],
    KeyRule: [],
    HashedNgramFeaturizer: [],
    Sha256NgramFeaturizer: [],
    ShardLimits: [],
}


def test_the_exclusions_are_exactly_the_pinned_list():
    assert {cls: excluded_fields(cls) for cls in EXCLUDED} == EXCLUDED


#: fields whose values are names from a fixed set: another valid one
ALTERNATIVES = {"method": "random", "weighting": "mean", "emit": "chunks", "output_format": "parquet",
                "on_error": "skip"}


def _changed(value, name: str = ""):
    """Another value of the same kind."""
    if name in ALTERNATIVES:
        return ALTERNATIVES[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 + 0.3
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "id"
    if isinstance(value, np.ndarray):
        out = value.copy()
        out.flat[0] += 1
        return out
    if isinstance(value, tuple):
        return value + (value[-1],) if value else (1,)
    if isinstance(value, InputFile):
        return dataclasses.replace(value, path=value.path + "2")
    if dataclasses.is_dataclass(value):
        f = next(f for f in dataclasses.fields(value) if f.metadata.get("fingerprint", True))
        return dataclasses.replace(value, **{f.name: _changed(getattr(value, f.name), f.name)})
    raise AssertionError(type(value))


def _tasks(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a b"}\n')
    file = InputFile(str(p), "jsonl", None, p.stat().st_size)
    p2 = tmp_path / "a.jsonlx2"
    p2.write_bytes(b'{"text": "a b"}\n')
    read, feat = ReadSpec(), HashedNgramFeaturizer(2, 16)
    spec = SampleSpec(0, 0.5, (0.5,), 0.5, np.arange(3), (1,), 600)
    return [
        CountTask(file),
        FitTask(file, read, feat, 0.5, 1, True, 0, 0, 0),
        ScoreTask(0, file, read, feat, np.zeros((1, 16)), KeyRule(), 0, 0, None, "documents", False, Filters(),
                  SignatureSpec("near"), scores_path="s", rejects_path=None),
        WriteTask(0, file, read, feat, "fp", np.zeros(1, np.int16), ("o",), "jsonl", "documents", spec, None, "s"),
    ]


def test_every_field_of_every_task_is_in_its_fingerprint(tmp_path, monkeypatch):
    import dsir.pipeline.units as units

    # a changed InputFile path must not need the file to exist for this test
    monkeypatch.setattr(units, "file_identity", lambda f: {"path": f.path, "size": f.size})
    for task in _tasks(tmp_path):
        base = task_fingerprint("p", task)
        for f in dataclasses.fields(task):
            value = getattr(task, f.name)
            other = dataclasses.replace(task, **{f.name: _changed(value, f.name)})
            if f.name in EXCLUDED[type(task)]:
                assert task_fingerprint("p", other) == base, (type(task).__name__, f.name)
            else:
                assert task_fingerprint("p", other) != base, (type(task).__name__, f.name)
        # nested dataclasses too: each of their fields counts
        for f in dataclasses.fields(task):
            value = getattr(task, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, InputFile):
                for g in dataclasses.fields(value):
                    inner = dataclasses.replace(value, **{g.name: _changed(getattr(value, g.name), g.name)})
                    same = g.name in EXCLUDED.get(type(value), [])
                    assert (task_fingerprint("p", dataclasses.replace(task, **{f.name: inner})) == base) == same, \
                        (type(task).__name__, f.name, g.name)


def test_an_unknown_field_type_is_refused_not_ignored():
    @dataclass(frozen=True)
    class Odd:
        x: object

    with pytest.raises(TypeError, match="cannot fingerprint"):
        task_fingerprint("p", Odd(object()))


def test_results_round_trip_through_records(tmp_path):
    r = FitResult(3, 1, np.arange(4), *(np.arange(2.0),) * 8)
    state = RunState(str(tmp_path), resume=True)
    unit = DurableUnit(lambda t: r, None, state.record_path("fit", 0), "fp", FitResult, (), True)
    run_unit(unit)
    back = run_unit(DurableUnit(_fail, None, state.record_path("fit", 0), "fp", FitResult, (), True))
    assert back.documents == 3 and back.rejected == 1 and back.counts.tolist() == [0, 1, 2, 3]
