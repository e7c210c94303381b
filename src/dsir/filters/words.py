"""Word n-grams as 64-bit hashes, for matching text against other text (decontamination).

Words are what is left of the lowercased text once every run of characters that are neither
letters nor digits (Unicode classes L and N) is made a space: ``"Don't stop!"`` has the words
``don``, ``t``, ``stop``. Punctuation and markup do not split or break a match, so a test
question copied with other quotes or line breaks still matches. Each word is hashed
(FNV-1a + fmix64 of its UTF-8 bytes, the featurizer's kernel), and an n-gram of ``n`` words is
a polynomial in its words' hashes, mixed again; two different n-grams share a hash with a
probability of about 2^-64.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import span_hash_batch

_NOT_A_WORD = r"[^\p{L}\p{N}]+"
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial stays a bijection of each word
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


def words_of(texts: pa.Array) -> pa.ListArray:
    """Each text's words (see module doc), as a list array; a null text has none."""
    texts = texts.fill_null("") if texts.null_count else texts
    spaced = pc.replace_substring_regex(pc.utf8_lower(texts), pattern=_NOT_A_WORD, replacement=" ")
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(spaced))


def word_hashes(words: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes, indptr)``: every word's 64-bit hash, document ``d``'s at ``indptr[d]:indptr[d+1]``."""
    flat = words.flatten()
    parent = np.asarray(pc.list_parent_indices(words), dtype=np.int64)
    word = np.asarray(pc.binary_length(flat), dtype=np.int64) > 0  # "" splits into one empty word
    flat, parent = flat.filter(pa.array(word)), parent[word]
    indptr = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent, minlength=len(words)), out=indptr[1:])
    out = np.empty(len(flat), dtype=np.uint64)
    if len(flat):
        data, offsets = arrow_buffers(flat)
        span_hash_batch(data, offsets[:-1], offsets[1:], out)
    return out, indptr


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX2
    return h ^ (h >> np.uint64(33))


def ngram_hashes(hashes: np.ndarray, indptr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ngrams, doc)``: the hash of every run of ``n`` consecutive words that lies inside one
    document, in document and position order, and the document each belongs to. Vectorized:
    ``n`` passes over shifted views, never a loop over words."""
    total = len(hashes)
    if total < n:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    starts = total - n + 1
    h = np.zeros(starts, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _MULTIPLIER + hashes[j: j + starts]
        h = _mix(h)
    doc_of_word = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    inside = doc_of_word[:starts] == doc_of_word[n - 1:]
    return h[inside], doc_of_word[:starts][inside]
