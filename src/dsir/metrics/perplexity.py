"""Held-out perplexity of an interpolated Kneser-Ney bigram language model over word ids
(``metrics.text.word_ids``: hashed words), the language-model figure of a selection.

With discount ``d``, ``c(h, w)`` the count of the bigram ``h w`` in the training text,
``c(h)`` that of the context ``h``, ``N(h .)`` the number of distinct words after ``h``,
``N(. w)`` the number of distinct contexts before ``w``, ``N(. .)`` the number of distinct
bigrams, ``S`` the number of words with ``N(. w) > 0`` and ``V`` the vocabulary size:

    p_cont(w) = (max(N(. w) - d, 0) + d S / V) / N(. .)
    p(w | h)  = (max(c(h, w) - d, 0) + d N(h .) p_cont(w)) / c(h)     when c(h) > 0
    p(w | h)  = p_cont(w)                                            otherwise

Each document starts with its own begin-of-document context (id ``V``), so a document's
first word is predicted too. No word has probability zero.
"""

from __future__ import annotations

import numpy as np

from dsir.metrics.text import WORD_BUCKETS

KN_DISCOUNT = 0.75


def bigrams(indptr: np.ndarray, ids: np.ndarray, bos: int) -> tuple[np.ndarray, np.ndarray]:
    """``(prev, cur)``, int64: every word of a CSR text and the word before it, ``bos`` for
    the first word of a document."""
    prev = np.empty(len(ids), dtype=np.int64)
    prev[1:] = ids[:-1]
    starts = indptr[:-1][np.diff(indptr) > 0]
    prev[starts] = bos
    return prev, np.asarray(ids, dtype=np.int64)


class KneserNeyBigram:
    """Interpolated Kneser-Ney bigram LM over word ids ``0 .. vocab - 1`` (see the module
    docstring); ``fit`` on a CSR text, then ``perplexity`` or ``log_probs`` of another."""

    def __init__(self, vocab: int = WORD_BUCKETS, discount: float = KN_DISCOUNT):
        self.vocab = vocab
        self.discount = discount

    def fit(self, indptr: np.ndarray, ids: np.ndarray) -> KneserNeyBigram:
        """Count the bigrams of the text; ``ValueError`` for a text without words."""
        if not len(ids):
            raise ValueError("a Kneser-Ney model needs a text with words to fit on")
        v = self.vocab
        prev, cur = bigrams(indptr, ids, v)
        keys, counts = np.unique(prev * (v + 1) + cur, return_counts=True)
        self.keys_, self.counts_ = keys, counts
        ctx, word = keys // (v + 1), keys % (v + 1)
        self.context_count_ = np.bincount(ctx, weights=counts, minlength=v + 1)
        self.context_types_ = np.bincount(ctx, minlength=v + 1)
        continuation = np.bincount(word, minlength=v + 1).astype(np.float64)
        n_types = len(keys)
        d = self.discount
        seen_words = (continuation > 0).sum()
        self.unigram_ = (np.maximum(continuation - d, 0) + d * seen_words / v) / n_types
        return self

    def log_probs(self, indptr: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``log p(w | h)`` (nats) of every word of a CSR text, in order."""
        v, d = self.vocab, self.discount
        prev, cur = bigrams(indptr, ids, v)
        keys = prev * (v + 1) + cur
        pos = np.minimum(np.searchsorted(self.keys_, keys), len(self.keys_) - 1)
        c = np.where(self.keys_[pos] == keys, self.counts_[pos], 0).astype(np.float64)
        cc = self.context_count_[prev]
        types = self.context_types_[prev]
        p_uni = self.unigram_[cur]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(cc > 0, (np.maximum(c - d, 0) + d * types * p_uni) / np.maximum(cc, 1), p_uni)
        return np.log(p)

    def perplexity(self, indptr: np.ndarray, ids: np.ndarray) -> float:
        """``exp(-mean log p)`` over the words of a CSR text; ``ValueError`` for one without words."""
        if not len(ids):
            raise ValueError("perplexity of a text without words")
        return float(np.exp(-np.mean(self.log_probs(indptr, ids))))
