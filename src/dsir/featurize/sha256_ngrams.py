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
separated by one space, so that every n-gram is one contiguous slice of it. An n-gram of up
to 16 bytes (nearly all) is also kept in two 64-bit words; its bucket comes from a memo of
the n-grams already seen in the call, or from a SHA-256 computed with three others side by
side (with the x86 SHA extensions where the CPU has them, ``_compress``); longer n-grams are
hashed one at a time from the buffer. Buckets are handed over in n-gram order whatever path
they took, so scores add up in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from dsir import native
from dsir.featurize import kernels, warmup
from dsir.featurize.hashed_ngrams import arrow_buffers, check_size
from dsir.featurize.kernels import MODE_COUNT, MODE_EMIT, MODE_SCORE, _read_only, put_utf8
from dsir.featurize.unicode_tables import UNICODE_VERSION, unicode_tables

#: Versioned name of this feature definition (see the module docstring).
FEATURIZER_NAME = "sha256-ngrams-v1"

_K = [
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
]
_K64 = np.array(_K, dtype=np.uint64)
_IV = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
               dtype=np.uint32)
# The portable compression keeps 32-bit words in uint64 values: numba widens small integers
# anyway, and a mask after each sum is cheaper than fighting its type promotion.
_M32 = np.uint64(0xFFFFFFFF)
_CLASS_SPACE = 0


@njit(cache=True, nogil=True, inline="always")
def _rotr(x, n):
    return ((x >> np.uint64(n)) | (x << np.uint64(32 - n))) & _M32


def compress_portable(src, off, hs, w):
    """One SHA-256 compression of the 64 bytes ``src[off:off + 64]`` into the state ``hs``
    (uint32[8]), in plain integer arithmetic; ``w`` (uint64[64]) is scratch. What ``_compress``
    compiles to on a CPU without the SHA extensions (and what tests compare it with)."""
    for t in range(16):
        p = off + 4 * t
        w[t] = (np.uint64(src[p]) << np.uint64(24)) | (np.uint64(src[p + 1]) << np.uint64(16)) \
            | (np.uint64(src[p + 2]) << np.uint64(8)) | np.uint64(src[p + 3])
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint64(3))
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint64(10))
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M32
    a, b, c, d = np.uint64(hs[0]), np.uint64(hs[1]), np.uint64(hs[2]), np.uint64(hs[3])
    e, f, g, h = np.uint64(hs[4]), np.uint64(hs[5]), np.uint64(hs[6]), np.uint64(hs[7])
    for t in range(64):
        s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        ch = (e & f) ^ (~e & g & _M32)
        t1 = (h + s1 + ch + _K64[t] + w[t]) & _M32
        s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & _M32
        h, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M32, c, b, a, (t1 + t2) & _M32
    hs[0] = np.uint32((np.uint64(hs[0]) + a) & _M32)
    hs[1] = np.uint32((np.uint64(hs[1]) + b) & _M32)
    hs[2] = np.uint32((np.uint64(hs[2]) + c) & _M32)
    hs[3] = np.uint32((np.uint64(hs[3]) + d) & _M32)
    hs[4] = np.uint32((np.uint64(hs[4]) + e) & _M32)
    hs[5] = np.uint32((np.uint64(hs[5]) + f) & _M32)
    hs[6] = np.uint32((np.uint64(hs[6]) + g) & _M32)
    hs[7] = np.uint32((np.uint64(hs[7]) + h) & _M32)


def target_has_sha(context) -> bool:
    """Whether the machine code numba emits in ``context`` may use the SHA extensions: its
    target's feature string (host features, or ``NUMBA_CPU_FEATURES``) lists ``+sha``."""
    return "+sha" in context.codegen().magic_tuple()[2].split(",")


