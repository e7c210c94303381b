"""Cutting documents into chunks of about N words, as byte spans into the Arrow buffer.

DSIR's log-weight is a sum over a document's n-grams, so it grows with length; the paper
scored fixed-size chunks of 128 words instead of whole documents. Here a chunk is never
copied: the kernel returns ``(doc, start, end)`` byte spans into the batch's UTF-8 data
buffer, and the span kernels score (or emit the buckets of) each span in place.

Definition (re-implemented slowly in ``tests/featurize/test_chunking.py``):

* words are the maximal runs of non-whitespace characters (``text.split()``, Python's
  ``str.isspace``);
* a document of ``W > 0`` words is cut into ``n = max(1, round_half_up(W / N))`` chunks;
  chunk ``c`` holds words ``floor(c * W / n)`` to ``floor((c + 1) * W / n) - 1``, so every
  chunk has between about ``2N/3`` and ``2N`` words, and only a document shorter than
  ``N/2`` words gives a shorter chunk;
* a chunk's span runs from the first byte of its first word to the last byte of its last
  word (the whitespace between chunks belongs to none); a document with no words has no
  chunks.

Since a token (``\\w+|[^\\w\\s]+``) never contains whitespace, the tokens of a document are
exactly the tokens of its chunks, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numba import njit

from dsir.featurize import kernels
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import fmix64
from dsir.featurize.unicode_tables import unicode_tables

if TYPE_CHECKING:
    from dsir.featurize import Featurizer

_SPACE = 2  # unicode_tables.SPACE
_CHUNK_MIX = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def _count_words(data, start, end, flags):
    words = 0
    in_word = False
    i = start
    while i < end:
        cp, i_next = kernels._decode(data, i, end)
        space = (flags[cp] & _SPACE) != 0
        if not space and not in_word:
            words += 1
        in_word = not space
        i = i_next
    return words


@njit(cache=True, nogil=True)
def _n_chunks(words, chunk_words):
    if words == 0:
        return 0
    n = (2 * words + chunk_words) // (2 * chunk_words)  # round half up of words / chunk_words
    return max(1, n)


@njit(cache=True, nogil=True)
def chunk_spans_batch(data, offsets, chunk_words, flags, doc, index, starts, ends, fill):
    """Count (``fill`` False) or write (``fill`` True) the chunk spans of every document.

    Returns the number of chunks. When filling, chunk ``j`` is document ``doc[j]``'s chunk
    number ``index[j]`` and covers ``data[starts[j]:ends[j]]``.
    """
    j = 0
    for d in range(len(offsets) - 1):
        start, end = offsets[d], offsets[d + 1]
        words = _count_words(data, start, end, flags)
        n = _n_chunks(words, chunk_words)
        if not fill:
            j += n
            continue
        c = 0  # current chunk
        w = 0  # words seen so far
        next_cut = (words * 1) // n if n else 0  # first word index of chunk c + 1
        in_word = False
        last_word_end = start
        i = start
        while i < end:
            cp, i_next = kernels._decode(data, i, end)
            space = (flags[cp] & _SPACE) != 0
            if not space and not in_word:
                if w == next_cut and c + 1 < n:
                    ends[j] = last_word_end
                    j += 1
                    c += 1
                    next_cut = ((c + 1) * words) // n
                if w == (c * words) // n:
                    doc[j] = d
                    index[j] = c
                    starts[j] = i
                w += 1
            if not space:
                last_word_end = i_next
            in_word = not space
            i = i_next
        if n:
            ends[j] = last_word_end
            j += 1
    return j


@njit(cache=True, nogil=True)
def score_spans_batch(data, starts, ends, ngrams, buckets, lower, flags, expansions, log_ratio,
                      log_weight, n_tokens, n_ngrams):
    """Per span: sum of ``log_ratio`` over its n-gram buckets, token and n-gram counts."""
    states = np.empty(max(ngrams, 1), dtype=np.uint64)
    dummy_i = np.empty(0, dtype=np.int64)
    for d in range(len(starts)):
        nt, ng, s, _ = kernels.featurize_document(data, starts[d], ends[d], ngrams, buckets, lower, flags,
                                                  expansions, states, 1, dummy_i, log_ratio, dummy_i, 0)
        log_weight[d] = s
        n_tokens[d] = nt
        n_ngrams[d] = ng


@njit(cache=True, nogil=True)
def _chunk_hashes(doc_hashes, doc, index, out):
    for j in range(len(doc)):
        out[j] = fmix64(doc_hashes[doc[j]] ^ ((np.uint64(index[j]) + np.uint64(1)) * _CHUNK_MIX))


@dataclass
class Chunks:
    """The chunks of a batch: chunk ``j`` is ``data[starts[j]:ends[j]]``, the ``index[j]``-th
    chunk of document ``doc[j]`` (0-based row within the batch). Chunks come in document
    order, and a document's chunks in text order."""

    doc: np.ndarray
    index: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    data: np.ndarray
    doc_starts: np.ndarray  # byte offset of each document's text in ``data``

    def __len__(self) -> int:
        return len(self.doc)

    @property
    def relative_starts(self) -> np.ndarray:
        """Byte offset of each chunk inside its document's UTF-8 text."""
        return self.starts - self.doc_starts[self.doc]

    @property
    def relative_ends(self) -> np.ndarray:
        return self.ends - self.doc_starts[self.doc]

    def counts_per_document(self, n_docs: int) -> np.ndarray:
        return np.bincount(self.doc, minlength=n_docs)


def chunk_documents(texts: pa.Array, chunk_words: int) -> Chunks:
    """Cut every document of ``texts`` into chunks of about ``chunk_words`` words (spans, no copies)."""
    if chunk_words < 1:
        raise ValueError(f"chunk_words must be at least 1, got {chunk_words}")
    data, offsets = arrow_buffers(texts)
    flags = unicode_tables().flags
    empty = np.empty(0, dtype=np.int64)
    n = chunk_spans_batch(data, offsets, chunk_words, flags, empty, empty, empty, empty, False)
    doc = np.empty(n, dtype=np.int64)
    index = np.empty(n, dtype=np.int64)
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    chunk_spans_batch(data, offsets, chunk_words, flags, doc, index, starts, ends, True)
    return Chunks(doc, index, starts, ends, data, np.asarray(offsets[:-1], dtype=np.int64))


def score_chunks(featurizer: Featurizer, chunks: Chunks,
                 log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chunk: (sum of ``log_ratio`` over its n-grams, tokens, n-grams), scored in place."""
    return featurizer.score_spans(chunks.data, chunks.starts, chunks.ends, log_ratio)


def chunk_hashes(doc_hashes: np.ndarray, chunks: Chunks) -> np.ndarray:
    """Identity of each chunk for its noise: its document's hash mixed with its chunk number."""
    out = np.empty(len(chunks), dtype=np.uint64)
    _chunk_hashes(np.ascontiguousarray(doc_hashes, dtype=np.uint64), chunks.doc, chunks.index, out)
    return out
