"""Effective sample size of importance weights, computed from log-weights."""

from __future__ import annotations

import numpy as np


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    if not np.isfinite(m):
        return m
    return m + float(np.log(np.sum(np.exp(x - m))))


def log_effective_sample_size(log_weights: np.ndarray) -> float:
    """``log((sum w)^2 / sum w^2)`` = ``2 logsumexp(lw) - logsumexp(2 lw)``, without overflow.

    Weights of -inf (zero weight) count as absent; -inf when no weight is positive.
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    if np.isnan(lw).any() or np.isposinf(lw).any():
        raise ValueError("log-weights must not be NaN or +inf")
    lw = lw[np.isfinite(lw)]
    if len(lw) == 0:
        return float("-inf")
    return 2.0 * _logsumexp(lw) - _logsumexp(2.0 * lw)


def effective_sample_size(log_weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of the weights ``exp(log_weights)``.

    Between 1 (one weight dominates) and n (all equal); it says how many documents the
    importance distribution effectively draws on.
    """
    return float(np.exp(log_effective_sample_size(log_weights)))
