"""Word n-grams as 64-bit hashes, for matching text against other text (decontamination).

Words are what is left of the lowercased text once every run of characters that are neither
letters nor digits (Unicode classes L and N) is made a space: ``"Don't stop!"`` has the words
``don``, ``t``, ``stop``. Punctuation and markup do not split or break a match, so a test
question copied with other quotes or line breaks still matches. Each word is hashed
(FNV-1a + fmix64 of its UTF-8 bytes, the featurizer's kernel), and an n-gram of ``n`` words is
a polynomial in its words' hashes, mixed again; two different n-grams share a hash with a
probability of about 2^-64.

``words_of`` + ``word_hashes`` compute this with pyarrow (regex, split, flatten) and are the
reference; ``word_hashes_of`` gives the same result from a numba kernel that walks the UTF-8
bytes once, with a table of every code point's lowercase and word class read off pyarrow's own
``utf8_lower`` and regex engine (``word_table``). Malformed UTF-8, which the reference
rejects, the kernel decodes as the featurizer does: each bad byte is a U+FFFD, a separator.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import FNV_OFFSET, FNV_PRIME, _decode, fmix64, span_hash_batch
from dsir.filters.quality_rules import text_buffers

_NOT_A_WORD = r"[^\p{L}\p{N}]+"
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial stays a bijection of each word
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_N_CODE_POINTS = 0x110000
_TABLE: tuple[np.ndarray, np.ndarray] | None = None


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


# ----------------------------------------------------------------------------- the compiled path


def _utf8_array(cps: np.ndarray) -> pa.StringArray:
    """One string of one code point per entry of ``cps`` (no surrogates), built vectorized."""
    data = cps.astype("<u4").tobytes().decode("utf-32-le").encode("utf-8")
    lengths = np.where(cps < 0x80, 1, np.where(cps < 0x800, 2, np.where(cps < 0x10000, 3, 4)))
    offsets = np.zeros(len(cps) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(len(cps), pa.py_buffer(offsets), pa.py_buffer(data))


def _bools(a: pa.BooleanArray) -> np.ndarray:
    """``a`` (no nulls) as a numpy bool array, from its bitmap (pyarrow's own conversion imports pandas)."""
    bits = np.unpackbits(np.frombuffer(a.buffers()[1], dtype=np.uint8), bitorder="little")
    return bits[a.offset: a.offset + len(a)].astype(bool)


def word_table() -> tuple[np.ndarray, np.ndarray]:
    """``(lower, expansions)``, what ``words_of`` does to each code point ``cp``, for the kernel.

    ``lower[cp]`` (int32): ``utf8_lower(cp)`` when that is one word character (a letter or digit
    to pyarrow's regex engine, and not whitespace to ``utf8_split_whitespace``); -1 when it is one
    other character (a word separator); ``-2 - r`` when it is not one code point: row ``r`` of
    ``expansions`` holds its length, then each of its code points as ``lower`` would give it
    (itself or -1). pyarrow lowercases code point by code point (utf8proc's simple mapping), so
    ``expansions`` is empty today; it is there so that a pyarrow that changes this stays exact.
    Surrogates (invalid in UTF-8) are separators. Built on first use (a few tenths of a second)
    and kept.
    """
    global _TABLE
    if _TABLE is not None:
        return _TABLE
    cps = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, _N_CODE_POINTS)]).astype(np.uint32)
    chars = _utf8_array(cps)
    # A code point's class as a character of the lowercased text (the regex and the split see that).
    is_word = np.zeros(_N_CODE_POINTS, dtype=bool)
    is_word[cps] = (_bools(pc.match_substring_regex(chars, r"^[\p{L}\p{N}]$"))
                    & ~_bools(pc.utf8_is_space(chars)))
    lowered = pc.utf8_lower(chars)
    bufs = lowered.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=len(cps) + 1)
    data = np.frombuffer(bufs[2], dtype=np.uint8, count=int(offsets[-1])) if offsets[-1] else np.zeros(0, np.uint8)
    decoded = np.frombuffer(data.tobytes().decode("utf-8").encode("utf-32-le"), dtype="<u4").astype(np.int64)
    # Code points per lowercase: the lead bytes in its byte range.
    leads = np.zeros(len(data) + 1, dtype=np.int64)
    leads[1:] = np.cumsum(((data & 0xC0) != 0x80).astype(np.int64))
    first, count = leads[offsets[:-1]], leads[offsets[1:]] - leads[offsets[:-1]]
    lower = np.full(_N_CODE_POINTS, -1, dtype=np.int32)
    single = count == 1
    low = decoded[first[single]]
    lower[cps[single]] = np.where(is_word[low], low, -1)
    rows = []
    for k in np.flatnonzero(~single):  # none with today's pyarrow
        seq = decoded[first[k]: first[k] + count[k]]
        rows.append([len(seq)] + [int(c) if is_word[c] else -1 for c in seq])
        lower[cps[k]] = -2 - (len(rows) - 1)
    width = max([len(r) for r in rows], default=1)
    expansions = np.zeros((len(rows), width), dtype=np.int32)
    for r, row in enumerate(rows):
        expansions[r, :len(row)] = row
    lower.flags.writeable = False
    expansions.flags.writeable = False
    _TABLE = (lower, expansions)
    return _TABLE


