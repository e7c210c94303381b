"""Resuming a select run: reuse of finished units, byte-identical output, invalidation."""

from __future__ import annotations

import dataclasses
import os

import pytest

from dsir import DSIR
from dsir.engines.local import LocalEngine
from dsir.errors import UsageError
from dsir.pipeline.units import DurableUnit
from tests.pipeline.make_data import make_pool, make_target, output_bytes, write_jsonl


class Crash(BaseException):
    """Stands for SIGKILL in-process: not an Exception, so nothing cleans up after it."""


class ScriptedEngine(LocalEngine):
    """In-process engine that counts the units it computes and can crash at a given task.

    ``crash_at``: index (over all tasks of the run) of the task at which to crash;
    ``after``: crash right after the unit's work is done but before its record is written
    (its files exist, the record does not) instead of before it starts.
    """

    def __init__(self, crash_at: int | None = None, after: bool = False):
        super().__init__(1, progress=False)
        self.crash_at, self.after = crash_at, after
        self.seen = 0
        self.computed: dict[str, int] = {}

    def map(self, fn, tasks, desc="", weights=None):
        out = []
        for t in tasks:
            index, self.seen = self.seen, self.seen + 1
            if index == self.crash_at and not self.after:
                raise Crash(desc)
            if isinstance(t, DurableUnit):
                t = dataclasses.replace(t, fn=self._wrap(t.fn, desc, index))
            out.append(fn(t))
        return out

    def _wrap(self, inner, desc, index):
        def run(task):
            self.computed[desc] = self.computed.get(desc, 0) + 1
            result = inner(task)
            if index == self.crash_at and self.after:
                raise Crash(desc)
            return result
        return run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    pool = make_pool(str(root / "pool"), files=3, docs_per_file=40)
    target = make_target(str(root / "target.jsonl"))
    return str(root / "pool"), pool, target


def run(raw, target, out, engine=None, resume=False, overwrite=False, report=False, **params):
    k = params.pop("k", 25)
    d = DSIR(raw_sample=params.pop("raw_sample", 50), engine=engine or ScriptedEngine(), **params)
    return d.select(raw, out, k=k, target=target, resume=resume, overwrite=overwrite, report=report)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    pool_dir, _, target = corpus
    out = str(tmp_path_factory.mktemp("ref") / "out")
    run(pool_dir, target, out)
    return output_bytes(out)


TASKS = 1 + 3 * 4  # fit target, then count, fit raw, score, write for each of 3 raw files


@pytest.mark.parametrize("after", [False, True], ids=["before-unit", "after-unit-before-record"])
@pytest.mark.parametrize("crash_at", range(TASKS))
def test_crash_anywhere_then_resume_is_byte_identical(corpus, reference, tmp_path, crash_at, after):
    pool_dir, _, target = corpus
    out = str(tmp_path / "out")
    with pytest.raises(Crash):
        run(pool_dir, target, out, ScriptedEngine(crash_at, after))
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    engine = ScriptedEngine()
    run(pool_dir, target, out, engine, resume=True)
    assert output_bytes(out) == reference
    # Units finished before the crash were reused, not computed again.
    finished_before = crash_at  # tasks before the crashing one all recorded their result
    assert sum(engine.computed.values()) == TASKS - finished_before


def test_resume_of_a_finished_run_recomputes_nothing(corpus, reference, tmp_path):
    pool_dir, _, target = corpus
    out = str(tmp_path / "out")
    run(pool_dir, target, out)
    engine = ScriptedEngine()
    run(pool_dir, target, out, engine, resume=True)
    assert engine.computed == {}
    assert output_bytes(out) == reference


def test_resume_into_a_missing_directory_starts_fresh(corpus, reference, tmp_path):
    pool_dir, _, target = corpus
    out = str(tmp_path / "new")
    run(pool_dir, target, out, resume=True)
    assert output_bytes(out) == reference


@pytest.mark.parametrize("change, recomputed", [
    ({"seed": 7}, {"score", "write"}),  # rate 50/120 < 1: the raw sample depends on the seed too
    ({"ngrams": 1}, {"fit target", "fit raw", "score", "write"}),
    ({"temperature": 0.05}, {"score", "write"}),
    ({"min_length": 25}, {"score", "write"}),
    ({"top_k": True}, {"score", "write"}),
    ({"k": 10}, {"write"}),
])
def test_changed_parameters_invalidate_stale_units(corpus, tmp_path, change, recomputed):
    pool_dir, _, target = corpus
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    run(pool_dir, target, out)
    engine = ScriptedEngine()
    run(pool_dir, target, out, engine, resume=True, **dict(change))
    run(pool_dir, target, fresh, **dict(change))
    assert output_bytes(out) == output_bytes(fresh)
    assert recomputed <= set(engine.computed)
    assert "count raw" not in engine.computed  # counting does not depend on any parameter
    if "seed" in change:
        assert "fit raw" in engine.computed


