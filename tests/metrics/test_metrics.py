import math

import numpy as np
import pytest

from dsir.metrics import (
    effective_sample_size, kl_contributions, kl_divergence, kl_reduction, length_summary, log_effective_sample_size,
    smoothed_distribution, top_bucket_share,
)

LN2 = math.log(2)


def test_smoothed_distribution_is_additive_smoothing():
    np.testing.assert_allclose(smoothed_distribution(np.array([3, 1, 0]), 1.0), [4 / 7, 2 / 7, 1 / 7], rtol=1e-15)
    np.testing.assert_allclose(smoothed_distribution(np.array([3, 1]), 0.5), [3.5 / 5, 1.5 / 5], rtol=1e-15)


def test_kl_of_a_known_pair():
    # smoothing 1: p = (2/3, 1/3), q = (1/3, 2/3); KL = 2/3 ln 2 + 1/3 ln 1/2 = ln 2 / 3
    assert kl_divergence(np.array([1, 0]), np.array([0, 1]), 1.0) == pytest.approx(LN2 / 3, rel=1e-14)
    assert kl_divergence(np.array([5, 2, 9]), np.array([5, 2, 9]), 1.0) == 0.0
    # p = (0.5, 0.25, 0.25), q = (0.25, 0.25, 0.5) with smoothing 1 from counts (1, 0, 0) / (0, 0, 1)
    assert kl_divergence(np.array([1, 0, 0]), np.array([0, 0, 1]), 1.0) == pytest.approx(
        0.5 * math.log(2) + 0.25 * math.log(0.5), rel=1e-14)


def test_kl_contributions_sum_to_kl_and_shapes_are_checked():
    c = kl_contributions(np.array([1, 0]), np.array([0, 1]), 1.0)
    np.testing.assert_allclose(c, [2 / 3 * LN2, -1 / 3 * LN2], rtol=1e-14)
    with pytest.raises(ValueError, match="equal length"):
        kl_contributions(np.array([1, 0]), np.array([0, 1, 2]), 1.0)
    with pytest.raises(ValueError, match="smoothing"):
        kl_divergence(np.array([1]), np.array([1]), 0.0)


def test_kl_reduction_by_hand():
    # target (2/3, 1/3), raw (1/3, 2/3), selected = target: KL(t||raw) = ln2/3, KL(t||sel) = 0
    r = kl_reduction(np.array([3, 1]), np.array([1, 3]), np.array([3, 1]), 1.0)
    assert r.kl_target_raw == pytest.approx(LN2 / 3, rel=1e-14)
    assert r.kl_target_selected == 0.0
    assert r.reduction == pytest.approx(LN2 / 3, rel=1e-14)
    assert r.relative_reduction == pytest.approx(1.0, rel=1e-14)
    # bucket contributions p_t (log q_sel - log q_raw): 2/3 ln 2 and -1/3 ln 2
    np.testing.assert_allclose(r.contributions, [2 / 3 * LN2, -1 / 3 * LN2], rtol=1e-14)
    assert top_bucket_share(r.contributions, 1) == pytest.approx(2.0, rel=1e-14)
    assert top_bucket_share(r.contributions, 2) == pytest.approx(1.0, rel=1e-14)
    assert top_bucket_share(r.contributions, 0) == 0.0


def test_kl_reduction_can_be_negative_and_share_is_nan_then():
    r = kl_reduction(np.array([3, 1]), np.array([3, 1]), np.array([1, 3]), 1.0)
    assert r.reduction == pytest.approx(-LN2 / 3, rel=1e-14)
    assert math.isnan(top_bucket_share(r.contributions, 1))
    with pytest.raises(ValueError):
        top_bucket_share(r.contributions, -1)


def test_effective_sample_size_of_known_weights():
    assert effective_sample_size(np.zeros(4)) == pytest.approx(4.0, rel=1e-14)
    # w = (1, 3): (1 + 3)^2 / (1 + 9) = 1.6
    assert effective_sample_size(np.log([1.0, 3.0])) == pytest.approx(1.6, rel=1e-14)
    # w = (1, 1, 2): 16 / 6
    assert effective_sample_size(np.log([1.0, 1.0, 2.0])) == pytest.approx(16 / 6, rel=1e-14)


def test_effective_sample_size_is_stable_for_huge_log_weights():
    lw = np.array([5000.0, 5000.0 + math.log(3.0)])
    assert effective_sample_size(lw) == pytest.approx(1.6, rel=1e-12)
    assert effective_sample_size(lw - 12000.0) == pytest.approx(1.6, rel=1e-12)
    # one weight dominating by e^700: ESS is 1
    assert effective_sample_size(np.array([0.0, 700.0])) == pytest.approx(1.0, rel=1e-12)


def test_effective_sample_size_ignores_zero_weights_and_rejects_nan():
    assert effective_sample_size(np.array([0.0, -np.inf, 0.0])) == pytest.approx(2.0, rel=1e-14)
    assert log_effective_sample_size(np.array([-np.inf])) == -np.inf
    assert effective_sample_size(np.array([])) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        effective_sample_size(np.array([0.0, np.nan]))


def test_length_summary_by_hand():
    s = length_summary(np.array([5, 1, 4, 2, 3]))
    assert (s.documents, s.total, s.min, s.max) == (5, 15, 1, 5)
    assert s.mean == 3.0 and s.median == 3.0
    assert s.p10 == pytest.approx(1.4, rel=1e-14) and s.p90 == pytest.approx(4.6, rel=1e-14)
    empty = length_summary(np.array([], dtype=np.int64))
    assert empty.documents == 0 and math.isnan(empty.mean)
