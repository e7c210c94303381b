"""Selection methods, registered by versioned name: what each one fits on, and how.

A method is an estimator (or none) plus the key rule of ``sample.methods``. Its estimator
says what the fit pass must collect from the target and the raw pool (``FitNeeds``) and
learns from exactly that: the n-gram ratio (and the reference package's, ``reference``) needs
bucket counts of the target and of a uniform raw sample; the classifier bucket ids of
bounded samples of both; random nothing.
Every estimator ends in a *score vector* over the buckets, which the score kernel sums over
a unit's n-grams. Adding a method is one estimator class and one ``register`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dsir.estimate.classifier import HashedNgramClassifier
from dsir.estimate.discriminative import DiscriminativeEstimator
from dsir.estimate.importance import FitStats, ImportanceEstimator, ReferenceEstimator
from dsir.featurize import Featurizer
from dsir.sample.bottom_k import BottomK

#: At most this many raw (and target) documents, drawn uniformly, train the classifier.
CLASSIFIER_MAX_DOCUMENTS = 10_000
#: The paper's feature space: what the n-gram methods hash into unless ``buckets`` is given.
PAPER_BUCKETS = 10_000
#: ``discriminative`` v1: its hash space and training (chosen on bench/quality.py; see
#: bench/README.md "The discriminative estimator").
DISCRIMINATIVE_BUCKETS = 1 << 18
DISCRIMINATIVE_TRAINING = {"l2": 1e-7, "learning_rate": 0.2, "epochs": 400}
DISCRIMINATIVE_TEMPERATURE = 0.3
#: ``discriminative`` in an embedding space (``--features minilm-static``): its training
#: (chosen on bench/neural.py; see bench/README.md "Neural feature spaces").
EMBEDDING_TRAINING = {"l2": 1e-3, "learning_rate": 0.05, "epochs": 300}


@dataclass(frozen=True)
class FitNeeds:
    """What the fit pass collects: raw bucket counts over about ``raw_sample`` documents
    (``raw_counts``), bucket ids of about ``raw_ids`` raw and of ``target_ids`` target
    documents (bottom-k)."""

    raw_counts: bool = False
    raw_ids: int = 0
    target_ids: int = 0


@dataclass
class FitData:
    """What the fit pass gave for one side (a target, or the raw pool)."""

    documents: int
    counts: np.ndarray | None = None
    ids: BottomK | None = None


class Estimator(Protocol):
    """Learns a score vector over the buckets from one target and the raw pool.

    Built as ``estimator(featurizer, value, threads=n)``: ``threads`` is how many threads
    the fit may use, an execution setting that no estimator's result depends on.
    """

    def fit(self, target: FitData, raw: FitData, stats: FitStats) -> Estimator: ...

    #: float64[buckets], summed over a unit's n-grams by the score kernel
    score_vector_: np.ndarray


class RatioEstimator:
    """DSIR's estimator: ``log p_target(b) - log p_raw(b)`` of two smoothed bag-of-n-grams models."""

    model_class: type[ImportanceEstimator] = ImportanceEstimator

    def __init__(self, featurizer: Featurizer, smoothing: float, threads: int = 1):
        self.featurizer, self.smoothing = featurizer, smoothing

    def fit(self, target: FitData, raw: FitData, stats: FitStats) -> RatioEstimator:
        self.model_ = self.model_class(self.featurizer, self.smoothing).fit(target.counts, raw.counts, stats)
        self.score_vector_ = self.model_.log_ratio_
        return self


class ReferenceRatioEstimator(RatioEstimator):
    """The reference package's ratio (``ReferenceEstimator``): ``log(p_t + 1e-8) - log(p_r + 1e-8)``
    of an unsmoothed raw model and a target model with ``target_smoothing`` pseudo-counts."""

    model_class = ReferenceEstimator


def _csr(sample: BottomK) -> tuple[np.ndarray, np.ndarray]:
    return sample.offsets, sample.values


class ClassifierEstimator:
    """GPT-3's heuristic classifier; its score vector is ``coef_ + intercept_``."""

    def __init__(self, featurizer: Featurizer, smoothing: float, threads: int = 1):
        self.featurizer, self.threads = featurizer, threads

    def fit(self, target: FitData, raw: FitData, stats: FitStats) -> ClassifierEstimator:
        clf = HashedNgramClassifier(self.featurizer.buckets, threads=self.threads)
        self.model_ = clf.fit(_csr(target.ids), _csr(raw.ids))
        self.score_vector_ = self.model_.score_vector_
        return self


class LogOddsEstimator:
    """Density ratio by classification (``DiscriminativeEstimator``): its score vector is the
    per-n-gram term whose mean over a unit is the unit's log importance weight."""

    def __init__(self, featurizer: Featurizer, smoothing: float, threads: int = 1):
        self.featurizer, self.threads = featurizer, threads

    def fit(self, target: FitData, raw: FitData, stats: FitStats) -> LogOddsEstimator:
        training = EMBEDDING_TRAINING if getattr(self.featurizer, "vectors", None) is not None else \
            DISCRIMINATIVE_TRAINING
        self.model_ = DiscriminativeEstimator(self.featurizer, **training, threads=self.threads).fit(
            _csr(target.ids), _csr(raw.ids), target.counts, stats)
        self.score_vector_ = self.model_.log_ratio_
        return self


@dataclass(frozen=True)
class Method:
    """A registered selection method (``version`` is recorded in the manifest).

    ``estimator(featurizer, value, threads=n)`` is given the value of the ``Settings`` field named
    ``smoothing_param``; ``buckets`` and ``temperature`` are the method's when none is given
    (``temperature`` is used by the importance methods only).
    """

    name: str
    version: int
    needs: FitNeeds
    estimator: Callable[..., Estimator] | None
    needs_target: bool
    smoothing_param: str = "smoothing"
    buckets: int = PAPER_BUCKETS
    temperature: float = 0.01


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    METHODS[method.name] = method
    return method


register(Method("dsir", 1, FitNeeds(raw_counts=True), RatioEstimator, needs_target=True))
register(Method("classifier", 1, FitNeeds(raw_ids=CLASSIFIER_MAX_DOCUMENTS, target_ids=CLASSIFIER_MAX_DOCUMENTS),
                ClassifierEstimator, needs_target=True))
register(Method("discriminative", 1, FitNeeds(raw_ids=CLASSIFIER_MAX_DOCUMENTS, target_ids=CLASSIFIER_MAX_DOCUMENTS),
                LogOddsEstimator, needs_target=True, buckets=DISCRIMINATIVE_BUCKETS,
                temperature=DISCRIMINATIVE_TEMPERATURE))
register(Method("random", 1, FitNeeds(), None, needs_target=False))
# The reference package's estimator: raw counts of the same uniform raw sample as dsir's (the
# reference fits on all of the pool: with --raw-sample at least the pool's size, so does this).
register(Method("reference", 1, FitNeeds(raw_counts=True), ReferenceRatioEstimator, needs_target=True,
                smoothing_param="target_smoothing"))