def test_changed_input_file_invalidates_its_units(corpus, tmp_path):
    pool_dir, pool, target = corpus
    raw = str(tmp_path / "pool")
    os.makedirs(raw)
    copies = []
    for p in pool:
        dst = os.path.join(raw, os.path.basename(p))
        with open(p, "rb") as src, open(dst, "wb") as fh:
            fh.write(src.read())
        copies.append(dst)
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    run(raw, target, out)
    # Same size, different bytes, so only the modification time and content differ.
    with open(copies[1], "r+b") as fh:
        data = fh.read()
        fh.seek(0)
        fh.write(data.replace(b"ship", b"shop", 3))
    st = os.stat(copies[1])
    os.utime(copies[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    engine = ScriptedEngine()
    run(raw, target, out, engine, resume=True)
    run(raw, target, fresh)
    assert output_bytes(out) == output_bytes(fresh)
    assert engine.computed["count raw"] == 1  # only the changed file is counted again


def test_fewer_input_files_remove_their_stale_shards(corpus, tmp_path):
    pool_dir, pool, target = corpus
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    run(pool, target, out, k=100)
    assert "part-00002.jsonl" in output_bytes(out)
    run(pool[:2], target, out, resume=True, k=100)
    run(pool[:2], target, fresh, k=100)
    assert output_bytes(out) == output_bytes(fresh)
    assert "part-00002.jsonl" not in output_bytes(out)


def test_damaged_state_is_recomputed_not_trusted(corpus, reference, tmp_path):
    pool_dir, _, target = corpus
    out = str(tmp_path / "out")
    run(pool_dir, target, out)
    work = os.path.join(out, "_dsir")
    with open(os.path.join(work, "score-00001.rec"), "r+b") as fh:
        fh.truncate(20)  # torn record
    os.unlink(os.path.join(out, "part-00000.jsonl"))  # a shard its record vouches for is gone
    with open(os.path.join(work, "scores-00002.npz"), "ab") as fh:
        fh.write(b"junk")  # score arrays changed after their record was written
    engine = ScriptedEngine()
    run(pool_dir, target, out, engine, resume=True)
    assert output_bytes(out) == reference
    # Recomputed scores equal the recorded ones (same inputs), so only the lost shard is written again.
    assert engine.computed == {"score": 2, "write": 1}


def test_leftover_temporary_files_are_cleared_on_resume(corpus, reference, tmp_path):
    pool_dir, _, target = corpus
    out = str(tmp_path / "out")
    with pytest.raises(Crash):
        run(pool_dir, target, out, ScriptedEngine(TASKS - 1))
    for name in (".part-00000.jsonl.tmp-123", ".manifest.json.tmp-9", "_dsir/score-00000.rec.tmp-5",
                 "_dsir/tmpab12.tmp"):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(b"half")
    run(pool_dir, target, out, resume=True)
    assert output_bytes(out) == reference
    assert not [n for n in os.listdir(os.path.join(out, "_dsir")) if "tmp" in n]


def test_output_directory_rules(corpus, tmp_path):
    pool_dir, _, target = corpus
    out = str(tmp_path / "out")
    run(pool_dir, target, out)
    before = output_bytes(out)
    with pytest.raises(UsageError, match="not empty: it holds an earlier dsir run; add --resume .* or --overwrite"):
        run(pool_dir, target, out)
    with pytest.raises(UsageError, match="not both"):
        run(pool_dir, target, out, resume=True, overwrite=True)
    assert output_bytes(out) == before  # a refused run touches nothing
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty and holds no dsir run"):
        run(pool_dir, target, str(other), resume=True)
    with pytest.raises(UsageError, match="not empty"):
        run(pool_dir, target, str(other))
    assert os.listdir(other) == ["notes.txt"]


def test_resume_with_skipped_records_keeps_rejects(tmp_path):
    raw = str(tmp_path / "raw.jsonl")
    write_jsonl(raw, ["a ship on the sea"] * 3 + [f"doc {i} ship" for i in range(10)])
    with open(raw, "a") as fh:
        fh.write('{"text": 5}\n{"text": "harbour"}\n')
    target = make_target(str(tmp_path / "t.jsonl"))
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    with pytest.raises(Crash):
        run(raw, target, out, ScriptedEngine(4), k=5, on_error="skip")
    run(raw, target, out, resume=True, k=5, on_error="skip")
    run(raw, target, fresh, k=5, on_error="skip")
    assert output_bytes(out) == output_bytes(fresh)
    assert b'"reason": "text field \'text\' is a number' in output_bytes(out)["rejects.jsonl"]


def test_crash_then_resume_with_the_report_and_skipped_records(tmp_path):
    """The report (written after the manifest) is remade on resume, byte for byte, and reads
    files with rejected records as the selection did."""
    raw = str(tmp_path / "raw.jsonl")
    write_jsonl(raw, [f"doc {i}: a ship on the sea by the harbour" for i in range(30)])
    with open(raw, "a") as fh:
        fh.write('{"text": 5}\n{oops\n')
    target = make_target(str(tmp_path / "t.jsonl"))
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    with pytest.raises(Crash):
        run(raw, target, out, ScriptedEngine(4), k=5, on_error="skip", report=True)  # crash in write
    run(raw, target, out, resume=True, k=5, on_error="skip", report=True)
    run(raw, target, fresh, k=5, on_error="skip", report=True)
    got = output_bytes(out)
    assert "report.json" in got and "report.html" in got
    assert got == output_bytes(fresh)


def test_overwrite_deletes_only_what_dsir_wrote(corpus, tmp_path):
    """--overwrite never deletes a user's file, even one named like a shard (issue 18, item 5)."""
    pool, _, target = corpus
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "part-00000.jsonl").write_text("mine\n")
    for overwrite in (False, True):
        with pytest.raises(UsageError, match="holds no dsir run"):
            DSIR(raw_sample=50).select(pool, str(foreign), k=5, target=target, overwrite=overwrite, report=False)
    assert (foreign / "part-00000.jsonl").read_text() == "mine\n"
    out = tmp_path / "out"
    DSIR(raw_sample=50).select(pool, str(out), k=30, target=target, report=False)
    (out / "part-keep.txt").write_text("mine too")
    m = DSIR(raw_sample=50, seed=1).select(pool, str(out), k=30, target=target, overwrite=True, report=False)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("part-")) == \
        sorted(["part-keep.txt", *(o["path"] for o in m["outputs"])])


