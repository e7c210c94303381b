"""Run the reference DSIR (``data-selection==1.0.3``) once, timing each phase.

Run this INSIDE the reference venv (see ``setup_env.py``)::

    bench/.venv-reference/bin/python bench/reference/run_reference.py \
        --raw pool.jsonl --target target.jsonl -k 1000 --out OUT --workers 2

It runs ``HashedNgramDSIR(ngrams=2, num_buckets=10000,
min_example_length=L, num_proc=workers)`` with
``fit_importance_estimator(num_tokens_to_fit='auto')``,
``compute_importance_weights()`` and ``resample(...)``; numpy's global RNG is
seeded with ``--seed`` first (the reference samples with ``np.random.gumbel``).

Layout of ``--out`` afterwards::

    OUT/selected/{i}.jsonl     the reference's own output, one file per virtual
                               shard; lines are the raw input lines verbatim
    OUT/selected.jsonl         those files concatenated (done after timing)
    OUT/cache/                 the reference's cache (log importance weights,
                               per-example lengths)
    OUT/reference_timings.json per-phase wall time, CPU time and peak memory
    OUT/log_diff.npy           the fitted log-ratio (``dsir.log_diff``)

Memory accounting: the reference does its work in joblib/loky worker
processes, so for every phase three numbers are recorded:

* ``peak_rss_tree_mb``: the largest sum of VmRSS over this process and all its
  descendants, sampled from /proc every 50 ms during the phase (shared pages
  are counted once per process, like ``ps`` would);
* ``maxrss_self_mb`` / ``maxrss_children_mb``: ``resource.getrusage`` high-water
  marks after the phase for this process and for the largest reaped child
  (both are process-lifetime maxima, so they never decrease across phases).

To make the children figures per-phase meaningful, the loky worker pool is
shut down at the end of each phase (so its workers are reaped); the next phase
therefore starts fresh workers, which costs well under a second per phase.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Bytes per unit of ``ru_maxrss`` (kilobytes on Linux, bytes on macOS).
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


def _read_ppid_map() -> dict[int, int]:
    """Return {pid: parent pid} for every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Format: "pid (comm) state ppid ..."; comm may contain spaces/parens.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _rss_bytes(pid: int) -> int:
    """Return the resident set size of ``pid`` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss_bytes(root: int) -> int:
    """Return the summed RSS (bytes) of process ``root`` and all its descendants."""
    parents = _read_ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(children.get(pid, ()))
    return total


class TreeRssSampler:
    """Background thread recording the peak summed RSS of this process tree."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._available = os.path.isdir("/proc")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(os.getpid()))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeRssSampler:
        if self._available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._available:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(os.getpid()))


