"""Estimating importance weights: bag-of-n-grams models of target and raw data, and the
other methods' estimators (``methods``)."""

from dsir.estimate.importance import (
    FitStats, ImportanceEstimator, ReferenceEstimator, reference_log_probs, smoothed_log_probs,
)

__all__ = ["FitStats", "ImportanceEstimator", "ReferenceEstimator", "reference_log_probs", "smoothed_log_probs"]
