"""Key rules of the selection methods and the split of k over targets."""

from __future__ import annotations

import numpy as np
import pytest

from dsir.sample.gumbel import gumbel_noise, selection_keys, seed_key, uniform_from_hashes
from dsir.sample.methods import PARETO_STREAM, KeyRule, allocate, mean_per_ngram, pareto_noise

HASHES = np.array([1, 2, 3, 4], dtype=np.uint64)
SUMS = np.array([-4.0, 6.0, 0.5, 2.0])
NGRAMS = np.array([4, 3, 0, 8])
ELIGIBLE = np.array([True, True, False, True])


def test_sum_weighting_at_temperature_one_is_the_core_key_bit_for_bit():
    keys = KeyRule("dsir", "sum", 1.0).keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=7)
    assert keys.tobytes() == selection_keys(SUMS, HASHES, ELIGIBLE, 7).tobytes()


def test_mean_weighting_with_temperature():
    keys = KeyRule("dsir", "mean", 0.5, top_k=True).keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=0)
    np.testing.assert_array_equal(keys, [-2.0, 4.0, -np.inf, 0.5])
    noisy = KeyRule("dsir", "mean", 0.5).keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=3)
    np.testing.assert_array_equal(noisy[[0, 1, 3]], (np.array([-2.0, 4.0, 0.5]) + gumbel_noise(HASHES, 3)[[0, 1, 3]]))
    np.testing.assert_array_equal(mean_per_ngram(SUMS, NGRAMS), [-1.0, 2.0, 0.0, 0.25])


def test_random_is_noise_only_even_with_top_k():
    keys = KeyRule("random", top_k=True).keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=1)
    expected = gumbel_noise(HASHES, 1)
    expected[2] = -np.inf
    np.testing.assert_array_equal(keys, expected)


def test_classifier_key_is_probability_plus_lomax_pareto():
    u = uniform_from_hashes(HASHES, seed_key(5, PARETO_STREAM))
    np.testing.assert_allclose(pareto_noise(HASHES, 5, 9.0), u ** (-1 / 9) - 1)
    p = 1 / (1 + np.exp(-np.array([-1.0, 2.0, 0.0, 0.25])))
    top = KeyRule("classifier", top_k=True).keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=5)
    np.testing.assert_allclose(top[[0, 1, 3]], p[[0, 1, 3]])
    keys = KeyRule("classifier").keys(SUMS, NGRAMS, HASHES, ELIGIBLE, seed=5)
    np.testing.assert_allclose(keys[[0, 1, 3]], (p + u ** (-1 / 9) - 1)[[0, 1, 3]])
    assert keys[2] == -np.inf


def test_pareto_noise_has_the_lomax_distribution():
    x = pareto_noise(np.arange(200_000, dtype=np.uint64), 0, 9.0)
    assert x.min() > 0
    assert x.mean() == pytest.approx(1 / 8, rel=0.02)  # Lomax(9) mean = 1 / (alpha - 1)


@pytest.mark.parametrize("bad", [dict(method="bogus"), dict(weighting="max"), dict(temperature=0.0),
                                 dict(temperature=float("nan")), dict(pareto_alpha=-1.0)])
def test_invalid_rules(bad):
    with pytest.raises(ValueError):
        KeyRule(**bad)


def test_nan_scores_are_refused():
    with pytest.raises(ValueError):
        KeyRule().keys(np.array([np.nan]), np.array([1]), HASHES[:1], np.array([True]), 0)


def test_allocate_by_largest_remainder():
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(10, [0.5, 0.3, 0.2]) == [5, 3, 2]
    assert allocate(7, [2, 1]) == [5, 2]
    assert allocate(0, [1, 2]) == [0, 0]
    assert sum(allocate(1001, [0.1, 0.7, 0.2])) == 1001
    with pytest.raises(ValueError):
        allocate(3, [1, 0])
