"""Importance resampling without replacement by the Gumbel top-k trick.

Keeping the k largest ``log_weight + G`` with ``G ~ Gumbel(0, 1)`` draws k documents
without replacement with probabilities proportional to ``exp(log_weight)``. The noise of a
document is a pure function of (seed, its content hash or id hash), so the selection does
not depend on how documents are split across files, batches or workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dsir.featurize.kernels import fmix64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S11 = np.uint64(11)


def seed_key(seed: int, stream: int = 0) -> np.uint64:
    """The 64-bit key mixed into every document hash for ``seed`` (one independent ``stream`` per use)."""
    return np.uint64(_fmix(np.uint64(_fmix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ _GOLDEN)) + np.uint64(stream)))


@njit(cache=True, nogil=True)
def _fmix(h):
    return fmix64(h)


@njit(cache=True, nogil=True)
def _uniform(hashes, key, out):
    for i in range(len(hashes)):
        r = fmix64(hashes[i] ^ key)
        out[i] = (np.float64(r >> _S11) + 0.5) * (1.0 / 9007199254740992.0)


def uniform_from_hashes(hashes: np.ndarray, key: np.uint64) -> np.ndarray:
    """A uniform number in (0, 1) per hash: ``((fmix64(h ^ key) >> 11) + 0.5) / 2**53``."""
    out = np.empty(len(hashes), dtype=np.float64)
    _uniform(np.ascontiguousarray(hashes, dtype=np.uint64), np.uint64(key), out)
    return out


def gumbel_noise(hashes: np.ndarray, seed: int) -> np.ndarray:
    """Standard Gumbel noise ``-log(-log(U))`` with ``U`` from ``uniform_from_hashes``."""
    return -np.log(-np.log(uniform_from_hashes(hashes, seed_key(seed))))


def selection_keys(log_weight: np.ndarray, hashes: np.ndarray, eligible: np.ndarray, seed: int,
                   top_k: bool = False) -> np.ndarray:
    """Sort keys: ``log_weight + Gumbel`` (or ``log_weight`` alone for ``top_k``); -inf if ineligible."""
    if np.isnan(log_weight).any():
        raise ValueError(f"log-weights contain NaN (first at document {int(np.flatnonzero(np.isnan(log_weight))[0])})")
    if np.isposinf(log_weight).any():  # an infinite weight would escape the k-th-key threshold
        raise ValueError(f"log-weights contain +inf (first at document {int(np.flatnonzero(np.isposinf(log_weight))[0])})")
    keys = log_weight.astype(np.float64, copy=True)
    if not top_k:
        keys += gumbel_noise(hashes, seed)
    keys[~eligible] = -np.inf
    return keys


@dataclass
class Threshold:
    """Which documents are selected: every key above ``value``, and among keys equal to
    ``value`` exactly the ``(unit, row)`` pairs in ``ties``."""

    value: float
    ties: dict[int, list[int]] = field(default_factory=dict)
    select_all: bool = False

    def mask(self, unit: int, keys: np.ndarray) -> np.ndarray:
        """Which of ``unit``'s documents, with these ``keys``, are selected."""
        if self.select_all:
            return np.isfinite(keys)
        mask = keys > self.value
        rows = self.ties.get(unit)
        if rows:
            mask[np.asarray(rows, dtype=np.int64)] = True
        return mask


def find_threshold(unit_keys: list[np.ndarray], k: int, unit_hashes=None) -> Threshold:
    """The threshold that keeps the ``k`` largest keys over all units (``-inf`` never kept).

    Equal keys are ordered by document hash, then by unit and row, so the result is
    deterministic; ``unit_hashes(unit) -> np.ndarray`` is called only for units with ties.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    finite = [keys[np.isfinite(keys)] for keys in unit_keys]
    n = sum(len(f) for f in finite)
    if k >= n:
        return Threshold(value=-np.inf, select_all=True)
    allkeys = np.concatenate(finite)
    t = float(np.partition(allkeys, n - k)[n - k])
    del allkeys
    above = sum(int((keys > t).sum()) for keys in unit_keys)
    need = k - above
    tied = []
    for unit, keys in enumerate(unit_keys):
        rows = np.flatnonzero(keys == t)
        if len(rows):
            hashes = unit_hashes(unit)[rows] if unit_hashes else np.zeros(len(rows), np.uint64)
            tied.extend(zip(hashes.tolist(), [unit] * len(rows), rows.tolist()))
    tied.sort()
    ties: dict[int, list[int]] = {}
    for _, unit, row in tied[:need]:
        ties.setdefault(unit, []).append(row)
    return Threshold(value=t, ties=ties)


def find_token_threshold(unit_keys: list[np.ndarray], unit_sizes: list[np.ndarray], budget: int,
                         unit_hashes=None) -> Threshold:
    """The threshold that keeps the largest keys until their sizes (tokens) reach ``budget``.

    Units are taken in the order ``find_threshold`` ranks them (larger key first; equal keys
    by document hash, then unit and row) up to and including the first that brings the total
    to ``budget`` or more, so the kept sizes add up to at least ``budget`` (less only when
    every finite key is kept) and drop below it without the last one.
    """
    if budget <= 0:
        raise ValueError(f"the token budget must be positive, got {budget}")
    finite = [np.isfinite(keys) for keys in unit_keys]
    keys = np.concatenate([k[f] for k, f in zip(unit_keys, finite)]) if unit_keys else np.empty(0)
    sizes = np.concatenate([s[f] for s, f in zip(unit_sizes, finite)]).astype(np.int64) if unit_sizes \
        else np.empty(0, np.int64)
    if int(sizes.sum()) <= budget:
        return Threshold(value=-np.inf, select_all=True)
    order = np.argsort(-keys, kind="stable")
    reached = int(np.searchsorted(np.cumsum(sizes[order]), budget))  # first rank with a running total >= budget
    t = float(keys[order[reached]])
    del keys, sizes, order
    need = budget - sum(int(s[k > t].sum()) for k, s in zip(unit_keys, unit_sizes))  # > 0: see the docstring
    tied = []
    for unit, (k, s) in enumerate(zip(unit_keys, unit_sizes)):
        rows = np.flatnonzero(k == t)
        if len(rows):
            hashes = unit_hashes(unit)[rows] if unit_hashes else np.zeros(len(rows), np.uint64)
            tied.extend(zip(hashes.tolist(), [unit] * len(rows), rows.tolist(), s[rows].tolist()))
    tied.sort()
    ties: dict[int, list[int]] = {}
    for _, unit, row, size in tied:
        if need <= 0:
            break
        ties.setdefault(unit, []).append(row)
        need -= int(size)
    return Threshold(value=t, ties=ties)
