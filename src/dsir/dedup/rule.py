"""Which candidates of a selection are duplicates of better-keyed ones.

A selection with ``--dedup`` takes units in key order (the order ``-k`` ranks them) and
skips every unit that duplicates one it already took, until the budget is filled: the
result is the first ``k`` distinct units in key order, so it depends on the keys and the
units' texts alone, never on how the pool is split or on how many candidates were examined.

* ``exact``: two units are duplicates when their word sequences are equal (``dedup.minhash``:
  lowercased runs of letters and digits; case, punctuation and spacing do not count).
* ``near``: two units are duplicates when the Jaccard similarity of their sets of
  ``SHINGLE_WORDS``-word shingles reaches ``threshold``, estimated from MinHash signatures
  of ``permutations`` values. Candidate pairs come from LSH: ``bands`` bands of
  ``permutations / bands`` values; a pair is a duplicate when its estimate is at least
  ``cutoff``, ``threshold`` less 3 standard errors of the estimate there, so that a pair at
  the threshold is missed with a probability of about 0.1% (and a pair at ``cutoff`` less
  another 3 standard errors is almost never dropped).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from dsir.dedup.minhash import CHANCE
from dsir.errors import UsageError

#: ``--dedup`` values.
DEDUP_MODES = ("none", "exact", "near")
#: Words per shingle (Broder's w-shingling of words; 5, as datatrove's and text-dedup's MinHash).
SHINGLE_WORDS = 5
DEFAULT_THRESHOLD = 0.8
DEFAULT_PERMUTATIONS = 128
DEFAULT_BANDS = 32
#: The seed of the MinHash permutations: fixed, so a pool's signatures do not depend on --seed.
SIGNATURE_SEED = 0x5EED_D5D1
#: Sigmas below the threshold where a pair still counts as a duplicate (see the module doc).
MARGIN_SIGMAS = 3.0


@dataclass(frozen=True)
class SignatureSpec:
    """What the score pass computes for ``--dedup``: the exact hash only, or MinHash
    signatures of ``permutations`` values too (part of a score unit's fingerprint)."""

    mode: str
    permutations: int = DEFAULT_PERMUTATIONS
    shingle_words: int = SHINGLE_WORDS
    seed: int = SIGNATURE_SEED


@dataclass(frozen=True)
class DedupRule:
    """``--dedup`` as given, checked: ``mode``, and for ``near`` the Jaccard ``threshold``, the
    MinHash ``permutations`` and the LSH ``bands`` (of ``permutations / bands`` rows)."""

    mode: str = "none"
    threshold: float = DEFAULT_THRESHOLD
    permutations: int = DEFAULT_PERMUTATIONS
    bands: int = DEFAULT_BANDS

    def __post_init__(self) -> None:
        if self.mode not in DEDUP_MODES:
            raise UsageError(f"--dedup must be one of {', '.join(DEDUP_MODES)}, got {self.mode!r}")
        for name in ("permutations", "bands"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise UsageError(f"--dedup-{name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.permutations > 1024:
            raise UsageError(f"--dedup-permutations must be at most 1024, got {self.permutations}")
        if self.permutations % self.bands:
            raise UsageError(f"--dedup-bands must divide --dedup-permutations ({self.permutations}), "
                             f"got {self.bands}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, numbers.Real) \
                or not 0 < self.threshold <= 1:
            raise UsageError(f"--dedup-threshold must be in (0, 1], got {self.threshold!r}")
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def active(self) -> bool:
        return self.mode != "none"

    @property
    def rows(self) -> int:
        return self.permutations // self.bands

    @property
    def cutoff(self) -> float:
        """The smallest estimated Jaccard similarity that makes a pair duplicates."""
        t = self.threshold
        return max(0.0, t - MARGIN_SIGMAS * math.sqrt(t * (1 - t) / self.permutations))

    @property
    def signatures(self) -> SignatureSpec | None:
        """What the score pass must compute for this rule (None: nothing)."""
        if not self.active:
            return None
        return SignatureSpec(self.mode, self.permutations if self.mode == "near" else 0)

    def describe(self) -> dict:
        """The rule's parameters, for the manifest."""
        if self.mode == "exact":
            return {"mode": "exact", "text": "lowercased words (runs of letters and digits)"}
        return {"mode": "near", "shingle_words": SHINGLE_WORDS, "threshold": self.threshold,
                "permutations": self.permutations, "bands": self.bands, "rows": self.rows,
                "cutoff": round(self.cutoff, 6),
                # the chance that a pair at the threshold shares no band (and is never compared)
                "lsh_miss_probability_at_threshold": float(f"{(1 - self.threshold ** self.rows) ** self.bands:.3g}"),
                "signature_seed": SIGNATURE_SEED}

    def empty_signatures(self) -> np.ndarray:
        """No signatures, in the shape and type ``first_distinct`` reads."""
        return np.empty(0, np.uint64) if self.mode == "exact" else np.empty((0, self.permutations), np.uint16)

    def first_distinct(self, signatures: np.ndarray, kept_before: int, sizes: np.ndarray,
                       need: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Walk ``signatures`` (rows in key order; the first ``kept_before`` rows are units an
        earlier target took) and keep each unit that duplicates no kept one, until the kept
        ``sizes`` add up to ``need`` or more. Returns per row: its status (``KEPT``,
        ``DROPPED`` or ``UNSEEN`` past the stop), the row it duplicates (-1) and the
        estimated similarity to it (1 for exact duplicates)."""
        sizes = np.ascontiguousarray(sizes, dtype=np.int64)
        if self.mode == "exact":
            return _first_distinct_exact(np.ascontiguousarray(signatures, np.uint64), kept_before, sizes, need)
        sig = np.ascontiguousarray(signatures, dtype=np.uint16)
        if sig.ndim != 2 or sig.shape[1] != self.permutations:
            raise ValueError(f"expected signatures of {self.permutations} values, got shape {sig.shape}")
        bucket = band_buckets(sig, self.bands, self.rows)
        status = np.zeros(len(sig), np.int8)
        dup_of = np.full(len(sig), -1, np.int64)
        similarity = np.zeros(len(sig), np.float32)
        _first_distinct_near(sig, bucket, kept_before, sizes, int(need), self.cutoff, status, dup_of, similarity)
        return status, dup_of, similarity


UNSEEN, KEPT, DROPPED = 0, 1, 2


def _first_distinct_exact(hashes: np.ndarray, kept_before: int, sizes: np.ndarray,
                          need: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(hashes)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    dup_of = first[inverse.reshape(-1)].astype(np.int64)
    status = np.where(dup_of == np.arange(n), KEPT, DROPPED).astype(np.int8)
    fresh = np.arange(n) >= kept_before
    total = np.cumsum(np.where((status == KEPT) & fresh, sizes, 0))
    stop = int(np.searchsorted(total, need))  # the row whose keep reaches ``need``
    status[stop + 1:] = UNSEEN
    status[:kept_before] = KEPT  # distinct among themselves: an earlier walk kept them
    dup_of[status != DROPPED] = -1
    return status, dup_of, np.where(status == DROPPED, 1.0, 0.0).astype(np.float32)


def band_buckets(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """int32[n, bands]: for each row and band, a bucket number that rows share exactly when
    their values in that band are equal (numbered in order of first appearance)."""
    sig = np.ascontiguousarray(signatures, dtype=np.uint16)
    out = np.empty((len(sig), bands), np.int32)
    size = 1 << max(4, int(2 * len(sig)).bit_length())  # a table at most half full
    _band_buckets(sig, bands, rows, size, out)
    return out


@njit(cache=True, nogil=True)
def _band_buckets(sig, bands, rows, size, out):
    """Per band, an open-addressing table from the band's values (hashed, then compared
    value by value) to the first row that had them."""
    n = sig.shape[0]
    first = np.empty(size, np.int32)
    mask = size - 1
    for b in range(bands):
        first[:] = -1
        lo = b * rows
        for j in range(n):
            h = np.uint64(0x9E3779B97F4A7C15)
            for r in range(rows):
                h = (h ^ np.uint64(sig[j, lo + r])) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
            slot = np.int64(h & np.uint64(mask))
            while True:
                i = first[slot]
                if i < 0:
                    first[slot] = j
                    out[j, b] = j
                    break
                same = True
                for r in range(rows):
                    if sig[i, lo + r] != sig[j, lo + r]:
                        same = False
                        break
                if same:
                    out[j, b] = out[i, b]
                    break
                slot = (slot + 1) & mask


@njit(cache=True, nogil=True)
def _first_distinct_near(sig, bucket, kept_before, sizes, need, cutoff, status, dup_of, similarity):
    """The key-order walk of ``DedupRule.first_distinct`` for MinHash signatures: per band, a
    linked list of the kept rows in each bucket; a row is checked against the kept rows that
    share a bucket with it in any band."""
    n, bands = bucket.shape
    p = sig.shape[1]
    head = np.full(bands * n, -1, np.int32)  # per (band, bucket): the last kept row there
    nxt = np.full(bands * n, -1, np.int32)  # per (row, band): the kept row before it in that bucket
    seen = np.full(n, -1, np.int32)  # per kept row: the last row it was compared with
    got = 0
    for j in range(n):
        if j >= kept_before and got >= need:
            break
        best, best_sim = -1, -1.0
        if j >= kept_before:
            for b in range(bands):
                i = head[b * n + bucket[j, b]]
                while i >= 0:
                    if seen[i] != j:
                        seen[i] = j
                        equal = 0
                        for q in range(p):
                            if sig[i, q] == sig[j, q]:
                                equal += 1
                        est = (equal / p - CHANCE) / (1.0 - CHANCE)
                        if est >= cutoff and (best < 0 or est > best_sim):
                            best, best_sim = i, est
                    i = nxt[i * bands + b]
        if best >= 0:
            status[j] = 2
            dup_of[j] = best
            similarity[j] = min(1.0, best_sim)
            continue
        status[j] = 1
        if j >= kept_before:
            got += sizes[j]
        for b in range(bands):
            slot = b * n + bucket[j, b]
            nxt[j * bands + b] = head[slot]
            head[slot] = j
