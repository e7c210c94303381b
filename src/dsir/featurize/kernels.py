"""Compiled kernels: tokenize, lowercase, hash and count straight from Arrow buffers.

Everything here works on the raw UTF-8 ``data`` buffer and ``offsets`` buffer of an Arrow
string array, one batch of documents per call; nothing loops over tokens in Python.

Definitions (documented in ``docs/featurizer.md`` and re-implemented slowly in the tests):

* tokens: ``re.findall(r"\\w+|[^\\w\\s]+", text.lower())`` with Python's Unicode rules;
* n-gram string: its tokens joined by one space (``" ".join(tokens[i:i + k])``);
* ``fnv1a64(b)``: 64-bit FNV-1a over bytes ``b`` (offset basis 0xcbf29ce484222325,
  prime 0x100000001b3);
* ``fmix64(h)``: MurmurHash3's 64-bit finalizer, so that low bits are well mixed;
* bucket of an n-gram: ``fmix64(fnv1a64(utf8(ngram_string))) % buckets``;
* content hash of a document: ``fmix64(fnv1a64(utf8(text)))`` of the original text.

FNV-1a is a byte-at-a-time hash, so the state of "a b" is the state of "a" fed a space and
then the bytes of "b"; the kernel keeps one running state per n-gram order and feeds each
byte to all of them, which costs ``ngrams`` multiplications per byte and no re-reading.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from dsir.featurize import warmup
from dsir.featurize.unicode_tables import MAX_EXPANSION
from dsir.native import load_u64, trailing_zeros

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_SPACE_BYTE = np.uint64(0x20)

# Flag bits, mirrored from unicode_tables (numba needs them as globals of its own).
_WORD, _SPACE, _CASED, _CASE_IGNORABLE = 1, 2, 4, 8
_LOWER_SIGMA = -1

MODE_COUNT = 0  # add 1 to counts[bucket] for every n-gram
MODE_SCORE = 1  # add log_ratio[bucket] for every n-gram
MODE_EMIT = 2  # write every bucket id to out[...]


@njit(cache=True, nogil=True, inline="always")
def fmix64(h):
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


@njit(cache=True, nogil=True)
def _decode(data, i, end):
    """Decode one UTF-8 code point at ``data[i]``; invalid bytes decode to U+FFFD alone."""
    b0 = np.int64(data[i])
    if b0 < 0x80:
        return b0, i + 1
    if b0 >= 0xC2 and b0 < 0xE0 and i + 1 < end:
        b1 = np.int64(data[i + 1])
        if (b1 & 0xC0) == 0x80:
            return ((b0 & 0x1F) << 6) | (b1 & 0x3F), i + 2
    elif b0 >= 0xE0 and b0 < 0xF0 and i + 2 < end:
        b1 = np.int64(data[i + 1])
        b2 = np.int64(data[i + 2])
        if (b1 & 0xC0) == 0x80 and (b2 & 0xC0) == 0x80:
            return ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F), i + 3
    elif b0 >= 0xF0 and b0 < 0xF5 and i + 3 < end:
        b1 = np.int64(data[i + 1])
        b2 = np.int64(data[i + 2])
        b3 = np.int64(data[i + 3])
        if (b1 & 0xC0) == 0x80 and (b2 & 0xC0) == 0x80 and (b3 & 0xC0) == 0x80:
            cp = ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)
            if cp < 0x110000:
                return cp, i + 4
    return np.int64(0xFFFD), i + 1


@njit(cache=True, nogil=True, inline="always")
def put_utf8(out, o, cp):
    """Write code point ``cp`` as UTF-8 at ``out[o]``; return the position after it."""
    if cp < 0x80:
        out[o] = cp
        return o + 1
    if cp < 0x800:
        out[o] = 0xC0 | (cp >> 6)
        out[o + 1] = 0x80 | (cp & 0x3F)
        return o + 2
    if cp < 0x10000:
        out[o] = 0xE0 | (cp >> 12)
        out[o + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[o + 2] = 0x80 | (cp & 0x3F)
        return o + 3
    out[o] = 0xF0 | (cp >> 18)
    out[o + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[o + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[o + 3] = 0x80 | (cp & 0x3F)
    return o + 4


@njit(cache=True, nogil=True)
def _previous_start(data, start, i):
    """Start of the code point that ends just before byte ``i`` (``i > start``)."""
    j = i - 1
    while j > start and (data[j] & 0xC0) == 0x80 and i - j < 4:
        j -= 1
    return j


@njit(cache=True, nogil=True)
def _sigma_is_final(data, start, end, i, i_next, flags):
    """Python's Final_Sigma test for the capital sigma at ``data[i:i_next]``."""
    j = i
    found = False
    cased = False
    while j > start:
        j = _previous_start(data, start, j)
        cp, _ = _decode(data, j, end)
        f = flags[cp]
        if f & _CASE_IGNORABLE:
            continue
        found = True
        cased = (f & _CASED) != 0
        break
    if not (found and cased):
        return False
    k = i_next
    while k < end:
        cp, k2 = _decode(data, k, end)
        f = flags[cp]
        if f & _CASE_IGNORABLE:
            k = k2
            continue
        return (f & _CASED) == 0
    return True


