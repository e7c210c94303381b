"""Chaos: SIGKILL a real ``dsir select`` (and its workers) at random points while it fits,
scores and writes; ``--resume`` after each kill; the final output must be byte-identical to
an uninterrupted run."""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.pipeline.make_data import make_pool, make_target, output_bytes

FILES = 24


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos")
    # Enough documents per file that each unit takes long enough for the watcher below to
    # catch its phase, even on a loaded machine (a phase that ends before the kill is a miss).
    pool = make_pool(str(root / "pool"), files=FILES, docs_per_file=200, seed=3)
    with open(pool[5], "a") as fh:  # a few bad records, skipped and listed (resumed too)
        fh.write('{"text": 12}\n{"text": "harbour storm"}\n{oops\n')
    return str(root / "pool"), make_target(str(root / "target.jsonl"))


def command(pool: str, target: str, out: str, workers: int, engine: str = "local") -> list[str]:
    return [sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--workers", str(workers), "--raw", pool,
            "--target", target, "-k", "150", "--raw-sample", "300", "--on-error", "skip", "-o", out,
            "--engine", engine]


def start(args: list[str]) -> subprocess.Popen:
    # Its own process group, so a kill takes the workers too (as when a machine dies).
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_when(proc: subprocess.Popen, out: str, phase: str | None, count: int, delay: float) -> bool:
    """SIGKILL ``proc`` once ``count`` units of ``phase`` are recorded (then ``delay`` s more),
    or after ``delay`` s when ``phase`` is None. False if it finished first."""
    deadline = time.monotonic() + 120
    begun = time.monotonic()
    while proc.poll() is None and time.monotonic() < deadline:
        if phase is None:
            ready = time.monotonic() - begun >= delay
        else:
            ready = len(glob.glob(os.path.join(out, "_dsir", f"{phase}-*.rec"))) >= count
        if ready:
            if phase is not None and delay:
                time.sleep(delay)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.wait() == -signal.SIGKILL  # not if it had just finished
        time.sleep(0.002)
    proc.wait()
    return False


@pytest.fixture(scope="module")
def expected(inputs, tmp_path_factory):
    """The output of an uninterrupted run."""
    pool, target = inputs
    ref = str(tmp_path_factory.mktemp("ref") / "out")
    done = subprocess.run(command(pool, target, ref, 1), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    out = output_bytes(ref)
    assert "rejects.jsonl" in out and "manifest.json" in out
    return out


def kill_and_resume(pool, target, out, workers, plan, rng, engine="local", expected_bytes=None) -> list[str]:
    """Run, kill, resume, kill... following ``plan``; then resume to the end. Returns what was killed."""
    killed = []
    for i, (phase, count) in enumerate(plan):
        delay = rng.uniform(0.0, 0.01) if phase in ("fit-raw", "score") else 0.0 if phase else rng.uniform(0.5, 2.5)
        proc = start(command(pool, target, out, workers, engine) + (["--resume"] if i else []))
        if kill_when(proc, out, phase, count, delay):
            killed.append(phase or "random time")
            if os.path.exists(os.path.join(out, "manifest.json")):
                # killed while exiting, after the manifest: it must certify a complete, right output
                assert phase is None and output_bytes(out) == expected_bytes
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()
    final = subprocess.run(command(pool, target, out, workers, engine) + ["--resume"], capture_output=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr.decode()
    assert not [n for n in os.listdir(os.path.join(out, "_dsir")) if "tmp" in n]
    return killed


def test_kill_while_fitting_scoring_writing_and_at_random(inputs, expected, tmp_path):
    pool, target = inputs
    rng = random.Random(11)
    out = str(tmp_path / "out")
    plan = [("fit-raw", rng.randint(1, FILES - 1)), ("score", rng.randint(1, FILES - 1)),
            ("write", rng.randint(1, FILES // 4)), (None, 0)]  # 3/4 of the writes still to do
    killed = kill_and_resume(pool, target, out, 1, plan, rng, expected_bytes=expected)
    assert killed[:3] == ["fit-raw", "score", "write"], killed
    assert output_bytes(out) == expected


@pytest.mark.parametrize("engine", ["local", "processes"])
def test_kill_with_two_workers(inputs, expected, tmp_path, engine):
    """Units recorded by worker threads or worker processes survive a kill of the whole
    process group; the result does not depend on the number of workers either."""
    pool, target = inputs
    rng = random.Random(12)
    out = str(tmp_path / "out")
    killed = kill_and_resume(pool, target, out, 2, [("score", rng.randint(2, FILES - 2))], rng, engine)
    assert killed == ["score"]
    assert output_bytes(out) == expected
