"""Numbers that describe a selection: KL divergences, KL reduction, effective sample size, lengths."""

from dsir.metrics.divergence import (
    KLReduction, kl_contributions, kl_divergence, kl_reduction, smoothed_distribution, top_bucket_share,
)
from dsir.metrics.lengths import LengthSummary, length_summary
from dsir.metrics.weights import effective_sample_size, log_effective_sample_size

__all__ = [
    "KLReduction", "LengthSummary", "effective_sample_size", "kl_contributions", "kl_divergence", "kl_reduction",
    "length_summary", "log_effective_sample_size", "smoothed_distribution", "top_bucket_share",
]
