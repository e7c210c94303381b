"""Word ids and the equal-text cut."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dsir.featurize import HashedNgramFeaturizer
from dsir.metrics import WORD_BUCKETS, equal_text, featurize_csr, first_words, take_rows, word_ids


def test_first_words_cuts_the_last_document():
    lengths = np.array([5, 3, 0, 4, 2])
    rows, taken = first_words(lengths, [3, 0, 2, 1], 7)
    assert rows.tolist() == [3, 0] and taken.tolist() == [4, 3]
    rows, taken = first_words(lengths, [3, 0, 2, 1], 9)  # reached exactly: the empty document after it is left
    assert rows.tolist() == [3, 0] and taken.tolist() == [4, 5]
    rows, taken = first_words(lengths, [1, 4], 100)  # fewer words than asked: all of them
    assert rows.tolist() == [1, 4] and taken.tolist() == [3, 2]
    assert first_words(lengths, [], 10)[0].tolist() == []


def test_take_rows_and_equal_text():
    csr = (np.array([0, 2, 5, 6]), np.array([10, 11, 20, 21, 22, 30]))
    indptr, ids = take_rows(csr, [2, 1, 0], [9, 2, 1])
    assert indptr.tolist() == [0, 1, 3, 4] and ids.tolist() == [30, 20, 21, 10]
    indptr, ids = equal_text(csr, [1, 2, 0], 5)
    assert indptr.tolist() == [0, 3, 4, 5] and ids.tolist() == [20, 21, 22, 30, 10]


def test_word_ids_are_the_featurizers_unigrams_whatever_the_batches():
    texts = pa.array(["The cat sat.", "", "Dogs, cats; and birds!", "a" * 50], pa.large_string())
    indptr, ids = word_ids(texts)
    assert np.diff(indptr).tolist() == [4, 0, 7, 1]  # dogs , cats ; and birds !
    assert ids.dtype == np.int32 and ids.max() < WORD_BUCKETS
    one = HashedNgramFeaturizer(1, WORD_BUCKETS).buckets_of(texts)
    assert indptr.tolist() == one[0].tolist() and ids.tolist() == one[1].tolist()
    small = featurize_csr(HashedNgramFeaturizer(1, WORD_BUCKETS), texts, batch_bytes=5)  # one text per batch
    assert small[0].tolist() == indptr.tolist() and small[1].tolist() == ids.tolist()
    assert word_ids(pa.array([], pa.string()))[0].tolist() == [0]
