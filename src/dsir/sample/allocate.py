"""Allocation of a budget over several targets: target ``t`` takes the ``k_t`` largest of its
own keys among the units no earlier target took (or, with a token budget, its largest keys
until their tokens reach its share), targets in the order given, so no unit is selected
twice. Each step is a global threshold over keys that are pure functions of (seed, unit
identity), so the selection is independent of file split and workers.

With a ``DedupRule`` a target takes, in the same key order, the first units that duplicate
no unit taken before (by it or an earlier target) until its share is filled
(``dedup.rule``): its candidates are the units above a provisional threshold, widened until
they hold enough distinct units, so only the candidates' signatures are ever loaded."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsir.dedup.rule import DROPPED, KEPT, DedupRule
from dsir.errors import UsageError
from dsir.sample.gumbel import Threshold, find_threshold, find_token_threshold

#: Duplicate pairs an allocation keeps per target, for the manifest and the report.
DUPLICATE_EXAMPLES = 5


@dataclass(frozen=True)
class Budget:
    """How much a select takes: ``k`` units, a ``fraction`` of the eligible units, or
    ``tokens`` (units in key order until their tokens reach it, ``find_token_threshold``).
    Exactly one is given; a bad one is a ``UsageError`` before any work."""

    k: int | None = None
    fraction: float | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("k", "fraction", "tokens") if getattr(self, name) is not None]
        if len(given) != 1:
            raise UsageError("give exactly one of k, fraction and tokens"
                             + (f" (got {' and '.join(given)})" if given else ""))
        for name in ("k", "tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise UsageError(f"{name} must be an integer, got {value!r}")
            if value is not None and value <= 0:
                what = "documents" if name == "k" else "tokens"
                raise UsageError(f"{name} must be a positive number of {what}, got {value}")
            if value is not None:
                object.__setattr__(self, name, int(value))  # numpy integers become Python ones (JSON)
        if self.fraction is not None:
            if isinstance(self.fraction, bool) or not isinstance(self.fraction, numbers.Real):
                raise UsageError(f"fraction must be a number, got {self.fraction!r}")
            if not 0 < self.fraction <= 1:
                raise UsageError(f"fraction must be in (0, 1], got {self.fraction}")
            object.__setattr__(self, "fraction", float(self.fraction))

    @property
    def in_tokens(self) -> bool:
        return self.tokens is not None

    def requested(self, eligible: int) -> int:
        """Units to select of ``eligible`` ones (``k``, or ``fraction`` of them rounded, at
        least 1), or the token budget."""
        if self.tokens is not None:
            return int(self.tokens)
        if self.k is not None:
            return int(self.k)
        return max(1, int(self.fraction * eligible + 0.5))  # type: ignore[operator]

    def describe(self) -> str:
        return (f"{self.tokens:,} tokens" if self.tokens is not None else
                f"k = {self.k:,}" if self.k is not None else f"a fraction {self.fraction:g} of the eligible units")


@dataclass
class Allocation:
    """Per file, the target index each unit went to (-1: none); per target, how many units and
    (with sizes) how many tokens."""

    assigned: list[np.ndarray]
    selected: list[int] = field(default_factory=list)
    selected_tokens: list[int] = field(default_factory=list)
    thresholds: list = field(default_factory=list)  # per target, over its keys with earlier picks removed
    duplicates: list = field(default_factory=list)  # per target with a DedupRule: ``Duplicates``
    parts: Allocation | None = None  # with a mixture: the allocation by part (``sample.mixture``)
    balance: object = None  # with a balance: its ``BalancedKeys`` (``sample.balance``)


@dataclass
class Duplicates:
    """What a target's dedup walk skipped: ``examined`` candidates in key order up to its last
    pick, ``dropped`` of them duplicates of a unit taken before; ``examples`` the first
    dropped ones as ``(file, unit, kept file, kept unit, estimated similarity)``."""

    examined: int
    dropped: int
    dropped_tokens: int
    examples: list

    def to_dict(self) -> dict:
        return {"examined": self.examined, "dropped": self.dropped, "dropped_tokens": self.dropped_tokens,
                "examples": [{"file": f, "unit": u, "kept_file": kf, "kept_unit": ku, "similarity": round(s, 4)}
                             for f, u, kf, ku, s in self.examples]}


def allocate_targets(keys: list[np.ndarray], unit_hashes: Callable[[int], np.ndarray],
                     shares: list[int], sizes: list[np.ndarray] | None = None, by_tokens: bool = False,
                     dedup: DedupRule | None = None,
                     signatures: Callable[[int], np.ndarray] | None = None) -> Allocation:
    """Per file ``keys[f]`` (float64[targets, units]): target ``t`` takes the ``shares[t]``
    largest of its keys among units not yet taken (ties by unit hash, then file and row),
    targets in order. Never a unit twice. ``sizes`` (per file, the tokens of each unit) count
    the tokens each target got; ``by_tokens``: a share is a number of tokens, and the target
    takes its largest free keys until their sizes reach it (``find_token_threshold``).
    ``dedup`` (with ``signatures(file)``, the rows ``DedupRule.first_distinct`` reads, one per
    unit): skip the units that duplicate one taken before (see the module doc)."""
    if by_tokens and sizes is None:
        raise ValueError("a token budget needs the units' sizes")
    assigned = [np.full(k.shape[1], -1, dtype=np.int16) for k in keys]
    selected, selected_tokens, thresholds = [], [], []
    if dedup is not None and dedup.active:
        if signatures is None:
            raise ValueError("a dedup rule needs the units' signatures")
        return _allocate_distinct(keys, unit_hashes, shares, sizes, by_tokens, dedup, signatures, assigned)
    for t, share in enumerate(shares):
        free = _free_keys(keys, assigned, t)
        taken = 0
        threshold = None
        tokens = 0
        if share > 0 and any(np.isfinite(k).any() for k in free):
            threshold = (find_token_threshold(free, sizes, share, unit_hashes) if by_tokens
                         else find_threshold(free, share, unit_hashes))
            for u, (k, a) in enumerate(zip(free, assigned)):
                m = threshold.mask(u, k)
                a[m] = t
                taken += int(m.sum())
                if sizes is not None:
                    tokens += int(sizes[u][m].sum())
        selected.append(taken)
        selected_tokens.append(tokens)
        thresholds.append(threshold)
    return Allocation(assigned, selected, selected_tokens, thresholds)


def _free_keys(keys: list[np.ndarray], assigned: list[np.ndarray], t: int) -> list[np.ndarray]:
    """Per file, target ``t``'s keys with the units an earlier target took at ``-inf``."""
    free = []
    for k, a in zip(keys, assigned):
        row = k[t].copy()
        row[a >= 0] = -np.inf
        free.append(row)
    return free