@njit(cache=True, nogil=True, inline="always")
def _feed_code_point(h, c):
    """FNV-1a state ``h`` fed the UTF-8 bytes of code point ``c``."""
    if c < 0x80:
        return (h ^ np.uint64(c)) * FNV_PRIME
    if c < 0x800:
        h = (h ^ np.uint64(0xC0 | (c >> 6))) * FNV_PRIME
        return (h ^ np.uint64(0x80 | (c & 0x3F))) * FNV_PRIME
    if c < 0x10000:
        h = (h ^ np.uint64(0xE0 | (c >> 12))) * FNV_PRIME
        h = (h ^ np.uint64(0x80 | ((c >> 6) & 0x3F))) * FNV_PRIME
        return (h ^ np.uint64(0x80 | (c & 0x3F))) * FNV_PRIME
    h = (h ^ np.uint64(0xF0 | (c >> 18))) * FNV_PRIME
    h = (h ^ np.uint64(0x80 | ((c >> 12) & 0x3F))) * FNV_PRIME
    h = (h ^ np.uint64(0x80 | ((c >> 6) & 0x3F))) * FNV_PRIME
    return (h ^ np.uint64(0x80 | (c & 0x3F))) * FNV_PRIME


@njit(cache=True, nogil=True, inline="always")
def _put(c, h, sep, out, o):
    """One more character of the lowercased text, word character ``c >= 0`` or a separator;
    ``sep``: whether the character before was a separator (or there was none)."""
    if c >= 0:
        if sep:
            h = FNV_OFFSET
            sep = _U0
        h = _feed_code_point(h, c)
    elif not sep:
        out[o] = h
        o += _U1
        sep = _U1
    return h, sep, o


# The kernel works a block of _BLOCK bytes at a time. A pure-ASCII block (checked with one
# vectorized OR) runs a loop with no data-dependent branch: a branch at each word's start and
# end is mispredicted about as often as not and cost three times more than the hashing. At
# every byte it stores the running state at out[o] and advances o by one where a word ends, so
# out[o] keeps the state after each word's last byte; between words the state is fed garbage,
# and is reset when the next word starts. Any other block takes one code point at a time.
# States are stored raw and finalized (fmix64) afterwards, in a loop of their own.
#
# That loop is then bound by the latency of its chain of FNV steps (select, xor, multiply: five
# cycles a byte), so a long span is cut in two at a separator near its middle and both halves
# run in the same loop, two independent chains; the second half's words are written after
# room for the first half's, then moved down to follow them.