class _ShaNi:
    """Emits SHA-256 with the x86 SHA extensions into a numba function being compiled:
    ``sha256rnds2`` does two rounds, ``sha256msg1``/``sha256msg2`` extend the message four words
    at a time. The state lives in two vectors, ABEF and CDGH, highest lane first."""

    def __init__(self, builder):
        self.b = builder
        self.i8, self.i32 = ir.IntType(8), ir.IntType(32)
        self.v4, self.v16 = ir.VectorType(self.i32, 4), ir.VectorType(self.i8, 16)

    def _fn(self, name, arity):
        fn = self.b.module.globals.get(name)
        return fn if fn is not None else ir.Function(self.b.module, ir.FunctionType(self.v4, [self.v4] * arity),
                                                     name)

    def lanes(self, a, b, idx):
        """Lanes ``idx`` of the concatenation ``a:b`` (0-3 from ``a``, 4-7 from ``b``)."""
        return self.b.shuffle_vector(a, b, ir.Constant(self.v4, idx))

    def load_state(self, ptr):
        """``(abef, cdgh)`` of the eight words A..H at ``ptr`` (i32*)."""
        sp = self.b.bitcast(ptr, self.v4.as_pointer())
        abcd = self.b.load(sp, align=4)
        efgh = self.b.load(self.b.gep(sp, [ir.Constant(self.i32, 1)]), align=4)
        return self.lanes(abcd, efgh, [5, 4, 1, 0]), self.lanes(abcd, efgh, [7, 6, 3, 2])

    def iv(self):
        words = [int(x) for x in _IV]
        return ir.Constant(self.v4, [words[5], words[4], words[1], words[0]]), \
            ir.Constant(self.v4, [words[7], words[6], words[3], words[2]])

    def store_state(self, ptr, abef, cdgh):
        sp = self.b.bitcast(ptr, self.v4.as_pointer())
        self.b.store(self.lanes(abef, cdgh, [3, 2, 7, 6]), sp, align=4)
        self.b.store(self.lanes(abef, cdgh, [1, 0, 5, 4]), self.b.gep(sp, [ir.Constant(self.i32, 1)]), align=4)

    def block_words(self, ptr):
        """The 16 message words (big-endian) of the 64 bytes at ``ptr`` (i8*), as 4 vectors."""
        mp = self.b.bitcast(ptr, self.v4.as_pointer())
        bswap = self._fn("llvm.bswap.v4i32", 1)
        return [self.b.call(bswap, [self.b.load(self.b.gep(mp, [ir.Constant(self.i32, g)]), align=1)])
                for g in range(4)]

    def key_words(self, k0, k1, n):
        """The message words of the one padded block of an ``n <= 16``-byte message held in the
        two little-endian words ``k0``, ``k1`` (zero past ``n``): its bytes, 0x80, zeros, and
        the bit length ``8 n`` in the last word."""
        b = self.b
        i64 = ir.IntType(64)
        bswap = self._fn("llvm.bswap.v4i32", 1)
        pair = b.insert_element(b.insert_element(ir.Constant(ir.VectorType(i64, 2), None), k0,
                                                 ir.Constant(self.i32, 0)), k1, ir.Constant(self.i32, 1))
        first = b.bitcast(pair, self.v16)
        n8 = b.trunc(n, self.i8)
        splat = b.shuffle_vector(b.insert_element(ir.Constant(self.v16, None), n8, ir.Constant(self.i32, 0)),
                                 ir.Constant(self.v16, None), ir.Constant(ir.VectorType(self.i32, 16), [0] * 16))
        zero, pad = ir.Constant(self.v16, [0] * 16), ir.Constant(self.v16, [0x80] * 16)
        words = []
        for g in range(2):  # the 0x80 is in byte 16 at most; bytes 32 .. 63 are zero but the length
            at = ir.Constant(self.v16, list(range(16 * g, 16 * g + 16)))
            x = b.select(b.icmp_unsigned("==", at, splat), pad, first if g == 0 else zero)
            words.append(b.call(bswap, [b.bitcast(x, self.v4)]))
        bits = b.shl(b.trunc(n, self.i32), ir.Constant(self.i32, 3))
        words += [ir.Constant(self.v4, [0] * 4), b.insert_element(ir.Constant(self.v4, [0] * 4), bits,
                                                                  ir.Constant(self.i32, 3))]
        return words

    def rounds(self, streams):
        """The 64 rounds of each stream ``(abef, cdgh, words)``, interleaved so that independent
        messages fill the pipeline; returns the new ``(abef, cdgh)`` of each, the input added."""
        b = self.b
        rnds2, msg1, msg2 = self._fn("llvm.x86.sha256rnds2", 3), self._fn("llvm.x86.sha256msg1", 2), \
            self._fn("llvm.x86.sha256msg2", 2)
        state = [[abef, cdgh] for abef, cdgh, _ in streams]
        words = [list(w) for _, _, w in streams]
        for g in range(16):  # four rounds per group g, on message words 4g .. 4g + 3
            for st, w in zip(state, words):
                if g >= 4:  # W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]
                    x = b.add(b.call(msg1, [w[g - 4], w[g - 3]]), self.lanes(w[g - 2], w[g - 1], [1, 2, 3, 4]))
                    w.append(b.call(msg2, [x, w[g - 1]]))
                wk = b.add(w[g], ir.Constant(self.v4, _K[4 * g: 4 * g + 4]))
                st[1] = b.call(rnds2, [st[1], st[0], wk])  # two rounds: the new ABEF; the old one is CDGH now
                st[0] = b.call(rnds2, [st[0], st[1], self.lanes(wk, wk, [2, 3, 0, 1])])
        return [(b.add(st[0], abef), b.add(st[1], cdgh)) for st, (abef, cdgh, _) in zip(state, streams)]


