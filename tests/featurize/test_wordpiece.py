"""The compiled WordPiece tokenizer of minilm-static against the ``tokenizers`` library.

The reference is built from what the ``minilm-static`` file records (its vocabulary, and the
normalizer and pre-tokenizer of all-MiniLM-L6-v2's tokenizer.json), so it needs neither the
model nor torch.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir.featurize.static_embeddings import StaticEmbeddingFeaturizer, load_static

tokenizers = pytest.importorskip("tokenizers")

FEATURIZER = StaticEmbeddingFeaturizer()


@pytest.fixture(scope="module")
def reference():
    m = load_static()
    pieces = [m.vocab_data[m.vocab_offsets[i]:m.vocab_offsets[i + 1]].tobytes().decode("utf-8")
              for i in range(len(m.vocab_offsets) - 1)]
    r = m.recipe
    spec = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": r["normalizer"], "pre_tokenizer": r["pre_tokenizer"], "post_processor": None,
            "decoder": None,
            "model": {"type": "WordPiece", "unk_token": r["unk_token"],
                      "continuing_subword_prefix": r["continuing_subword_prefix"],
                      "max_input_chars_per_word": r["max_input_chars_per_word"],
                      "vocab": {p: i for i, p in enumerate(pieces)}}}
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


def pieces(texts: list[str]) -> list[list[int]]:
    indptr, ids = FEATURIZER.buckets_of(pa.array(texts, pa.large_string()))
    return [ids[indptr[d]:indptr[d + 1]].tolist() for d in range(len(texts))]


def expected(reference, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]


CASES = [
    "", " ", "\t\n\r", "Hello, World!", "The tokenization of unaffable words",
    "Crème brûlée à la française: naïve café", "ÀÉÎÕÜ ÇÑ ß ẞ İstanbul ǅ ǈ", "ΑΣ ΣΑΣ σς ΐ",
    "Привет, мир! Ёлка", "中文字符测试 and 日本語のテキスト 한국어 텍스트",
    "e-mail: someone@example.com; url https://x.y/z?q=1&r=2#f", "$100.00 (50%) ~ [a] {b} <c> |d| \\e ^f _g `h`",
    "a" * 99, "a" * 100, "a" * 101, "b" * 150 + " tail", "x\x00y\x01z\x7f w\u200bv\ufeffu\ufffdt",
    "emoji 😀🎉 and symbols © ® ™ ° ± § ¶", "ﬁﬂ ligatures ① ² ½ Ⅻ", "##not a continuation ## #",
    "straße STRASSE", "\u0301 leading combining mark a\u0301 e\u0308\u0323", "Ǖ ǖ Ḯ ḯ Ṻ",
    "tab\tnew\nline\rcarriage\x0bvertical\x0cform\x85next\u2028sep\u3000ideo",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ", "١٢٣ arabic العربية digits", "deva देवनागरी हिन्दी",
    "don't won't it's o'clock — “quoted” ‘single’ «guillemets» …",
]


def test_cases_match_tokenizers(reference):
    assert pieces(CASES) == expected(reference, CASES)


def test_every_ascii_character(reference):
    texts = [f"a{chr(c)}b {chr(c)}{chr(c)} Q{chr(c)}" for c in range(128)]
    assert pieces(texts) == expected(reference, texts)


def test_latin_and_greek_blocks(reference):
    # every code point of Latin-1, Latin Extended A/B, IPA, combining marks, Greek and Cyrillic,
    # alone and inside a word
    texts = [f"{chr(c)} x{chr(c)}y {chr(c).upper()}" for c in range(0x80, 0x530)]
    assert pieces(texts) == expected(reference, texts)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
                min_size=1, max_size=8))
def test_any_text(reference, texts):
    assert pieces(texts) == expected(reference, texts)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;'-éüßçñ",
                        max_size=200), min_size=1, max_size=8))
def test_english_like_text(reference, texts):
    assert pieces(texts) == expected(reference, texts)


def test_spans_are_the_texts_they_cut():
    texts = ["Hello, World! The tokenization", "Crème brûlée", "", "中文 text"]
    arr = pa.array(texts, pa.large_string())
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], np.int64)
    begins, ends = np.array([offsets[0], offsets[1] + 7, offsets[3]]), np.array([offsets[1], offsets[2], offsets[4]])
    indptr, ids = FEATURIZER.pieces_of_spans(data, begins, ends)
    got = [ids[indptr[d]:indptr[d + 1]].tolist() for d in range(3)]
    cut = [bytes(data[b:e]).decode("utf-8") for b, e in zip(begins, ends)]
    assert got == pieces(cut)


def test_batch_split_does_not_change_pieces():
    texts = CASES * 3
    whole = pieces(texts)
    assert [p for s in range(0, len(texts), 5) for p in pieces(texts[s:s + 5])] == whole
