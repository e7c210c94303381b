"""The logistic-regression baseline: exact gradient math on tiny data, and separation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from numba import njit

from dsir.estimate import classifier
from dsir.estimate.classifier import HashedNgramClassifier
from dsir.featurize import HashedNgramFeaturizer


def csr(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    return indptr, np.array([i for r in rows for i in r], dtype=np.int64)


def test_first_adam_step_moves_each_weight_by_the_learning_rate_against_its_gradient():
    # target doc uses bucket 0, raw doc bucket 1: gradient on w0 is negative, on w1 positive
    clf = HashedNgramClassifier(3, l2=0.0, learning_rate=0.1, epochs=1).fit(csr([[0]]), csr([[1]]))
    np.testing.assert_allclose(clf.coef_, [0.1, -0.1, 0.0], atol=1e-6)
    assert clf.intercept_ == pytest.approx(0.0, abs=1e-9)  # balanced classes: zero bias gradient
    assert clf.loss_[0] == pytest.approx(np.log(2))


def test_separates_target_from_raw_and_scores_like_the_kernel():
    f = HashedNgramFeaturizer(2, 512)
    target = pa.array(["the court shall decide the appeal"] * 5 + ["the appeal of the court"] * 5)
    raw = pa.array(["the cat chased the mouse", "a mouse ran into the hole", "cats like milk"] * 4)
    clf = HashedNgramClassifier(512, epochs=200, learning_rate=0.1).fit(f.buckets_of(target), f.buckets_of(raw))
    assert np.all(np.diff(clf.loss_[-50:]) <= 1e-12)  # converging
    p_t = clf.predict_proba(*f.buckets_of(target))
    p_r = clf.predict_proba(*f.buckets_of(raw))
    assert p_t.min() > 0.5 > p_r.max()
    sums, _, n_ngrams = f.score(target, clf.score_vector_)
    np.testing.assert_allclose(sums / n_ngrams, clf.decision_function(*f.buckets_of(target)), rtol=1e-12)


def test_empty_documents_and_bad_input():
    clf = HashedNgramClassifier(4, epochs=5).fit(csr([[0], []]), csr([[1]]))
    np.testing.assert_allclose(clf.decision_function(*csr([[], [2]])), [clf.intercept_, clf.coef_[2] + clf.intercept_])
    with pytest.raises(ValueError):
        HashedNgramClassifier(4).fit(csr([]), csr([[1]]))
    with pytest.raises(ValueError):
        HashedNgramClassifier(2).fit(csr([[5]]), csr([[1]]))


# The classifier's training as one serial loop, the way it was first written: the kernels
# that train it on threads (a CSC transpose, per-document and per-column phases) must give
# these numbers bit for bit.
@njit(cache=True, nogil=True)
def serial_adam_logistic(indptr, ids, y, sample_weight, buckets, l2, learning_rate, epochs, coef, intercept_out,
                         loss_out):
    n = len(indptr) - 1
    m_w = np.zeros(buckets)
    v_w = np.zeros(buckets)
    m_b = 0.0
    v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    b = 0.0
    grad = np.zeros(buckets)
    total_weight = sample_weight.sum()
    for epoch in range(epochs):
        grad[:] = 0.0
        grad_b = 0.0
        loss = 0.0
        for i in range(n):
            length = indptr[i + 1] - indptr[i]
            if length == 0:
                continue
            inv = 1.0 / length
            z = b
            for p in range(indptr[i], indptr[i + 1]):
                z += coef[ids[p]] * inv
            # log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, computed stably
            s = z if y[i] == 0 else -z
            loss += sample_weight[i] * (max(s, 0.0) + np.log1p(np.exp(-abs(s))))
            prob = 1.0 / (1.0 + np.exp(-z))
            r = sample_weight[i] * (prob - y[i])
            grad_b += r
            r *= inv
            for p in range(indptr[i], indptr[i + 1]):
                grad[ids[p]] += r
        t = epoch + 1
        c1 = 1.0 - beta1 ** t
        c2 = 1.0 - beta2 ** t
        reg = 0.0
        for j in range(buckets):
            g = grad[j] / total_weight + l2 * coef[j]
            reg += coef[j] * coef[j]
            m_w[j] = beta1 * m_w[j] + (1 - beta1) * g
            v_w[j] = beta2 * v_w[j] + (1 - beta2) * g * g
            coef[j] -= learning_rate * (m_w[j] / c1) / (np.sqrt(v_w[j] / c2) + eps)
        g = grad_b / total_weight
        m_b = beta1 * m_b + (1 - beta1) * g
        v_b = beta2 * v_b + (1 - beta2) * g * g
        b -= learning_rate * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
        loss_out[epoch] = loss / total_weight + 0.5 * l2 * reg
    intercept_out[0] = b


def training_data(seed: int, buckets: int, documents: int):
    """CSR ids with empty documents and repeated buckets, target first; their labels and weights."""
    rng = np.random.default_rng(seed)
    rows = [list(rng.integers(0, buckets, rng.integers(0, 60)) * (1 + (i % 2))) for i in range(documents)]
    rows = [[min(b, buckets - 1) for b in r] for r in rows]
    rows[3], rows[-1] = [], []
    n_t = documents // 3
    target, raw = csr(rows[:n_t]), csr(rows[n_t:])
    indptr = np.concatenate([target[0], raw[0][1:] + target[0][-1]])
    ids = np.concatenate([target[1], raw[1]])
    y = np.concatenate([np.ones(n_t), np.zeros(documents - n_t)])
    weight = np.concatenate([np.full(n_t, 0.5 / n_t), np.full(documents - n_t, 0.5 / (documents - n_t))])
    return target, raw, (indptr, ids, y, weight)


def test_training_over_the_used_buckets_is_bit_identical_to_training_over_all_of_them():
    """The fit trains only the buckets that occur, renumbered densely (a lookup table, int32
    ids): each coefficient equals, bit for bit, the serial loop's over the whole hash space,
    where an absent bucket's gradient stays 0 and Adam leaves it at 0."""
    buckets = 5000
    target, raw, (indptr, ids, y, weight) = training_data(4, buckets, 120)
    clf = HashedNgramClassifier(buckets, l2=1e-5, learning_rate=0.1, epochs=30).fit(target, raw)
    coef, intercept, loss = np.zeros(buckets), np.zeros(1), np.zeros(30)
    serial_adam_logistic(indptr, ids, y, weight, buckets, 1e-5, 0.1, 30, coef, intercept, loss)
    assert np.array_equal(clf.coef_, coef) and clf.intercept_ == intercept[0]
    assert np.array_equal(clf.loss_, loss)


