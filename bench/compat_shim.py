"""A ``data_selection`` script run unchanged on dsir's shim, against the reference's own run.

Runs the reference's usage (``HashedNgramDSIR(...)``, ``fit_importance_estimator``,
``compute_importance_weights``, ``resample(top_k=True)``) through
``dsir.compat.data_selection`` on the files ``bench/reference_exact.py`` prepared (the corpus
pool as one plain jsonl file, the legal target), and compares its selection with the
reference's selection from that script's last top-k run (``bench/.work/reference_exact/
reference``), which must have used the same k, ``--min-length`` and workers. Reports whether
the two selections are identical and the CPU seconds of each (the reference's from its own
timings; the two runs are not side by side unless run one after the other). The shim runs
twice, each time in a fresh interpreter: first with an empty kernel cache (what a first run
pays to compile), then warm; for each, the CPU seconds of the script's calls (what the
reference's timings count: its phases, imports excluded) and of the whole process.

Usage (from the repository root, after ``bench/reference_exact.py -k 1000 --no-unicode-check``)::

    .venv/bin/python bench/compat_shim.py -k 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import REPO_ROOT, WORK_DIR  # noqa: E402

WORK = WORK_DIR / "reference_exact"
POOL = WORK_DIR / "plain" / "reference_exact" / "pool.jsonl"


def run_script(pool: Path, target: Path, k: int, min_length: int, workers: int, cache: Path, out: Path) -> dict:
    """The reference's usage on the shim, in this process; its CPU seconds after the import."""
    from dsir.compat.data_selection import HashedNgramDSIR  # the one changed line of a script

    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    phases: dict[str, dict[str, float]] = {}

    def timed(name: str, call) -> None:
        u0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        call()
        u1 = resource.getrusage(resource.RUSAGE_SELF)
        phases[name] = {"cpu_s": round(u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime, 3),
                        "wall_s": round(time.perf_counter() - w0, 3)}

    holder: dict[str, HashedNgramDSIR] = {}
    timed("init", lambda: holder.setdefault("dsir", HashedNgramDSIR(
        [str(pool)], [str(target)], cache_dir=str(cache), num_proc=workers, ngrams=2, num_buckets=10000,
        min_example_length=min_length)))
    dsir = holder["dsir"]
    timed("fit", lambda: dsir.fit_importance_estimator(num_tokens_to_fit="auto"))
    timed("weights", dsir.compute_importance_weights)
    timed("resample", lambda: dsir.resample(out_dir=str(out), num_to_sample=k, cache_dir=None, top_k=True))
    return {"cpu_s": round(sum(p["cpu_s"] for p in phases.values()), 2),
            "wall_s": round(sum(p["wall_s"] for p in phases.values()), 2), "phases": phases}


def run_child(args: list[str], env: dict) -> dict:
    """``run_script`` in a fresh interpreter: its own figures, and the whole process's CPU and
    wall time (interpreter start-up, imports and any kernel compiling included)."""
    before, wall0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", *args], env=env, check=True, capture_output=True,
                          text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_cpu_s"] = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2)
    result["process_wall_s"] = round(time.perf_counter() - wall0, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-k", type=int, required=True)
    p.add_argument("--domain", default="legal")
    p.add_argument("--min-length", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results" / "compat_shim.json")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    target = WORK_DIR / "plain" / "target" / f"{a.domain}.jsonl"
    cache, out = WORK / "shim-cache", WORK / "shim-out"
    if a.child:
        print(json.dumps(run_script(POOL, target, a.k, a.min_length, a.workers, cache, out)))
        return 0
    ref_dir = WORK / "reference"
    timings = json.loads((ref_dir / "reference_timings.json").read_text())
    want = {"k": a.k, "min_example_length": a.min_length, "workers": a.workers, "top_k": True}
    if any(timings["params"].get(key) != value for key, value in want.items()):
        raise SystemExit(f"the reference's last run in {ref_dir} used other parameters: run "
                         f"bench/reference_exact.py -k {a.k} --min-length {a.min_length} first")
    args = ["-k", str(a.k), "--domain", a.domain, "--min-length", str(a.min_length), "--workers", str(a.workers)]
    with tempfile.TemporaryDirectory(prefix="dsir-numba-cache-") as empty:
        # first with an empty kernel cache (the compiling a first run pays), then warm
        cold = run_child(args, dict(os.environ, NUMBA_CACHE_DIR=empty))
        warm = run_child(args, dict(os.environ, NUMBA_CACHE_DIR=empty))
    ids = {json.loads(line)["id"] for f in sorted(os.listdir(out)) if f.endswith(".jsonl")
           for line in open(out / f, encoding="utf-8") if line.strip()}
    ref = {json.loads(line)["id"] for line in open(timings["selected_path"], encoding="utf-8") if line.strip()}
    ref_cpu = sum(ph["cpu_user_s"] + ph["cpu_sys_s"] for ph in timings["phases"].values())
    result = {"k": a.k, "shim_selected": len(ids), "reference_selected": len(ref), "both": len(ids & ref),
              "identical": ids == ref, "shim_cold": cold, "shim_warm": warm, "reference_cpu_s": round(ref_cpu, 2),
              "reference_phases": {name: round(ph["cpu_user_s"] + ph["cpu_sys_s"], 2)
                                   for name, ph in timings["phases"].items()},
              "cpu_ratio": round(ref_cpu / warm["cpu_s"], 2),
              "cpu_ratio_cold_process": round(ref_cpu / cold["process_cpu_s"], 2)}
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
