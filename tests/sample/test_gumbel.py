"""Gumbel top-k sampling: inclusion probabilities, determinism, thresholds and ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dsir.sample import find_threshold, gumbel_noise, selection_keys, uniform_from_hashes
from dsir.sample.gumbel import seed_key


def inclusion_probabilities(w: np.ndarray, k: int) -> np.ndarray:
    """Exact P(i among k draws without replacement, each proportional to w), by enumeration."""
    n = len(w)
    p = np.zeros(n)
    for order in itertools.permutations(range(n), k):
        prob, left = 1.0, w.sum()
        for i in order:
            prob *= w[i] / left
            left -= w[i]
        for i in order:
            p[i] += prob
    return p


def test_gumbel_top_k_inclusion_frequencies_match_theory():
    log_w = np.log(np.array([1.0, 2.0, 3.0, 4.0, 10.0]))
    k, trials = 2, 20_000
    hashes = np.array([11, 22, 33, 44, 55], dtype=np.uint64)
    hits = np.zeros(len(log_w))
    for seed in range(trials):
        keys = log_w + gumbel_noise(hashes, seed)
        hits[np.argsort(-keys)[:k]] += 1
    expected = inclusion_probabilities(np.exp(log_w), k)
    sigma = np.sqrt(expected * (1 - expected) / trials)
    assert np.all(np.abs(hits / trials - expected) < 4.5 * sigma), (hits / trials, expected)


def test_noise_is_a_pure_function_of_seed_and_hash():
    hashes = np.array([1, 2, 3, 2**63 + 5], dtype=np.uint64)
    a = gumbel_noise(hashes, 7)
    assert np.array_equal(a, gumbel_noise(hashes, 7))
    assert np.array_equal(a[1:3], gumbel_noise(hashes[1:3], 7))  # independent of batch
    assert not np.array_equal(a, gumbel_noise(hashes, 8))
    assert seed_key(7, 0) != seed_key(7, 1)


def test_uniforms_are_in_the_open_unit_interval():
    u = uniform_from_hashes(np.arange(100_000, dtype=np.uint64), seed_key(0))
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005


def test_selection_keys_rejects_nan_and_excludes_ineligible():
    lw = np.array([0.0, 1.0, 2.0])
    keys = selection_keys(lw, np.arange(3, dtype=np.uint64), np.array([True, False, True]), 0, top_k=True)
    assert keys.tolist() == [0.0, -np.inf, 2.0]
    with pytest.raises(ValueError, match="NaN"):
        selection_keys(np.array([np.nan]), np.zeros(1, np.uint64), np.ones(1, bool), 0)


def test_threshold_keeps_exactly_the_k_largest_across_units():
    units = [np.array([5.0, 1.0, -np.inf]), np.array([3.0, 4.0]), np.array([2.0])]
    t = find_threshold(units, 3)
    masks = [t.mask(u, keys) for u, keys in enumerate(units)]
    assert [m.tolist() for m in masks] == [[True, False, False], [True, True], [False]]


def test_ties_are_broken_by_hash_then_position():
    units = [np.array([1.0, 1.0]), np.array([1.0, 0.0])]
    hashes = [np.array([9, 3], np.uint64), np.array([3, 0], np.uint64)]
    t = find_threshold(units, 2, lambda u: hashes[u])
    assert [t.mask(u, k).tolist() for u, k in enumerate(units)] == [[False, True], [True, False]]


def test_k_larger_than_eligible_selects_all_eligible():
    units = [np.array([1.0, -np.inf]), np.array([0.5])]
    t = find_threshold(units, 10)
    assert t.select_all
    assert [t.mask(u, k).tolist() for u, k in enumerate(units)] == [[True, False], [True]]
    with pytest.raises(ValueError):
        find_threshold(units, 0)