@njit(cache=True, nogil=True)
def _lowercase(data, start, end, i, i_next, cp, lower, flags, expansions):
    """How the code point ``cp`` at ``data[i:i_next]`` lowercases: ``(count, first, low)``;
    code point ``q`` of its lowercase is ``_lowercase_at(q, first, low, expansions)``."""
    low = np.int64(lower[cp])
    if low == _LOWER_SIGMA:
        return 1, (0x3C2 if _sigma_is_final(data, start, end, i, i_next, flags) else 0x3C3), low
    if low < 0:
        return np.int64(expansions[-low - 2, 0]), low, low
    return 1, low, low


@njit(cache=True, nogil=True)
def _lowercase_at(q, first, low, expansions):
    return first if low >= 0 or low == _LOWER_SIGMA else np.int64(expansions[-low - 2, q + 1])


# -- the fast path -----------------------------------------------------------------------
#
# Almost all text is mostly ASCII. An ASCII byte is its own code point, its lowercase is
# ASCII too, and its class (space, word, punctuation) is one table lookup, so the loop below
# handles it without decoding, without the lowercase tables and without any per-document
# allocation. Everything else (multi-byte code points, multi-code-point lowercases, the
# context-dependent capital sigma) takes the general path, which is the original algorithm.
#
# The running FNV states of the unigram (s0) and the bigram (s1) are kept in registers;
# higher orders (ngrams > 2) live in the scratch array ``more`` (state j at more[j - 2]).
# Every byte is fed to every state, active or not: a state that is not active yet (the
# n-gram would start before the first token) is overwritten when it becomes active and is
# never read before, so this changes no bucket and saves a branch per byte.

_CLASS_SPACE, _CLASS_WORD, _CLASS_PUNCT = 0, 1, 2


@njit(cache=True, nogil=True)
def _class_of(f):
    """Class of a code point with Unicode flags ``f``: whitespace, word character or other."""
    return _CLASS_SPACE if (f & _SPACE) else (_CLASS_WORD if (f & _WORD) else _CLASS_PUNCT)


@njit(cache=True, nogil=True)
def ascii_tables(lower, flags):
    """``(lowercase byte, class)`` of each ASCII byte, read off the Unicode tables.

    Class 0 is whitespace (between tokens), 1 a word character, 2 any other character.
    """
    low = np.empty(128, dtype=np.uint8)
    cls = np.empty(128, dtype=np.uint8)
    for b in range(128):
        c = lower[b]
        if c < 0 or c >= 128:  # never true for Python's tables; kept so a change cannot go unnoticed
            raise ValueError("the lowercase of an ASCII character is not ASCII")
        f = flags[c]
        low[b] = c
        cls[b] = _class_of(f)
    return low, cls