@intrinsic
def _compress(typingctx, src, off, hs, w):
    """``compress_portable(src, off, hs, w)``, compiled with the SHA extensions where the CPU has
    them, else as the portable arithmetic."""
    sig = types.void(src, off, hs, w)

    def codegen(context, builder, signature, args):
        if not target_has_sha(context):
            return context.compile_internal(builder, compress_portable, signature, args)
        ni = _ShaNi(builder)
        src_ary = context.make_array(signature.args[0])(context, builder, args[0])
        hs_ary = context.make_array(signature.args[2])(context, builder, args[2])
        abef, cdgh = ni.load_state(hs_ary.data)
        [(abef, cdgh)] = ni.rounds([(abef, cdgh, ni.block_words(builder.gep(src_ary.data, [args[1]])))])
        ni.store_state(hs_ary.data, abef, cdgh)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _digest_into(buf, start, end, hs, w, tail):
    """SHA-256 of ``buf[start:end]`` into ``hs`` (uint32[8], A first); ``w`` and ``tail``
    (uint8[128]) are scratch."""
    for i in range(8):
        hs[i] = _IV[i]
    n = end - start
    full = n // 64
    for blk in range(full):
        _compress(buf, start + 64 * blk, hs, w)
    r = n - 64 * full
    last = 64 if r < 56 else 128  # the 8-byte bit length must fit after the 0x80
    for i in range(r):
        tail[i] = buf[start + 64 * full + i]
    tail[r] = 0x80
    for i in range(r + 1, last - 8):
        tail[i] = 0
    bits = np.uint64(n) * np.uint64(8)
    for i in range(8):
        tail[last - 1 - i] = np.uint8((bits >> np.uint64(8 * i)) & np.uint64(0xFF))
    _compress(tail, 0, hs, w)
    if last == 128:
        _compress(tail, 64, hs, w)