def test_output_inside_an_input_or_input_inside_the_output_is_refused(corpus, tmp_path):
    """Issue 18, item 4: a selection inside its pool would be read back as input by a later run,
    and --overwrite or --resume would delete input."""
    pool_dir, _, target = corpus
    with pytest.raises(UsageError, match="output directory is inside the input"):
        DSIR(raw_sample=50).select(pool_dir, os.path.join(pool_dir, "out"), k=5, target=target, report=False)
    assert not os.path.exists(os.path.join(pool_dir, "out"))
    out = tmp_path / "out"
    DSIR(raw_sample=50).select(pool_dir, str(out), k=5, target=target, report=False)
    shard = next(p for p in out.iterdir() if p.name.startswith("part-"))
    with pytest.raises(UsageError, match="input file is inside the output directory"):
        DSIR(raw_sample=50).select([pool_dir, str(shard)], str(out), k=5, target=target, overwrite=True,
                                   report=False)
    assert shard.exists()
    with pytest.raises(UsageError, match="inside the output directory"):
        DSIR(raw_sample=50).select(pool_dir, str(out), k=5, target=str(shard), overwrite=True, report=False)


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_one_run_at_a_time_per_output_directory(corpus, tmp_path):
    """Issue 18, item 3: a second run into a directory another run is writing is refused with
    who holds it; a lock left by a dead run is taken over; the lock goes with the run."""
    import json as _json
    import socket

    pool_dir, _, target = corpus
    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".dsir.lock"
    lock.write_text(_json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    with pytest.raises(UsageError, match=f"another dsir run \\(pid {os.getpid()} on .*\\) is writing"):
        DSIR(raw_sample=50).select(pool_dir, str(out), k=5, target=target, report=False)
    assert lock.exists() and not (out / "_dsir").exists()
    lock.write_text(_json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "then"}))
    m = DSIR(raw_sample=50).select(pool_dir, str(out), k=5, target=target)
    assert m["counts"]["selected"] == 5 and not lock.exists() and (out / "report.json").exists()


def test_two_runs_at_once_never_mix(corpus, tmp_path):
    """Two real processes into one directory: the second is refused; the first finishes alone."""
    import subprocess
    import sys
    import time

    from tests.pipeline.make_data import make_pool as _make_pool

    pool = tmp_path / "big"
    _make_pool(str(pool), files=8, docs_per_file=400, seed=5)
    _, _, target = corpus
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--workers", "1", "--raw", str(pool),
           "--target", target, "-k", "50", "-o", str(out)]
    # The second process imports dsir first and then waits for the first run's lock, so its
    # start-up cannot outlast the first run.
    waiter = ("import os, sys, time\nfrom dsir.cli.main import main\n"
              f"lock = {str(out / '.dsir.lock')!r}\n"
              "deadline = time.monotonic() + 60\n"
              "while not os.path.exists(lock) and time.monotonic() < deadline:\n    time.sleep(0.002)\n"
              "sys.argv = ['dsir'] + sys.argv[1:]\nmain()\n")
    second_proc = subprocess.Popen([sys.executable, "-c", waiter, *cmd[3:], "--seed", "2", "--resume"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # its imports
    first = subprocess.Popen(cmd + ["--seed", "1"], stderr=subprocess.PIPE)
    _, err = second_proc.communicate(timeout=120)
    second = subprocess.CompletedProcess(second_proc.args, second_proc.returncode, "", err)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    if (out / "manifest.json").exists() and second.returncode == 0:
        pytest.skip("the first run finished before the second started: nothing to race")
    assert second.returncode == 2 and "another dsir run" in second.stderr, second.stderr
    manifest = _json_load(out / "manifest.json")
    assert manifest["parameters"]["seed"] == 1 and manifest["counts"]["selected"] == 50
    assert sum(o["documents"] for o in manifest["outputs"]) == 50 and not (out / ".dsir.lock").exists()


def _json_load(path):
    import json as _json

    return _json.loads(path.read_text())
