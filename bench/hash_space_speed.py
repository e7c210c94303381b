"""What a larger hash space costs: scoring throughput and the discriminative fit, side by side.

For each hash size (the paper's 10,000 buckets, then 2^18 to 2^22), on the same texts of the
shared corpus's pool held in memory: the score kernel (``HashedNgramFeaturizer.score``, one
thread) with a random score vector of that size, in MB of text per CPU-second (best of
``--repeat``, ``time.process_time``), and the ``discriminative`` estimator's training
(``DiscriminativeEstimator.fit`` with ``DISCRIMINATIVE_TRAINING``) on one target's documents
against ``CLASSIFIER_MAX_DOCUMENTS`` pool documents, in CPU-seconds. A larger table means more
cache misses per n-gram in the score kernel and a longer Adam update per epoch in training.

Usage, from the repository root::

    .venv/bin/python bench/hash_space_speed.py

Writes ``bench/results/hash_space_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import DEFAULT_CORPUS, RESULTS_DIR  # noqa: E402
from bench.reference import iter_jsonl  # noqa: E402
from dsir.estimate.discriminative import DiscriminativeEstimator  # noqa: E402
from dsir.estimate.methods import CLASSIFIER_MAX_DOCUMENTS, DISCRIMINATIVE_TRAINING  # noqa: E402
from dsir.featurize import HashedNgramFeaturizer  # noqa: E402

SIZES = (10_000, 1 << 18, 1 << 20, 1 << 21, 1 << 22)
BATCH = 2000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--target", default="legal")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    pool = [r["text"] for r in iter_jsonl(sorted((args.corpus / "pool").glob("*.jsonl*")))]
    target = [r["text"] for r in iter_jsonl([args.corpus / "target" / f"{args.target}.jsonl.zst"])]
    batches = [pa.array(pool[i: i + BATCH], pa.large_string()) for i in range(0, len(pool), BATCH)]
    mb = sum(len(t.encode()) for t in pool) / 1e6
    raw_rows = np.random.default_rng(0).permutation(len(pool))[:CLASSIFIER_MAX_DOCUMENTS]
    raw_texts = pa.array([pool[i] for i in raw_rows], pa.large_string())
    target_texts = pa.array(target, pa.large_string())
    rows = []
    for buckets in SIZES:
        f = HashedNgramFeaturizer(2, buckets)
        vector = np.random.default_rng(1).normal(size=buckets)
        f.score(batches[0][:10], vector)  # compiled before timing
        best = np.inf
        for _ in range(args.repeat):
            t0 = time.process_time()
            for b in batches:
                f.score(b, vector)
            best = min(best, time.process_time() - t0)
        t0 = time.process_time()
        DiscriminativeEstimator(f, **DISCRIMINATIVE_TRAINING).fit(
            f.buckets_of(target_texts), f.buckets_of(raw_texts), f.count(target_texts)[0])
        fit_s = time.process_time() - t0
        rows.append({"buckets": buckets, "score_mb_per_cpu_s": mb / best, "fit_cpu_s": fit_s})
        print(rows[-1], file=sys.stderr)
    meta = {"command": "python bench/hash_space_speed.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "pool_mb": round(mb, 1),
            "target": args.target, "target_documents": len(target), "raw_documents": len(raw_rows),
            "training": DISCRIMINATIVE_TRAINING}
    base = rows[0]["score_mb_per_cpu_s"]
    lines = [f"`{meta['command']}` ({meta['date']}; {meta['pool_mb']} MB of pool text in memory; fit: "
             f"{len(target)} {args.target} target documents against {len(raw_rows)} pool documents, "
             f"{DISCRIMINATIVE_TRAINING})", "",
             "| buckets | score, MB per CPU-second | relative to 10,000 | discriminative fit, CPU-seconds |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {r['buckets']:,} | {r['score_mb_per_cpu_s']:.0f} | {r['score_mb_per_cpu_s'] / base:.2f} | "
              f"{r['fit_cpu_s']:.1f} |" for r in rows]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "hash_space_speed.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS_DIR / "hash_space_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
