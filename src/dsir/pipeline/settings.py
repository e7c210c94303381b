"""What shapes a result: the parameters of a run, validated and typed once."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass

import numpy as np

from dsir.errors import UsageError
from dsir.estimate.methods import METHODS
from dsir.featurize import FEATURES, Featurizer, make_featurizer
from dsir.sample.methods import KeyRule


#: Per-bucket arrays a run holds at once, about (counts, log-ratios, fit and report samples,
#: each worker's scratch): what ``--buckets`` is checked against before any work.
BUCKET_ARRAYS = 12


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40  # unknown: do not refuse


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a result: ``DSIR.get_params()`` minus where and how it runs
    (``api.EXECUTION_PARAMS``). No defaults here: those of ``DSIR.__init__`` are the only ones."""

    ngrams: int
    buckets: int | None  # None: the method's (``Method.buckets``), set in __post_init__
    features: str  # the featurizer: a key of featurize.FEATURES
    smoothing: float
    target_smoothing: float  # the target model's pseudo-count of method "reference"
    raw_sample: int
    seed: int
    min_length: int
    top_k: bool
    text_field: str
    target_text_field: str | None  # the targets' text field, when not ``text_field``
    id_field: str | None
    on_error: str
    method: str
    weighting: str
    temperature: float | None  # None: the method's (``Method.temperature``), set in __post_init__
    chunk_words: int | None
    emit: str

    def __post_init__(self) -> None:
        fixed = getattr(FEATURES.get(self.features) if isinstance(self.features, str) else None, "BUCKETS", None)
        if self.buckets is None and fixed is not None:  # a feature space of its own size
            object.__setattr__(self, "buckets", fixed)
        if isinstance(self.method, str) and self.method in METHODS:
            for name in ("buckets", "temperature"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, getattr(METHODS[self.method], name))
        self._coerce()
        if self.method not in METHODS:
            raise UsageError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        need = BUCKET_ARRAYS * 8 * self.buckets
        if need > 0.5 * _physical_memory():
            raise UsageError(f"buckets = {self.buckets:,} needs about {need / 2**30:.0f} GiB for its per-bucket arrays "
                             f"(about {BUCKET_ARRAYS} arrays of 8 bytes per bucket at once), more than half of this "
                             f"machine's {_physical_memory() / 2**30:.0f} GiB: use fewer buckets (the paper used "
                             "10,000)")
        if not 0 <= self.seed < 2**64:
            raise UsageError(f"seed must be an integer from 0 to 2**64 - 1, got {self.seed}")
        if self.raw_sample < 1:
            raise UsageError(f"raw_sample must be at least 1 document, got {self.raw_sample}")
        if self.min_length < 0:
            raise UsageError(f"min_length must be >= 0, got {self.min_length}")
        if not (self.smoothing > 0 and np.isfinite(self.smoothing)):
            raise UsageError(f"smoothing must be a positive number, got {self.smoothing}")
        if not (self.target_smoothing >= 0 and np.isfinite(self.target_smoothing)):
            raise UsageError(f"target_smoothing must be a number >= 0, got {self.target_smoothing}")
        if self.target_smoothing != 0 and self.method != "reference":
            raise UsageError(f"target_smoothing is the target pseudo-count of method 'reference'; method "
                             f"{self.method!r} does not use it (dsir's is smoothing)")
        if self.on_error not in ("stop", "skip"):
            raise UsageError(f"on_error must be 'stop' or 'skip', got {self.on_error!r}")
        if self.chunk_words is not None and self.chunk_words < 1:
            raise UsageError(f"chunk_words must be at least 1, got {self.chunk_words}")
        if self.emit not in ("documents", "chunks") or self.emit == "chunks" and self.chunk_words is None:
            raise UsageError(f"emit must be 'documents' or 'chunks' (chunks needs chunk_words), got {self.emit!r}")
        try:
            self.rule  # noqa: B018 - validates weighting and temperature
            self.featurizer  # noqa: B018
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def _coerce(self) -> None:
        """Plain Python values of the declared types (numpy integers are integers; 2.5 is
        not), or a ``UsageError`` naming the parameter."""
        kinds = {"ngrams": int, "buckets": int, "raw_sample": int, "seed": int, "min_length": int,
                 "chunk_words": int, "smoothing": float, "target_smoothing": float, "temperature": float, "top_k": bool,
                 "text_field": str, "target_text_field": str, "id_field": str, "on_error": str, "method": str, "weighting": str, "emit": str,
                 "features": str}
        # buckets and temperature stay None only for an unknown method, refused below
        optional = {"chunk_words", "id_field", "target_text_field", "buckets", "temperature"}
        for name, kind in kinds.items():
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            try:
                if kind is int:
                    if isinstance(value, (bool, np.bool_)):
                        raise TypeError
                    value = operator.index(value)
                elif kind is float:
                    if isinstance(value, (bool, np.bool_, str)):
                        raise TypeError
                    value = float(value)
                elif kind is bool:
                    if not isinstance(value, (bool, np.bool_)):
                        raise TypeError
                    value = bool(value)
                elif not isinstance(value, str) or (name in ("text_field", "target_text_field", "id_field") and not value):
                    raise TypeError
            except (TypeError, ValueError):
                what = {int: "an integer", float: "a number", bool: "True or False", str: "a non-empty string"}[kind]
                raise UsageError(f"{name} must be {what}, got {value!r}") from None
            object.__setattr__(self, name, value)

    @property
    def featurizer(self) -> Featurizer:
        return make_featurizer(self.features, self.ngrams, self.buckets)

    @property
    def rule(self) -> KeyRule:
        return KeyRule(self.method, self.weighting, self.temperature, self.top_k)

    @property
    def unit_name(self) -> str:
        return "chunks" if self.emit == "chunks" else "documents"
