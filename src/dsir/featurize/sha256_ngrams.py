"""The reference-exact featurizer ``sha256-ngrams-v1``: the buckets of ``data-selection`` 1.0.3.

Definition (the reference's ``get_ngram_counts`` with its default ``wordpunct`` tokenizer;
re-implemented slowly in ``tests/featurize/test_sha256_ngrams.py``):

* tokens: ``re.findall(r"\\w+|[^\\w\\s]+", text.lower())``, which is what nltk's
  ``WordPunctTokenizer().tokenize(text.lower())`` computes (its flags, ``UNICODE``,
  ``MULTILINE`` and ``DOTALL``, change nothing for this pattern), with Python 3.11's
  Unicode 14.0.0 tables, exactly as ``hashed-ngrams-v1`` tokenizes;
* n-gram string: its tokens joined by one space, as the reference's ``' '.join(ng)``;
* bucket: ``int(sha256(utf8(ngram)).hexdigest(), 16) % buckets``, the reference's
  ``hash_buckets``: the digest read as a 256-bit big-endian integer, reduced exactly.

Only the hash differs from ``hashed-ngrams-v1``, so tokenization, emission order (per token,
its n-grams shortest first), token and n-gram counts are the same, and so are bucket names.

The kernel tokenizes a document into a byte buffer that holds its lowercased tokens
separated by one space, so that every n-gram is one contiguous slice of it, and hashes that
slice with a compiled SHA-256, behind a cache of the n-grams already seen in the call. The
buffer only needs the last ``ngrams`` tokens: it is compacted, instead of grown, when the
older tokens leave enough room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from dsir.featurize import kernels, warmup
from dsir.featurize.hashed_ngrams import arrow_buffers, check_size
from dsir.featurize.kernels import MODE_COUNT, MODE_EMIT, MODE_SCORE, _read_only, put_utf8
from dsir.featurize.unicode_tables import UNICODE_VERSION, unicode_tables

#: Versioned name of this feature definition (see the module docstring).
FEATURIZER_NAME = "sha256-ngrams-v1"

_K = np.array([
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
], dtype=np.uint64)
_IV = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
               dtype=np.uint64)
# 32-bit words live in uint64 values: numba widens small integers anyway, and a mask after
# each sum is cheaper than fighting its type promotion.
_M32 = np.uint64(0xFFFFFFFF)
_CLASS_SPACE = 0


@njit(cache=True, nogil=True, inline="always")
def _rotr(x, n):
    return ((x >> np.uint64(n)) | (x << np.uint64(32 - n))) & _M32


@njit(cache=True, nogil=True)
def _compress(src, off, hs, w):
    """One SHA-256 compression of the 64 bytes ``src[off:off + 64]`` into the state ``hs``."""
    for t in range(16):
        p = off + 4 * t
        w[t] = (np.uint64(src[p]) << np.uint64(24)) | (np.uint64(src[p + 1]) << np.uint64(16)) \
            | (np.uint64(src[p + 2]) << np.uint64(8)) | np.uint64(src[p + 3])
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint64(3))
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint64(10))
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M32
    a, b, c, d, e, f, g, h = hs[0], hs[1], hs[2], hs[3], hs[4], hs[5], hs[6], hs[7]
    for t in range(64):
        s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        ch = (e & f) ^ (~e & g & _M32)
        t1 = (h + s1 + ch + _K[t] + w[t]) & _M32
        s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & _M32
        h, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M32, c, b, a, (t1 + t2) & _M32
    hs[0] = (hs[0] + a) & _M32
    hs[1] = (hs[1] + b) & _M32
    hs[2] = (hs[2] + c) & _M32
    hs[3] = (hs[3] + d) & _M32
    hs[4] = (hs[4] + e) & _M32
    hs[5] = (hs[5] + f) & _M32
    hs[6] = (hs[6] + g) & _M32
    hs[7] = (hs[7] + h) & _M32


@njit(cache=True, nogil=True)
def sha256_mod(buf, start, end, nb, hs, w, tail):
    """``int.from_bytes(sha256(buf[start:end]).digest(), "big") % nb`` for ``1 <= nb < 2**31``.

    ``hs`` (8), ``w`` (64) and ``tail`` (128) are scratch. The modulo runs over the digest's
    eight 32-bit words, most significant first (``r = (r * 2**32 + word) % nb`` never
    exceeds 2**63), so it is exact for any digest.
    """
    for i in range(8):
        hs[i] = _IV[i]
    n = end - start
    full = n // 64
    for blk in range(full):
        _compress(buf, start + 64 * blk, hs, w)
    r = n - 64 * full
    for i in range(128):
        tail[i] = 0
    for i in range(r):
        tail[i] = buf[start + 64 * full + i]
    tail[r] = 0x80
    last = 64 if r < 56 else 128  # the 8-byte bit length must fit after the 0x80
    bits = np.uint64(n) * np.uint64(8)
    for i in range(8):
        tail[last - 1 - i] = np.uint8((bits >> np.uint64(8 * i)) & np.uint64(0xFF))
    _compress(tail, 0, hs, w)
    if last == 128:
        _compress(tail, 64, hs, w)
    rem = np.uint64(0)
    for i in range(8):
        rem = ((rem << np.uint64(32)) | hs[i]) % nb
    return np.int64(rem)


# A direct-mapped cache of n-gram -> bucket per kernel call: n-grams follow Zipf's law, so
# most are seen before and a lookup (a cheap hash and a byte compare) replaces the SHA-256
# (about 0.5 us). An entry is the n-gram's exact bytes (up to _KEY bytes), so a hit is never a
# collision; longer n-grams are always hashed.
_KEY = 32
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _cached_bucket(buf, start, end, nb, hs, w, tail, keys, lengths, values):
    """``sha256_mod(buf, start, end, nb)``, looked up in (and stored into) the cache
    ``keys`` (uint8[slots * _KEY]), ``lengths`` (int64[slots], -1 for empty) and ``values``."""
    n = end - start
    if n > _KEY:
        return sha256_mod(buf, start, end, nb, hs, w, tail)
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    slot = np.int64(kernels.fmix64(h) & np.uint64(len(lengths) - 1))
    base = slot * _KEY
    if lengths[slot] == n:
        same = True
        for i in range(n):
            if keys[base + i] != buf[start + i]:
                same = False
                break
        if same:
            return values[slot]
    b = sha256_mod(buf, start, end, nb, hs, w, tail)
    lengths[slot] = n
    values[slot] = b
    for i in range(n):
        keys[base + i] = buf[start + i]
    return b


@njit(cache=True, nogil=True)
def _room(buf, pos, first_kept, starts):
    """Room for 13 more bytes (a space and a code point's lowercase: at most 3 code points of
    4 bytes) at ``buf[pos]``: move the bytes from ``first_kept`` on to the front when that
    frees enough (the older tokens are in no later n-gram), else double the buffer.
    Returns ``(buf, pos)``; the token starts in ``starts`` move with the bytes."""
    if pos + 13 <= len(buf):
        return buf, pos
    if first_kept > 0 and pos - first_kept + 13 <= len(buf) // 2:
        for i in range(pos - first_kept):
            buf[i] = buf[first_kept + i]
        for j in range(len(starts)):
            starts[j] -= first_kept
        return buf, pos - first_kept
    bigger = np.empty(2 * len(buf), dtype=np.uint8)
    for i in range(pos):  # a loop, not a slice assignment: that compiles a shape check (seconds)
        bigger[i] = buf[i]
    return bigger, pos


@njit(cache=True, nogil=True, inline="always")
def _first_kept(ring, nt, ngrams, pos, opening):
    """Where in the buffer the bytes still needed begin: at the start of token
    ``nt - ngrams + 1``, the first of the last n-gram that can still end at a later token.
    When ``opening`` token ``nt`` (not started yet), with ``ngrams == 1`` that is ``pos``."""
    first = nt - ngrams + 1
    if first <= 0:
        return np.int64(0)
    if opening and first == nt:
        return pos
    return ring[first & 7]


@njit(cache=True, nogil=True)
def sha256_batch(data, starts, ends, ngrams, buckets, lower, flags, expansions, mode, counts, log_ratio, out,
                 indptr, log_weight, n_tokens, n_ngrams):
    """Featurize every span ``data[starts[d]:ends[d]]`` and hand each n-gram's bucket to ``mode``.

    MODE_COUNT adds 1 to ``counts[bucket]``, MODE_SCORE sums ``log_ratio[bucket]`` into
    ``log_weight[d]``, MODE_EMIT writes the ids to ``out`` (span ``d``'s at
    ``out[indptr[d]:indptr[d + 1]]``); ``n_tokens`` and ``n_ngrams`` get each span's counts.
    """
    a_low, _ = kernels.ascii_tables(lower, flags)
    nb = np.uint64(buckets)
    hs = np.empty(8, dtype=np.uint64)
    w = np.empty(64, dtype=np.uint64)
    tail = np.empty(128, dtype=np.uint8)
    buf = np.empty(4096, dtype=np.uint8)
    ring = np.zeros(8, dtype=np.int64)  # start in buf of token j at ring[j % 8] (ngrams <= 8)
    # cache slots: a power of two, about one per 8 bytes of text, 256 to 65,536 (3 MB)
    total = np.int64(0)
    for d in range(len(starts)):
        total += ends[d] - starts[d]
    slots = 256
    while slots < 65536 and slots * 8 < total:
        slots *= 2
    keys = np.empty(slots * _KEY, dtype=np.uint8)
    lengths = np.full(slots, -1, dtype=np.int64)
    values = np.empty(slots, dtype=np.int64)
    out_pos = np.int64(0)
    indptr[0] = 0
    for d in range(len(starts)):
        start, end = np.int64(starts[d]), np.int64(ends[d])
        pos = np.int64(0)
        nt = np.int64(0)
        ng = np.int64(0)
        score = 0.0
        prev = _CLASS_SPACE
        i = start
        while True:
            # The next lowercased code points and their classes; past the end, one space
            # closes the last token.
            if i >= end:
                n_pending, c0, low, i_next = 1, np.int64(0x20), np.int64(0), end + 1
            elif data[i] < 0x80:
                n_pending, c0, low, i_next = 1, np.int64(a_low[data[i]]), np.int64(0), i + 1
            else:
                cp, i_next = kernels._decode(data, i, end)
                n_pending, c0, low = kernels._lowercase(data, start, end, i, i_next, cp, lower, flags, expansions)
            for q in range(n_pending):
                c = kernels._lowercase_at(q, c0, low, expansions)
                cls = kernels._class_of(flags[c])
                if cls != prev:
                    if prev != _CLASS_SPACE:  # close token nt: its n-grams end here
                        for k in range(1, min(ngrams, nt + 1) + 1):
                            b = _cached_bucket(buf, ring[(nt - k + 1) & 7], pos, nb, hs, w, tail, keys, lengths,
                                               values)
                            if mode == MODE_COUNT:
                                counts[b] += 1
                            elif mode == MODE_SCORE:
                                score += log_ratio[b]
                            else:
                                out[out_pos] = b
                                out_pos += 1
                            ng += 1
                        nt += 1
                    if cls != _CLASS_SPACE:  # open token nt, after one space unless it is the first
                        buf, pos = _room(buf, pos, _first_kept(ring, nt, ngrams, pos, True), ring)
                        if nt > 0:
                            buf[pos] = 0x20
                            pos += 1
                        ring[nt & 7] = pos
                    prev = cls
                if cls != _CLASS_SPACE:
                    buf, pos = _room(buf, pos, _first_kept(ring, nt, ngrams, pos, False), ring)
                    pos = put_utf8(buf, pos, c)
            if i >= end:
                break
            i = i_next
        n_tokens[d] = nt
        n_ngrams[d] = ng
        log_weight[d] = score
        indptr[d + 1] = out_pos


_NO_INTS = np.empty(0, dtype=np.int64)
_NO_FLOATS = _read_only(np.empty(0, dtype=np.float64))


def _spans(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, ngrams: int, buckets: int, mode: int,
           counts: np.ndarray = _NO_INTS, log_ratio: np.ndarray = _NO_FLOATS, out: np.ndarray = _NO_INTS):
    """``sha256_batch`` over the spans; returns ``(indptr, log_weight, n_tokens, n_ngrams)``.

    Every argument is made the one type the kernel is compiled for (int64 scalars, read-only
    inputs), so that it compiles once whatever the caller hands over.
    """
    warmup.wait_for_child()  # on a cold cache, a child process may be compiling this kernel
    t = unicode_tables()
    n = len(starts)
    indptr = np.empty(n + 1, dtype=np.int64)
    log_weight = np.empty(n, dtype=np.float64)
    n_tokens = np.empty(n, dtype=np.int64)
    n_ngrams = np.empty(n, dtype=np.int64)
    sha256_batch(_read_only(data), _read_only(np.ascontiguousarray(starts, dtype=np.int64)),
                 _read_only(np.ascontiguousarray(ends, dtype=np.int64)), np.int64(ngrams), np.int64(buckets),
                 t.lower, t.flags, t.expansions, np.int64(mode), counts,
                 _read_only(np.ascontiguousarray(log_ratio, dtype=np.float64)), out,
                 indptr, log_weight, n_tokens, n_ngrams)
    return indptr, log_weight, n_tokens, n_ngrams


@dataclass(frozen=True)
class Sha256NgramFeaturizer:
    """Maps text to the reference package's n-gram buckets (``FEATURIZER_NAME``, see the module).

    ``ngrams`` is the largest n-gram order (the reference's ``ngrams``, 2 by default),
    ``buckets`` the number of buckets (its ``num_buckets``, 10,000 by default).
    """

    ngrams: int = 2
    buckets: int = 10_000

    #: The ``features`` name that selects this featurizer (``--features``).
    FEATURES = "sha256-ngrams"

    def __post_init__(self) -> None:
        check_size(self.ngrams, self.buckets)

    @property
    def params(self) -> dict:
        return {"name": FEATURIZER_NAME, "ngrams": self.ngrams, "buckets": self.buckets,
                "unicode_version": UNICODE_VERSION}

    def count(self, texts: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add the batch's n-gram bucket counts to ``counts``; return it and tokens per document."""
        if counts is None:
            counts = np.zeros(self.buckets, dtype=np.int64)
        data, offsets = arrow_buffers(texts)
        _, _, n_tokens, _ = _spans(data, offsets[:-1], offsets[1:], self.ngrams, self.buckets, MODE_COUNT,
                                   counts=counts)
        return counts, n_tokens

    def score(self, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document: (sum of ``log_ratio`` over its n-gram occurrences, tokens, n-grams)."""
        data, offsets = arrow_buffers(texts)
        return self.score_spans(data, offsets[:-1], offsets[1:], log_ratio)

    def score_spans(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``score`` of the byte spans ``data[starts[j]:ends[j]]`` (chunks), in place."""
        _, log_weight, n_tokens, n_ngrams = _spans(data, starts, ends, self.ngrams, self.buckets, MODE_SCORE,
                                                   log_ratio=log_ratio)
        return log_weight, n_tokens, n_ngrams

    def buckets_of(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """CSR bucket ids: document ``d``'s n-grams are ``ids[indptr[d]:indptr[d + 1]]``."""
        data, offsets = arrow_buffers(texts)
        n = len(offsets) - 1
        span = int(offsets[-1] - offsets[0]) if n else 0
        out = np.empty(self.ngrams * 3 * span + 1, dtype=np.int64)  # the bound emit_batch uses
        indptr, _, _, _ = _spans(data, offsets[:-1], offsets[1:], self.ngrams, self.buckets, MODE_EMIT, out=out)
        return indptr, out[: indptr[-1]].copy()
