"""Slow, obviously-correct featurizer that the compiled kernel must agree with."""

from __future__ import annotations

import re

import numpy as np

TOKEN = re.compile(r"\w+|[^\w\s]+")
MASK64 = (1 << 64) - 1


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    h ^= h >> 33
    return h


def ngram_strings(text: str, n: int) -> list[str]:
    toks = tokens(text)
    out = []
    # The kernel emits, after each token, the n-grams that end there, shortest first.
    for i in range(len(toks)):
        for k in range(1, n + 1):
            if i - k + 1 >= 0:
                out.append(" ".join(toks[i - k + 1 : i + 1]))
    return out


def bucket(ngram: str, buckets: int) -> int:
    return fmix64(fnv1a64(ngram.encode("utf-8", "surrogatepass"))) % buckets


def bucket_ids(text: str, n: int, buckets: int) -> list[int]:
    return [bucket(g, buckets) for g in ngram_strings(text, n)]


def bucket_counts(text: str, n: int, buckets: int) -> np.ndarray:
    counts = np.zeros(buckets, dtype=np.int64)
    for b in bucket_ids(text, n, buckets):
        counts[b] += 1
    return counts