def shutdown_loky_workers() -> None:
    """Shut down joblib's reusable loky executor (if any) so its workers are reaped."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - joblib always ships loky
        return
    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


def timed_phase(name: str, fn: Callable[[], Any], record: dict[str, Any]) -> Any:
    """Run ``fn()``, store its wall/CPU time and peak memory under ``record[name]``.

    CPU times are deltas of ``getrusage`` for this process and for reaped
    children; the loky workers are shut down (and so reaped) inside the timed
    region so that their CPU time is attributed to this phase.
    """
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with TreeRssSampler() as sampler:
        t0 = time.perf_counter()
        result = fn()
        shutdown_loky_workers()
        wall = time.perf_counter() - t0
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    record[name] = {
        "wall_s": round(wall, 4),
        "cpu_user_s": round(
            (self_after.ru_utime - self_before.ru_utime) + (children_after.ru_utime - children_before.ru_utime), 3
        ),
        "cpu_sys_s": round(
            (self_after.ru_stime - self_before.ru_stime) + (children_after.ru_stime - children_before.ru_stime), 3
        ),
        "peak_rss_tree_mb": round(sampler.peak_bytes / 2**20, 1),
        "maxrss_self_mb": round(self_after.ru_maxrss * _MAXRSS_UNIT / 2**20, 1),
        "maxrss_children_mb": round(children_after.ru_maxrss * _MAXRSS_UNIT / 2**20, 1),
    }
    print(f"[reference] {name}: {wall:.2f}s", file=sys.stderr, flush=True)
    return result


def merge_shards(shard_dir: Path, merged: Path) -> int:
    """Concatenate the reference's ``{i}.jsonl`` outputs (in shard order) into ``merged``.

    Returns the number of lines written.
    """
    shards = sorted(shard_dir.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else 1 << 62)
    n = 0
    with open(merged, "w", encoding="utf-8") as out:
        for shard in shards:
            with open(shard, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        out.write(line if line.endswith("\n") else line + "\n")
                        n += 1
    return n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description="Run reference DSIR (data-selection 1.0.3) with per-phase timings.")
    p.add_argument("--raw", nargs="+", required=True, help="raw pool files (plain jsonl)")
    p.add_argument("--target", nargs="+", required=True, help="target files (plain jsonl)")
    p.add_argument("-k", type=int, required=True, help="number of documents to select")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="num_proc for the reference")
    p.add_argument("--min-length", type=int, default=0, help="min_example_length (the reference's default is 100)")
    p.add_argument("--seed", type=int, default=0, help="seed for numpy's global RNG")
    p.add_argument("--top-k", action="store_true", help="deterministic top-k instead of Gumbel sampling")
    p.add_argument("--ngrams", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--num-buckets", type=int, default=10000, help=argparse.SUPPRESS)
    p.add_argument("--overwrite", action="store_true", help="delete --out first if it exists")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run fit / score / select+write and write ``reference_timings.json``."""
    args = parse_args(argv)
    for path in [*args.raw, *args.target]:
        if path.endswith((".zst", ".gz", ".bz2", ".xz")):
            sys.exit(f"run_reference.py: {path}: the reference reads plain jsonl only; decompress it first")
        if not os.path.isfile(path):
            sys.exit(f"run_reference.py: {path}: no such file")

    out: Path = args.out.resolve()
    if out.exists():
        if not args.overwrite and any(out.iterdir()):
            sys.exit(f"run_reference.py: {out} exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    selected_dir = out / "selected"
    cache_dir = out / "cache"

    t_start = time.perf_counter()
    import data_selection
    import joblib
    import nltk
    from data_selection import HashedNgramDSIR

    import_s = time.perf_counter() - t_start
    np.random.seed(args.seed)

    dsir = HashedNgramDSIR(
        raw_datasets=[str(Path(p).resolve()) for p in args.raw],
        target_datasets=[str(Path(p).resolve()) for p in args.target],
        cache_dir=str(cache_dir),
        num_proc=args.workers,
        ngrams=args.ngrams,
        num_buckets=args.num_buckets,
        min_example_length=args.min_length,
    )

    phases: dict[str, Any] = {}
    timed_phase("fit", lambda: dsir.fit_importance_estimator(num_tokens_to_fit="auto"), phases)
    np.save(out / "log_diff.npy", dsir.log_diff)  # the fitted log-ratio, for comparisons (not timed)
    timed_phase("score", dsir.compute_importance_weights, phases)
    timed_phase(
        "select_write",
        lambda: dsir.resample(out_dir=str(selected_dir), num_to_sample=args.k, cache_dir=None, top_k=args.top_k),
        phases,
    )
    total_s = sum(ph["wall_s"] for ph in phases.values())

    n_raw = int(sum(np.load(p).shape[0] for p in (cache_dir / "log_importance_weights").glob("*.npy")))
    merged = out / "selected.jsonl"
    n_selected = merge_shards(selected_dir, merged)

    record = {
        "implementation": "data-selection (reference DSIR)",
        "versions": {
            "data_selection": data_selection.__version__,
            "nltk": nltk.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
            "python": platform.python_version(),
        },
        "params": {
            "raw": [str(Path(p).resolve()) for p in args.raw],
            "target": [str(Path(p).resolve()) for p in args.target],
            "k": args.k,
            "workers": args.workers,
            "min_example_length": args.min_length,
            "seed": args.seed,
            "top_k": args.top_k,
            "ngrams": args.ngrams,
            "num_buckets": args.num_buckets,
            "num_tokens_to_fit": "auto",
        },
        "n_raw_docs": n_raw,
        "n_selected": n_selected,
        "import_s": round(import_s, 4),
        "phases": phases,
        "total_s": round(total_s, 4),
        "peak_rss_tree_mb": max(ph["peak_rss_tree_mb"] for ph in phases.values()),
        "selected_path": str(merged),
        "selected_shards": sorted(str(p) for p in selected_dir.glob("*.jsonl")),
        "cpu_count": os.cpu_count(),
    }
    (out / "reference_timings.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({"total_s": record["total_s"], "n_selected": n_selected}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