def _digest_keys4_portable(k0s, k1s, lengths, first, out, w, tail):
    for j in range(first, first + 4):
        for i in range(64):
            tail[i] = 0
        for i in range(8):
            tail[i] = np.uint8((k0s[j] >> np.uint64(8 * i)) & np.uint64(0xFF))
            tail[8 + i] = np.uint8((k1s[j] >> np.uint64(8 * i)) & np.uint64(0xFF))
        n = lengths[j]
        tail[n] = 0x80
        tail[62] = np.uint8((8 * n) >> 8)
        tail[63] = np.uint8((8 * n) & 0xFF)
        hs = out[8 * (j - first): 8 * (j - first) + 8]
        for i in range(8):
            hs[i] = _IV[i]
        _compress(tail, 0, hs, w)


#: How many messages ``_digest_keys4`` hashes side by side.
_LANES = 4


@intrinsic
def _digest_keys4(typingctx, k0s, k1s, lengths, first, out, w, tail):
    """The SHA-256 digests of the four messages ``j = first .. first + 3`` of at most 16 bytes,
    message ``j`` held in the little-endian words ``k0s[j]``, ``k1s[j]`` (zero past its
    ``lengths[j]`` bytes), into ``out[8 (j - first):]`` (uint32[32]).

    With the SHA extensions the four are padded in registers and hashed side by side: one
    message's rounds wait on each other (28 ns a digest here), four keep the unit busy (21 ns).
    The messages never pass through memory, which the tokenizer has just written byte by byte
    (a wide load of fresh byte stores waits for them to reach the cache). ``w`` and ``tail``
    are scratch for the portable code other CPUs get.
    """
    sig = types.void(k0s, k1s, lengths, first, out, w, tail)

    def codegen(context, builder, signature, args):
        if not target_has_sha(context):
            return context.compile_internal(builder, _digest_keys4_portable, signature, args)
        ni = _ShaNi(builder)
        k0s, k1s, lengths = (context.make_array(signature.args[j])(context, builder, args[j]).data for j in range(3))
        dig = context.make_array(signature.args[4])(context, builder, args[4]).data
        abef, cdgh = ni.iv()
        streams = []
        for j in range(_LANES):
            at = builder.add(args[3], ir.Constant(args[3].type, j))
            k0, k1 = builder.load(builder.gep(k0s, [at])), builder.load(builder.gep(k1s, [at]))
            streams.append((abef, cdgh, ni.key_words(k0, k1, builder.load(builder.gep(lengths, [at])))))
        for j, state in enumerate(ni.rounds(streams)):
            ni.store_state(builder.gep(dig, [ir.Constant(ir.IntType(32), 8 * j)]), *state)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def word_powers(nb):
    """``2**(32 * (7 - i)) % nb`` for the digest's words ``i = 0 .. 7`` (most significant first),
    and ``2**64 % nb`` at ``i = 8``."""
    m = kernels.reciprocal(nb)
    pw = np.empty(9, dtype=np.uint64)
    pw[7] = np.uint64(1) % nb
    for i in range(6, -1, -1):
        pw[i] = kernels.fast_mod(pw[i + 1] << np.uint64(32), nb, m)
    pw[8] = pw[5]
    return pw


@njit(cache=True, nogil=True, inline="always")
def digest_mod(hs, at, pw, nb, m):
    """The 256-bit big-endian integer of the digest ``hs[at:at + 8]``, modulo ``nb < 2**31``,
    given ``pw = word_powers(nb)`` and ``m = kernels.reciprocal(nb)``.

    The sum of each word times its power (each below 2**63) is kept in 128 bits, its high
    part (at most 7) counted by the carries; two reductions finish it.
    """
    lo = np.uint64(0)
    hi = np.uint64(0)
    for i in range(8):
        p = np.uint64(hs[at + i]) * pw[i]
        lo += p
        hi += np.uint64(lo < p)
    return np.int64(kernels.fast_mod(kernels.fast_mod(lo, nb, m) + hi * pw[8], nb, m))


@njit(cache=True, nogil=True)
def _long_bucket(buf, start, end, pw, nb, m, hs, w, tail):
    """The bucket of ``buf[start:end]``, one message at a time (any length)."""
    _digest_into(buf, start, end, hs, w, tail)
    return digest_mod(hs, 0, pw, nb, m)


