"""The two compiled paths of ``sha256-ngrams`` side by side: with the x86 SHA extensions and
with the portable integer arithmetic that CPUs without them get.

Counts the n-grams of the benchmark pool's texts (the one-file plain jsonl that
``bench/reference_exact.py`` prepares) with ``Sha256NgramFeaturizer().count``, a batch of
1,000 documents at a time, best of three, once in this process and once in a child process
told the host's CPU features without ``sha`` (``NUMBA_CPU_FEATURES``) with an empty kernel
cache, so that numba compiles the portable path there. Reports MB of text per CPU-second and
checks that both give the same counts. Results: ``bench/results/sha256_paths.json``.

    .venv/bin/python bench/sha256_paths.py
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
POOL = REPO_ROOT / "bench" / ".work" / "plain" / "reference_exact" / "pool.jsonl"
RESULTS = REPO_ROOT / "bench" / "results" / "sha256_paths.json"


def measure() -> dict:
    """This process's path: MB per CPU-second (best of three) and a checksum of the counts."""
    import numpy as np
    import pyarrow as pa

    from dsir.featurize import Sha256NgramFeaturizer
    from dsir.featurize.sha256_ngrams import target_has_sha
    from numba.core.registry import cpu_target

    texts = pa.array([json.loads(line)["text"] for line in open(POOL, encoding="utf-8")])
    batches = [texts.slice(i, 1000) for i in range(0, len(texts), 1000)]
    mb = sum(len(t.as_py().encode()) for t in texts) / 1e6
    f = Sha256NgramFeaturizer()
    f.count(batches[0].slice(0, 10))  # compiled (or loaded) before the clock starts
    best, counts = float("inf"), None
    for _ in range(3):
        counts = np.zeros(f.buckets, np.int64)
        c0 = time.process_time()
        for b in batches:
            f.count(b, counts)
        best = min(best, time.process_time() - c0)
    return {"sha_extensions": target_has_sha(cpu_target.target_context), "text_mb": round(mb, 1),
            "mb_per_cpu_s": round(mb / best, 1), "counts_sha256": hashlib.sha256(counts.tobytes()).hexdigest()}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(measure()))
        return 0
    if not POOL.exists():
        raise SystemExit(f"{POOL} is missing: run bench/reference_exact.py once first")
    from numba.core.registry import cpu_target

    here = measure()
    features = cpu_target.target_context.codegen().magic_tuple()[2].replace("+sha,", "-sha,")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=cache, DSIR_NO_WARMUP="1")
        child = json.loads(subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                                          capture_output=True, text=True).stdout.strip().splitlines()[-1])
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "this_process": here,
              "portable_child": child, "same_counts": here["counts_sha256"] == child["counts_sha256"],
              "ratio": round(here["mb_per_cpu_s"] / child["mb_per_cpu_s"], 1)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0 if result["same_counts"] else 1


if __name__ == "__main__":
    sys.exit(main())
