"""The logistic-regression baseline: exact gradient math on tiny data, and separation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

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


def test_training_over_the_used_buckets_is_bit_identical_to_training_over_all_of_them():
    """The fit trains only the buckets that occur, renumbered densely (a lookup table, int32
    ids): each coefficient equals, bit for bit, the kernel's over the whole hash space, where
    an absent bucket's gradient stays 0 and Adam leaves it at 0."""
    from dsir.estimate.classifier import _adam_logistic

    rng = np.random.default_rng(4)
    buckets = 5000
    rows = [list(rng.integers(0, buckets, rng.integers(0, 60)) * (1 + (i % 2))) for i in range(120)]
    rows = [[min(b, buckets - 1) for b in r] for r in rows]
    target, raw = csr(rows[:40]), csr(rows[40:])
    clf = HashedNgramClassifier(buckets, l2=1e-5, learning_rate=0.1, epochs=30).fit(target, raw)
    indptr = np.concatenate([target[0], raw[0][1:] + target[0][-1]])
    ids = np.concatenate([target[1], raw[1]])
    y = np.concatenate([np.ones(40), np.zeros(80)])
    weight = np.concatenate([np.full(40, 0.5 / 40), np.full(80, 0.5 / 80)])
    coef, intercept, loss = np.zeros(buckets), np.zeros(1), np.zeros(30)
    _adam_logistic(indptr, ids, y, weight, buckets, 1e-5, 0.1, 30, coef, intercept, loss)
    assert np.array_equal(clf.coef_, coef) and clf.intercept_ == intercept[0]
    assert np.array_equal(clf.loss_, loss)
