"""A ``data_selection`` script run unchanged on dsir's shim, against the reference's own run.

Runs the reference's usage (``HashedNgramDSIR(...)``, ``fit_importance_estimator``,
``compute_importance_weights``, ``resample(top_k=True)``) through
``dsir.compat.data_selection`` on the files ``bench/reference_exact.py`` prepared (the corpus
pool as one plain jsonl file, the legal target), and compares its selection with the
reference's selection from that script's last top-k run (``bench/.work/reference_exact/
reference``), which must have used the same k, ``--min-length`` and workers. Reports whether
the two selections are identical and the CPU seconds of each (the reference's from its own
timings; the two runs are not side by side unless run one after the other).

Usage (from the repository root, after ``bench/reference_exact.py -k 1000 --no-unicode-check``)::

    .venv/bin/python bench/compat_shim.py -k 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import WORK_DIR  # noqa: E402

WORK = WORK_DIR / "reference_exact"
POOL = WORK_DIR / "plain" / "reference_exact" / "pool.jsonl"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-k", type=int, required=True)
    p.add_argument("--domain", default="legal")
    p.add_argument("--min-length", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    ref_dir = WORK / "reference"
    timings = json.loads((ref_dir / "reference_timings.json").read_text())
    want = {"k": a.k, "min_example_length": a.min_length, "workers": a.workers, "top_k": True}
    if any(timings["params"].get(key) != value for key, value in want.items()):
        raise SystemExit(f"the reference's last run in {ref_dir} used other parameters: run "
                         f"bench/reference_exact.py -k {a.k} --min-length {a.min_length} first")
    target = WORK_DIR / "plain" / "target" / f"{a.domain}.jsonl"

    from dsir.compat.data_selection import HashedNgramDSIR  # the one changed line of a script

    cache, out = WORK / "shim-cache", WORK / "shim-out"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    dsir = HashedNgramDSIR([str(POOL)], [str(target)], cache_dir=str(cache), num_proc=a.workers, ngrams=2,
                           num_buckets=10000, min_example_length=a.min_length)
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    dsir.resample(out_dir=str(out), num_to_sample=a.k, cache_dir=None, top_k=True)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage1.ru_utime - usage0.ru_utime + usage1.ru_stime - usage0.ru_stime
    ids = {json.loads(line)["id"] for f in sorted(os.listdir(out)) if f.endswith(".jsonl")
           for line in open(out / f, encoding="utf-8") if line.strip()}
    ref = {json.loads(line)["id"] for line in open(timings["selected_path"], encoding="utf-8") if line.strip()}
    ref_cpu = sum(ph["cpu_user_s"] + ph["cpu_sys_s"] for ph in timings["phases"].values())
    result = {"k": a.k, "shim_selected": len(ids), "reference_selected": len(ref), "both": len(ids & ref),
              "identical": ids == ref, "shim_cpu_s": round(cpu, 2), "shim_wall_s": round(time.perf_counter() - wall0, 2),
              "reference_cpu_s": round(ref_cpu, 2), "cpu_ratio": round(ref_cpu / cpu, 2)}
    print(json.dumps(result, indent=1))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
