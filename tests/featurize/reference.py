"""Slow, obviously-correct featurizer that the compiled kernel must agree with."""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

from dsir.featurize.unicode_tables import UNICODE_VERSION

TOKEN = re.compile(r"\w+|[^\w\s]+")
MASK64 = (1 << 64) - 1

#: Whether this Python's ``re`` and ``str.lower`` are the featurizer's definition (Unicode
#: 14.0.0: Python 3.11). On another Python this reference agrees with the featurizer on every
#: code point but the ``divergent()`` ones, which generated test texts leave out there.
IS_REFERENCE_PYTHON = unicodedata.unidata_version == UNICODE_VERSION


@functools.cache
def divergent() -> frozenset[int]:
    """Code points this Python classifies or lowercases otherwise than the featurizer's
    Unicode version: none on 3.11; those encoded in 14.0 on 3.10, after it on 3.12+."""
    if IS_REFERENCE_PYTHON:
        return frozenset()
    from dsir.featurize.make_unicode_tables import derive
    from dsir.featurize.unicode_tables import unicode_tables

    mine, pinned = derive(), unicode_tables()
    differs = (mine.flags != pinned.flags) | (mine.lower != pinned.lower)
    if not np.array_equal(mine.expansions, pinned.expansions):
        differs |= (mine.lower < -1) | (pinned.lower < -1)
    return frozenset(np.flatnonzero(differs).tolist())


def comparable(text: str) -> bool:
    """Whether this Python's definition of ``text``'s tokens is the featurizer's."""
    return IS_REFERENCE_PYTHON or not any(ord(c) in divergent() for c in text)


def comparable_cp(cp: int) -> int:
    """``cp``, or U+FFFD where this Python treats ``cp`` otherwise than the featurizer."""
    return 0xFFFD if cp in divergent() else cp


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
