"""Which n-gram strings fall into a hash bucket: names for buckets, so that a report can
show words instead of bucket numbers.

Hashing loses the strings, so they are recovered from a bounded sample of documents:
the compiled kernel gives each document's bucket ids in emission order, and a Python
tokenizer (the same definition as the kernel: lowercased ``\\w+`` or ``[^\\w\\s]+`` runs)
gives the strings in that same order. Only the buckets asked about are kept, each with a
Misra-Gries summary of at most ``capacity`` strings, so memory is bounded whatever the
sample. This is not the hot path: the callers bound the number of documents.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from dsir.featurize import Featurizer

_TOKEN = re.compile(r"\w+|[^\w\s]+")


def _emission_positions(n_tokens: int, ngrams: int) -> np.ndarray:
    """Cumulative count of n-grams emitted before each token (the kernel emits, after token
    ``i``, the ``min(ngrams, i + 1)`` n-grams that end there, shortest first)."""
    per_token = np.minimum(np.arange(1, n_tokens + 1), ngrams)
    return np.concatenate([[0], np.cumsum(per_token)])


class BucketNames:
    """The most frequent n-gram strings seen in each of some hash buckets.

    ``buckets`` are the bucket ids to keep names for; ``capacity`` bounds the strings kept
    per bucket (Misra-Gries: any string that occurs more than ``1/(capacity+1)`` of the
    time in a bucket is kept, and counts are lower bounds that are exact when the bucket
    saw at most ``capacity`` distinct strings). ``max_tokens`` bounds the tokens read per
    document. After ``update``: ``documents_`` (documents read) and ``skipped_`` (documents
    whose tokenization did not line up with the kernel's, left out).
    """

    def __init__(self, buckets: np.ndarray | list[int], featurizer: Featurizer, capacity: int = 8,
                 max_tokens: int = 1_000):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.buckets = np.unique(np.asarray(buckets, dtype=np.int64))
        self.featurizer = featurizer
        self.capacity = capacity
        self.max_tokens = max_tokens
        self.counters_: dict[int, dict[str, int]] = {int(b): {} for b in self.buckets}
        self.documents_ = 0
        self.skipped_ = 0

    def _add(self, bucket: int, name: str) -> None:
        counter = self.counters_[bucket]
        if name in counter:
            counter[name] += 1
        elif len(counter) < self.capacity:
            counter[name] = 1
        else:  # Misra-Gries: a new string cancels one occurrence of every kept one
            for key in list(counter):
                counter[key] -= 1
                if counter[key] == 0:
                    del counter[key]

    def update(self, texts: pa.Array) -> BucketNames:
        """Add the n-grams of every document of ``texts`` that fall into the kept buckets."""
        if len(texts) == 0 or len(self.buckets) == 0:
            return self
        n = self.featurizer.ngrams
        if self.max_tokens:
            # a cheap cap on Python work: enough characters for max_tokens tokens of any document we show
            texts = pc.utf8_slice_codeunits(texts, 0, self.max_tokens * 8)
        indptr, ids = self.featurizer.buckets_of(texts)
        kept = np.isin(ids, self.buckets)
        names = getattr(self.featurizer, "bucket_names", None)
        if names is not None:  # a vocabulary (word pieces): each bucket has one name, known exactly
            self.documents_ += len(texts)
            found, counts = np.unique(ids[kept], return_counts=True)
            for b, c in zip(found.tolist(), counts.tolist()):
                for _ in range(min(c, self.capacity + 1)):
                    self._add(b, names[b])
            return self
        for d, text in enumerate(texts.to_pylist()):
            self.documents_ += 1
            lo, hi = int(indptr[d]), int(indptr[d + 1])
            positions = np.flatnonzero(kept[lo:hi])
            if len(positions) == 0:
                continue
            toks = _TOKEN.findall(text.lower())
            starts = _emission_positions(len(toks), n)
            if starts[-1] != hi - lo:
                self.skipped_ += 1
                continue
            token_of = np.searchsorted(starts, positions, side="right") - 1
            for p, i in zip(positions.tolist(), token_of.tolist()):
                k = p - int(starts[i]) + 1  # the n-gram is tokens i-k+1 .. i
                self._add(int(ids[lo + p]), " ".join(toks[i - k + 1: i + 1]))
        return self

    def merge(self, other: BucketNames) -> BucketNames:
        """Combine another summary over the same buckets (counts add; the ``capacity`` largest stay)."""
        for b, counter in other.counters_.items():
            mine = self.counters_.setdefault(b, {})
            for name, c in counter.items():
                mine[name] = mine.get(name, 0) + c
            if len(mine) > self.capacity:
                keep = sorted(mine.items(), key=lambda kv: (-kv[1], kv[0]))[: self.capacity]
                self.counters_[b] = dict(keep)
        self.documents_ += other.documents_
        self.skipped_ += other.skipped_
        return self

    def top(self, bucket: int, m: int = 3) -> list[tuple[str, int]]:
        """Up to ``m`` strings seen most often in ``bucket``, most frequent first (ties by string)."""
        counter = self.counters_.get(int(bucket), {})
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:m]

    def to_dict(self) -> dict[str, list[list]]:
        """``{bucket: [[string, count], ...]}`` for JSON."""
        return {str(b): [[s, c] for s, c in self.top(b, self.capacity)] for b in sorted(self.counters_)}
