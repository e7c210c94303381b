"""Bottom-k sampling: keep the ``k`` items with the smallest uniform number ``U(hash)``.

The result is a uniform sample of ``min(k, n)`` items without replacement, decided by each
item's hash alone, so the same items are kept whatever the order, batching or split into
files; samples of several files merge into the sample of their union (keep the ``k``
smallest again). Each item carries a ragged payload (its bucket ids, its text bytes, its
length), so one pass over a file of unknown size takes a bounded sample of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _take_ragged(values, offsets, keep, out_offsets):
    """The payloads of items ``keep``, in that order, packed (``out_offsets`` given)."""
    out = np.empty(out_offsets[-1], values.dtype)
    for q in range(len(keep)):
        start = offsets[keep[q]]
        o = out_offsets[q]
        for p in range(out_offsets[q + 1] - o):
            out[o + p] = values[start + p]
    return out


@dataclass
class BottomK:
    """The ``k`` items with the smallest ``u`` seen so far, each with a ragged payload."""

    k: int
    u: np.ndarray
    values: np.ndarray
    offsets: np.ndarray  # item i's payload is values[offsets[i]:offsets[i + 1]]

    @classmethod
    def empty(cls, k: int, dtype) -> BottomK:
        return cls(k, np.empty(0, np.float64), np.empty(0, dtype), np.zeros(1, np.int64))

    def __len__(self) -> int:
        return len(self.u)

    @property
    def cutoff(self) -> float:
        """Items with ``u`` at or above this can no longer enter the sample."""
        return float(np.partition(self.u, self.k - 1)[self.k - 1]) if len(self.u) >= self.k else np.inf

    def add(self, u: np.ndarray, values: np.ndarray, offsets: np.ndarray) -> None:
        """Offer items with numbers ``u`` and payloads ``values[offsets[i]:offsets[i+1]]``."""
        self.u = np.concatenate([self.u, u])
        self.values = np.concatenate([self.values, values.astype(self.values.dtype, copy=False)])
        self.offsets = np.concatenate([self.offsets, offsets[1:] - offsets[0] + self.offsets[-1]])
        if len(self.u) >= 2 * self.k:  # prune now and then, not on every batch
            self.prune()

    def prune(self) -> BottomK:
        """Drop every item but the ``k`` smallest (in ``u`` order, which is deterministic)."""
        keep = np.argsort(self.u, kind="stable")[: self.k]
        offsets = np.concatenate([[0], np.cumsum(np.diff(self.offsets)[keep])]).astype(np.int64)
        # a loop, not numpy's index arrays: those are three int64 arrays as long as the payloads
        self.values = _take_ragged(self.values, self.offsets, keep, offsets)
        self.u = self.u[keep]
        self.offsets = offsets
        return self

    @classmethod
    def union(cls, k: int, samples: list[BottomK], dtype) -> BottomK:
        """The sample of the union of ``samples``' items, pruned once: the same items, in the
        same order, as merging them one by one (ties keep their samples' order), in time
        linear in their size rather than in their number times it."""
        out = cls.empty(k, dtype)
        if samples:
            out.u = np.concatenate([out.u] + [x.u for x in samples])
            out.values = np.concatenate([out.values] + [x.values.astype(dtype, copy=False) for x in samples])
            ends = np.cumsum([0] + [x.offsets[-1] - x.offsets[0] for x in samples])
            out.offsets = np.concatenate([out.offsets] + [x.offsets[1:] - x.offsets[0] + end
                                                          for x, end in zip(samples, ends)]).astype(np.int64)
        return out.prune()

    def merge(self, other: BottomK) -> BottomK:
        """The sample of the union of both samples' items."""
        self.add(other.u, other.values, other.offsets)
        return self.prune()

    def wants(self, u: np.ndarray) -> np.ndarray:
        """Which of the items with numbers ``u`` could enter the sample now."""
        return u < self.cutoff
