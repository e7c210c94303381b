"""BERT's uncased WordPiece tokenizer, compiled, over Arrow buffers.

It reproduces the ``tokenizers`` library's pipeline for all-MiniLM-L6-v2 (``BertNormalizer``
with lowercasing and accent stripping, ``BertPreTokenizer``, ``WordPiece`` with ``##``
continuations and ``[UNK]`` for a word that cannot be split or is longer than 100
characters), without special tokens: per code point, the normalization tables made by
``distill.normalization_tables`` say whether it is dropped, a space, a word character, a
character split off on its own (punctuation, CJK) or mapped to other code points; words are
then split greedily, longest known piece first. ``tests/featurize/test_wordpiece.py`` checks
it against ``tokenizers`` itself, from which the tables were read. One known difference: NFD
reorders combining marks across character boundaries, which a per-code-point table cannot;
after the accents are stripped this only matters for the rare kept marks with a combining
class.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsir.featurize.kernels import put_utf8

#: What a code point becomes in BERT's normalization (the ``kind`` table, ``distill``).
KIND_WORD, KIND_DROP, KIND_SPACE, KIND_ISOLATED, KIND_MAPPED = 0, 1, 2, 3, 4
#: What each code point a mapped one becomes is (the ``out_class`` table).
CLASS_WORD, CLASS_ISOLATED, CLASS_SPACE = 0, 1, 2

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
#: The continuation prefix's place in a piece's hash (``##`` pieces hash from here).
_CONTINUATION = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def _piece_hash(buf, start, end, continuation):
    h = _CONTINUATION if continuation else _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def build_vocab_table(vocab_data, vocab_offsets, slots):
    """An open-addressing table of the vocabulary: ``slots`` (a power of two) piece ids or -1,
    each piece hashed without its ``##`` (a continuation hashes from another offset)."""
    table = np.full(slots, -1, np.int32)
    mask = np.uint64(slots - 1)
    for i in range(len(vocab_offsets) - 1):
        s, e = vocab_offsets[i], vocab_offsets[i + 1]
        cont = e - s > 2 and vocab_data[s] == 35 and vocab_data[s + 1] == 35
        h = _piece_hash(vocab_data, s + 2 if cont else s, e, cont)
        j = h & mask
        while table[j] >= 0:
            j = (j + np.uint64(1)) & mask
        table[j] = i
    return table


@njit(cache=True, nogil=True, inline="always")
def _lookup(h, buf, start, end, continuation, table, vocab_data, vocab_offsets):
    """The id of the piece ``buf[start:end]`` (``##`` before it with ``continuation``) whose
    ``_piece_hash`` is ``h``, or -1."""
    mask = np.uint64(len(table) - 1)
    j = h & mask
    n = end - start
    while True:
        i = table[j]
        if i < 0:
            return -1
        s, e = vocab_offsets[i], vocab_offsets[i + 1]
        if continuation:
            ok = e - s == n + 2 and vocab_data[s] == 35 and vocab_data[s + 1] == 35
            s += 2
        else:
            ok = e - s == n
        if ok:
            for k in range(n):
                if vocab_data[s + k] != buf[start + k]:
                    ok = False
                    break
            if ok:
                return i
        j = (j + np.uint64(1)) & mask


@njit(cache=True, nogil=True, inline="always")
def _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out):
    """Emit the word's pieces (greedy, longest first) into ``out`` from ``n_out``; return the new end.

    From each start, the hashes of every candidate are one running FNV over the bytes
    (``hashes[e]``: the piece that ends before character ``e``), so a word costs its length
    times the candidates' at most ``max_piece`` bytes, not their sum of squares.
    """
    table, vocab_data, vocab_offsets, unk, max_chars, max_piece = vocab
    if n_chars == 0:
        return n_out
    if n_chars > max_chars:
        out[n_out] = unk
        return n_out + 1
    starts[n_chars] = n_bytes
    first = n_out
    c = 0
    while c < n_chars:
        h = _CONTINUATION if c > 0 else _FNV_OFFSET
        b = starts[c]
        e = c
        while e < n_chars and starts[e + 1] - starts[c] <= max_piece:
            for i in range(starts[e], starts[e + 1]):
                h = (h ^ np.uint64(word[i])) * _FNV_PRIME
            e += 1
            hashes[e] = h
        found = -1
        while e > c:
            found = _lookup(hashes[e], word, b, starts[e], c > 0, table, vocab_data, vocab_offsets)
            if found >= 0:
                break
            e -= 1
        if found < 0:
            out[first] = unk
            return first + 1
        out[n_out] = found
        n_out += 1
        c = e
    return n_out


