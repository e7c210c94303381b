"""Featurize and score in memory with the reference (run inside bench/.venv-reference).

    bench/.venv-reference/bin/python bench/kernel_reference.py TEXTS.jsonl

Reads the ``text`` of every line into memory first, then times, for every document, what
the reference does per document when it scores: ``HashedNgramDSIR.featurizer(text)``
(nltk WordPunctTokenizer, sha256-hashed uni- and bigrams, a fresh 10,000-bucket count
vector) followed by ``importance_estimator`` (a dot product with the log-ratio). Prints
JSON: bytes of text, documents, CPU seconds (single process).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from data_selection.hashed_ngram_dsir import get_ngram_counts, wpt


def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    log_diff = np.random.default_rng(0).normal(size=10_000)
    t0, c0 = time.perf_counter(), time.process_time()
    weights = [float(np.dot(log_diff, get_ngram_counts(t, n=2, num_buckets=10_000, tokenizer=wpt.tokenize)))
               for t in texts]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"text_bytes": sum(len(t.encode()) for t in texts), "documents": len(texts),
                      "wall_s": wall, "cpu_s": cpu, "checksum": float(np.sum(weights))}))


if __name__ == "__main__":
    main(sys.argv[1])
