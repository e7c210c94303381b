"""How varied a text is: the share of its word bigrams that are distinct."""

from __future__ import annotations

import numpy as np

from dsir.metrics.perplexity import bigrams


def distinct_bigrams(indptr: np.ndarray, ids: np.ndarray) -> float:
    """Distinct word bigrams over word bigrams of a text (CSR of word ids; a bigram is two
    adjacent words of one document, so a document of n words has n - 1). 0.0 when there is no
    bigram. Between 0 and 1; it falls as text repeats itself, and with the amount of text, so
    compare texts of equal length (``metrics.text.equal_text``)."""
    ids = np.asarray(ids, dtype=np.int64)
    bos = int(ids.max()) + 1 if len(ids) else 0
    prev, cur = bigrams(indptr, ids, bos)
    inner = prev != bos
    pairs = prev[inner] * (bos + 1) + cur[inner]
    return float(len(np.unique(pairs)) / max(1, len(pairs)))
