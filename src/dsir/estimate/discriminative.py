"""Density-ratio estimation by classification: the importance weight from a classifier's odds.

A logistic regression learns ``p(target | x)`` for documents ``x``, target documents against
a uniform raw sample. By Bayes' rule the odds are the density ratio times the class-size
ratio, ``p(t | x) / p(r | x) = p_target(x) / p_raw(x) * n_t / n_r``, so the importance
log-weight is the classifier's log-odds minus ``log(n_t / n_r)``. The classes are weighted
to equal total weight (``HashedNgramClassifier``), so their weighted sizes are equal and that
term is ``log(1) = 0``: the log-odds is the log importance weight.

Features are the frequencies of a document's hashed unigram and bigram buckets (fastText's
linear model over an average of n-gram vectors, in a hash space as large as fastText's), so
the log-odds is the mean over the document's n-grams of ``coef_ + intercept_``: the score
kernel sums that vector per document, and ``weighting="mean"`` divides by the n-gram count.
The weight then drops into the same resampling (temperature, Gumbel top-k, ``--tokens``).

In an embedding space (a featurizer with ``vectors``, ``--features minilm-static``) the
features are instead a document's mean piece vector (``embedding.EmbeddingLogisticRegression``),
and the per-piece term is ``vectors @ coef + intercept``: the same model file, score kernel
and weighting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np

from dsir import __version__
from dsir.errors import InputError
from dsir.estimate.classifier import HashedNgramClassifier
from dsir.estimate.embedding import EmbeddingLogisticRegression, mean_vectors
from dsir.estimate.importance import MODEL_FORMAT, FitStats
from dsir.featurize import Featurizer
from dsir.io.storage import save_npz

#: The model file's format version for this estimator (older dsirs refuse it).
FORMAT_VERSION = 3


class DiscriminativeEstimator:
    """Log importance weights from a class-balanced logistic regression, target against raw.

    Parameters: the ``featurizer`` (its ``buckets`` is the hash space), ``l2``,
    ``learning_rate`` and ``epochs`` of ``HashedNgramClassifier``'s full-batch Adam, and the
    ``threads`` it trains on (not in ``params``: the fit is bit for bit the same with any).

    After ``fit``: ``coef_`` (per bucket; in an embedding space ``vectors @`` the document-vector
    coefficients), ``intercept_``, ``log_ratio_ = coef_ + intercept_`` (the
    per-n-gram term whose mean over a document is its log importance weight),
    ``target_counts_`` (for the report), ``raw_counts_`` (zeros: no raw bag-of-n-grams model),
    ``loss_`` and ``stats_``.
    """

    #: The method (``--method``) this estimator is, recorded in its model file.
    method = "discriminative"

    def __init__(self, featurizer: Featurizer, l2: float, learning_rate: float, epochs: int, threads: int = 1):
        self.featurizer, self.l2, self.learning_rate, self.epochs = featurizer, l2, learning_rate, epochs
        self.threads = threads
        # validates them early
        if self.embedded:
            EmbeddingLogisticRegression(l2, learning_rate, epochs)
        else:
            HashedNgramClassifier(featurizer.buckets, l2, learning_rate, epochs, threads)

    @property
    def embedded(self) -> bool:
        """Whether the features are document vectors (the featurizer's ``vectors``)."""
        return getattr(self.featurizer, "vectors", None) is not None

    def fit(self, target: tuple[np.ndarray, np.ndarray], raw: tuple[np.ndarray, np.ndarray],
            target_counts: np.ndarray, stats: FitStats | None = None) -> DiscriminativeEstimator:
        """Fit on CSR bucket ids ``(indptr, ids)`` of target and of raw sample documents."""
        if len(target[1]) == 0:
            raise InputError("the target has no n-grams: every target document is empty")
        if len(raw[1]) == 0:
            raise InputError("the raw sample has no n-grams: every sampled raw document is empty")
        if self.embedded:
            vectors = self.featurizer.vectors
            clf = EmbeddingLogisticRegression(self.l2, self.learning_rate, self.epochs).fit(
                mean_vectors(*target, vectors), mean_vectors(*raw, vectors))
            coef, intercept = clf.piece_scores(vectors), clf.intercept_
        else:
            clf = HashedNgramClassifier(self.featurizer.buckets, self.l2, self.learning_rate, self.epochs,
                                        self.threads).fit(target, raw)
            coef, intercept = clf.coef_, clf.intercept_
        self._set(coef, intercept, np.asarray(target_counts, dtype=np.int64), stats or FitStats())
        self.loss_ = clf.loss_
        return self

    def _set(self, coef: np.ndarray, intercept: float, target_counts: np.ndarray, stats: FitStats) -> None:
        self.coef_, self.intercept_ = coef, float(intercept)
        self.log_ratio_ = coef + self.intercept_
        self.target_counts_ = target_counts
        self.raw_counts_ = np.zeros(self.featurizer.buckets, np.int64)
        self.stats_ = stats

    @property
    def params(self) -> dict:
        return {"featurizer": self.featurizer.params, "method": self.method, "l2": self.l2,
                "learning_rate": self.learning_rate, "epochs": self.epochs}

    def save(self, path: str) -> None:
        """Save as a ``.npz`` (no pickle); see docs/model-format.md."""
        header = {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "dsir_version": __version__,
                  **self.params, "intercept": self.intercept_, "fit_stats": asdict(self.stats_)}
        save_npz(path, {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
                        "target_counts": self.target_counts_, "coef": self.coef_, "log_ratio": self.log_ratio_})

    @classmethod
    def from_file(cls, featurizer: Featurizer, header: dict, z: Mapping[str, np.ndarray],
                  path: str) -> DiscriminativeEstimator:
        """The estimator a model file holds (``header`` already read and checked)."""
        try:
            est = cls(featurizer, float(header["l2"]), float(header["learning_rate"]), int(header["epochs"]))
            coef, counts, log_ratio = (np.asarray(z[k]) for k in ("coef", "target_counts", "log_ratio"))
            intercept = float(header["intercept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a dsir model file (bad discriminative model: {exc})", path=path) from None
        if coef.shape != (featurizer.buckets,) or counts.shape != coef.shape:
            raise InputError(f"model file is inconsistent: {coef.shape[0] if coef.ndim else 0} coefficients for "
                             f"{featurizer.buckets} buckets", path=path)
        est._set(coef.astype(np.float64), intercept, counts.astype(np.int64), FitStats(**header.get("fit_stats", {})))
        if not np.array_equal(est.log_ratio_, log_ratio):
            raise InputError("model file is inconsistent: stored log-ratio is not coef + intercept", path=path)
        return est
