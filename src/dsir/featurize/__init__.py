"""Featurizing: text to hashed n-gram buckets, by compiled kernels over Arrow buffers."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from dsir.featurize.hashed_ngrams import FEATURIZER_NAME, HashedNgramFeaturizer, content_hashes
from dsir.featurize.sha256_ngrams import Sha256NgramFeaturizer
from dsir.featurize.static_embeddings import StaticEmbeddingFeaturizer


@runtime_checkable
class Featurizer(Protocol):
    """A feature space of ``buckets`` features that the pipeline's stages use.

    ``count`` adds the features of texts to a count vector (the fit), ``score`` sums a
    per-feature vector over each text's features (the score pass), ``score_spans`` does the
    same for byte spans of a buffer (chunks), ``buckets_of`` gives each text's feature ids
    (the classifier, bucket names); ``params`` (with a versioned ``name``) goes into the
    manifest, the model file and every fingerprint; ``FEATURES`` is the name that selects it
    (``--features``).
    """

    FEATURES: ClassVar[str]
    ngrams: int
    buckets: int

    @property
    def params(self) -> dict: ...

    def count(self, texts: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def score(self, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def score_spans(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def buckets_of(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]: ...


#: The featurizers by their ``features`` name (``DSIR(features=...)``, ``--features``).
FEATURES: dict[str, type] = {cls.FEATURES: cls for cls in (HashedNgramFeaturizer, Sha256NgramFeaturizer,
                                                            StaticEmbeddingFeaturizer)}


def make_featurizer(features: str, ngrams: int, buckets: int) -> Featurizer:
    """The featurizer called ``features`` (a key of ``FEATURES``); ``ValueError`` otherwise."""
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")
    return FEATURES[features](ngrams, buckets)


def featurizer_of_params(params: dict) -> Featurizer:
    """The featurizer whose family a recorded ``params`` names (a manifest's or a model's).

    The family is the versioned name without its ``-vN``; an unknown family is read as
    ``hashed-ngrams``. Callers compare ``params`` with the result's own to tell whether it
    is exactly the featurizer this dsir computes. Raises ``KeyError``, ``TypeError`` or
    ``ValueError`` for params without usable ``ngrams`` and ``buckets``.
    """
    family = str(params.get("name", "")).rsplit("-v", 1)[0]
    return FEATURES.get(family, HashedNgramFeaturizer)(int(params["ngrams"]), int(params["buckets"]))


__all__ = ["FEATURES", "FEATURIZER_NAME", "Featurizer", "HashedNgramFeaturizer", "Sha256NgramFeaturizer",
           "StaticEmbeddingFeaturizer",
           "content_hashes", "featurizer_of_params", "make_featurizer"]
