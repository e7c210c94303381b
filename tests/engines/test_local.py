"""The local engine: the same results, in task order, from threads and from processes."""

from __future__ import annotations

import os
import threading

import pytest

from dsir.engines import LocalEngine


def _square_and_thread(x: int) -> tuple[int, str]:
    return x * x, threading.current_thread().name


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("task 3 failed")
    return x


@pytest.mark.parametrize("processes", [False, True])
def test_results_come_back_in_task_order(processes):
    with LocalEngine(2, progress=False, processes=processes) as engine:
        out = engine.map(_square_and_thread, list(range(20)))
    assert [r for r, _ in out] == [x * x for x in range(20)]
    if not processes:  # the tasks ran in the engine's worker threads
        assert {name for _, name in out} <= {f"dsir-worker_{i}" for i in range(2)}


@pytest.mark.parametrize("processes", [False, True])
def test_a_failing_task_raises_its_own_error(processes):
    with LocalEngine(2, progress=False, processes=processes) as engine:
        with pytest.raises(ValueError, match="task 3 failed"):
            engine.map(_fail_on_three, list(range(8)))


def test_one_worker_runs_in_line():
    with LocalEngine(1, progress=False) as engine:
        assert engine.map(_square_and_thread, [2]) == [(4, threading.current_thread().name)]
        assert engine._pool is None


def _fail_fast_or_read_slowly(x: int) -> int:
    """Task 0 fails at once; the others read "blocks" until they are told to stop."""
    if x == 0:
        raise ValueError("bad input in file 0")
    return _read_blocks_until_cancelled(x)


def _read_blocks_until_cancelled(x: int) -> int:
    import time

    from dsir import cancel

    for _ in range(600):  # a minute of blocks, unless cancelled
        cancel.check()
        time.sleep(0.1)
    return x


def test_a_failure_stops_the_other_threads_within_a_block():
    import time

    from dsir.cancel import CANCELLED

    with LocalEngine(2, progress=False) as engine:
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="bad input in file 0"):
            engine.map(_fail_fast_or_read_slowly, [1, 0, 2, 3])
        assert time.perf_counter() - t0 < 5
        assert not CANCELLED.is_set()  # the next run is not cancelled
        assert engine.map(abs, [-1, -2]) == [1, 2]


def test_threads_and_processes_write_the_same_bytes(tmp_path):
    import json
    import os
    import random

    from click.testing import CliRunner

    from dsir.cli.main import main

    rng = random.Random(1)
    words = {"law": "court statute plaintiff appeal ruling judge".split(),
             "food": "recipe flour oven butter simmer taste".split()}
    pool = tmp_path / "pool"
    pool.mkdir()
    for f in range(3):
        with open(pool / f"p{f}.jsonl", "w") as fh:
            for i in range(60):
                dom = rng.choice(list(words))
                text = " ".join(rng.choice(words[dom]) for _ in range(rng.randint(5, 40)))
                fh.write(json.dumps({"id": f"{f}-{i}", "text": text}) + "\n")
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": " ".join(rng.choice(words["law"]) for _ in range(20))}) + "\n"
                              for _ in range(20)))
    outs = {}
    for engine in ("local", "processes"):
        outs[engine] = tmp_path / engine
        r = CliRunner().invoke(main, ["select", "--raw", str(pool), "--target", str(target), "-k", "25", "-o",
                                      str(outs[engine]), "--engine", engine, "--workers", "2", "--quiet", "--no-report"])
        assert r.exit_code == 0, r.output
    files = sorted(p for p in os.listdir(outs["local"]) if p.startswith("part-"))
    assert files and files == sorted(p for p in os.listdir(outs["processes"]) if p.startswith("part-"))
    for name in files + ["manifest.json"]:
        assert (outs["local"] / name).read_bytes() == (outs["processes"] / name).read_bytes(), name


def _interrupt_then_read_slowly(x: int) -> int:
    """Task 0 presses Ctrl-C (KeyboardInterrupt in the main thread); all read blocks until cancelled."""
    import _thread
    import time

    if x == 0:
        time.sleep(0.2)
        _thread.interrupt_main()
    return _read_blocks_until_cancelled(x)


def test_ctrl_c_stops_the_worker_threads_promptly():
    import time

    from dsir.cancel import CANCELLED

    with LocalEngine(2, progress=False) as engine:
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            engine.map(_interrupt_then_read_slowly, [0, 1, 2])
        assert time.perf_counter() - t0 < 5
        assert not CANCELLED.is_set()


def test_worker_processes_die_with_their_parent(tmp_path):
    """Issue 18, item 9: SIGKILL of dsir (as the OOM killer does) leaves no worker process,
    nor the resource tracker, behind (so `dsir ... | tee log` returns)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.pipeline.make_data import make_pool, make_target

    make_pool(str(tmp_path / "pool"), files=6, docs_per_file=1500, seed=2)
    target = make_target(str(tmp_path / "target.jsonl"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--engine", "processes",
                             "--workers", "2", "--raw", str(tmp_path / "pool"), "--target", target, "-k", "10",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def session() -> list[int]:
        ps = subprocess.run(["ps", "-o", "pid=,sid=", "-A"], capture_output=True, text=True).stdout.split("\n")
        return [int(p) for p, s in (line.split() for line in ps if line.strip()) if int(s) == proc.pid
                and int(p) != proc.pid]

    deadline = time.monotonic() + 60
    while len(session()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before its workers could be seen")
    assert len(session()) >= 2  # the workers (and the resource tracker) are running
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone, not its process group
    proc.wait()
    deadline = time.monotonic() + 15
    while session() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session() == [], "worker processes outlived their parent"


def test_ctrl_c_with_worker_processes_prints_no_worker_tracebacks(tmp_path):
    """Issue 18, item 16: Ctrl-C (SIGINT to the process group) stops a processes-engine run
    promptly, with no KeyboardInterrupt tracebacks from the workers."""
    import signal
    import subprocess
    import sys
    import time

    from tests.pipeline.make_data import make_pool, make_target

    make_pool(str(tmp_path / "pool"), files=6, docs_per_file=1500, seed=2)
    target = make_target(str(tmp_path / "target.jsonl"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--engine", "processes",
                             "--workers", "2", "--raw", str(tmp_path / "pool"), "--target", target, "-k", "10",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not list((out / "_dsir").glob("count-*.rec")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_the_heap_growth_limit_fixes_glibcs_mmap_threshold_once(monkeypatch):
    import ctypes

    from dsir.engines import local

    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(local, "_heap_limited", False)
    local.limit_heap_growth()
    local.limit_heap_growth()
    assert calls == [(-3, 4 << 20)]


def test_the_heap_growth_limit_leaves_a_users_setting_and_other_allocators_alone(monkeypatch):
    import ctypes

    from dsir.engines import local

    def no_libc(name):
        raise AssertionError("mallopt must not be called when the user set the threshold")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    monkeypatch.setattr(local, "_heap_limited", False)
    local.limit_heap_growth()

    class NotGlibc:  # macOS, musl: no mallopt
        pass

    monkeypatch.setattr(ctypes, "CDLL", lambda name: NotGlibc())
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    local.limit_heap_growth()  # no error
    monkeypatch.setattr(local, "_heap_limited", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: (_ for _ in ()).throw(OSError("no libc")))
    local.limit_heap_growth()  # no error either
