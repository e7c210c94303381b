"""Peak RSS and wall time of one default ``dsir select`` under three settings of glibc
malloc's mmap threshold: glibc's own (dynamic: raised to each large block freed, up to 32
MiB), dsir's (fixed at 4 MiB by ``dsir.engines.local.limit_heap_growth``) and 128 KiB (glibc's
starting value, fixed with ``MALLOC_MMAP_THRESHOLD_``). Each run is a fresh process on the
benchmark pool's first 8 jsonl.zst shards (1 GB, ``bench/make_pool.py``), the legal target, k =
10 %, 2 workers, report on; the settings alternate ``--rounds`` times.

    .venv/bin/python bench/heap_threshold.py            # --rounds 2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOL = REPO / "bench" / ".work" / "pools" / "shards"
TARGET = REPO.parent / "shared" / "corpus" / "target" / "legal.jsonl.zst"

CHILD = """
import json, resource, sys, time
import dsir.engines.local as local
from dsir import DSIR
if sys.argv[1] == "glibc":
    local._heap_limited = True  # as if already done: leaves glibc's dynamic threshold alone
files, out, workers = json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
start = time.perf_counter()
m = DSIR(workers=workers).select(files, out, k=41799, target=sys.argv[5], overwrite=True)
print(json.dumps({"wall_s": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "selected": m["counts"]["selected"]}))
"""

SETTINGS = {"glibc": {}, "dsir (4 MiB)": {}, "128 KiB": {"MALLOC_MMAP_THRESHOLD_": "131072"}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    files = sorted(str(p) for p in POOL.glob("pool-0000[0-7].jsonl.zst"))
    if len(files) != 8:
        sys.exit(f"needs the 1 GB benchmark pool in {POOL}: run .venv/bin/python bench/make_pool.py --sizes-gb 1")
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, env in SETTINGS.items():
            out = subprocess.run([sys.executable, "-c", CHILD, name.split()[0], json.dumps(files),
                                  "/tmp/dsir-heap-threshold", str(args.workers), str(TARGET)],
                                 env={**os.environ, **env}, check=True, capture_output=True, text=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    print(f"\n| mmap threshold | wall s ({args.rounds} runs) | peak RSS MB |\n|---|---|---|")
    for name, rs in runs.items():
        walls = " / ".join(f"{r['wall_s']:.1f}" for r in rs)
        peaks = " / ".join(f"{r['peak_mb']:.0f}" for r in rs)
        print(f"| {name} | {walls} | {peaks} |")


if __name__ == "__main__":
    main()
