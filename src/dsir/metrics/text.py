"""Texts as hashed word ids, and an equal amount of text: the first W words of a set of
documents taken in a fixed order, the last document cut, so that comparing two sets of
documents on W words each lets neither buy a better figure with longer documents."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.featurize import Featurizer, HashedNgramFeaturizer

#: Hashed word ids of the language model and the diversity figure: 2^20 buckets, so that
#: collisions between the words of a few million words of text are rare.
WORD_BUCKETS = 1 << 20

#: A CSR of ids: document ``d`` is ``ids[indptr[d]:indptr[d + 1]]``.
CSR = tuple[np.ndarray, np.ndarray]


def featurize_csr(featurizer: Featurizer, texts: pa.Array, batch_bytes: int = 1 << 22) -> CSR:
    """Each text's feature ids in order (``featurizer.buckets_of``) as one CSR, int32 ids,
    made a few MB of text at a time (the kernel's buffer grows with the text it is given)."""
    sizes = pc.binary_length(texts).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    ends = np.cumsum(sizes)
    indptr, ids, total, lo = [np.zeros(1, np.int64)], [], 0, 0
    while lo < len(texts):
        start = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, start + batch_bytes, side="right")))
        p, i = featurizer.buckets_of(texts[lo:hi])
        indptr.append(p[1:] + total)
        ids.append(i.astype(np.int32))
        total += len(i)
        lo = hi
    return np.concatenate(indptr), np.concatenate(ids) if ids else np.zeros(0, np.int32)


def word_ids(texts: pa.Array) -> CSR:
    """Each text's words (dsir's tokens: lowercased words and runs of punctuation) as ids in
    ``0 .. WORD_BUCKETS - 1``, in order."""
    return featurize_csr(HashedNgramFeaturizer(1, WORD_BUCKETS), texts)


def first_words(lengths: np.ndarray, order: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """The documents ``order`` (indices into ``lengths``) up to and including the one whose
    words bring the running total to ``words``, and how many words of each are taken: all of
    them, but of the last what is left of ``words``. All of them when they hold fewer."""
    order = np.asarray(order, dtype=np.int64)
    taken = np.asarray(lengths, dtype=np.int64)[order]
    cum = np.cumsum(taken)
    if not len(order) or words >= cum[-1]:
        return order, taken
    last = int(np.searchsorted(cum, words))
    taken = taken[: last + 1].copy()
    taken[-1] = words - (cum[last - 1] if last else 0)
    return order[: last + 1], taken


def take_rows(csr: CSR, rows: np.ndarray, lengths: np.ndarray | None = None) -> CSR:
    """The documents ``rows`` of ``csr`` in that order, each cut to its first ``lengths[i]``
    ids (all of them where it has fewer, or without ``lengths``)."""
    indptr, ids = csr
    rows = np.asarray(rows, dtype=np.int64)
    have = np.diff(indptr)[rows]
    n = have if lengths is None else np.minimum(have, np.asarray(lengths, dtype=np.int64))
    out = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(n, out=out[1:])
    take = np.repeat(indptr[rows] - out[:-1], n) + np.arange(out[-1])
    return out, ids[take]


def equal_text(csr: CSR, order: np.ndarray, words: int) -> CSR:
    """The first ``words`` words of the documents of ``csr`` taken in ``order``, the last one cut."""
    rows, taken = first_words(np.diff(csr[0]), order, words)
    return take_rows(csr, rows, taken)
