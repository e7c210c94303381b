"""The distinct-bigram share, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dsir.metrics import distinct_bigrams


def csr(*docs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    return indptr, np.array([w for d in docs for w in d], dtype=np.int32)


@pytest.mark.parametrize("docs,share", [
    # "1 2 1 2" and "1 2": bigrams (1,2) (2,1) (1,2) and (1,2): 2 distinct of 4
    (([1, 2, 1, 2], [1, 2]), 2 / 4),
    # a bigram never spans two documents: (3,4) and (5,6), not (4,5)
    (([3, 4], [5, 6]), 2 / 2),
    (([7, 7, 7, 7, 7],), 1 / 4),
    # word ids as large as the LM's hashed ids
    (([2**20 - 1, 0, 2**20 - 1, 0],), 2 / 3),
    (([1], [2], []), 0.0),  # no bigram at all
    ((), 0.0),
])
def test_distinct_bigrams(docs, share):
    assert distinct_bigrams(*csr(*docs)) == share
