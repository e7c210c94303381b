"""Featurizing: text to hashed n-gram buckets, by compiled kernels over Arrow buffers."""

from dsir.featurize.hashed_ngrams import FEATURIZER_NAME, HashedNgramFeaturizer, content_hashes

__all__ = ["FEATURIZER_NAME", "HashedNgramFeaturizer", "content_hashes"]