_BLOCK = 128
_SPLIT_MIN = 512  # shorter spans are not cut: the second lane would not pay for itself
_SPLIT_SEARCH = 256  # how far past the middle a separator is looked for
_U0 = np.uint64(0)
_U1 = np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _ascii_step(c, out, o, h, sep):
    """One ASCII byte, lowercased to ``c`` (-1: a separator), without a branch."""
    v = np.uint64(np.int64(c))  # a separator's -1 sets the top bit; a word character is itself
    now = v >> np.uint64(63)
    out[o] = h
    o += now & ~sep  # a word ended at the byte before
    h = ((FNV_OFFSET if sep else h) ^ v) * FNV_PRIME
    return o, h, now


@njit(cache=True, nogil=True)
def _ascii_block(data, j, stop, lower, out, o, h, sep):
    """Hash the pure-ASCII bytes ``data[j:stop]``; return ``(o, h, sep)``."""
    while j < stop:
        o, h, sep = _ascii_step(lower[data[j]], out, o, h, sep)
        j += _U1
    return o, h, sep


@njit(cache=True, nogil=True)
def _ascii_blocks2(data, j, k, count, lower, out, o, h, sep, o2, h2, sep2):
    """``_ascii_block`` on ``data[j:j + count]`` and ``data[k:k + count]`` at once (two lanes)."""
    stop = j + count
    while j < stop:
        o, h, sep = _ascii_step(lower[data[j]], out, o, h, sep)
        o2, h2, sep2 = _ascii_step(lower[data[k]], out, o2, h2, sep2)
        j += _U1
        k += _U1
    return o, h, sep, o2, h2, sep2


@njit(cache=True, nogil=True)
def _mixed_block(data, j, stop, end, lower, expansions, out, o, h, sep):
    """Hash the code points that start in ``data[j:stop]`` (``end``: where decoding must stop);
    return ``(j, o, h, sep)``, ``j`` the start of the next code point."""
    while j < stop:
        b = data[j]
        if b < 0x80:  # most bytes of most blocks still: the branchless step
            o, h, sep = _ascii_step(lower[b], out, o, h, sep)
            j += _U1
            continue
        cp, nxt = _decode(data, np.int64(j), np.int64(end))
        j = np.uint64(nxt)
        c = np.int64(lower[cp])
        if c >= -1:
            h, sep, o = _put(c, h, sep, out, o)
        else:  # a lowercase of several code points, each a word character or a separator
            row = -2 - c
            for q in range(expansions[row, 0]):
                h, sep, o = _put(np.int64(expansions[row, 1 + q]), h, sep, out, o)
    return j, o, h, sep


@njit(cache=True, nogil=True, inline="always")
def _is_ascii(data, j, stop):
    high = np.uint8(0)
    for q in range(j, stop):  # vectorized
        high |= data[q]
    return high < 0x80


@njit(cache=True, nogil=True)
def _block(data, j, end, lower, expansions, out, o, h, sep):
    """Hash one block from ``data[j]`` on (at most ``_BLOCK`` bytes, then to the end of the code
    point); return ``(j, o, h, sep)``."""
    stop = min(j + np.uint64(_BLOCK), end)
    if _is_ascii(data, j, stop):
        o, h, sep = _ascii_block(data, j, stop, lower, out, o, h, sep)
        return stop, o, h, sep
    return _mixed_block(data, j, stop, end, lower, expansions, out, o, h, sep)


@njit(cache=True, nogil=True)
def _split_point(data, start, end, lower):
    """A separator byte near the middle of ``data[start:end]`` (an ASCII one: it is its own
    code point and ends any word before it), or ``end`` when there is none close enough."""
    j = start + (end - start) // np.uint64(2)
    stop = min(j + np.uint64(_SPLIT_SEARCH), end)
    while j < stop:
        b = data[j]
        if b < 0x80 and lower[b] < 0:
            return j
        j += _U1
    return end


