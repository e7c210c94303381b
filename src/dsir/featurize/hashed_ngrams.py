"""The hashed n-gram featurizer: Arrow string arrays in, bucket statistics out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dsir.featurize import kernels
from dsir.featurize.unicode_tables import UNICODE_VERSION, unicode_tables

#: Versioned name of the feature definition: change it whenever a bucket could change. With
#: ``UNICODE_VERSION`` (the tables' Unicode version, recorded as ``unicode_version`` in
#: ``params``, the same on every Python) it names the buckets exactly.
FEATURIZER_NAME = "hashed-ngrams-v1"


def arrow_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy views of a string array's ``(data, offsets)``, offsets rebased for slices.

    Offsets are int64 (copied from 32-bit ones). Raises ``ValueError`` on nulls: callers turn
    them into errors that name file and row.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if pa.types.is_string(texts.type):
        off_type = np.int32
    elif pa.types.is_large_string(texts.type):
        off_type = np.int64
    elif pa.types.is_string_view(texts.type):
        return arrow_buffers(texts.cast(pa.large_string()))
    else:
        raise TypeError(f"expected an Arrow string array, got {texts.type}")
    if texts.null_count:
        raise ValueError("text array holds nulls")
    bufs = texts.buffers()
    n = len(texts)
    offsets = np.frombuffer(bufs[1], dtype=off_type, count=texts.offset + n + 1)[texts.offset:]
    data = np.frombuffer(bufs[2] if bufs[2] is not None else b"\0", dtype=np.uint8)
    # Always read-only uint8 data and int64 offsets: each other array type would compile
    # every kernel once more (seconds each), for an all-empty or a small-offset batch.
    if off_type is np.int32:
        offsets = offsets.astype(np.int64)
        offsets.flags.writeable = False
    return data, offsets


def check_size(ngrams: int, buckets: int) -> None:
    """Refuse an n-gram order or a bucket count that no featurizer supports."""
    if not 1 <= ngrams <= 8:
        raise ValueError(f"ngrams must be between 1 and 8, got {ngrams}")
    if not 1 <= buckets <= 2**31 - 1:
        raise ValueError(f"buckets must be between 1 and 2**31-1, got {buckets}")


@dataclass(frozen=True)
class HashedNgramFeaturizer:
    """Maps text to hashed n-gram buckets (``FEATURIZER_NAME``, see ``kernels``).

    ``ngrams`` is the largest n-gram order (2: unigrams and bigrams); ``buckets`` the
    number of hash buckets.
    """

    ngrams: int = 2
    buckets: int = 10_000

    #: The ``features`` name that selects this featurizer (``--features``).
    FEATURES = "hashed-ngrams"

    def __post_init__(self) -> None:
        check_size(self.ngrams, self.buckets)

    @property
    def params(self) -> dict:
        return {
            "name": FEATURIZER_NAME,
            "ngrams": self.ngrams,
            "buckets": self.buckets,
            "unicode_version": UNICODE_VERSION,
        }

    def _tables(self):
        t = unicode_tables()
        return t.lower, t.flags, t.expansions

    def count(self, texts: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add the batch's n-gram bucket counts to ``counts``; return it and tokens per document."""
        if counts is None:
            counts = np.zeros(self.buckets, dtype=np.int64)
        data, offsets = arrow_buffers(texts)
        n_tokens = np.empty(len(offsets) - 1, dtype=np.int64)
        kernels.count_batch(data, offsets, self.ngrams, self.buckets, *self._tables(), counts, n_tokens)
        return counts, n_tokens

    def score(self, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document: (sum of ``log_ratio`` over its n-grams, tokens, n-grams)."""
        data, offsets = arrow_buffers(texts)
        n = len(offsets) - 1
        log_weight = np.empty(n, dtype=np.float64)
        n_tokens = np.empty(n, dtype=np.int64)
        n_ngrams = np.empty(n, dtype=np.int64)
        kernels.score_batch(data, offsets, self.ngrams, self.buckets, *self._tables(),
                            np.ascontiguousarray(log_ratio, dtype=np.float64), log_weight, n_tokens, n_ngrams)
        return log_weight, n_tokens, n_ngrams

    def score_spans(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``score`` of the byte spans ``data[starts[j]:ends[j]]`` (chunks), in place."""
        from dsir.featurize.chunking import score_spans_batch  # chunking imports this module

        n = len(starts)
        log_weight = np.empty(n, dtype=np.float64)
        n_tokens = np.empty(n, dtype=np.int64)
        n_ngrams = np.empty(n, dtype=np.int64)
        score_spans_batch(data, starts, ends, self.ngrams, self.buckets, *self._tables(),
                          np.ascontiguousarray(log_ratio, dtype=np.float64), log_weight, n_tokens, n_ngrams)
        return log_weight, n_tokens, n_ngrams

    def buckets_of(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """CSR bucket ids: document ``d``'s n-grams are ``ids[indptr[d]:indptr[d + 1]]``."""
        data, offsets = arrow_buffers(texts)
        n = len(offsets) - 1
        span = int(offsets[-1] - offsets[0]) if n else 0
        out = np.empty(self.ngrams * 3 * span + 1, dtype=np.int64)
        indptr = np.empty(n + 1, dtype=np.int64)
        kernels.emit_batch(data, offsets, self.ngrams, self.buckets, *self._tables(), indptr, out)
        return indptr, out[: indptr[-1]].copy()


def content_hashes(texts: pa.Array) -> np.ndarray:
    """``fmix64(fnv1a64(utf8(text)))`` per document (uint64): identity for noise and sampling."""
    data, offsets = arrow_buffers(texts)
    out = np.empty(len(offsets) - 1, dtype=np.uint64)
    kernels.content_hash_batch(data, offsets, out)
    return out
