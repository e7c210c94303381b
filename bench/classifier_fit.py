"""The default method's classifier training alone: its seconds on the documents a default
``dsir select`` with the legal target trains on (every target document, and 10,000 raw ones;
here the first 10,000 of the corpus pool), 400 epochs in the 2^18-bucket space, on 1 and on
2 threads side by side (the two fits are checked to be bit for bit the same).

    .venv/bin/python bench/classifier_fit.py
"""

from __future__ import annotations

import glob
import io
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import zstandard

from dsir.estimate.classifier import HashedNgramClassifier
from dsir.estimate.methods import CLASSIFIER_MAX_DOCUMENTS, DISCRIMINATIVE_BUCKETS, DISCRIMINATIVE_TRAINING
from dsir.featurize import make_featurizer

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def texts(path: str, n: int) -> list[str]:
    out = []
    with zstandard.ZstdDecompressor().stream_reader(open(path, "rb")) as r:
        for line in io.TextIOWrapper(r, encoding="utf-8"):
            out.append(json.loads(line)["text"])
            if len(out) >= n:
                break
    return out


def main() -> None:
    f = make_featurizer("hashed-ngrams", ngrams=2, buckets=DISCRIMINATIVE_BUCKETS)
    target = f.buckets_of(pa.array(texts(str(CORPUS / "target" / "legal.jsonl.zst"), CLASSIFIER_MAX_DOCUMENTS)))
    raw = f.buckets_of(pa.array(texts(sorted(glob.glob(str(CORPUS / "pool" / "*.jsonl.zst")))[0],
                                      CLASSIFIER_MAX_DOCUMENTS)))
    t = DISCRIMINATIVE_TRAINING
    HashedNgramClassifier(DISCRIMINATIVE_BUCKETS, t["l2"], t["learning_rate"], 2).fit(target, raw)  # compile
    print(f"{len(target[0]) - 1} target and {len(raw[0]) - 1} raw documents, {len(target[1]) + len(raw[1]):,} "
          f"n-grams, {t['epochs']} epochs")
    fits, seconds = [], []
    for threads in (1, 2):
        start = time.perf_counter()
        fits.append(HashedNgramClassifier(DISCRIMINATIVE_BUCKETS, t["l2"], t["learning_rate"], t["epochs"],
                                          threads).fit(target, raw))
        seconds.append(time.perf_counter() - start)
        print(f"  {threads} thread{'s' if threads > 1 else ''}: {seconds[-1]:.1f} s")
    assert np.array_equal(fits[0].coef_, fits[1].coef_) and fits[0].intercept_ == fits[1].intercept_
    print(f"  2 threads: {seconds[0] / seconds[1]:.2f}x faster than 1, the same coefficients bit for bit")


if __name__ == "__main__":
    main()