@njit(cache=True, nogil=True)
def span_words(data, start, end, lower, expansions, out, o):
    """Write the hash of each word of ``data[start:end]`` to ``out[o], out[o + 1], ...``; return
    the index after the last. ``out`` needs room for ``max_words`` words and two more slots."""
    j = np.uint64(start)
    uend = np.uint64(end)
    first = np.uint64(o)
    o = first
    h = FNV_OFFSET
    sep = _U1
    split = uend
    # Not with expansions: the room of each lane assumes at most one code point per byte.
    if uend - j >= np.uint64(_SPLIT_MIN) and expansions.shape[0] == 0:
        split = _split_point(data, j, uend, lower)
    if split < uend:
        # Lane 2 takes split:end, its words from o2 on; it starts at a separator, so it holds
        # at most (end - split) // 2 words, lane 1 at most (split - start + 1) // 2.
        k = split
        o2 = first + (split - j + _U1) // np.uint64(2) + _U1
        first2 = o2
        h2 = FNV_OFFSET
        sep2 = _U1
        while j < split and k < uend:
            if split - j >= np.uint64(_BLOCK) and uend - k >= np.uint64(_BLOCK) \
                    and _is_ascii(data, j, j + np.uint64(_BLOCK)) and _is_ascii(data, k, k + np.uint64(_BLOCK)):
                o, h, sep, o2, h2, sep2 = _ascii_blocks2(data, j, k, np.uint64(_BLOCK), lower, out, o, h, sep,
                                                         o2, h2, sep2)
                j += np.uint64(_BLOCK)
                k += np.uint64(_BLOCK)
            else:
                j, o, h, sep = _block(data, j, split, lower, expansions, out, o, h, sep)
                k, o2, h2, sep2 = _block(data, k, uend, lower, expansions, out, o2, h2, sep2)
        while j < split:
            j, o, h, sep = _block(data, j, split, lower, expansions, out, o, h, sep)
        if not sep:  # the separator at split ends it
            out[o] = h
            o += _U1
        while k < uend:
            k, o2, h2, sep2 = _block(data, k, uend, lower, expansions, out, o2, h2, sep2)
        if not sep2:
            out[o2] = h2
            o2 += _U1
        for q in range(first2, o2):  # forward: the words only move down
            out[o] = out[q]
            o += _U1
    else:
        while j < uend:
            j, o, h, sep = _block(data, j, uend, lower, expansions, out, o, h, sep)
        if not sep:
            out[o] = h
            o += _U1
    for q in range(first, o):
        out[q] = fmix64(out[q])
    return np.int64(o)


@njit(cache=True, nogil=True)
def _word_hashes_kernel(data, starts, ends, lower, expansions, out, indptr):
    o = 0
    for d in range(len(starts)):
        o = span_words(data, starts[d], ends[d], lower, expansions, out, o)
        indptr[d + 1] = o
    return o


def max_words(starts: np.ndarray, ends: np.ndarray, expansions: np.ndarray) -> np.ndarray:
    """The most words each span can hold: each word and each gap between two takes a code point
    of the lowercased text, and a byte lowercases to at most one code point (``expansions`` is
    empty) or to an expansion's."""
    widest = max(1, int(expansions[:, 0].max())) if len(expansions) else 1
    return ((ends - starts) * widest + 1) // 2


def word_hashes_of(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``word_hashes(words_of(texts))``, computed by one pass of a compiled kernel over the UTF-8
    bytes: ``(hashes, indptr)``, document ``d``'s word hashes at ``hashes[indptr[d]:indptr[d+1]]``.
    ``texts``: a string, large_string or string_view array (or chunked array); a null has no words."""
    data, starts, ends = text_buffers(texts)
    lower, expansions = word_table()
    out = np.empty(int(max_words(starts, ends, expansions).sum()) + 2, dtype=np.uint64)
    indptr = np.zeros(len(starts) + 1, dtype=np.int64)
    total = _word_hashes_kernel(data, starts, ends, lower, expansions, out, indptr)
    # The bound is about three times the words of prose: give the rest back (a shrinking
    # realloc, no copy; nothing else refers to ``out`` yet).
    out.resize(total, refcheck=False)
    return out, indptr
