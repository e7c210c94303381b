"""Allocation of k over several targets: target ``t`` takes the ``k_t`` largest of its own
keys among the units no earlier target took, targets in the order given, so no unit is
selected twice. Each step is a global threshold over keys that are pure functions of
(seed, unit identity), so the selection is independent of file split and workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsir.sample.gumbel import find_threshold


@dataclass
class Allocation:
    """Per file, the target index each unit went to (-1: none); per target, how many."""

    assigned: list[np.ndarray]
    selected: list[int] = field(default_factory=list)
    thresholds: list = field(default_factory=list)  # per target, over its keys with earlier picks removed


def allocate_targets(keys: list[np.ndarray], unit_hashes: Callable[[int], np.ndarray],
                     shares: list[int]) -> Allocation:
    """Per file ``keys[f]`` (float64[targets, units]): target ``t`` takes the ``shares[t]``
    largest of its keys among units not yet taken (ties by unit hash, then file and row),
    targets in order. Never a unit twice."""
    assigned = [np.full(k.shape[1], -1, dtype=np.int16) for k in keys]
    selected, thresholds = [], []
    for t, share in enumerate(shares):
        free = []
        for k, a in zip(keys, assigned):
            row = k[t].copy()
            row[a >= 0] = -np.inf
            free.append(row)
        taken = 0
        threshold = None
        if share > 0 and any(np.isfinite(k).any() for k in free):
            threshold = find_threshold(free, share, unit_hashes)
            for u, (k, a) in enumerate(zip(free, assigned)):
                m = threshold.mask(u, k)
                a[m] = t
                taken += int(m.sum())
        selected.append(taken)
        thresholds.append(threshold)
    return Allocation(assigned, selected, thresholds)
