"""``data_selection.hashed_ngram_dsir``: ``HashedNgramDSIR`` and its hashing helpers.

``hash_buckets`` and ``get_ngram_counts`` are the reference's definitions, in Python (for a
few texts: they hash every n-gram with sha256). ``HashedNgramDSIR`` fits and computes its
weights with dsir's compiled pipeline (``_native``); a subclass that overrides a per-example
hook, or the ``word_tokenize`` tokenizer, runs the reference's per-example Python loop.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from dsir.compat.data_selection import _native
from dsir.compat.data_selection.base import (
    DSIR,
    _iterate_virtually_sharded_dataset,
    default_load_dataset_fn,
    default_parse_example_fn,
    shards_by_dataset,
)
from dsir.compat.data_selection.utils import parallelize


class WordPunctTokenizer:
    """nltk's ``WordPunctTokenizer``: runs of word characters, and runs of other non-space ones."""

    _pattern = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``: ``re.findall(r"\\w+|[^\\w\\s]+", text)``."""
        return self._pattern.findall(text)


wpt = WordPunctTokenizer()


def hash_buckets(text: str, num_buckets: int = 10000) -> int:
    """The bucket of a string: its sha256 (of the UTF-8 bytes), as a big-endian integer, mod ``num_buckets``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big") % num_buckets


def get_ngram_counts(line: str,
                     n: int = 2,
                     num_buckets: int = 10000,
                     counts: np.ndarray | None = None,
                     tokenizer: Callable[[str], list[str]] = wpt.tokenize) -> np.ndarray:
    """Hashed n-gram counts of ``line``: every token of the lowercased line, then every run
    of ``2..n`` consecutive tokens joined by one space, counted in bucket ``hash_buckets``.

    Adds to ``counts`` (in place) when given, else to a new int array of ``num_buckets``.
    """
    words = tokenizer(line.lower())
    if counts is None:
        counts = np.zeros(num_buckets, dtype=int)
    for w in words:
        counts[hash_buckets(w, num_buckets=num_buckets)] += 1
    for i in range(2, n + 1):
        for j in range(len(words) - i + 1):
            counts[hash_buckets(" ".join(words[j:j + i]), num_buckets=num_buckets)] += 1
    return counts


def _is_wordpunct(tokenizer: Any) -> bool:
    return isinstance(getattr(tokenizer, "__self__", None), WordPunctTokenizer)


_PER_EXAMPLE_HOOKS = ("featurizer", "importance_estimator", "get_perexample_metadata")


def _digest(a: np.ndarray | None) -> str | None:
    return None if a is None else hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


