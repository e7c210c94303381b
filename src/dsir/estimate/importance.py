"""Bag-of-n-grams models of target and raw data, and the log importance ratio between them."""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass

import numpy as np

from dsir import __version__
from dsir.errors import InputError
from dsir.featurize import Featurizer, HashedNgramFeaturizer, featurizer_of_params
from dsir.io.storage import open_npz, save_npz

MODEL_FORMAT = "dsir-model"
#: The newest format this dsir reads. dsir models are written as version 1 (which every dsir
#: reads); reference models as version 2, so that a dsir without them refuses them instead of
#: reading them as smoothed dsir models; discriminative models as version 3.
MODEL_FORMAT_VERSION = 3
#: What the reference package adds to every probability before its log (``np.log(p + 1e-8)``).
REFERENCE_EPSILON = 1e-8


def smoothed_log_probs(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Additive (Lidstone) smoothing: ``log((c_b + a) / (sum(c) + a * B))``.

    With ``a > 0`` every bucket gets a finite log-probability, so no weight is ever -inf or
    NaN; ``a = 1`` is Laplace smoothing.
    """
    if smoothing <= 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be a positive number, got {smoothing}")
    counts = np.asarray(counts, dtype=np.float64)
    return np.log(counts + smoothing) - np.log(counts.sum() + smoothing * len(counts))


def reference_log_probs(counts: np.ndarray, pseudo_count: float = 0.0) -> np.ndarray:
    """The reference package's model: ``log(p + 1e-8)`` with ``p = (c + a) / sum(c + a)``.

    The same float operations in the same order as ``data-selection``'s
    ``fit_importance_estimator`` (``probs = counts + a; probs / probs.sum()``, then
    ``np.log(probs + 1e-8)``), so the log-ratio is bit for bit the reference's ``log_diff``.
    ``a = 0`` (its raw model, and its target model by default) is unsmoothed: an unseen bucket
    gets ``log(1e-8)``.
    """
    if not (pseudo_count >= 0 and np.isfinite(pseudo_count)):
        raise ValueError(f"target_smoothing must be a number >= 0, got {pseudo_count}")
    probs = np.asarray(counts, dtype=np.int64) + float(pseudo_count)
    return np.log(probs / probs.sum() + REFERENCE_EPSILON)


@dataclass
class FitStats:
    """How much data each model was fit on."""

    target_documents: int = 0
    raw_documents: int = 0
    raw_pool_documents: int = 0
    raw_sample_rate: float = 1.0


class ImportanceEstimator:
    """DSIR's importance weight estimator over hashed n-gram buckets.

    ``fit`` takes the bucket counts of the target sample and of the raw sample and learns
    ``target_log_prob_``, ``raw_log_prob_`` and ``log_ratio_ = target_log_prob_ -
    raw_log_prob_``; a document's log importance weight is the sum of ``log_ratio_`` over
    its n-grams (``HashedNgramFeaturizer.score``).
    """

    #: The method (``--method``) this estimator is, recorded in its model file.
    method = "dsir"

    def __init__(self, featurizer: Featurizer | None = None, smoothing: float = 1.0):
        self.featurizer = featurizer or HashedNgramFeaturizer()
        self.smoothing = float(smoothing)
        smoothed_log_probs(np.zeros(1), self.smoothing)  # validates smoothing early

    def fit(self, target_counts: np.ndarray, raw_counts: np.ndarray, stats: FitStats | None = None) -> ImportanceEstimator:
        buckets = self.featurizer.buckets
        for name, c in (("target", target_counts), ("raw", raw_counts)):
            if c.shape != (buckets,):
                raise ValueError(f"{name} counts have shape {c.shape}, expected ({buckets},)")
        if target_counts.sum() == 0:
            raise InputError("the target has no n-grams: every target document is empty")
        self.target_counts_ = np.asarray(target_counts, dtype=np.int64)
        self.raw_counts_ = np.asarray(raw_counts, dtype=np.int64)
        self.target_log_prob_, self.raw_log_prob_ = self._log_probs()
        self.log_ratio_ = self.target_log_prob_ - self.raw_log_prob_
        self.stats_ = stats or FitStats()
        return self

    def _log_probs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(target, raw)`` log-probabilities of the buckets, from the fitted counts."""
        return (smoothed_log_probs(self.target_counts_, self.smoothing),
                smoothed_log_probs(self.raw_counts_, self.smoothing))

    @property
    def params(self) -> dict:
        return {"featurizer": self.featurizer.params, "smoothing": self.smoothing}

    def save(self, path: str) -> None:
        """Save as a ``.npz`` (no pickle): arrays plus a JSON header; see docs/model-format.md."""
        header = {
            "format": MODEL_FORMAT,
            "format_version": 1 if self.method == "dsir" else 2,
            "dsir_version": __version__,
            **self.params,
            "fit_stats": asdict(self.stats_),
        }
        save_npz(path, {  # a local path (temporary name, then rename) or an object-store URL
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            "target_counts": self.target_counts_,
            "raw_counts": self.raw_counts_,
            "log_ratio": self.log_ratio_,
        })

    @classmethod
    def load(cls, path: str):
        """The estimator a model file holds: an ``ImportanceEstimator``, a ``ReferenceEstimator``
        or a ``DiscriminativeEstimator`` (``header["method"]``)."""
        try:
            with open_npz(path) as z:
                header = json.loads(z["header"].tobytes().decode("utf-8"))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except FileNotFoundError:
            raise InputError("model file does not exist", path=path) from None
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"not a dsir model file ({exc})", path=path) from exc
        if header.get("format") != MODEL_FORMAT:
            raise InputError("not a dsir model file", path=path)
        if header.get("format_version", 0) > MODEL_FORMAT_VERSION:
            raise InputError(f"model format version {header['format_version']} is newer than this dsir reads "
                             f"({MODEL_FORMAT_VERSION}); upgrade dsir", path=path)
        featurizer = _featurizer_of(header.get("featurizer"), path)
        method = header.get("method", "dsir")  # dsir models record none
        if method == "discriminative":
            from dsir.estimate.discriminative import DiscriminativeEstimator  # it builds on this module

            return DiscriminativeEstimator.from_file(featurizer, header, arrays, path)
        try:
            if method == "reference":
                est: ImportanceEstimator = ReferenceEstimator(featurizer, header["target_smoothing"])
            elif method == "dsir":
                est = ImportanceEstimator(featurizer, header["smoothing"])
            else:
                raise InputError(f"model of an unknown method {method!r}; upgrade dsir", path=path)
            counts = {k: arrays[k] for k in ("target_counts", "raw_counts", "log_ratio")}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a dsir model file (bad parameters in its header: {exc})", path=path) from None
        est.fit(counts["target_counts"], counts["raw_counts"], FitStats(**header.get("fit_stats", {})))
        if not np.array_equal(est.log_ratio_, counts["log_ratio"]):
            raise InputError("model file is inconsistent: stored log-ratio does not match its counts", path=path)
        return est


