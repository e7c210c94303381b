"""KL divergence between smoothed bag-of-hashed-n-grams distributions, and the KL reduction
of a selection (Xie et al. 2023, section 5): how much closer to the target the selected
data is than the raw pool, in the feature space the selection used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsir.estimate.importance import smoothed_log_probs


def smoothed_distribution(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """``(c_b + a) / (sum(c) + a * B)``: the same additive smoothing the estimator uses."""
    return np.exp(smoothed_log_probs(counts, smoothing))


def kl_contributions(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Per bucket ``p_b * log(p_b / q_b)`` of the smoothed distributions (their sum is KL(p || q), in nats)."""
    p_counts, q_counts = np.asarray(p_counts), np.asarray(q_counts)
    if p_counts.shape != q_counts.shape or p_counts.ndim != 1:
        raise ValueError(f"count vectors must be 1-d and of equal length, got {p_counts.shape} and {q_counts.shape}")
    log_p = smoothed_log_probs(p_counts, smoothing)
    log_q = smoothed_log_probs(q_counts, smoothing)
    return np.exp(log_p) * (log_p - log_q)


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float) -> float:
    """KL(p || q) in nats between the additively smoothed distributions of two count vectors."""
    return float(kl_contributions(p_counts, q_counts, smoothing).sum())


@dataclass(frozen=True)
class KLReduction:
    """KL(target || raw), KL(target || selected) and their difference (nats).

    ``contributions[b]`` is bucket ``b``'s part of the reduction,
    ``p_target(b) * (log p_selected(b) - log p_raw(b))``; they sum to ``reduction``.
    """

    kl_target_raw: float
    kl_target_selected: float
    contributions: np.ndarray

    @property
    def reduction(self) -> float:
        return self.kl_target_raw - self.kl_target_selected

    @property
    def relative_reduction(self) -> float:
        """The reduction as a fraction of KL(target || raw) (0 when that is 0)."""
        return self.reduction / self.kl_target_raw if self.kl_target_raw > 0 else 0.0


def kl_reduction(target_counts: np.ndarray, raw_counts: np.ndarray, selected_counts: np.ndarray,
                 smoothing: float) -> KLReduction:
    """KL(target || raw) - KL(target || selected), with the same smoothing on all three."""
    to_raw = kl_contributions(target_counts, raw_counts, smoothing)
    to_selected = kl_contributions(target_counts, selected_counts, smoothing)
    return KLReduction(float(to_raw.sum()), float(to_selected.sum()), to_raw - to_selected)


def top_bucket_share(contributions: np.ndarray, m: int) -> float:
    """Share of the total reduction carried by the ``m`` buckets that contribute most to it.

    ``sum(m largest contributions) / sum(all contributions)``; buckets can contribute
    negatively, so the share can exceed 1. NaN when the total is not positive.
    """
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    total = float(np.sum(contributions))
    if not total > 0:
        return float("nan")
    m = min(m, len(contributions))
    if m == 0:
        return 0.0
    top = np.partition(np.asarray(contributions, dtype=np.float64), len(contributions) - m)[len(contributions) - m:]
    return float(top.sum() / total)
