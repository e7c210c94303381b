"""Estimating importance weights: bag-of-n-grams models of target and raw data, and the
other methods' estimators (``methods``)."""

from dsir.estimate.importance import FitStats, ImportanceEstimator, smoothed_log_probs

__all__ = ["FitStats", "ImportanceEstimator", "smoothed_log_probs"]
