"""The Kneser-Ney bigram model against probabilities worked out by hand."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from dsir.metrics import KN_DISCOUNT, KneserNeyBigram
from dsir.metrics.perplexity import bigrams


def csr(*docs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    return indptr, np.array([w for d in docs for w in d], dtype=np.int32)


# Two documents over a vocabulary of 4 words (ids 0..3; 4 is the begin-of-document context):
# "0 1" and "0 2 1". Bigrams: (B,0) twice, (0,1), (0,2), (2,1): 4 distinct.
TRAIN = csr([0, 1], [0, 2, 1])
V, D = 4, F(3, 4)
# Continuation counts N(. w): w0 after {B}, w1 after {0, 2}, w2 after {0}, w3 never: S = 3 words seen.
N_TYPES, S = 4, 3
P_CONT = {w: (max(F(n) - D, 0) + D * S / V) / N_TYPES for w, n in {0: 1, 1: 2, 2: 1, 3: 0}.items()}


def test_continuation_unigram_by_hand():
    assert P_CONT == {0: F(13, 64), 1: F(29, 64), 2: F(13, 64), 3: F(9, 64)}
    assert sum(P_CONT.values()) == 1
    lm = KneserNeyBigram(V).fit(*TRAIN)
    assert lm.unigram_[:V].tolist() == [float(P_CONT[w]) for w in range(V)]


def test_log_probs_by_hand():
    # c(B) = 2 with 1 word after it, c(0) = 2 with 2, c(1) = 0: an unseen context backs off to p_cont.
    p_0_after_b = (2 - D) / 2 + D * 1 / 2 * P_CONT[0]   # 0.701171875
    p_1_after_0 = (1 - D) / 2 + D * 2 / 2 * P_CONT[1]   # 0.46484375
    p_3_after_1 = P_CONT[3]                              # 0.140625
    p_3_after_0 = D * 2 / 2 * P_CONT[3]                  # an unseen bigram of a seen context
    assert (p_0_after_b, p_1_after_0) == (F(359, 512), F(119, 256))
    lm = KneserNeyBigram(V).fit(*TRAIN)
    got = lm.log_probs(*csr([0, 1, 3], [0, 3]))
    want = [math.log(p) for p in (p_0_after_b, p_1_after_0, p_3_after_1, p_0_after_b, p_3_after_0)]
    assert got == pytest.approx(want, rel=1e-15, abs=0)
    product = p_0_after_b * p_1_after_0 * p_3_after_1
    assert lm.perplexity(*csr([0, 1, 3])) == pytest.approx(float(product) ** (-1 / 3), rel=1e-14)


@pytest.mark.parametrize("context", [4, 0, 1, 2, 3])
def test_every_context_is_a_distribution(context):
    lm = KneserNeyBigram(V).fit(*TRAIN)
    words = np.arange(V)
    if context == V:  # the begin-of-document context: one-word documents
        lp = lm.log_probs(np.arange(V + 1), words.astype(np.int32))
    else:
        lp = lm.log_probs(np.arange(0, 2 * V + 1, 2), np.stack([np.full(V, context), words], 1).ravel())[1::2]
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)


def test_the_default_model_and_refusals():
    lm = KneserNeyBigram()
    assert (lm.vocab, lm.discount) == (1 << 20, KN_DISCOUNT) == (1 << 20, 0.75)
    with pytest.raises(ValueError, match="needs a text with words"):
        lm.fit(*csr([], []))
    with pytest.raises(ValueError, match="without words"):
        KneserNeyBigram(V).fit(*TRAIN).perplexity(*csr([]))


def test_bigrams_start_each_document_at_its_context():
    prev, cur = bigrams(*csr([5, 6], [], [7]), bos=9)
    assert prev.tolist() == [9, 5, 9] and cur.tolist() == [5, 6, 7]