@pytest.mark.parametrize("threads,short_numbers", [(1, True), (2, True), (3, True), (4, True), (2, False)])
def test_training_on_threads_is_bit_identical_to_the_serial_loop(threads, short_numbers, monkeypatch):
    """Any number of threads adds the same numbers in the same order as the serial loop (the
    chunk threshold lowered so that each thread gets a share of this small problem), with the
    CSC transpose's documents numbered in 16 bits or, past 2^16 documents, in 32."""
    monkeypatch.setattr(classifier, "_MIN_ENTRIES_PER_THREAD", 1)
    if not short_numbers:
        monkeypatch.setattr(classifier, "_SHORT_DOCUMENT_NUMBERS", 10)
    buckets = 300
    target, raw, (indptr, ids, y, weight) = training_data(7, buckets, 90)
    coef, intercept, loss = np.zeros(buckets), np.zeros(1), np.zeros(25)
    serial_adam_logistic(indptr, ids, y, weight, buckets, 1e-4, 0.2, 25, coef, intercept, loss)
    clf = HashedNgramClassifier(buckets, l2=1e-4, learning_rate=0.2, epochs=25, threads=threads).fit(target, raw)
    assert np.array_equal(clf.coef_, coef) and clf.intercept_ == intercept[0]
    assert np.array_equal(clf.loss_, loss)
    assert np.count_nonzero(coef) > 100  # a real fit, not all zeros


def test_training_splits_the_work_into_as_many_chunks_as_threads_and_covers_every_row():
    # costs 6 1 1 8 2 101 3 (a row's length and 1): cut at a third and two thirds of 122
    assert classifier._chunks(np.array([5, 0, 0, 7, 1, 100, 2]), 3, 1) == [(0, 6), (6, 6), (6, 7)]
    assert classifier._chunks(np.array([1] * 8), 4, 0) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert classifier._chunks(np.array([3]), 1, 4) == [(0, 1)]


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads"):
        HashedNgramClassifier(4, threads=0)
