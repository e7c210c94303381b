"""How much of a worker thread's time holds Python's lock (the GIL), measured with py-spy.

The thread engine runs the per-file tasks on threads of one process: the compiled kernels
and pyarrow release the GIL, the Python between their calls holds it. With N threads each
holding it a share g of their time, the GIL is busy N g of the time; as that nears 1 the
threads queue for it, and worker processes (``--engine processes``, one interpreter each)
become faster. This machine has 2 cores, so the slowdown cannot be watched at 16 or 32
workers; g can be measured, and ``engines.AUTO_THREADS_UP_TO`` is set from it.

It runs the same ``dsir select`` twice under ``py-spy record --threads`` (``pip install
py-spy``): once sampling every running thread, once only threads that hold the GIL
(``--gil``), and reports per thread the share ``gil samples / running samples``.

Usage, from the repository root (after ``bench/make_pool.py``, which writes the shards)::

    .venv/bin/python bench/gil_share.py --workers 2
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARDS = REPO_ROOT / "bench" / ".work" / "pools" / "shards"
TARGET = REPO_ROOT.parent / "shared" / "corpus" / "target" / "legal.jsonl.zst"


def samples(path: Path) -> collections.Counter:
    """Samples per thread name in a py-spy raw file (``thread (id): name;frames... count``)."""
    per: collections.Counter = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        thread = stack.split(";", 1)[0]  # "thread (id): name", or "thread (id)" for an unnamed one
        per[thread.split(": ", 1)[1] if ": " in thread else thread] += int(n)
    return per


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--files", type=int, default=2, help="jsonl.zst shards of the benchmark pool to select from")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    a = p.parse_args(argv)
    shards = sorted(SHARDS.glob("pool-*.jsonl.zst"))[: a.files]
    if len(shards) < a.files:
        raise SystemExit(f"need {a.files} shards in {SHARDS}: run bench/make_pool.py first")
    result: dict = {"workers": a.workers, "files": [s.name for s in shards], "rate": a.rate}
    with tempfile.TemporaryDirectory() as tmp:
        select = [sys.executable, "-m", "dsir", "select", *[x for s in shards for x in ("--raw", str(s))],
                  "--target", str(TARGET), "-k", "1000", "--workers", str(a.workers), "--no-report", "--quiet",
                  "-o", str(Path(tmp) / "out")]
        counts = {}
        for mode, flags in (("running", []), ("gil", ["--gil"])):
            raw = Path(tmp) / f"{mode}.txt"
            subprocess.run([a.py_spy, "record", *flags, "--threads", "-r", str(a.rate), "-f", "raw", "-o", str(raw),
                            "--", *select, "--overwrite"], check=True, capture_output=True)
            counts[mode] = samples(raw)
    workers = sorted(t for t in counts["running"] if t.startswith("dsir-worker") or
                     (a.workers == 1 and t == "MainThread"))
    running = sum(counts["running"][t] for t in workers)
    gil = sum(counts["gil"][t] for t in workers)
    result.update({
        "threads": {t: {"running": counts["running"][t], "gil": counts["gil"].get(t, 0)} for t in counts["running"]},
        "worker_running_samples": running, "worker_gil_samples": gil,
        "worker_gil_share": round(gil / running, 3) if running else None,
    })
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