def _allocate_distinct(keys, unit_hashes, shares, sizes, by_tokens, dedup, signatures, assigned) -> Allocation:
    """``allocate_targets`` with a ``DedupRule``: each target walks its candidates in key
    order, with every unit taken before it as the first rows of the walk."""
    selected, selected_tokens, thresholds, duplicates = [], [], [], []
    taken: list[tuple[np.ndarray, np.ndarray]] = []  # (file, unit) of every pick so far, in order
    for t, share in enumerate(shares):
        free = _free_keys(keys, assigned, t)
        n_free = sum(int(np.isfinite(k).sum()) for k in free)
        pre_f = np.concatenate([f for f, _ in taken]) if taken else np.empty(0, np.int64)
        pre_u = np.concatenate([u for _, u in taken]) if taken else np.empty(0, np.int64)
        pre_sig = _gather(signatures, pre_f, pre_u, dedup.empty_signatures())
        want = share  # candidates (units, or tokens) above the provisional threshold
        while True:
            if share <= 0 or n_free == 0:
                files, units, status, dup_of, sim = (np.empty(0, np.int64),) * 2 + (np.empty(0, np.int8),
                                                                                   np.empty(0, np.int64),
                                                                                   np.empty(0, np.float32))
                break
            threshold = (find_token_threshold(free, sizes, want, unit_hashes) if by_tokens
                         else find_threshold(free, min(want, n_free), unit_hashes))
            files, units = _candidates(free, threshold, unit_hashes)
            unit_sizes = (_gather(lambda f: sizes[f], files, units, np.empty(0, np.int64)).astype(np.int64)
                          if by_tokens else np.ones(len(files), np.int64))
            sig = _gather(signatures, files, units, dedup.empty_signatures())
            status, dup_of, sim = dedup.first_distinct(np.concatenate([pre_sig, sig]), len(pre_f),
                                                       np.concatenate([np.zeros(len(pre_f), np.int64), unit_sizes]),
                                                       share)
            status, sim = status[len(pre_f):], sim[len(pre_f):]  # dup_of indexes the whole walk
            got = int(unit_sizes[status == KEPT].sum())
            if got >= share or threshold.select_all:
                break
            examined = max(1, int(unit_sizes.sum()))
            want = int(want + (share - got) * examined / max(got, 1) * 1.25) + 1  # widen by the drop rate seen
        kept = status == KEPT
        for f in np.unique(files[kept]):
            assigned[f][units[kept & (files == f)]] = t
        picked_sizes = (_gather(lambda f: sizes[f], files[kept], units[kept], np.empty(0, np.int64))
                        if sizes is not None else np.zeros(0, np.int64))
        selected.append(int(kept.sum()))
        selected_tokens.append(int(picked_sizes.sum()) if sizes is not None else 0)
        last = np.flatnonzero(kept)
        thresholds.append(Threshold(float(keys[files[last[-1]]][t][units[last[-1]]])) if len(last) else None)
        all_f = np.concatenate([pre_f, files])
        all_u = np.concatenate([pre_u, units])
        dropped = np.flatnonzero(status == DROPPED)
        drop_tokens = (int(_gather(lambda f: sizes[f], files[dropped], units[dropped], np.empty(0, np.int64)).sum())
                       if sizes is not None else 0)
        examples = [(int(files[i]), int(units[i]), int(all_f[dup_of[len(pre_f) + i]]),
                     int(all_u[dup_of[len(pre_f) + i]]), float(sim[i])) for i in dropped[:DUPLICATE_EXAMPLES]]
        seen = status != 0
        duplicates.append(Duplicates(int(seen.sum()), len(dropped), drop_tokens, examples))
        taken.append((files[kept], units[kept]))
    return Allocation(assigned, selected, selected_tokens, thresholds, duplicates)


