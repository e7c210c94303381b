"""Featurizing: text to hashed n-gram buckets, by compiled kernels over Arrow buffers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from dsir.featurize.hashed_ngrams import FEATURIZER_NAME, HashedNgramFeaturizer, content_hashes


@runtime_checkable
class Featurizer(Protocol):
    """A feature space of ``buckets`` features that the pipeline's stages use.

    ``count`` adds the features of texts to a count vector (the fit), ``score`` sums a
    per-feature vector over each text's features (the score pass), ``buckets_of`` gives each
    text's feature ids (the classifier, bucket names); ``params`` (with a versioned ``name``)
    goes into the manifest, the model file and every fingerprint.
    """

    buckets: int

    @property
    def params(self) -> dict: ...

    def count(self, texts: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def score(self, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def buckets_of(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]: ...


__all__ = ["FEATURIZER_NAME", "Featurizer", "HashedNgramFeaturizer", "content_hashes"]