def _describe_featurizer(params: dict) -> str:
    if "file_sha256" in params:  # a distilled feature space: its file names it
        return f"featurizer {params.get('name')!r} (file sha256 {str(params['file_sha256'])[:12]})"
    unicode = params.get("unicode_version") or "not recorded"
    return f"featurizer {params.get('name')!r} (Unicode {unicode})"


def _featurizer_of(feat, path: str) -> Featurizer:
    """The featurizer a model header records, if it is exactly one this dsir computes
    (``hashed-ngrams-v1`` or ``sha256-ngrams-v1``).

    Name and Unicode version must both match (a model from an older dsir that recorded no
    Unicode version is refused too: its buckets cannot be known to be these).
    """
    try:
        featurizer = featurizer_of_params(feat)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"not a dsir model file (bad featurizer in its header: {exc})", path=path) from None
    mine = featurizer.params
    if feat != mine:
        theirs_text, mine_text = _describe_featurizer(feat), _describe_featurizer(mine)
        if theirs_text == mine_text:  # some other parameter differs: show them all
            theirs_text, mine_text = json.dumps(feat, sort_keys=True), json.dumps(mine, sort_keys=True)
        raise InputError(f"model was made with {theirs_text}, but this dsir computes {mine_text}, which gives "
                         f"other buckets; refit the model with this dsir", path=path)
    return featurizer


class ReferenceEstimator(ImportanceEstimator):
    """The estimator of the reference package (``data-selection``'s ``HashedNgramDSIR``).

    The raw model is unsmoothed, the target model has the pseudo-count ``target_smoothing``
    added to every bucket (the reference's ``target_laplace_smoothing``, default 0, which
    1.0.3 does not have: 0 is its behaviour), and both are ``reference_log_probs``, so
    ``log_ratio_`` is the reference's ``log_diff``. A document's log-weight is the sum of
    ``log_ratio_`` over its n-gram occurrences, the reference's ``np.dot(log_diff,
    counts)`` (up to the order of the float additions).
    """

    method = "reference"

    def __init__(self, featurizer: Featurizer | None = None, target_smoothing: float = 0.0):
        self.featurizer = featurizer or HashedNgramFeaturizer()
        self.target_smoothing = float(target_smoothing)
        self.smoothing = self.target_smoothing  # what the model replaces in a DSIR (load_model)
        reference_log_probs(np.ones(1), self.target_smoothing)  # validates it early

    def _log_probs(self) -> tuple[np.ndarray, np.ndarray]:
        if self.raw_counts_.sum() == 0:  # the reference would divide by zero (NaN weights)
            raise InputError("the raw sample has no n-grams: every sampled raw document is empty")
        return (reference_log_probs(self.target_counts_, self.target_smoothing),
                reference_log_probs(self.raw_counts_))

    @property
    def params(self) -> dict:
        return {"featurizer": self.featurizer.params, "method": self.method,
                "target_smoothing": self.target_smoothing}