@intrinsic
def _mulhi64(typingctx, a, b):
    """High 64 bits of the 128-bit product ``a * b`` (one ``mul`` instruction on x86-64)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(product, ir.Constant(i128, 64)), ir.IntType(64))

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def reciprocal(d):
    """``floor((2**64 - 1) / d)``: the multiplier ``fast_mod`` uses for divisor ``d``."""
    return np.uint64(0xFFFFFFFFFFFFFFFF) // d


@njit(cache=True, nogil=True, inline="always")
def fast_mod(x, d, m):
    """``x % d`` for uint64 ``x`` and ``d >= 1``, given ``m = reciprocal(d)``, without a division.

    ``q = mulhi(x, m)`` is at most 2 below ``x // d`` (since ``m <= 2**64 / d`` and
    ``2**64 / d - m < 2``), so ``x - q * d`` is below ``3 * d`` and two conditional
    subtractions finish the job. A hardware division costs about three times more, and
    the kernel takes one modulo per n-gram.
    """
    r = x - _mulhi64(x, m) * d
    if r >= d:
        r -= d
    if r >= d:
        r -= d
    return r


@njit(cache=True, nogil=True, inline="always")
def _bucket(h, nb, m):
    return np.int64(fast_mod(fmix64(h), nb, m))


@njit(cache=True, nogil=True, inline="always")
def _close_token(ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts, log_ratio, out):
    """Emit the n-grams that end with the token just closed, shortest first."""
    n_tokens += 1
    top = min(ngrams, n_tokens)
    for j in range(top):
        if j == 0:
            b = _bucket(s0, nb, m)
        elif j == 1:
            b = _bucket(s1, nb, m)
        else:
            b = _bucket(more[j - 2], nb, m)
        if mode == 0:
            counts[b] += 1
        elif mode == 1:
            score += log_ratio[b]
        else:
            out[out_pos] = b
            out_pos += 1
    n_ngrams += top
    return n_tokens, n_ngrams, score, out_pos


@njit(cache=True, nogil=True, inline="always")
def _open_token(ngrams, n_tokens, s0, s1, more):
    """Start a token: n-gram state j continues state j - 1 after a separating space."""
    if ngrams > 2:
        for j in range(min(ngrams - 1, n_tokens), 2, -1):
            more[j - 2] = (more[j - 3] ^ _SPACE_BYTE) * FNV_PRIME
        if n_tokens >= 2:
            more[0] = (s1 ^ _SPACE_BYTE) * FNV_PRIME
    s1 = (s0 ^ _SPACE_BYTE) * FNV_PRIME
    return FNV_OFFSET, s1


@njit(cache=True, nogil=True, inline="always")
def _change_class(cls, token_class, ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts,
                  log_ratio, out):
    """A character of class ``cls`` follows one of ``token_class``: close the token that ends
    here (if any) and open the one that starts (if any)."""
    if token_class != _CLASS_SPACE:
        n_tokens, n_ngrams, score, out_pos = _close_token(
            ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts, log_ratio, out)
    if cls != _CLASS_SPACE:
        s0, s1 = _open_token(ngrams, n_tokens, s0, s1, more)
    return n_tokens, n_ngrams, score, out_pos, s0, s1


@njit(cache=True, nogil=True, inline="always")
def _feed_byte(byte, s0, s1, more, n_more):
    b = np.uint64(byte)
    s0 = (s0 ^ b) * FNV_PRIME
    s1 = (s1 ^ b) * FNV_PRIME
    for j in range(n_more):
        more[j] = (more[j] ^ b) * FNV_PRIME
    return s0, s1


@njit(cache=True, nogil=True)
def _featurize(data, start, end, ngrams, nb, lower, flags, expansions, a_low, a_cls, more,
               mode, counts, log_ratio, out, out_pos):
    """Tokenize ``data[start:end]`` and hand each n-gram's bucket to ``mode`` (see featurize_document).

    ``nb`` is the number of buckets as uint64, ``a_low``/``a_cls`` come from
    ``ascii_tables``, ``more`` is scratch space for ``ngrams - 2`` states.
    """
    n_tokens = 0
    n_ngrams = 0
    score = 0.0
    token_class = _CLASS_SPACE
    n_more = max(ngrams - 2, 0)
    m = reciprocal(nb)
    s0 = FNV_OFFSET
    s1 = FNV_OFFSET
    i = start
    while i < end:
        byte = data[i]
        if byte < 0x80:
            cls = a_cls[byte]
            i += 1
            if cls != token_class:
                n_tokens, n_ngrams, score, out_pos, s0, s1 = _change_class(
                    cls, token_class, ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts,
                    log_ratio, out)
                token_class = cls
            if cls != _CLASS_SPACE:
                s0, s1 = _feed_byte(a_low[byte], s0, s1, more, n_more)
            continue
        # General path: decode, lowercase (maybe to several code points), classify each.
        cp, i_next = _decode(data, i, end)
        n_pending, c0, low = _lowercase(data, start, end, i, i_next, cp, lower, flags, expansions)
        for q in range(n_pending):
            c = _lowercase_at(q, c0, low, expansions)
            f = flags[c]
            cls = _class_of(f)
            if cls != token_class:
                n_tokens, n_ngrams, score, out_pos, s0, s1 = _change_class(
                    cls, token_class, ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts,
                    log_ratio, out)
                token_class = cls
            if cls != _CLASS_SPACE:
                if c < 0x80:
                    s0, s1 = _feed_byte(c, s0, s1, more, n_more)
                elif c < 0x800:
                    s0, s1 = _feed_byte(0xC0 | (c >> 6), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | (c & 0x3F), s0, s1, more, n_more)
                elif c < 0x10000:
                    s0, s1 = _feed_byte(0xE0 | (c >> 12), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | ((c >> 6) & 0x3F), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | (c & 0x3F), s0, s1, more, n_more)
                else:
                    s0, s1 = _feed_byte(0xF0 | (c >> 18), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | ((c >> 12) & 0x3F), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | ((c >> 6) & 0x3F), s0, s1, more, n_more)
                    s0, s1 = _feed_byte(0x80 | (c & 0x3F), s0, s1, more, n_more)
        i = i_next
    if token_class != _CLASS_SPACE:  # the end of the document closes the last token
        n_tokens, n_ngrams, score, out_pos = _close_token(
            ngrams, nb, m, n_tokens, n_ngrams, score, out_pos, s0, s1, more, mode, counts, log_ratio, out)
    return n_tokens, n_ngrams, score, out_pos


# -- the block path, for unigrams and bigrams ---------------------------------------------
#
# The loop above pays a mispredicted branch at most token boundaries and buckets each n-gram
# as soon as its token closes, inside the byte loop. For ngrams <= 2 (the default) the work is
# split in two instead. First, a block of up to _BLOCK bytes is tokenized by a loop with no
# data-dependent branch: each byte's class is looked up, a 16-entry table says whether the
# step from the previous class closes and/or opens a token, and conditional moves pick the new FNV
# states; the states at every close are stored (a store at every byte, to slot k, and k
# advances by one at a close). Second, a tight loop buckets the block's stored n-gram states.
# A pure-ASCII block (checked with one vectorized OR) runs the first loop with no decoding at
# all; any other block takes each code point in turn and sends the non-ASCII ones through the
# same decoding, lowercasing and Final_Sigma rules as the general path.
#
# Between tokens the states keep being fed (whitespace bytes included): that is harmless,
# because a state is read only at the close of its token (before the closing byte is fed)
# and is reset when the next token opens, and it saves the branch.

_BLOCK = 512
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)


def transition_tables():
    """Tables indexed by ``4 * previous class + class``: whether that step closes a token
    (``close``), and whether it opens one (``open_``)."""
    close = np.zeros(16, dtype=np.bool_)
    open_ = np.zeros(16, dtype=np.bool_)
    for p in range(3):
        for c in range(3):
            close[p * 4 + c] = c != p and p != _CLASS_SPACE
            open_[p * 4 + c] = c != p and c != _CLASS_SPACE
    return close, open_


# States a block can close: a code point closes at most one token, a byte starts at most one
# code point, whose lowercase has at most MAX_EXPANSION code points, and a block's last code
# point may run 3 bytes past it.
_SCRATCH = (_BLOCK + 4) * MAX_EXPANSION + 1


@njit(cache=True, nogil=True, inline="always")
def _feed2(byte, s0, s1):
    b = np.uint64(byte)
    return (s0 ^ b) * FNV_PRIME, (s1 ^ b) * FNV_PRIME


@njit(cache=True, nogil=True, inline="always")
def _step(c, lb, t_close, t_open, uni, bi, k, p4, s0, s1, last):
    """One character of class ``c`` whose (lowercased) UTF-8 starts with byte ``lb``.

    ``p4`` is 4 * the previous character's class; ``s0``/``s1`` the running unigram and
    bigram states, ``last`` the state of the last closed token; ``uni[k]``/``bi[k]`` receive
    the states of a token this character closes. The conditionals compile to conditional
    moves, not branches.
    """
    idx = p4 | c
    closes = t_close[idx]
    opens = t_open[idx]
    uni[k] = s0
    bi[k] = s1
    last = s0 if closes else last
    k += np.uint64(closes)
    opened = (last ^ _SPACE_BYTE) * FNV_PRIME
    s1 = ((opened if opens else s1) ^ lb) * FNV_PRIME
    s0 = ((FNV_OFFSET if opens else s0) ^ lb) * FNV_PRIME
    return k, c << _U2, s0, s1, last


@njit(cache=True, nogil=True)  # not inlined: a small function of its own keeps every pointer in a register
def _ascii_block(data, j, stop, a_low, a_cls, t_close, t_open, uni, bi, p4, s0, s1, last):
    """Tokenize the pure-ASCII bytes ``data[j:stop]``; return ``(k, p4, s0, s1, last)``."""
    k = _U0
    while j < stop:
        byte = data[j]
        k, p4, s0, s1, last = _step(np.uint64(a_cls[byte]), np.uint64(a_low[byte]), t_close, t_open,
                                    uni, bi, k, p4, s0, s1, last)
        j += _U1
    return k, p4, s0, s1, last


@njit(cache=True, nogil=True)
def _mixed_block(data, j, stop, start, end, lower, flags, expansions, a_low, a_cls, t_close, t_open,
                 uni, bi, p4, s0, s1, last):
    """Tokenize the code points that start in ``data[j:stop]`` (any UTF-8; the last may end
    past ``stop``); return ``(next position, k, p4, s0, s1, last)``."""
    k = _U0
    while j < stop:
        byte = data[j]
        if byte < 0x80:
            k, p4, s0, s1, last = _step(np.uint64(a_cls[byte]), np.uint64(a_low[byte]), t_close, t_open,
                                        uni, bi, k, p4, s0, s1, last)
            j += _U1
            continue
        i = np.int64(j)
        cp, i_next = _decode(data, i, end)
        n_pending, c0, low = _lowercase(data, start, end, i, i_next, cp, lower, flags, expansions)
        for q in range(n_pending):
            c = _lowercase_at(q, c0, low, expansions)
            f = flags[c]
            cls = np.uint64(_class_of(f))
            if c < 0x80:
                k, p4, s0, s1, last = _step(cls, np.uint64(c), t_close, t_open, uni, bi, k, p4, s0, s1, last)
            elif c < 0x800:
                k, p4, s0, s1, last = _step(cls, np.uint64(0xC0 | (c >> 6)), t_close, t_open,
                                            uni, bi, k, p4, s0, s1, last)
                s0, s1 = _feed2(0x80 | (c & 0x3F), s0, s1)
            elif c < 0x10000:
                k, p4, s0, s1, last = _step(cls, np.uint64(0xE0 | (c >> 12)), t_close, t_open,
                                            uni, bi, k, p4, s0, s1, last)
                s0, s1 = _feed2(0x80 | ((c >> 6) & 0x3F), s0, s1)
                s0, s1 = _feed2(0x80 | (c & 0x3F), s0, s1)
            else:
                k, p4, s0, s1, last = _step(cls, np.uint64(0xF0 | (c >> 18)), t_close, t_open,
                                            uni, bi, k, p4, s0, s1, last)
                s0, s1 = _feed2(0x80 | ((c >> 12) & 0x3F), s0, s1)
                s0, s1 = _feed2(0x80 | ((c >> 6) & 0x3F), s0, s1)
                s0, s1 = _feed2(0x80 | (c & 0x3F), s0, s1)
        j = np.uint64(i_next)
    return j, k, p4, s0, s1, last


@njit(cache=True, nogil=True, inline="always")
def _ubucket(h, nb, m):
    return fast_mod(fmix64(h), nb, m)  # unsigned, so indexing needs no negative-index fix-up


@njit(cache=True, nogil=True)  # once per block: a call costs nothing, inlining it twice costs compile time
def _bucket_block(uni, bi, k, first, ngrams, nb, m, mode, counts, log_ratio, out, out_pos, score):
    """Hand the n-grams of the ``k`` tokens stored in ``uni``/``bi`` to ``mode``, in the order
    of ``_close_token`` (per token: unigram, then bigram). ``first``: these are the document's
    first tokens, and the very first has no bigram."""
    t = 0
    if first and k > 0:
        b = _ubucket(uni[0], nb, m)
        if mode == 0:
            counts[b] += 1
        elif mode == 1:
            score += log_ratio[b]
        else:
            out[out_pos] = np.int64(b)
            out_pos += 1
        t = 1
    if ngrams == 1:
        if mode == 0:
            for j in range(t, k):
                counts[_ubucket(uni[j], nb, m)] += 1
        elif mode == 1:
            for j in range(t, k):
                score += log_ratio[_ubucket(uni[j], nb, m)]
        else:
            for j in range(t, k):
                out[out_pos] = np.int64(_ubucket(uni[j], nb, m))
                out_pos += 1
    else:
        if mode == 0:
            for j in range(t, k):
                counts[_ubucket(uni[j], nb, m)] += 1
                counts[_ubucket(bi[j], nb, m)] += 1
        elif mode == 1:
            for j in range(t, k):
                score += log_ratio[_ubucket(uni[j], nb, m)]
                score += log_ratio[_ubucket(bi[j], nb, m)]
        else:
            for j in range(t, k):
                out[out_pos] = np.int64(_ubucket(uni[j], nb, m))
                out[out_pos + 1] = np.int64(_ubucket(bi[j], nb, m))
                out_pos += 2
    return out_pos, score


@njit(cache=True, nogil=True)
def _featurize_blocks(data, start, end, ngrams, nb, m, lower, flags, expansions, a_low, a_cls, t_close, t_open,
                      uni, bi, mode, counts, log_ratio, out, out_pos):
    """``_featurize`` for ``ngrams <= 2``, a block at a time; ``uni``/``bi`` hold ``_SCRATCH``
    states each."""
    p4 = _U0
    s0 = FNV_OFFSET
    s1 = FNV_OFFSET
    last = FNV_OFFSET
    n_tokens = 0
    score = 0.0
    j = np.uint64(start)
    uend = np.uint64(end)
    while j < uend:
        stop = min(j + np.uint64(_BLOCK), uend)
        high = np.uint8(0)
        for q in range(j, stop):  # vectorized: is the block pure ASCII?
            high |= data[q]
        if high < 0x80:
            k, p4, s0, s1, last = _ascii_block(data, j, stop, a_low, a_cls, t_close, t_open, uni, bi,
                                               p4, s0, s1, last)
            j = stop
        else:
            j, k, p4, s0, s1, last = _mixed_block(data, j, stop, start, end, lower, flags, expansions, a_low,
                                                  a_cls, t_close, t_open, uni, bi, p4, s0, s1, last)
        kk = np.int64(k)
        out_pos, score = _bucket_block(uni, bi, kk, n_tokens == 0, ngrams, nb, m, mode, counts, log_ratio,
                                       out, out_pos, score)
        n_tokens += kk
    if p4 != _U0:  # the end of the document closes the last token
        uni[0] = s0
        bi[0] = s1
        out_pos, score = _bucket_block(uni, bi, np.int64(1), n_tokens == 0, ngrams, nb, m, mode, counts, log_ratio,
                                       out, out_pos, score)
        n_tokens += 1
    n_ngrams = n_tokens if ngrams == 1 else max(2 * n_tokens - 1, 0)
    return n_tokens, n_ngrams, score, out_pos




@njit(cache=True, nogil=True)
def featurize_document(data, start, end, ngrams, buckets, lower, flags, expansions,
                       states, mode, counts, log_ratio, out, out_pos):
    """Tokenize ``data[start:end]`` and hand each n-gram's bucket to ``mode``.

    Returns ``(n_tokens, n_ngrams, score, out_pos)``: ``score`` is the sum of
    ``log_ratio[bucket]`` (MODE_SCORE), ``out_pos`` the next free slot of ``out``
    (MODE_EMIT). ``states`` is scratch space of length ``ngrams``. The batch kernels
    below call ``_featurize`` directly, with tables built once per batch.
    """
    a_low, a_cls = ascii_tables(lower, flags)
    more = states[2:] if len(states) > 2 else np.empty(0, dtype=np.uint64)
    return _featurize(data, np.int64(start), np.int64(end), np.int64(ngrams), np.uint64(buckets), lower, flags,
                      expansions, a_low, a_cls, more, np.int64(mode), counts, log_ratio, out, np.int64(out_pos))


@njit(cache=True, nogil=True)
def _block_batch(data, offsets, ngrams, nb, m, lower, flags, expansions, a_low, a_cls, t_close, t_open, uni, bi,
                 mode, counts, log_ratio, out, indptr, log_weight, n_tokens, n_ngrams):
    """``_featurize_blocks`` over every document ``data[offsets[d]:offsets[d + 1]]`` of a batch."""
    pos = np.int64(0)
    indptr[0] = 0
    for d in range(len(offsets) - 1):
        nt, ng, s, pos = _featurize_blocks(data, np.int64(offsets[d]), np.int64(offsets[d + 1]), ngrams, nb, m,
                                           lower, flags, expansions, a_low, a_cls, t_close, t_open, uni, bi,
                                           mode, counts, log_ratio, out, pos)
        n_tokens[d] = nt
        n_ngrams[d] = ng
        log_weight[d] = s
        indptr[d + 1] = pos


@njit(cache=True, nogil=True)
def _byte_loop_batch(data, offsets, ngrams, nb, lower, flags, expansions, a_low, a_cls, more,
                     mode, counts, log_ratio, out, indptr, log_weight, n_tokens, n_ngrams):
    """``_featurize`` over every document ``data[offsets[d]:offsets[d + 1]]`` of a batch."""
    pos = np.int64(0)
    indptr[0] = 0
    for d in range(len(offsets) - 1):
        nt, ng, s, pos = _featurize(data, np.int64(offsets[d]), np.int64(offsets[d + 1]), ngrams, nb, lower, flags,
                                    expansions, a_low, a_cls, more, mode, counts, log_ratio, out, pos)
        n_tokens[d] = nt
        n_ngrams[d] = ng
        log_weight[d] = s
        indptr[d + 1] = pos


_NO_INTS = np.empty(0, dtype=np.int64)
_NO_FLOATS = np.empty(0, dtype=np.float64)
_TRANSITIONS = None  # (close, open_), made on first use


def featurize_batch(data, offsets, ngrams, buckets, lower, flags, expansions, mode,
                    counts=_NO_INTS, log_ratio=_NO_FLOATS, out=_NO_INTS):
    """Featurize every document of a batch and hand each n-gram's bucket to ``mode``.

    Returns ``(indptr, log_weight, n_tokens, n_ngrams)`` per document: ``log_weight`` is the
    sum of ``log_ratio[bucket]`` (MODE_SCORE), document ``d``'s bucket ids are
    ``out[indptr[d]:indptr[d + 1]]`` (MODE_EMIT); MODE_COUNT adds 1 to ``counts[bucket]``.

    Python picks the path, the block kernel for ``ngrams <= 2`` and the byte loop otherwise,
    so that a run compiles only the one it uses (compiling is most of a first run's time).
    """
    global _TRANSITIONS
    warmup.wait_for_child()  # on a cold cache, a child process may be compiling these kernels
    if _TRANSITIONS is None:
        _TRANSITIONS = transition_tables()
    n = len(offsets) - 1
    indptr = np.empty(n + 1, dtype=np.int64)
    log_weight = np.empty(n, dtype=np.float64)
    n_tokens = np.empty(n, dtype=np.int64)
    n_ngrams = np.empty(n, dtype=np.int64)
    a_low, a_cls = ascii_tables(lower, flags)
    nb = np.uint64(buckets)
    if ngrams <= 2:
        uni = np.empty(_SCRATCH, dtype=np.uint64)
        bi = np.empty(_SCRATCH, dtype=np.uint64)
        _block_batch(data, offsets, np.int64(ngrams), nb, np.uint64(0xFFFFFFFFFFFFFFFF) // nb, lower, flags,
                     expansions, a_low, a_cls, *_TRANSITIONS, uni, bi, np.int64(mode), counts, log_ratio, out,
                     indptr, log_weight, n_tokens, n_ngrams)
    else:
        more = np.empty(ngrams - 2, dtype=np.uint64)
        _byte_loop_batch(data, offsets, np.int64(ngrams), nb, lower, flags, expansions, a_low, a_cls, more,
                         np.int64(mode), counts, log_ratio, out, indptr, log_weight, n_tokens, n_ngrams)
    return indptr, log_weight, n_tokens, n_ngrams


def count_batch(data, offsets, ngrams, buckets, lower, flags, expansions, counts, n_tokens):
    """Add every document's n-gram buckets to ``counts``; store token counts per document."""
    n_tokens[:] = featurize_batch(data, offsets, ngrams, buckets, lower, flags, expansions, MODE_COUNT,
                                  counts=counts)[2]


def score_batch(data, offsets, ngrams, buckets, lower, flags, expansions, log_ratio,
                log_weight, n_tokens, n_ngrams):
    """Per document: sum of ``log_ratio`` over its n-gram buckets, token and n-gram counts."""
    _, log_weight[:], n_tokens[:], n_ngrams[:] = featurize_batch(data, offsets, ngrams, buckets, lower, flags,
                                                                 expansions, MODE_SCORE, log_ratio=log_ratio)


def emit_batch(data, offsets, ngrams, buckets, lower, flags, expansions, indptr, out):
    """Write every document's bucket ids to ``out``, document ``d`` at ``out[indptr[d]:indptr[d+1]]``.

    ``out`` must hold ``ngrams * 3 * len(data)`` ids (a bound no text can exceed); the
    caller trims it to ``indptr[-1]``.
    """
    indptr[:] = featurize_batch(data, offsets, ngrams, buckets, lower, flags, expansions, MODE_EMIT, out=out)[0]


@njit(cache=True, nogil=True)
def _fnv_spans(data, starts, ends, out):
    """``out[d] = fmix64(fnv1a64(data[starts[d]:ends[d]]))``, four spans at a time.

    FNV-1a is a chain of dependent multiplications, so one span at a time leaves the core
    waiting on each; four independent chains, refilled as each span ends, run about as fast
    per byte as one does per span.
    """
    n = len(starts)
    h = np.empty(4, dtype=np.uint64)
    pos = np.zeros(4, dtype=np.int64)
    rem = np.zeros(4, dtype=np.int64)
    doc = np.full(4, -1, dtype=np.int64)
    next_doc = 0
    while True:
        for lane in range(4):  # finish spans that have ended, start the next ones
            while rem[lane] == 0:
                if doc[lane] >= 0:
                    out[doc[lane]] = fmix64(h[lane])
                    doc[lane] = -1
                if next_doc >= n:
                    break
                doc[lane] = next_doc
                pos[lane] = starts[next_doc]
                rem[lane] = ends[next_doc] - starts[next_doc]
                h[lane] = FNV_OFFSET
                next_doc += 1
        if doc[0] < 0 or doc[1] < 0 or doc[2] < 0 or doc[3] < 0:
            break  # fewer than four spans left: finish them one by one below
        step = min(min(rem[0], rem[1]), min(rem[2], rem[3]))
        h0, h1, h2, h3 = h[0], h[1], h[2], h[3]
        # unsigned positions: indexing then needs no negative-index fix-up
        p0, p1, p2, p3 = np.uint64(pos[0]), np.uint64(pos[1]), np.uint64(pos[2]), np.uint64(pos[3])
        stop0 = p0 + np.uint64(step)
        while p0 < stop0:
            h0 = (h0 ^ np.uint64(data[p0])) * FNV_PRIME
            h1 = (h1 ^ np.uint64(data[p1])) * FNV_PRIME
            h2 = (h2 ^ np.uint64(data[p2])) * FNV_PRIME
            h3 = (h3 ^ np.uint64(data[p3])) * FNV_PRIME
            p0 += _U1
            p1 += _U1
            p2 += _U1
            p3 += _U1
        h[0], h[1], h[2], h[3] = h0, h1, h2, h3
        for lane in range(4):
            pos[lane] += step
            rem[lane] -= step
    for lane in range(4):
        if doc[lane] >= 0:
            x = h[lane]
            for i in range(pos[lane], pos[lane] + rem[lane]):
                x = (x ^ np.uint64(data[i])) * FNV_PRIME
            out[doc[lane]] = fmix64(x)


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``: kernels see one array type, so they compile once."""
    v = a.view()
    v.flags.writeable = False
    return v


def content_hash_batch(data, offsets, out):
    """``fmix64(fnv1a64(bytes))`` of each document's bytes, as uint64."""
    span_hash_batch(data, offsets[:-1], offsets[1:], out)


def span_hash_batch(data, starts, ends, out):
    """``fmix64(fnv1a64(data[starts[d]:ends[d]]))`` for each span."""
    _fnv_spans(_read_only(data), _read_only(np.ascontiguousarray(starts, dtype=np.int64)),
               _read_only(np.ascontiguousarray(ends, dtype=np.int64)), out)


def line_spans(buf, n, final):
    """Find the non-blank lines of ``buf[:n]`` (a uint8 array).

    Returns ``(starts, ends, before, n_newlines, consumed)``: byte spans of the lines that
    hold anything besides JSON whitespace (space, tab, CR), without their line terminator
    (``\\n`` or ``\\r\\n``); ``before[i]`` counts the newlines that precede line ``i`` in
    ``buf`` and ``n_newlines`` all line terminators seen, for line numbers. Unless ``final``,
    a trailing line with no ``\\n`` is left unconsumed for the next call.
    """
    return _spans_from_newlines(buf, n, final, newline_positions(buf, n))


_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)
_BYTE_ONES = np.uint64(0x0101010101010101)
_BYTE_HIGHS = np.uint64(0x8080808080808080)