class HashedNgramDSIR(DSIR):
    """DSIR with hashed n-gram features (the reference's ``HashedNgramDSIR``).

    Features: counts of the lowercased text's n-grams (1 to ``ngrams`` tokens) in
    ``num_buckets`` buckets. Estimator: ``log_diff = log(target_probs + 1e-8) -
    log(raw_probs + 1e-8)``, where ``raw_probs`` are the raw n-gram frequencies (no
    smoothing) and ``target_probs`` the target's after adding ``target_laplace_smoothing`` to
    every bucket; an example's log importance weight is ``log_diff @ features``, its metadata
    its number of tokens, and examples with fewer than ``min_example_length`` are not selected.
    """

    def __init__(self,
                 raw_datasets: list[str],
                 target_datasets: list[str],
                 cache_dir: str,
                 raw_load_dataset_fn: Callable[[str], Iterable[dict]] = default_load_dataset_fn,
                 raw_parse_example_fn: Callable[[dict], str] | None = default_parse_example_fn,
                 target_load_dataset_fn: Callable[[str], Iterable[dict]] = default_load_dataset_fn,
                 target_parse_example_fn: Callable[[dict], str] | None = default_parse_example_fn,
                 num_proc: int | None = None,
                 ngrams: int = 2,
                 num_buckets: int = 10000,
                 tokenizer: str = "wordpunct",
                 min_example_length: int = 100,
                 target_laplace_smoothing: float = 0.0,
                 separate_targets: bool = False,
                 target_proportions: list[float] | None = None) -> None:
        """
        Args (besides the base class's):
            ngrams: the longest n-grams counted (2: unigrams and bigrams)
            num_buckets: the number of hash buckets
            tokenizer: ``"wordpunct"`` (nltk's WordPunctTokenizer, the fast path) or
                ``"word_tokenize"`` (nltk's, which needs nltk; every phase then runs in Python)
            min_example_length: the fewest tokens of an example that may be selected
            target_laplace_smoothing: pseudo-count added to every target bucket count
        """
        super().__init__(raw_datasets=raw_datasets, target_datasets=target_datasets, cache_dir=cache_dir,
                         raw_load_dataset_fn=raw_load_dataset_fn, raw_parse_example_fn=raw_parse_example_fn,
                         target_load_dataset_fn=target_load_dataset_fn,
                         target_parse_example_fn=target_parse_example_fn, num_proc=num_proc,
                         separate_targets=separate_targets, target_proportions=target_proportions)
        if tokenizer == "word_tokenize":
            try:
                from nltk.tokenize import word_tokenize
            except ImportError as exc:
                raise ImportError("tokenizer='word_tokenize' is nltk's: pip install nltk (and its punkt data)") from exc
            self.tokenizer: Callable[[str], list[str]] = word_tokenize
        elif tokenizer == "wordpunct":
            self.tokenizer = wpt.tokenize
        else:
            raise ValueError("tokenizer not recognized")
        self.ngrams = ngrams
        self.num_buckets = num_buckets
        self.min_example_length = min_example_length
        self.target_laplace_smoothing = target_laplace_smoothing
        self.raw_probs: np.ndarray | None = None
        self.target_probs: np.ndarray | None = None
        self.log_diff: np.ndarray | None = None

    def _compiled(self) -> bool:
        """Whether dsir's featurizer computes these features (else Python does)."""
        return _is_wordpunct(self.tokenizer) and _native.supports(self.ngrams, self.num_buckets)

    # -- hooks ---------------------------------------------------------------------------

    def featurizer(self, text: str) -> np.ndarray:
        """The hashed n-gram counts of ``text`` (``get_ngram_counts``)."""
        if self._compiled() and not _native.REFERENCE_FEATURES:
            # Until dsir has the reference's buckets, the fit is over dsir's: count those, so
            # that ``importance_estimator(featurizer(text))`` stays consistent with it.
            counts, _ = _native.HashedNgramFeaturizer(self.ngrams, self.num_buckets).count(
                pa.array([text], pa.large_string()))
            return counts
        return get_ngram_counts(text, tokenizer=self.tokenizer, num_buckets=self.num_buckets, n=self.ngrams)

    def importance_estimator(self, features: np.ndarray) -> float | np.ndarray:
        """``log_diff @ features`` (one per target with ``separate_targets``)."""
        return np.dot(self.log_diff, features)

    def get_perexample_metadata(self, ex: Any, features: np.ndarray) -> float:
        """The example's length in tokens, from its n-gram count: ``(sum + n(n-1)/2) // n``."""
        remainder = self.ngrams * (self.ngrams - 1) / 2
        return (features.sum() + remainder) // self.ngrams

    def perexample_metadata_filter(self, concat_metadata: np.ndarray) -> np.ndarray:
        """Examples of at least ``min_example_length`` tokens."""
        return concat_metadata >= self.min_example_length

    # -- fitting -------------------------------------------------------------------------

    def _fit_bow(self,
                 paths: list[str],
                 num_tokens_to_fit: int | None = None,
                 load_dataset_fn: Callable[[str], Iterable[dict]] = default_load_dataset_fn,
                 parse_example_fn: Callable[[dict], str] | None = default_parse_example_fn) -> np.ndarray:
        """The hashed n-gram counts the reference fits on, in Python (``get_ngram_counts``).

        Each virtual shard reads its examples in order and stops after the one that brings its
        n-gram count above ``num_tokens_to_fit // (number of shards)``.
        """
        shards = self._get_virtually_sharded_datasets(paths)
        share = None if num_tokens_to_fit is None else num_tokens_to_fit // len(shards)

        def job(group: list[dict]) -> np.ndarray:
            n = len(group)
            counts = np.zeros(self.num_buckets, dtype=int)
            seen = np.zeros(n, dtype=np.int64)  # n-grams each shard has read
            for i, ex in enumerate(load_dataset_fn(group[0]["path"])):
                if share is not None and seen[i % n] > share:
                    if (seen > share).all():
                        break
                    continue
                text = parse_example_fn(ex) if parse_example_fn is not None else ex
                c = get_ngram_counts(text, n=self.ngrams, num_buckets=self.num_buckets, tokenizer=self.tokenizer)
                counts += c
                seen[i % n] += c.sum()
            return counts

        return sum(parallelize(job, shards_by_dataset(shards), self.num_proc), np.zeros(self.num_buckets, dtype=int))

    def fit_importance_estimator(self, num_tokens_to_fit: str | int = "auto") -> None:
        """Fit ``raw_probs``, ``target_probs`` and ``log_diff``.

        Args:
            num_tokens_to_fit: how many raw n-grams to fit the raw model on: ``"auto"``
                (``100000 * num_buckets``), ``"all"``, or a number. The targets are read in
                full (with ``separate_targets``, each up to this number too).
        """
        budget = _budget(num_tokens_to_fit, self.num_buckets)
        native = None
        if self._compiled():
            native, raw_counts, target_counts = _native.fit(self, budget)
        else:
            raw_counts = self._fit_bow(self.raw_datasets, budget, self.raw_load_dataset_fn,
                                       self.raw_parse_example_fn)
            sides = [[t] for t in self.target_datasets] if self.separate_targets else [self.target_datasets]
            target_counts = np.stack([self._fit_bow(s, budget if self.separate_targets else None,
                                                    self.target_load_dataset_fn, self.target_parse_example_fn)
                                      for s in sides])
        self.raw_probs, self.target_probs, self.log_diff, sizes = self._estimate(raw_counts, target_counts)
        if self.separate_targets and self.target_proportions is None:
            self.target_proportions = sizes / sizes.sum()
        self._num_tokens_to_fit = num_tokens_to_fit
        if native is not None:
            _native.check_vectors(native, self.log_diff)
            self._native = (native, _digest(self.log_diff))

    def _estimate(self, raw_counts: np.ndarray,
                  target_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(raw_probs, target_probs, log_diff, target sizes in n-grams)`` from bucket counts."""
        raw_probs = raw_counts / raw_counts.sum()
        smoothed = np.asarray(target_counts) + self.target_laplace_smoothing
        target_probs = smoothed / smoothed.sum(axis=1, keepdims=True)
        if not self.separate_targets:
            target_probs = target_probs[0]
        log_diff = np.log(target_probs + 1e-8) - np.log(raw_probs + 1e-8)
        return raw_probs, target_probs, log_diff, np.asarray(target_counts).sum(axis=1)

    # -- weights -------------------------------------------------------------------------

    def compute_importance_weights(self) -> None:
        """Every raw example's log importance weight and length, saved per virtual shard.

        On dsir's compiled pipeline, unless a subclass overrides ``featurizer``,
        ``importance_estimator`` or ``get_perexample_metadata`` (those are then called once per
        example, as the reference does) or the tokenizer is ``word_tokenize``.
        """
        if self.log_diff is None:
            raise ValueError("compute_importance_weights() needs a fit: call fit_importance_estimator() (or load())")
        overridden = any(getattr(type(self), h) is not getattr(HashedNgramDSIR, h) for h in _PER_EXAMPLE_HOOKS)
        native = None if overridden or not self._compiled() else self._fitted_native()
        if native is None:
            self._compute_per_example()
        else:
            _native.compute(self, native)

    def _fitted_native(self) -> Any:
        """The dsir fit behind ``log_diff``: the one ``fit_importance_estimator`` made, or after
        ``load()`` a new one on the same data, if it gives the same ``log_diff`` bit for bit."""
        held = getattr(self, "_native", None)
        if held is not None and held[1] == _digest(self.log_diff):
            return held[0]
        if getattr(self, "_num_tokens_to_fit", None) is not None:
            native, raw_counts, target_counts = _native.fit(self, _budget(self._num_tokens_to_fit, self.num_buckets))
            if _digest(self._estimate(raw_counts, target_counts)[2]) == _digest(self.log_diff):
                self._native = (native, _digest(self.log_diff))
                return native
        warnings.warn("log_diff is not what a fit on these datasets gives (set by hand, or the data changed "
                      "since): computing the weights one example at a time in Python", stacklevel=3)
        return None


def _budget(num_tokens_to_fit: str | int, num_buckets: int) -> int | None:
    """The raw n-gram budget: ``None`` for every one."""
    if num_tokens_to_fit == "auto":
        return 100000 * num_buckets
    if num_tokens_to_fit == "all":
        return None
    if isinstance(num_tokens_to_fit, (int, np.integer)) and not isinstance(num_tokens_to_fit, bool):
        return int(num_tokens_to_fit)
    raise ValueError(f"num_tokens_to_fit: 'auto', 'all' or a number of tokens, got {num_tokens_to_fit!r}")


# what the reference's module holds, including the names it imports from ``base``
__all__ = ["DSIR", "HashedNgramDSIR", "WordPunctTokenizer", "_iterate_virtually_sharded_dataset",
           "default_load_dataset_fn", "default_parse_example_fn", "get_ngram_counts", "hash_buckets",
           "parallelize", "wpt"]
