"""The compiled kernel equals the pure-Python definition (``tests/featurize/reference.py``)
on every kind of text: the fast ASCII path and the general Unicode path must agree with it
bucket for bucket, in order, and the score must be the same sum in the same order."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir.featurize import HashedNgramFeaturizer, content_hashes
from dsir.featurize import kernels
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.unicode_tables import unicode_tables
from tests.featurize import reference

# Pieces that exercise every branch of the tokenizer: ASCII words and punctuation, every
# ASCII whitespace (including \x1c-\x1f, which Python counts as whitespace), accents
# precomposed and combining, CJK, emoji (4-byte UTF-8), capital sigma in every context
# (word-final, word-initial, alone, before/after case-ignorable marks and apostrophes),
# U+0130 (lowercases to two code points), other multi-code-point lowercases, Unicode
# whitespace, digits of other scripts, and the replacement character itself.
PIECES = [
    "the", "The", "THE", "a", "x_y", "_", "3.14", "--", "...", "!?", "'", '"', "(", ")", "don't",
    " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0",
    "\u1680", "\u2000", "\u2028", "\u2029", "\u3000", "\u200b", "\ufeff",
    "café", "CAFÉ", "naïve", "e\u0301", "E\u0301", "A\u0308", "\u0301", "Straße", "ß", "ẞ",
    "東京", "数据集", "ｆｕｌｌ", "한국어", "🙂", "👍🏽", "🇫🇷", "\U0001d400", "𝔘𝔫𝔦",
    "Σ", "ΣΑΣ", "ΟΔΥΣΣΕΥΣ", "σοφία", "ΑΣ", "Α\u0301Σ", "ΑΣ\u0301", "Α'Σ", "ΑΣ'", "Σ'Α", "ς", "σ",
    "İ", "İstanbul", "I\u0307", "ŉ", "ǰ", "ﬁ", "ﬀ", "Ǆ", "ǅ", "ǆ", "K", "Å", "Ω",
    "٣", "१२", "Ⅻ", "½", "²", "\ufffd", "\x00", "\x7f", "\u00ad", "\u0345",
]


def random_text(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            parts.append(rng.choice(PIECES))
        elif r < 0.8:
            parts.append(chr(rng.randrange(0x20, 0x7F)))
        elif r < 0.95:
            cp = reference.comparable_cp(rng.randrange(0x80, 0x3000))
            parts.append(chr(cp))
        else:
            cp = rng.randrange(0x3000, 0x110000)
            if 0xD800 <= cp < 0xE000:
                cp = 0xFFFD
            parts.append(chr(reference.comparable_cp(cp)))
    return "".join(parts)


def lenient_decode(raw: bytes) -> str:
    """How the kernel reads bytes that are not valid UTF-8: a byte that does not start a
    well-formed sequence (by lead byte, continuation bytes and length; overlong 3/4-byte forms
    and surrogates are decoded as written) stands for U+FFFD on its own."""
    out = []
    i, n = 0, len(raw)
    while i < n:
        b0 = raw[i]
        cont = lambda k: i + k < n and (raw[i + k] & 0xC0) == 0x80  # noqa: E731
        if b0 < 0x80:
            out.append(chr(b0)); i += 1; continue
        if 0xC2 <= b0 < 0xE0 and cont(1):
            out.append(chr(((b0 & 0x1F) << 6) | (raw[i + 1] & 0x3F))); i += 2; continue
        if 0xE0 <= b0 < 0xF0 and cont(1) and cont(2):
            out.append(chr(((b0 & 0x0F) << 12) | ((raw[i + 1] & 0x3F) << 6) | (raw[i + 2] & 0x3F))); i += 3
            continue
        if 0xF0 <= b0 < 0xF5 and cont(1) and cont(2) and cont(3):
            cp = ((b0 & 0x07) << 18) | ((raw[i + 1] & 0x3F) << 12) | ((raw[i + 2] & 0x3F) << 6) | (raw[i + 3] & 0x3F)
            if cp < 0x110000:
                out.append(chr(cp)); i += 4; continue
        out.append("\ufffd"); i += 1
    return "".join(out)


def string_array(raws: list[bytes]) -> pa.Array:
    """An Arrow string array over arbitrary bytes (Arrow does not validate UTF-8 here)."""
    offsets = np.zeros(len(raws) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(r) for r in raws])
    return pa.StringArray.from_buffers(len(raws), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(raws) or b"\0"))


def check(texts: list[str] | list[bytes], ngrams: int, buckets: int) -> None:
    raws = [t if isinstance(t, bytes) else t.encode("utf-8", "surrogatepass") for t in texts]
    strs = [lenient_decode(r) for r in raws]
    arr = string_array(raws)
    f = HashedNgramFeaturizer(ngrams, buckets)
    indptr, ids = f.buckets_of(arr)
    log_ratio = np.random.default_rng(buckets).normal(size=buckets)
    log_weight, n_tokens, n_ngrams = f.score(arr, log_ratio)
    counts, count_tokens = f.count(arr)
    expected_counts = np.zeros(buckets, dtype=np.int64)
    for d, s in enumerate(strs):
        want = reference.bucket_ids(s, ngrams, buckets)
        got = ids[indptr[d]:indptr[d + 1]].tolist()
        assert got == want, (s, got, want)
        toks = reference.tokens(s)
        assert n_tokens[d] == len(toks) == count_tokens[d]
        assert n_ngrams[d] == len(want)
        score = 0.0
        for b in want:
            score += log_ratio[b]
        assert log_weight[d] == score  # the same sum in the same order: bit for bit
        np.add.at(expected_counts, want, 1)
    np.testing.assert_array_equal(counts, expected_counts)


def test_lenient_decode_is_utf8_on_valid_text():
    rng = random.Random(0)
    for _ in range(200):
        s = random_text(rng, 30)
        assert lenient_decode(s.encode()) == s


def test_every_piece_alone_and_in_context():
    texts = list(PIECES) + [a + b for a in PIECES for b in PIECES[::7]] + ["", " ", "\n\n"]
    for ngrams in (1, 2, 3, 5):
        check(texts, ngrams, 10_007)


def test_final_sigma_in_every_context():
    contexts = ["", "A", "a", "α", "1", " ", "'", "\u0301", "A'", "A\u0301", "A\u0301'", "Σ", "ΣΣ", ".", "_", "\u00ad"]
    texts = [left + "Σ" + right for left in contexts for right in contexts]
    check(texts, 2, 997)


@pytest.mark.parametrize("ngrams,buckets", [(1, 1), (2, 10_000), (2, 997), (3, 65_536), (4, 1_048_583), (8, 101)])
def test_random_unicode_documents(ngrams, buckets):
    rng = random.Random(ngrams * 1000 + buckets)
    texts = [random_text(rng, rng.randint(0, 80)) for _ in range(150)]
    check(texts, ngrams, buckets)


def test_documents_longer_than_a_block():
    """Unigrams and bigrams are tokenized a block of ``kernels._BLOCK`` bytes at a time: tokens,
    sigmas, multi-byte characters and lowercase expansions that straddle a block's end, a
    token longer than several blocks, and long runs of ASCII and non-ASCII text all match."""
    block = kernels._BLOCK
    rng = random.Random(17)
    texts = []
    for piece in ["Σ", "ΑΣ", "Σ'", "é", "🙂", "İ", "\u3000", " ", "x", ".", "E\u0301", "\x1f"]:
        for pad in range(block - 6, block + 3):
            texts.append("a" * pad + piece + " b")
            texts.append("αβγ " * (pad // 8) + "a" * (pad % 8) + piece + " end")
            texts.append("Σ " * (pad // 2) + piece)
    texts += ["w" * (3 * block + 7), " " * (2 * block + 1), "é" * (block + 1), "ab " * block + "İ"]
    texts += [random_text(rng, rng.randint(150, 900)) for _ in range(60)]
    texts += ["".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randint(block, 4 * block))) for _ in range(40)]
    for ngrams in (1, 2, 3):
        check(texts, ngrams, 10_000)


def test_random_ascii_documents():
    rng = random.Random(5)
    texts = ["".join(chr(rng.randrange(0, 128)) for _ in range(rng.randint(0, 200))) for _ in range(300)]
    check(texts, 2, 10_000)
    check(texts, 3, 4099)


def test_invalid_utf8_is_read_leniently_and_never_crashes():
    rng = random.Random(9)
    special = [b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xe2\x82\xac", b"\xed\xa0\x80", b"\xe0\x80\x80",
               b"\xf0\x9f\x99", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"abc\xce", b"\xce\xa3"]
    raws = list(special)
    for _ in range(300):
        raws.append(b"".join(rng.choice(special + [b"a", b"B", b" ", b"\xce\xa3", "é".encode(), b"'"])
                             for _ in range(rng.randint(0, 20))))
        raws.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
    # Known quirk of the (unchanged) feature definition: the Final_Sigma look-back walks over
    # stray continuation bytes instead of reading them as U+FFFD, so a capital sigma right
    # after invalid bytes may lowercase differently from ``lenient_decode``. Those documents
    # must still be read without error; all others must match the reference exactly.
    exact = [r for r in raws if "Σ" not in lenient_decode(r)]
    assert len(exact) > 300
    check(exact, 2, 10_000)
    check(exact, 3, 977)
    f = HashedNgramFeaturizer(2, 10_000)
    indptr, ids = f.buckets_of(string_array(raws))
    assert ((0 <= ids) & (ids < 10_000)).all() and indptr[-1] == len(ids)
    _, n_tokens = f.count(string_array(raws))
    assert n_tokens.tolist() == [len(reference.tokens(lenient_decode(r))) for r in raws]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
                .filter(reference.comparable), max_size=8),
       st.integers(1, 4), st.integers(1, 5000))
def test_hypothesis_text(texts, ngrams, buckets):
    check(texts, ngrams, buckets)


def test_featurize_document_keeps_its_signature():
    """``featurize_document`` (one document, scratch ``states``) matches the batch kernels."""
    t = unicode_tables()
    text = "ΟΔΥΣΣΕΥΣ met İstanbul's café 🙂 -- twice, twice"
    arr = pa.array([text])
    data, offsets = arrow_buffers(arr)
    for ngrams in (1, 2, 3, 4):
        states = np.empty(ngrams, dtype=np.uint64)
        out = np.empty(ngrams * 3 * len(data), dtype=np.int64)
        nt, ng, _, pos = kernels.featurize_document(data, offsets[0], offsets[1], ngrams, 1000, t.lower, t.flags,
                                                    t.expansions, states, kernels.MODE_EMIT,
                                                    np.empty(0, np.int64), np.empty(0), out, 0)
        assert out[:pos].tolist() == reference.bucket_ids(text, ngrams, 1000)
        assert (nt, ng) == (len(reference.tokens(text)), pos)


def test_sliced_arrays_use_their_own_offsets():
    arr = pa.array(["zero", "Un Deux", "ΣΑΣ trois", "quatre"]).slice(1, 2)
    f = HashedNgramFeaturizer(2, 1000)
    indptr, ids = f.buckets_of(arr)
    assert ids.tolist() == reference.bucket_ids("Un Deux", 2, 1000) + reference.bucket_ids("ΣΑΣ trois", 2, 1000)
    assert content_hashes(arr).tolist() == [reference.fmix64(reference.fnv1a64(s.encode())) for s in ["Un Deux", "ΣΑΣ trois"]]


def test_fast_mod_is_exact():
    rng = np.random.default_rng(1)
    xs = np.concatenate([
        rng.integers(0, 2**64, size=20_000, dtype=np.uint64),
        np.array([0, 1, 2, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64),
    ])

    from numba import njit

    @njit
    def mods(xs, d):
        m = kernels.reciprocal(d)
        out = np.empty(len(xs), dtype=np.uint64)
        for i in range(len(xs)):
            out[i] = kernels.fast_mod(xs[i], d, m)
        return out

    divisors = [1, 2, 3, 5, 7, 64, 997, 1000, 10_000, 65_535, 65_536, 1_048_583, 2**31 - 2, 2**31 - 1]
    divisors += rng.integers(1, 2**31, size=50).tolist()
    for d in divisors:
        np.testing.assert_array_equal(mods(xs, np.uint64(d)), xs % np.uint64(d), err_msg=f"d={d}")


def _line_spans_reference(data: bytes, final: bool):
    """Non-blank lines by ``bytes.split``: (starts, ends, newlines before, newlines, consumed)."""
    consumed = len(data) if final else data.rfind(b"\n") + 1
    pieces = data[:consumed].split(b"\n") if final else data[:consumed].split(b"\n")[:-1]
    starts, ends, before = [], [], []
    pos = 0
    for i, piece in enumerate(pieces):
        if piece.strip(b" \t\r"):
            starts.append(pos)
            ends.append(pos + len(piece) - (1 if piece.endswith(b"\r") else 0))
            before.append(i)
        pos += len(piece) + 1
    return starts, ends, before, data[:consumed].count(b"\n"), consumed


def test_line_spans_match_a_plain_split():
    rng = random.Random(3)
    alphabet = [b"\n", b"\r", b"\r\n", b" ", b"\t", b"{}", b"x", b"\xc3\xa9", b"\n\n"]
    cases = [b"", b"\n", b"x", b"x\n", b" \n\t\r\n", b"a\r", b"\r", b"\n\r", b"a\nb", b"a\nb\n  "]
    cases += [b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    for data in cases:
        buf = np.frombuffer(data + b"PAD", dtype=np.uint8)  # n < len(buf): bytes past n are ignored
        for final in (False, True):
            starts, ends, before, newlines, consumed = kernels.line_spans(buf, len(data), final)
            got = (starts.tolist(), ends.tolist(), before.tolist(), newlines, consumed)
            assert got == _line_spans_reference(data, final), (data, final)
