"""The compiled word hashes (``word_hashes_of``) against the pyarrow reference
(``word_hashes(words_of(...))``): hand-made texts, every code point, random Unicode text, and
the kernel's expansion path on a made-up table."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dsir.filters import words as W
from dsir.filters.words import word_hashes, word_hashes_of, word_table, words_of
from tests.featurize.reference import fmix64, fnv1a64


def assert_same(texts) -> tuple[np.ndarray, np.ndarray]:
    got_h, got_p = word_hashes_of(texts)
    if isinstance(texts, pa.ChunkedArray):  # the reference takes one array
        texts = texts.combine_chunks()
    want_h, want_p = word_hashes(words_of(texts))
    assert got_h.dtype == np.uint64 and got_p.dtype == np.int64
    np.testing.assert_array_equal(got_p, want_p)
    np.testing.assert_array_equal(got_h, want_h)
    return got_h, got_p


HAND_MADE = [
    "Don't STOP—now!", "plain ascii words, and 42 numbers 3.14", "café naïve Ünïcode_x Ångström",
    "ΟΔΟΣ ΣΑΣ σοφός ΣΟΦΟΣ", "İstanbul ISTANBUL ıi İ", "東京タワー 日本語のテキスト。中文，标点！",
    "한국어 텍스트", "١٢٣ digits ٤٥ ½ ² Ⅻ ⅻ", "...!!! ??? — – ― ", "", " ", "\t\n\r",
    "Ǆ ǅ ǆ ẞ ß ﬁ", "Kelvin \u212a sign \u212aB", "emoji 🙂 in 😀text𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "a", "A", "'",
    "x\u200by\u00adz", "word\u0301accent e\u0301",
]


def test_hand_made_texts_match_the_reference():
    h, indptr = assert_same(pa.array(HAND_MADE))
    assert len(h) and indptr[-1] == len(h)
    # the reference's words, hashed as the module doc says
    first = words_of(pa.array(HAND_MADE[:1])).to_pylist()[0]
    assert first == ["don", "t", "stop", "now"]
    assert h[:4].tolist() == [fmix64(fnv1a64(w.encode())) for w in first]


@pytest.mark.parametrize("kind", ["string", "large_string", "chunked", "sliced", "nulls"])
def test_array_kinds_match_the_reference(kind):
    texts = HAND_MADE + [None, "after a null"]
    if kind == "string":
        arr = pa.array(texts, pa.string())
    elif kind == "large_string":
        arr = pa.array(texts, pa.large_string())
    elif kind == "chunked":
        arr = pa.chunked_array([pa.array(texts[:5]), pa.array(texts[5:])])
    elif kind == "sliced":
        arr = pa.array(texts, pa.large_string()).slice(3, 12)
    else:
        arr = pa.array([None, None, "x y", None])
    _, indptr = assert_same(arr)
    assert len(indptr) == len(arr) + 1


def test_empty_and_wordless_arrays():
    for arr in (pa.array([], pa.string()), pa.array(["", None, "…", " - "])):
        h, indptr = word_hashes_of(arr)
        assert len(h) == 0 and indptr.tolist() == [0] * (len(arr) + 1)


def test_every_code_point_alone_and_in_runs():
    """Each code point (but surrogates) as a text of its own, and all of them in runs of 64 with
    ASCII in between: whatever the table says of a code point, the reference says too."""
    cps = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, 0x110000)]).astype(np.uint32)
    chars = W._utf8_array(cps)
    assert_same(chars)
    text = "".join(chr(c) + (" a" if i % 64 == 63 else "") for i, c in enumerate(cps.tolist()))
    runs = [text[i: i + 3000] for i in range(0, len(text), 3000)]
    assert_same(pa.array(runs))


def test_the_table_is_pyarrows_per_code_point_lowercase():
    lower, expansions = word_table()
    assert lower.shape == (0x110000,) and lower.dtype == np.int32 and not lower.flags.writeable
    assert len(expansions) == 0  # pyarrow lowercases one code point to one
    assert lower[ord("A")] == ord("a") and lower[ord("é")] == ord("é") and lower[ord(" ")] == -1
    assert lower[0x130] == ord("i") and lower[0x212A] == ord("k")  # İ and KELVIN SIGN
    assert lower[0x3A3] == 0x3C3  # Σ -> σ whatever follows: pyarrow has no final-sigma rule
    assert lower[ord("_")] == -1 and lower[0xD800] == -1 and lower[0xFFFD] == -1
    some = [c for c in range(0x2000) if lower[c] >= 0][::7]
    got = pc.utf8_lower(pa.array([chr(c) for c in some])).to_pylist()
    assert got == [chr(lower[c]) for c in some]


def random_text(rng: random.Random, length: int) -> str:
    """Code points from every plane, ASCII letters and separators most often."""
    ranges = [(0x61, 0x7B)] * 8 + [(0x41, 0x5B)] * 2 + [(0x20, 0x21)] * 4 + [(0x21, 0x40)] * 2 + [
        (0x80, 0x800), (0x370, 0x400), (0x800, 0xD800), (0xE000, 0x10000), (0x4E00, 0xA000),
        (0x10000, 0x20000), (0x20000, 0x40000), (0x40000, 0xE0000), (0xE0000, 0x110000)]
    out = []
    for _ in range(length):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randrange(lo, hi)))
    return "".join(out)


def test_random_unicode_texts_match_the_reference():
    rng = random.Random(20240601)
    texts = [random_text(rng, rng.randint(0, 80)) for _ in range(3000)]
    # Long texts take the two-lane path (cut near the middle); some are mostly ASCII, some have
    # no separator near the middle (one lane), some are all one word.
    texts += [random_text(rng, rng.randint(500, 5000)) for _ in range(60)]
    words = ["ab", "Cd", "x", "é", "ΣΟΦ", "東京", "9", "🙂"]
    seps = [" ", ", ", "  ", "\n", "—"]
    texts += ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(100, 1500)))
              for _ in range(60)]
    ascii_words = ["ab", "Cd", "x", "9", "word", "WORDS"]
    texts += [" ".join(rng.choice(ascii_words) + ("é" if rng.random() < rare else "")
                       for _ in range(rng.randint(100, 2000)))
              for rare in (0.0, 0.002, 0.02) for _ in range(20)]
    texts += ["x" * 3000, "é" * 2000 + " " + "a" * 2000, "a" * 1000 + " " * 2000 + "b", " " * 4000]
    assert_same(pa.array(texts))
    assert_same(pa.array(texts[::-1], pa.large_string()).slice(7))


def test_the_same_text_hashes_alike_in_any_batch():
    rng = random.Random(3)
    texts = [random_text(rng, rng.randint(0, 3000)) for _ in range(40)]
    h, indptr = word_hashes_of(pa.array(texts))
    for d in (0, 17, 39):
        alone, _ = word_hashes_of(pa.array([texts[d]]))
        np.testing.assert_array_equal(alone, h[indptr[d]: indptr[d + 1]])


def test_malformed_utf8_bad_bytes_are_separators():
    raw = [b"abc\xffdef", b"ab\xc3", b"\x80x\x80y", b"caf\xc3\xa9\xe2\x82", b"A\xf0\x9f\x99B"]
    offsets = np.cumsum([0] + [len(r) for r in raw]).astype(np.int32)
    arr = pa.StringArray.from_buffers(len(raw), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(raw)))
    got = word_hashes_of(arr)
    fixed = pa.array([r.decode("utf-8", errors="replace") for r in raw])
    want = word_hashes(words_of(fixed))
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def python_words(text: str, table: dict[str, str]) -> list[str]:
    """Words when each character lowercases as ``table`` says (else as ``str.lower``) and ASCII
    letters and digits are the word characters: the rule of the made-up table below."""
    out, cur = [], []
    for ch in text:
        for c in table.get(ch, ch.lower()):
            if c.isascii() and c.isalnum():
                cur.append(c)
            elif cur:
                out.append("".join(cur))
                cur = []
    if cur:
        out.append("".join(cur))
    return out


def test_the_kernel_follows_expansions_of_a_made_up_table():
    """pyarrow has no lowercase of several code points today; the kernel's path for them, on a
    table where ``ß`` is ``ss``, ``½`` is ``1 2`` (a separator inside), ``Ⅻ`` vanishes."""
    lower = np.full(0x110000, -1, dtype=np.int32)
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        lower[ord(c)] = ord(c)
        lower[ord(c.upper())] = ord(c)
    expansions = np.zeros((3, 4), dtype=np.int32)
    expansions[0, :3] = [2, ord("s"), ord("s")]
    expansions[1, :4] = [3, ord("1"), -1, ord("2")]
    expansions[2, :1] = [0]
    lower[ord("ß")], lower[ord("½")], lower[ord("Ⅻ")] = -2, -3, -4
    expansions.flags.writeable = False
    table = {"ß": "ss", "½": "1 2", "Ⅻ": ""}
    rng = random.Random(5)
    texts = ["straße ½ xⅫy", "ßßß", "½½", "Ⅻ", "", "a½b"] + [
        "".join(rng.choice(["ß", "½", "Ⅻ", "a", "B", " ", "é", ".."]) for _ in range(rng.randint(0, 900)))
        for _ in range(50)]
    data = np.frombuffer("".join(texts).encode(), dtype=np.uint8)
    data.flags.writeable = False
    lengths = [len(t.encode()) for t in texts]
    ends = np.cumsum(lengths).astype(np.int64)
    starts = ends - np.array(lengths, dtype=np.int64)
    lower.flags.writeable = False
    bound = W.max_words(starts, ends, expansions)
    assert np.all(bound >= [len(python_words(t, table)) for t in texts])
    out = np.empty(int(bound.sum()) + 2, dtype=np.uint64)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    total = W._word_hashes_kernel(data, starts, ends, lower, expansions, out, indptr)
    want = [fmix64(fnv1a64(w.encode())) for t in texts for w in python_words(t, table)]
    assert out[:total].tolist() == want
    assert np.diff(indptr).tolist() == [len(python_words(t, table)) for t in texts]
