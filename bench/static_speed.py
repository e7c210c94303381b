"""How fast minilm-static scores, beside hashed n-grams, in one run (issue 19's 20 MB/s target).

For each feature space (``hashed-ngrams``, the default's 2^18 buckets; ``minilm-static``),
with the discriminative estimator fitted once on a target of the corpus:

* ``score pass``: ``DSIR(workers=1).score(pool)`` end to end (read, decompress, parse,
  tokenize, score, keys; the fit excluded: it is given as a model), MB of text per second on
  one worker;
* ``kernel``: the featurizer's ``score`` on the pool's texts already in memory, one thread.

Every figure is the best of ``--repeats`` (the machine is shared); the ratio of the two
spaces, measured side by side, is what carries over to another machine.

    python bench/static_speed.py [--corpus ../shared/corpus] [--domain legal] [--repeats 3]

Writes ``bench/results/static_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import REPO_ROOT, iter_jsonl  # noqa: E402
from dsir.api import DSIR  # noqa: E402

SPACES = {"hashed-ngrams": {}, "minilm-static": {"features": "minilm-static"}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=REPO_ROOT.parent / "shared" / "corpus")
    p.add_argument("--domain", default="legal")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    pool_files = [str(f) for f in sorted((args.corpus / "pool").glob("*.jsonl.zst"))]
    target = str(args.corpus / "target" / f"{args.domain}.jsonl.zst")
    texts = pa.array([r["text"] for r in iter_jsonl(pool_files)], pa.large_string())
    mb = (texts.buffers()[2].size if texts.buffers()[2] is not None else 0) / 1e6
    results = {}
    for name, kw in SPACES.items():
        fitted = DSIR(method="discriminative", workers=1, **kw).fit(pool_files, target)
        f = fitted.estimator_.featurizer
        vector = fitted.estimator_.log_ratio_
        f.score(texts[:10], vector)  # compiled
        kernel, score_pass = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            f.score(texts, vector)
            kernel.append(time.perf_counter() - t0)
            d = DSIR(method="discriminative", workers=1, **kw)
            d.estimator_ = fitted.estimator_
            with d.engine:
                t0 = time.perf_counter()
                d.score(pool_files)
                score_pass.append(time.perf_counter() - t0)
        results[name] = {"kernel_mb_s": mb / min(kernel), "score_pass_mb_s": mb / min(score_pass),
                         "kernel_s": min(kernel), "score_pass_s": min(score_pass)}
        print(name, json.dumps({k: round(v, 2) for k, v in results[name].items()}), flush=True)
    ratio = {k: results["minilm-static"][k] / results["hashed-ngrams"][k] for k in ("kernel_mb_s", "score_pass_mb_s")}
    meta = {"command": "python bench/static_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "text_mb": mb, "documents": len(texts),
            "python": platform.python_version(), "repeats": args.repeats}
    out = REPO_ROOT / "bench" / "results" / "static_speed.json"
    out.write_text(json.dumps({"meta": meta, "results": results, "minilm_over_hashed": ratio}, indent=1) + "\n")
    print("minilm-static / hashed-ngrams:", {k: round(v, 3) for k, v in ratio.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