@njit(cache=True, nogil=True)
def newline_positions(buf, n):
    """Offsets of the ``\\n`` bytes of ``buf[:n]`` (a uint8 array), in order.

    Eight bytes at a time: a word with no newline is passed over with a few arithmetic
    operations (about 2.5 GB/s, like memchr, and without holding the interpreter lock).
    """
    out = np.empty(max(n // 256, 64), dtype=np.int64)
    m = np.int64(0)
    i = 0
    while i + 8 <= n:
        w = load_u64(buf, i) ^ _NEWLINES
        z = (w - _BYTE_ONES) & ~w & _BYTE_HIGHS
        while z != 0:  # the lowest flagged byte is a newline; the ones above it may not be
            j = i + np.int64(trailing_zeros(z) >> np.uint64(3))
            if buf[j] == 10:
                if m == len(out):
                    out = _grown(out, m)
                out[m] = j
                m += 1
            z &= z - _U1
        i += 8
    while i < n:
        if buf[i] == 10:
            if m == len(out):
                out = _grown(out, m)
            out[m] = i
            m += 1
        i += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _grown(out, m):
    bigger = np.empty(2 * len(out), dtype=out.dtype)
    for q in range(m):  # a loop, not a slice assignment: that one compiles a shape check's error message (~3 s)
        bigger[q] = out[q]
    return bigger


@njit(cache=True, nogil=True)
def _spans_from_newlines(buf, n, final, newlines):
    m = len(newlines)
    tail = final and (newlines[m - 1] + 1 < n if m else n > 0)
    n_lines = m + (1 if tail else 0)
    starts = np.empty(n_lines, dtype=np.int64)
    ends = np.empty(n_lines, dtype=np.int64)
    before = np.empty(n_lines, dtype=np.int64)
    count = 0
    line_start = 0
    for li in range(n_lines):
        stop = newlines[li] if li < m else n
        j = line_start
        while j < stop and (buf[j] == 32 or buf[j] == 9 or buf[j] == 13):
            j += 1
        if j < stop:
            e = stop
            if buf[e - 1] == 13:
                e -= 1
            starts[count] = line_start
            ends[count] = e
            before[count] = li
            count += 1
        line_start = stop + 1
    consumed = n if final else (newlines[m - 1] + 1 if m else 0)
    return starts[:count], ends[:count], before[:count], m, consumed