def _candidates(free: list[np.ndarray], threshold: Threshold, unit_hashes) -> tuple[np.ndarray, np.ndarray]:
    """``(file, unit)`` of the units ``threshold`` keeps, in key order (larger first; equal
    keys by unit hash, then file and unit, as ``find_threshold`` ranks them)."""
    files, units, keys, hashes = [], [], [], []
    for f, k in enumerate(free):
        m = np.flatnonzero(threshold.mask(f, k))
        if len(m):
            files.append(np.full(len(m), f, np.int64))
            units.append(m.astype(np.int64))
            keys.append(k[m])
            hashes.append(unit_hashes(f)[m])
    if not files:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    files, units, keys, hashes = (np.concatenate(x) for x in (files, units, keys, hashes))
    order = np.lexsort((units, files, hashes, -keys))
    return files[order], units[order]


def _gather(per_file: Callable[[int], np.ndarray], files: np.ndarray, units: np.ndarray,
            empty: np.ndarray) -> np.ndarray:
    """The rows ``per_file(f)[u]`` of ``(files, units)``, in that order (each file's array
    fetched once); ``empty`` when there are none."""
    parts, where = [], []
    for f in np.unique(files):
        at = np.flatnonzero(files == f)
        parts.append(per_file(int(f))[units[at]])
        where.append(at)
    if not parts:
        return empty
    out = np.empty((len(files),) + parts[0].shape[1:], parts[0].dtype)
    for at, p in zip(where, parts):
        out[at] = p
    return out
