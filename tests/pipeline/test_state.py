"""Unit records: reuse only under the same fingerprint and owned files; invalidate first."""

from __future__ import annotations

import os

import numpy as np

from dsir.io.paths import InputFile
from dsir.pipeline.state import (
    DurableUnit, RunState, array_digest, file_identity, fingerprint, load_record, run_unit, save_record,
)


def _encode(r):
    return {"n": r["n"]}, {"a": r["a"]}


def _decode(meta, arrays):
    return {"n": meta["n"], "a": arrays["a"]}


def _work(task):
    calls, path = task
    calls.append(1)
    if path:
        with open(path, "wb") as fh:
            fh.write(b"owned")
    return {"n": 7, "a": np.arange(5, dtype=np.int64)}


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


def test_run_unit_reuses_only_a_matching_record(tmp_path):
    state = RunState(str(tmp_path), resume=True)
    calls: list = []
    owned = str(tmp_path / "owned.bin")
    unit = state.unit("score", 0, _work, (calls, owned), "fp", _encode, _decode, (owned,))
    first = run_unit(unit)
    again = run_unit(unit)
    assert len(calls) == 1 and again["n"] == 7 and again["a"].tolist() == first["a"].tolist()
    assert state.count_reusable([unit]) == (1, 0)
    run_unit(DurableUnit(_work, (calls, owned), unit.record_path, "other", _encode, _decode, (owned,)))
    assert len(calls) == 2
    os.unlink(owned)  # an owned file vanished: the record no longer vouches for anything
    run_unit(DurableUnit(_work, (calls, owned), unit.record_path, "other", _encode, _decode, (owned,)))
    assert len(calls) == 3


def test_without_resume_everything_is_recomputed(tmp_path):
    calls: list = []
    unit = RunState(str(tmp_path), resume=False).unit("fit", 0, _work, (calls, None), "fp", _encode, _decode)
    run_unit(unit)
    run_unit(unit)
    assert len(calls) == 2


class _Boom(Exception):
    pass


def _fail(task):
    raise _Boom


def test_a_stale_record_is_removed_before_the_unit_runs(tmp_path):
    state = RunState(str(tmp_path), resume=True)
    owned = str(tmp_path / "owned.bin")
    run_unit(state.unit("w", 0, _work, ([], owned), "old", _encode, _decode, (owned,)))
    try:
        run_unit(state.unit("w", 0, _fail, None, "new", _encode, _decode, (owned,)))
    except _Boom:
        pass
    # Neither the old record nor its file survives a failed recomputation.
    assert not os.path.exists(state.record_path("w", 0)) and not os.path.exists(owned)


def test_fingerprints_see_file_changes_and_parameters(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "x"}\n')
    f = InputFile(str(path), "jsonl", None, path.stat().st_size)
    before = fingerprint(file=file_identity(f), seed=1)
    assert before == fingerprint(file=file_identity(f), seed=1)
    assert before != fingerprint(file=file_identity(f), seed=2)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert before != fingerprint(file=file_identity(f), seed=1)
    assert array_digest(np.zeros(3)) != array_digest(np.zeros(4))
    assert array_digest(np.zeros(3)) != array_digest(np.zeros(3, dtype=np.float32))
