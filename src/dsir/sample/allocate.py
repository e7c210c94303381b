"""Allocation of a budget over several targets: target ``t`` takes the ``k_t`` largest of its
own keys among the units no earlier target took (or, with a token budget, its largest keys
until their tokens reach its share), targets in the order given, so no unit is selected
twice. Each step is a global threshold over keys that are pure functions of (seed, unit
identity), so the selection is independent of file split and workers."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsir.errors import UsageError

from dsir.sample.gumbel import find_threshold, find_token_threshold


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


def allocate_targets(keys: list[np.ndarray], unit_hashes: Callable[[int], np.ndarray],
                     shares: list[int], sizes: list[np.ndarray] | None = None, by_tokens: bool = False) -> Allocation:
    """Per file ``keys[f]`` (float64[targets, units]): target ``t`` takes the ``shares[t]``
    largest of its keys among units not yet taken (ties by unit hash, then file and row),
    targets in order. Never a unit twice. ``sizes`` (per file, the tokens of each unit) count
    the tokens each target got; ``by_tokens``: a share is a number of tokens, and the target
    takes its largest free keys until their sizes reach it (``find_token_threshold``)."""
    if by_tokens and sizes is None:
        raise ValueError("a token budget needs the units' sizes")
    assigned = [np.full(k.shape[1], -1, dtype=np.int16) for k in keys]
    selected, selected_tokens, thresholds = [], [], []
    for t, share in enumerate(shares):
        free = []
        for k, a in zip(keys, assigned):
            row = k[t].copy()
            row[a >= 0] = -np.inf
            free.append(row)
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