@njit(cache=True, nogil=True)
def wordpiece_batch(data, begins, ends, kind, mapped_cps, out_cps, out_class, out_offsets, vocab, indptr, out, word,
                    starts, hashes):
    """Piece ids of each text ``data[begins[d]:ends[d]]``: CSR into ``indptr``, ``out``.

    ``vocab`` is ``(table, vocab_data, vocab_offsets, unk, max_chars, max_piece)``: the
    vocabulary's hash table, its pieces, the ``[UNK]`` id, the longest word that is not
    ``[UNK]`` (characters) and the longest piece's bytes without its ``##``. ``out`` holds at least as many slots as the texts have output code points; ``word``
    (``4 * (max_chars + 1)`` bytes), ``starts`` and ``hashes`` (``max_chars + 2``) are scratch.
    """
    max_chars = vocab[4]
    n_out = 0
    indptr[0] = 0
    for d in range(len(begins)):
        i, end = begins[d], ends[d]
        n_chars = 0
        n_bytes = 0
        while i < end:
            # Arrow strings are valid UTF-8: decoded without kernels._decode's checks, which
            # cost a tenth of the speed here
            b = data[i]
            if b < 0x80:
                cp = np.int64(b)
                i += 1
            elif b < 0xE0:
                cp = ((np.int64(b) & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
                i += 2
            elif b < 0xF0:
                cp = ((np.int64(b) & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
                i += 3
            else:
                cp = (((np.int64(b) & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
                      | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F))
                i += 4
            if 65 <= cp <= 90:  # A-Z: the one mapping ASCII has (to a-z), without the search
                cp += 32
                k = 0
            else:
                k = kind[cp]
            if k == 0:
                if n_chars <= max_chars:  # a longer word is [UNK]: its characters are only counted
                    starts[n_chars] = n_bytes
                    n_bytes = put_utf8(word, n_bytes, cp)
                n_chars += 1
            elif k == KIND_SPACE:
                n_out = _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out)
                n_chars = 0
                n_bytes = 0
            elif k == KIND_ISOLATED:
                n_out = _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out)
                starts[0] = 0
                n_bytes = put_utf8(word, 0, cp)
                n_out = _flush(word, starts, hashes, 1, n_bytes, vocab, out, n_out)
                n_chars = 0
                n_bytes = 0
            elif k == KIND_MAPPED:
                m = np.searchsorted(mapped_cps, cp)
                for j in range(out_offsets[m], out_offsets[m + 1]):
                    c2 = out_cps[j]
                    if out_class[j] == CLASS_SPACE:
                        n_out = _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out)
                        n_chars = 0
                        n_bytes = 0
                    elif out_class[j] == CLASS_ISOLATED:
                        n_out = _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out)
                        starts[0] = 0
                        n_bytes = put_utf8(word, 0, c2)
                        n_out = _flush(word, starts, hashes, 1, n_bytes, vocab, out, n_out)
                        n_chars = 0
                        n_bytes = 0
                    else:
                        if n_chars <= max_chars:
                            starts[n_chars] = n_bytes
                            n_bytes = put_utf8(word, n_bytes, c2)
                        n_chars += 1
            # KIND_DROP: nothing
        n_out = _flush(word, starts, hashes, n_chars, n_bytes, vocab, out, n_out)
        indptr[d + 1] = n_out


__all__ = ["build_vocab_table", "wordpiece_batch"]
