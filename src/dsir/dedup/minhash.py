"""MinHash signatures and exact-text hashes of documents, for near-duplicate detection.

Words and their 64-bit hashes are those of ``filters.words`` (``word_hashes_of``): lowercased
runs of letters and digits. Then, for a document of ``k`` words ``w_1 .. w_k``:

* shingles: every run of ``n = shingle_words`` consecutive words, hashed as ``ngram_hashes``
  does (``h = h * M + w_j`` over its words from ``h = 0``, ``M = 0x9E3779B97F4A7C15``, then
  fmix64); a document of ``1 <= k < n`` words has one shingle, that same hash over all ``k``
  words; a document of no words has none.
* ``exact``: fmix64 of the polynomial over all ``k`` words with ``k`` appended as a last term
  (``h = h * M + k``), so that case, punctuation and spacing do not count and sequences of
  different lengths differ. A document with no words gets fmix64(0) = 0.
* MinHash: each shingle hash is folded to 32 bits (``x = low32(h ^ (h >> 32))``) and put
  through ``permutations`` bijections of 32-bit integers, ``f_p(x) = ((x ^ s_p) * a_p) mod
  2**32``, ``a_p`` odd, ``s_p`` and ``a_p`` from splitmix64 seeded with ``seed``
  (``permutation_parameters``). The signature keeps, per permutation, the low 16 bits of the
  minimum of ``f_p`` over the shingles (b-bit minwise hashing, Li & König 2010): two documents'
  values agree with probability about ``J + (1 - J) * 2**-16`` for shingle-set Jaccard
  similarity ``J``. A document with no shingles has every value 0xFFFF (the minimum over
  nothing, 0xFFFFFFFF, cut to 16 bits).

Each document's signature depends on its text alone, never on the batch it comes in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from dsir.featurize.kernels import fmix64
from dsir.filters.quality_rules import text_buffers
from dsir.filters.words import max_words, span_words, word_table

#: Chance that two 16-bit signature values are equal although their minima differ.
CHANCE = 2.0 ** -16

_M = np.uint64(0x9E3779B97F4A7C15)  # ngram_hashes' multiplier
_MASK64 = (1 << 64) - 1
_PARAMETERS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _splitmix64(state: int) -> tuple[int, int]:
    """``(next state, output)`` of Vigna's splitmix64."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def permutation_parameters(permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(s, a)``, uint32[permutations] each: permutation ``p`` is ``f_p(x) = (x ^ s[p]) * a[p]
    mod 2**32``. From splitmix64 seeded with ``seed`` (mod 2**64): two outputs per permutation,
    the low 32 bits of each (``a`` made odd)."""
    key = (int(permutations), int(seed) & _MASK64)
    if key not in _PARAMETERS:
        state = key[1]
        s = np.empty(permutations, dtype=np.uint32)
        a = np.empty(permutations, dtype=np.uint32)
        for p in range(permutations):
            state, z = _splitmix64(state)
            s[p] = z & 0xFFFFFFFF
            state, z = _splitmix64(state)
            a[p] = (z & 0xFFFFFFFF) | 1
        s.flags.writeable = False
        a.flags.writeable = False
        _PARAMETERS[key] = (s, a)
    return _PARAMETERS[key]


@njit(cache=True, nogil=True)
def _min_hashes(xs, count, s, a, mins):
    """``mins[p] = min over i < count of f_p(xs[i])``, ``count`` a multiple of 4.

    The loop over permutations is innermost, on uint32 lanes and without a branch, so that
    LLVM vectorizes it (8 or 16 permutations an instruction); it takes four shingles at a time
    so that each load and store of ``mins`` serves four of them (1.5 times faster than one)."""
    permutations = len(s)
    for p in range(permutations):
        mins[p] = np.uint32(0xFFFFFFFF)
    for i in range(0, count, 4):
        x0 = xs[i]
        x1 = xs[i + 1]
        x2 = xs[i + 2]
        x3 = xs[i + 3]
        for p in range(permutations):
            sp = s[p]
            ap = a[p]
            y0 = np.uint32(np.uint32(x0 ^ sp) * ap)
            y1 = np.uint32(np.uint32(x1 ^ sp) * ap)
            y2 = np.uint32(np.uint32(x2 ^ sp) * ap)
            y3 = np.uint32(np.uint32(x3 ^ sp) * ap)
            mins[p] = min(min(mins[p], min(y0, y1)), min(y2, y3))


@njit(cache=True, nogil=True)
def _signatures_kernel(data, starts, ends, lower, expansions, n, s, a, words, xs, mins, signature, exact):
    """Per span ``d``: its MinHash ``signature[d]`` and ``exact[d]`` (see module doc). Scratch
    space: ``words`` for the longest span's words and two more slots, ``xs`` for its shingles
    and three more, ``mins`` for ``len(s)`` minima."""
    mn = np.uint64(1)  # M ** n: what a word's term is multiplied by when it leaves the window
    for _ in range(n):
        mn *= _M
    permutations = len(s)
    for d in range(len(starts)):
        k = span_words(data, starts[d], ends[d], lower, expansions, words, 0)
        whole = np.uint64(0)
        for i in range(k):
            whole = whole * _M + words[i]
        exact[d] = fmix64(whole * _M + np.uint64(k))
        if k == 0:
            for p in range(permutations):
                signature[d, p] = np.uint16(0xFFFF)
            continue
        if k < n:
            h = fmix64(whole)
            xs[0] = np.uint32((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF))
            count = 1
        else:
            # The window's polynomial, rolled: add the word that enters, take off the one that
            # leaves (exact in arithmetic mod 2**64, so equal to ngram_hashes' n-term sum).
            h = np.uint64(0)
            for i in range(n):
                h = h * _M + words[i]
            count = k - n + 1
            for i in range(count):
                if i:
                    h = h * _M + words[i + n - 1] - words[i - 1] * mn
                g = fmix64(h)
                xs[i] = np.uint32((g ^ (g >> np.uint64(32))) & np.uint64(0xFFFFFFFF))
        while count % 4:  # a repeated shingle changes no minimum
            xs[count] = xs[count - 1]
            count += 1
        _min_hashes(xs, count, s, a, mins)
        for p in range(permutations):
            signature[d, p] = np.uint16(mins[p] & np.uint32(0xFFFF))


def span_signatures(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, shingle_words: int,
                    permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(minhash uint16[len(starts), permutations], exact uint64[len(starts)])`` of the byte spans
    ``data[starts[i]:ends[i]]`` of one UTF-8 buffer (as ``text_buffers`` gives; a span may hold
    several documents, or part of one). See the module doc."""
    if shingle_words < 1:
        raise ValueError(f"a shingle needs at least 1 word, got {shingle_words}")
    if permutations < 1:
        raise ValueError(f"MinHash needs at least 1 permutation, got {permutations}")
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    data = np.asarray(data, dtype=np.uint8)
    if len(starts) != len(ends) or (len(starts) and (starts.min() < 0 or ends.max() > len(data)
                                                     or np.any(ends < starts))):
        raise ValueError(f"the spans must lie in the {len(data)}-byte buffer, each with start <= end")
    if data.flags.writeable:  # read-only, as text_buffers gives it: one compiled kernel for both
        data = data.view()
        data.flags.writeable = False
    lower, expansions = word_table()
    s, a = permutation_parameters(permutations, seed)
    most = int(max_words(starts, ends, expansions).max()) if len(starts) else 0
    words = np.empty(most + 2, dtype=np.uint64)
    xs = np.empty(max(most, 1) + 3, dtype=np.uint32)
    mins = np.empty(permutations, dtype=np.uint32)
    signature = np.empty((len(starts), permutations), dtype=np.uint16)
    exact = np.empty(len(starts), dtype=np.uint64)
    _signatures_kernel(data, starts, ends, lower, expansions, int(shingle_words), s, a, words, xs, mins,
                       signature, exact)
    return signature, exact


def signatures(texts: pa.Array, shingle_words: int, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(minhash uint16[len(texts), permutations], exact uint64[len(texts)])`` of each text (a
    string, large_string or string_view array, or chunked array; a null is the empty text)."""
    data, starts, ends = text_buffers(texts)
    return span_signatures(data, starts, ends, shingle_words, permutations, seed)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard similarity of two documents' shingle sets estimated from their signatures:
    the fraction ``m`` of equal values, less the chance agreement ``C = 2**-16`` of 16-bit
    values, ``(m - C) / (1 - C)``, clipped to [0, 1]."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"expected two signatures of the same length, got shapes {a.shape} and {b.shape}")
    m = float(np.count_nonzero(a == b)) / len(a)
    return min(max((m - CHANCE) / (1.0 - CHANCE), 0.0), 1.0)
