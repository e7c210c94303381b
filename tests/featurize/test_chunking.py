"""The chunking kernel against a slow, obviously-correct definition (``text.split()``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir.featurize import HashedNgramFeaturizer
from dsir.featurize.chunking import chunk_documents, chunk_hashes, score_chunks
from tests.featurize.reference import tokens


def reference_chunks(text: str, n: int) -> list[str]:
    """Chunks as the module docstring defines them, by ``str.split``."""
    words = text.split()
    w = len(words)
    if w == 0:
        return []
    count = max(1, (2 * w + n) // (2 * n))
    out = []
    pos = 0
    spans = []
    for word in words:  # byte-exact spans of each word in the text
        pos = text.index(word, pos)
        spans.append((pos, pos + len(word)))
        pos += len(word)
    for c in range(count):
        a, b = c * w // count, (c + 1) * w // count
        out.append(text[spans[a][0]: spans[b - 1][1]])
    return out


def kernel_chunks(texts: list[str], n: int) -> list[list[str]]:
    ch = chunk_documents(pa.array(texts, pa.string()), n)
    out: list[list[str]] = [[] for _ in texts]
    for d, i, s, e in zip(ch.doc, ch.index, ch.relative_starts, ch.relative_ends):
        assert i == len(out[d])
        out[d].append(texts[d].encode("utf-8")[s:e].decode("utf-8"))
    return out


def test_exact_chunks_of_a_small_document():
    assert kernel_chunks(["a b c d e f g"], 3) == [["a b c", "d e f g"]]
    assert kernel_chunks(["a b c d e f g"], 2) == [["a", "b c", "d e", "f g"]]  # 7 / 2 rounds to 4 chunks
    assert kernel_chunks(["  one\ttwo\n\nthree  "], 10) == [["one\ttwo\n\nthree"]]
    assert kernel_chunks(["", "   \n"], 4) == [[], []]


def test_round_half_up_number_of_chunks():
    # 6 words, N = 4: 6 / 4 = 1.5 rounds up to 2 chunks of 3; 5 words: 1.25 -> 1 chunk
    assert [len(c) for c in kernel_chunks(["a b c d e f", "a b c d e"], 4)] == [2, 1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab é\t\n\u00a0\u2003Σς.,")), max_size=60), max_size=6),
       st.integers(1, 6))
def test_kernel_matches_reference(texts, n):
    assert kernel_chunks(texts, n) == [reference_chunks(t, n) for t in texts]


def test_chunk_tokens_are_the_document_tokens_and_scores_are_in_place():
    texts = ["The cat sat. On the mat, it slept!  Then it woke up and left the room quietly."] * 2
    f = HashedNgramFeaturizer(2, 97)
    ch = chunk_documents(pa.array(texts), 4)
    ratio = np.arange(97, dtype=np.float64) / 97
    lw, nt, ng = score_chunks(f, ch, ratio)
    pieces = [texts[d].encode()[s:e].decode() for d, s, e in zip(ch.doc, ch.relative_starts, ch.relative_ends)]
    expected_lw, expected_nt, expected_ng = f.score(pa.array(pieces), ratio)
    np.testing.assert_array_equal(lw, expected_lw)
    np.testing.assert_array_equal(nt, expected_nt)
    np.testing.assert_array_equal(ng, expected_ng)
    assert sum(nt[ch.doc == 0]) == len(tokens(texts[0]))


def test_chunk_hashes_depend_on_document_and_index_only():
    a = chunk_documents(pa.array(["x y z w", "p q r s"]), 2)
    b = chunk_documents(pa.array(["p q r s"]), 2)
    ha = chunk_hashes(np.array([1, 2], np.uint64), a)
    hb = chunk_hashes(np.array([2], np.uint64), b)
    np.testing.assert_array_equal(ha[2:], hb)
    assert len(set(ha.tolist())) == 4


def test_sliced_arrays_and_bad_chunk_size():
    arr = pa.array(["zero", "a b c d", "e f"])[1:]
    assert [list(x) for x in [chunk_documents(arr, 2).doc]] == [[0, 0, 1]]
    with pytest.raises(ValueError):
        chunk_documents(arr, 0)