# A direct-mapped memo of short n-gram -> bucket per kernel call. N-grams follow Zipf's law:
# about half of a batch's n-grams were seen before in it, and a lookup (a multiply and one
# probe in a table that stays in the L2 cache) costs a fraction of a digest. An entry holds
# the n-gram's exact bytes and length, so a hit is never a collision.
_MEMO_BITS = 13
# N-grams up to 16 bytes (98% of those of 3,000 of the benchmark pool's documents) are held as two 64-bit words while the
# tokenizer writes them, for the memo and the side-by-side digests; longer ones are hashed one
# by one from the buffer.
_SHORT = 16
# N-grams are handed over in their order, so a known bucket waits in the queue behind the
# n-grams being hashed. The queue is emptied after a step of the tokenizer once 4 n-grams wait
# for their digests; a step closes at most one token, which adds at most 8 n-grams, so up to
# 3 + 8 wait (three groups of four lanes), and the queue keeps 8 places for the next step.
_QUEUE = 32
_MAX_LANES = 12


@njit(cache=True, nogil=True, inline="always")
def _memo_slot(k0, k1, n):
    h = (k0 ^ (k1 * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(n)) * np.uint64(0xFF51AFD7ED558CCD)
    return np.int64(h >> np.uint64(64 - _MEMO_BITS))


@njit(cache=True, nogil=True, inline="always")
def _key_prepend(p0, p1, pn, k0, k1, n):
    """The key of ``prefix + " " + key`` (``pn + 1 + n <= 16`` bytes): the key shifted up by
    ``pn + 1`` bytes, the space, the prefix."""
    shift = np.uint64(8 * (pn + 1))  # 16 .. 128 - 8
    if shift >= np.uint64(64):
        k1 = k0 << (shift - np.uint64(64))
        k0 = np.uint64(0)
    else:
        k1 = (k1 << shift) | (k0 >> (np.uint64(64) - shift))
        k0 = k0 << shift
    space = np.uint64(8 * pn)
    if space >= np.uint64(64):
        k1 |= np.uint64(0x20) << (space - np.uint64(64))
    else:
        k0 |= np.uint64(0x20) << space
    return k0 | p0, k1 | p1, pn + 1 + n


# What one step of the tokenizer may write: a space and one code point's lowercase. Python's
# lowercase of a code point is at most 1.5 times its UTF-8 bytes (U+0130 and U+023A, 2 bytes,
# lowercase to 3), so a document of n bytes needs at most 2.5 n (tests check the tables).
_BYTES_PER_INPUT_BYTE = 3
# Slack after the bound: a step writes up to 5 bytes.
_SLACK = 8


@njit(cache=True, nogil=True)
def sha256_batch(data, starts, ends, ngrams, buckets, lower, flags, expansions, mode, counts, log_ratio, out,
                 indptr, log_weight, n_tokens, n_ngrams):
    """Featurize every span ``data[starts[d]:ends[d]]`` and hand each n-gram's bucket to ``mode``.

    MODE_COUNT adds 1 to ``counts[bucket]``, MODE_SCORE sums ``log_ratio[bucket]`` into
    ``log_weight[d]``, MODE_EMIT writes the ids to ``out`` (span ``d``'s at
    ``out[indptr[d]:indptr[d + 1]]``); ``n_tokens`` and ``n_ngrams`` get each span's counts.

    A document's lowercased tokens are written to one buffer, separated by one space, so that
    every n-gram is a slice of it; a token of up to 16 bytes is also held as two words. An
    n-gram's bucket comes from the memo, or it is queued and hashed with three others, or
    (more than 16 bytes) it is hashed on its own from the buffer.
    """
    a_low, a_cls = kernels.ascii_tables(lower, flags)
    nb = np.uint64(buckets)
    m = kernels.reciprocal(nb)
    pw = word_powers(nb)
    hs = np.empty(8, dtype=np.uint32)
    dig = np.empty(8 * _LANES, dtype=np.uint32)
    w = np.empty(64, dtype=np.uint64)
    tail = np.empty(128, dtype=np.uint8)
    memo_k0 = np.zeros(1 << _MEMO_BITS, dtype=np.uint64)
    memo_k1 = np.zeros(1 << _MEMO_BITS, dtype=np.uint64)
    memo_tag = np.zeros(1 << _MEMO_BITS, dtype=np.int64)  # length << 32 | bucket; 0: empty
    pending = np.empty(_QUEUE, dtype=np.int64)  # the buckets in order; -1 until hashed
    lane_k0 = np.zeros(_MAX_LANES, dtype=np.uint64)
    lane_k1 = np.zeros(_MAX_LANES, dtype=np.uint64)
    lane_n = np.zeros(_MAX_LANES, dtype=np.int64)
    lane_entries = np.zeros(_MAX_LANES, dtype=np.int64)
    longest = np.int64(0)
    for d in range(len(starts)):
        longest = max(longest, np.int64(ends[d] - starts[d]))
    # Allocated once and never replaced: an array variable reassigned in the loop would be
    # reference-counted at every step, which tripled the tokenizer's time.
    buf = np.empty(_BYTES_PER_INPUT_BYTE * longest + _SLACK, dtype=np.uint8)
    room = len(buf) - _SLACK
    # token j (ngrams <= 8): its start in buf and its key (two words, its length) at j % 8
    ring = np.zeros(8, dtype=np.int64)
    ring_k0 = np.zeros(8, dtype=np.uint64)
    ring_k1 = np.zeros(8, dtype=np.uint64)
    ring_n = np.zeros(8, dtype=np.int64)
    out_pos = np.int64(0)
    indptr[0] = 0
    for d in range(len(starts)):
        start, end = np.int64(starts[d]), np.int64(ends[d])
        pos = np.int64(0)
        nt = np.int64(0)
        ng = np.int64(0)
        score = 0.0
        prev = _CLASS_SPACE
        t0, t1, tn = np.uint64(0), np.uint64(0), np.int64(0)  # the open token's key
        n_pending = 0
        n_lanes = 0
        i = start
        while True:
            # The next lowercased code points and their classes (an ASCII byte by table
            # lookups); past the end, one space closes the last token.
            if i >= end:
                n_cps, first, c0, cls0, low, i_next = 1, np.int64(0), np.int64(0x20), _CLASS_SPACE, np.int64(0), \
                    end + 1
            elif data[i] < 0x80:
                n_cps, first, c0, cls0, low, i_next = 1, np.int64(0), np.int64(a_low[data[i]]), \
                    np.int64(a_cls[data[i]]), np.int64(0), i + 1
            else:
                cp, i_next = kernels._decode(data, i, end)
                n_cps, first, low = kernels._lowercase(data, start, end, i, i_next, cp, lower, flags, expansions)
                c0 = kernels._lowercase_at(0, first, low, expansions)
                cls0 = kernels._class_of(flags[c0])
            for q in range(n_cps):
                if q == 0:
                    c, cls = c0, cls0
                else:
                    c = kernels._lowercase_at(q, first, low, expansions)
                    cls = kernels._class_of(flags[c])
                if cls != prev:
                    if prev != _CLASS_SPACE:  # close token nt: its n-grams end here
                        ring_k0[nt & 7], ring_k1[nt & 7], ring_n[nt & 7] = t0, t1, pos - ring[nt & 7]
                        k0, k1, n = t0, t1, pos - ring[nt & 7]
                        for k in range(1, min(ngrams, nt + 1) + 1):
                            if k > 1 and n <= _SHORT:
                                j = (nt - k + 1) & 7
                                if ring_n[j] + 1 + n <= _SHORT:
                                    k0, k1, n = _key_prepend(ring_k0[j], ring_k1[j], ring_n[j], k0, k1, n)
                                else:
                                    n = pos - ring[j]
                            elif k > 1:
                                n = pos - ring[(nt - k + 1) & 7]
                            b = np.int64(-1)
                            if n <= _SHORT:
                                slot = _memo_slot(k0, k1, n)
                                tag = memo_tag[slot]
                                if memo_k0[slot] == k0 and memo_k1[slot] == k1 and (tag >> 32) == n:
                                    b = tag & 0xFFFFFFFF
                                else:
                                    lane_k0[n_lanes] = k0
                                    lane_k1[n_lanes] = k1
                                    lane_n[n_lanes] = n
                                    lane_entries[n_lanes] = n_pending
                                    n_lanes += 1
                            else:
                                b = _long_bucket(buf, pos - n, pos, pw, nb, m, hs, w, tail)
                            pending[n_pending] = b
                            n_pending += 1
                            ng += 1
                        nt += 1
                    if cls != _CLASS_SPACE:  # open token nt, after one space unless it is the first
                        if nt > 0:
                            buf[pos] = 0x20
                            pos += 1
                        ring[nt & 7] = pos
                        t0, t1 = np.uint64(0), np.uint64(0)
                    prev = cls
                if cls != _CLASS_SPACE:
                    if pos > room:  # never, by the bound above; a guard all the same (a step writes <= 5)
                        raise ValueError("sha256-ngrams: a lowercase longer than its bound")
                    at = pos - ring[nt & 7]  # where the code point's bytes go in the token
                    p0 = pos
                    pos = put_utf8(buf, pos, c)
                    if at < _SHORT:
                        for j in range(pos - p0):
                            byte = np.uint64(c) if c < 0x80 else np.uint64(buf[p0 + j])
                            if at + j < 8:
                                t0 |= byte << np.uint64(8 * (at + j))
                            elif at + j < _SHORT:
                                t1 |= byte << np.uint64(8 * (at + j - 8))
                    if q == n_cps - 1:  # the token goes on through ASCII bytes of its class: a tight loop
                        token_start = ring[nt & 7]
                        while i_next < end and data[i_next] < 0x80 and a_cls[data[i_next]] == cls:
                            if pos > room:
                                raise ValueError("sha256-ngrams: a lowercase longer than its bound")
                            byte = a_low[data[i_next]]
                            buf[pos] = byte
                            at = pos - token_start
                            if at < 8:
                                t0 |= np.uint64(byte) << np.uint64(8 * at)
                            elif at < _SHORT:
                                t1 |= np.uint64(byte) << np.uint64(8 * (at - 8))
                            pos += 1
                            i_next += 1
            if n_lanes >= _LANES or n_pending > _QUEUE - _MAX_LANES or (i >= end and n_pending):
                # Hash the queued short n-grams four at a time (idle lanes repeat the first),
                # remember them, and hand every queued bucket over in order. Written out
                # here, not called: an inlined function reference-counts its array arguments.
                for group in range(0, n_lanes, _LANES):
                    for j in range(n_lanes, group + _LANES):
                        lane_k0[j], lane_k1[j], lane_n[j] = lane_k0[group], lane_k1[group], lane_n[group]
                    _digest_keys4(lane_k0, lane_k1, lane_n, group, dig, w, tail)
                    for j in range(group, min(n_lanes, group + _LANES)):
                        b = digest_mod(dig, 8 * (j - group), pw, nb, m)
                        pending[lane_entries[j]] = b
                        slot = _memo_slot(lane_k0[j], lane_k1[j], lane_n[j])
                        memo_k0[slot], memo_k1[slot], memo_tag[slot] = lane_k0[j], lane_k1[j], (lane_n[j] << 32) | b
                for j in range(n_pending):
                    if mode == MODE_COUNT:
                        counts[pending[j]] += 1
                    elif mode == MODE_SCORE:
                        score += log_ratio[pending[j]]
                    else:
                        out[out_pos] = pending[j]
                        out_pos += 1
                n_pending = 0
                n_lanes = 0
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
