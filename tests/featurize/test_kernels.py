"""The compiled featurizer against published hash vectors and the pure-Python reference."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from dsir.featurize import HashedNgramFeaturizer, content_hashes
from dsir.featurize.kernels import line_spans
from tests.featurize import reference as R

TRICKY = [
    "",
    "Hello, World!! don't",
    "ΟΔΟΣ Σ aΣ.b ΣΑΣ ΣΣ Σ́ A\u0301Σ\u0301 xΣ\u0301y",  # capital sigma in every Final_Sigma context
    "İstanbul İ",  # lowercases to two code points
    "café naïve Æsir ǅemal ẞ",  # precomposed, titlecase digraph, capital sharp s
    "e\u0301 a\u0308\u0308 ̃",  # combining marks, alone and stacked
    "日本語のテキスト、テスト。 中文，标点！",
    "😀😀 x👍🏽y 🏳️‍🌈",  # emoji, skin tone modifier, ZWJ sequence
    "  \t\u00a0 \u2028 \u3000 x_y 12 ½ ٣",  # odd whitespace, underscore, numerics
    "a\r\nb\x0bc\x1cd\x1fe\x85f",  # control characters that Python counts as whitespace
    "ⅫⅯ Ⓐⓑ ＡＢＣ",  # letter numbers, circled letters, fullwidth
    "---...!!!???",
    "x" * 3000 + " y",
]


def kernel_ids(texts: list[str], n: int = 2, buckets: int = 10_000) -> list[list[int]]:
    indptr, ids = HashedNgramFeaturizer(n, buckets).buckets_of(pa.array(texts, pa.string()))
    return [ids[indptr[i]:indptr[i + 1]].tolist() for i in range(len(texts))]


def test_fnv1a64_published_vectors():
    assert R.fnv1a64(b"") == 0xCBF29CE484222325
    assert R.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert R.fnv1a64(b"foobar") == 0x85944171F73967E8


def test_bucket_ids_are_pinned():
    # Changing these breaks reproducibility of every earlier selection: bump FEATURIZER_NAME instead.
    assert R.ngram_strings("The cat sat.", 2) == ["the", "cat", "the cat", "sat", "cat sat", ".", "sat ."]
    assert kernel_ids(["The cat sat."]) == [[6849, 6564, 71, 1895, 4727, 6237, 7635]]


def test_content_hash_is_pinned():
    got = content_hashes(pa.array(["", "The cat sat."])).tolist()
    assert got == [0xEFD01F60BA992926, 0x353708A32BD0072C]
    assert got[1] == R.fmix64(R.fnv1a64("The cat sat.".encode()))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_kernel_matches_reference_on_tricky_strings(n):
    assert kernel_ids(TRICKY, n) == [R.bucket_ids(t, n, 10_000) for t in TRICKY]


def _random_text(rng: random.Random) -> str:
    pools = [
        "abcXYZ019_ ,.;'\"-",
        "àéîõüÀÉÎÕÜçÇßæÆ",
        "ΑΒΓΣσςαβγ",
        "\u0301\u0308\u0327\u200d\u200c",
        "日本語中文한국어",
        "😀👍🏽🌈",
        " \t\n\r\u00a0\u2028\u3000\x0b\x1c",
        "İıŁłǅǈ",
    ]
    out = []
    for _ in range(rng.randint(0, 40)):
        if rng.random() < 0.2:
            out.append(chr(R.comparable_cp(rng.randint(0x20, 0x10FFFF))))
        else:
            pool = rng.choice(pools)
            out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
    return "".join(out).encode("utf-8", "replace").decode("utf-8", "replace")


def test_kernel_matches_reference_on_generated_unicode():
    rng = random.Random(1234)
    texts = [_random_text(rng) for _ in range(1500)]
    assert kernel_ids(texts) == [R.bucket_ids(t, 2, 10_000) for t in texts]


def test_every_code_point_tokenizes_like_python():
    # Each code point between two letters, so every class and lowercase mapping is exercised.
    # On a Python of another Unicode version, its newly (un)encoded code points are left out:
    # test_unicode_version pins those.
    skip = R.divergent()
    texts = ["a" + chr(cp) + "b" for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and cp not in skip]
    step = 512  # one Arrow array per slice keeps memory small
    for i in range(0, len(texts), 50_000):
        chunk = texts[i:i + 50_000]
        got = kernel_ids(chunk, 1, 1 << 20)
        for t, g in zip(chunk[::step], got[::step]):
            assert g == R.bucket_ids(t, 1, 1 << 20), repr(t)
        # Cheap full check: the token count must match Python's for every code point.
        n_tokens = HashedNgramFeaturizer(1, 1 << 20).count(pa.array(chunk))[1]
        assert n_tokens.tolist() == [len(R.tokens(t)) for t in chunk]


def test_invalid_utf8_does_not_crash():
    raw = [b"\xff\xfe abc", b"ab\xc3", b"\xe2\x82", b"\xf4\x90\x80\x80 x", b"\xed\xa0\x80"]
    arr = pa.Array.from_buffers(
        pa.binary(), len(raw),
        [None, pa.py_buffer(np.cumsum([0] + [len(r) for r in raw]).astype(np.int32)), pa.py_buffer(b"".join(raw))],
    ).view(pa.string())
    log_weight, n_tokens, _ = HashedNgramFeaturizer().score(arr, np.zeros(10_000))
    assert (log_weight == 0).all() and (n_tokens > 0).all()


def test_count_score_and_emit_agree():
    texts = pa.array(TRICKY)
    f = HashedNgramFeaturizer(2, 97)
    indptr, ids = f.buckets_of(texts)
    counts, n_tokens = f.count(texts)
    assert counts.tolist() == np.bincount(ids, minlength=97).tolist()
    log_ratio = np.arange(97, dtype=np.float64) / 7
    log_weight, n_tok2, n_ngrams = f.score(texts, log_ratio)
    assert n_tokens.tolist() == n_tok2.tolist() == [len(R.tokens(t)) for t in TRICKY]
    assert n_ngrams.tolist() == np.diff(indptr).tolist()
    expected = [log_ratio[ids[indptr[i]:indptr[i + 1]]].sum() for i in range(len(TRICKY))]
    np.testing.assert_allclose(log_weight, expected, rtol=1e-12)


def test_sliced_and_large_string_arrays():
    texts = pa.array(["zero", "one two", "three four five"])
    f = HashedNgramFeaturizer()
    assert kernel_ids(["one two", "three four five"]) == [
        f.buckets_of(texts.slice(1))[1][:3].tolist(), f.buckets_of(texts.slice(1))[1][3:].tolist()]
    large = texts.cast(pa.large_string())
    assert f.count(large)[0].tolist() == f.count(texts)[0].tolist()


def test_nulls_are_refused():
    with pytest.raises(ValueError, match="nulls"):
        HashedNgramFeaturizer().count(pa.array(["a", None]))


def test_line_spans_skip_blank_lines_and_strip_cr():
    buf = np.frombuffer(b'{"a":1}\n\n  \t\r\n{"b":2}\r\n{"c"', dtype=np.uint8)
    starts, ends, before, newlines, consumed = line_spans(buf, len(buf), False)
    assert [buf[s:e].tobytes() for s, e in zip(starts, ends)] == [b'{"a":1}', b'{"b":2}']
    assert (before + 1).tolist() == [1, 4]  # 1-based line numbers
    assert newlines == 4 and consumed == len(buf) - 4
    starts, ends, before, newlines, consumed = line_spans(buf, len(buf), True)
    assert buf[starts[-1]:ends[-1]].tobytes() == b'{"c"' and consumed == len(buf)


@pytest.mark.parametrize("n_spans", [0, 1, 3, 4, 5, 8, 13])
def test_span_hashes_four_at_a_time(n_spans):
    """Spans are hashed in four interleaved lanes; any number of spans, empty ones included,
    gives each span its own ``fmix64(fnv1a64(bytes))``."""
    from dsir.featurize.kernels import span_hash_batch

    rng = random.Random(n_spans)
    pieces = [bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 1, 7, 300]))) for _ in range(n_spans)]
    data = np.frombuffer(b"".join(pieces) + b"\0", dtype=np.uint8)
    ends = np.cumsum([len(p) for p in pieces]).astype(np.int64)
    starts = ends - np.array([len(p) for p in pieces], dtype=np.int64)
    out = np.empty(n_spans, dtype=np.uint64)
    span_hash_batch(data, starts, ends, out)
    assert out.tolist() == [R.fmix64(R.fnv1a64(p)) for p in pieces]


@pytest.mark.parametrize("lengths", [
    [3000] * 50, [5] * 5000, [0] * 300, [7] * 9 + [0] * 8 + [1] * 30, [], [1, 15, 16, 17, 63, 64, 65],
])
def test_newline_positions_eight_bytes_at_a_time(lengths):
    """Newlines next to each other, at every offset within a word, and in the last bytes."""
    from dsir.featurize.kernels import newline_positions

    raw = b"".join(b"x" * n + b"\n" for n in lengths) + b"tail\n\n\nx"
    buf = np.frombuffer(raw, dtype=np.uint8)
    want = [i for i, b in enumerate(raw) if b == 10]
    for n in (len(raw), len(raw) // 2, len(raw) - 1, 7):
        n = max(0, min(n, len(raw)))
        assert newline_positions(buf, n).tolist() == [i for i in want if i < n]
    noisy = np.random.default_rng(len(lengths)).integers(0, 256, 5000).astype(np.uint8)  # 0x0A next to 0x0B, 0x8A...
    assert newline_positions(noisy, len(noisy)).tolist() == np.flatnonzero(noisy == 10).tolist()
