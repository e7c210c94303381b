"""Numbers that describe a selection: KL divergences, KL reduction, effective sample size,
lengths, and on an equal amount of text its diversity and a bigram model's perplexity."""

from dsir.metrics.divergence import (
    KLReduction, kl_contributions, kl_divergence, kl_reduction, smoothed_distribution, top_bucket_share,
)
from dsir.metrics.diversity import distinct_bigrams
from dsir.metrics.lengths import LengthSummary, length_summary
from dsir.metrics.perplexity import KN_DISCOUNT, KneserNeyBigram
from dsir.metrics.text import WORD_BUCKETS, equal_text, featurize_csr, first_words, take_rows, word_ids
from dsir.metrics.weights import effective_sample_size, log_effective_sample_size

__all__ = [
    "KLReduction", "KN_DISCOUNT", "KneserNeyBigram", "LengthSummary", "WORD_BUCKETS", "distinct_bigrams",
    "effective_sample_size", "equal_text", "featurize_csr", "first_words", "kl_contributions", "kl_divergence",
    "kl_reduction", "length_summary", "log_effective_sample_size", "smoothed_distribution", "take_rows",
    "top_bucket_share", "word_ids",
]
