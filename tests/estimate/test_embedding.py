"""The logistic regression in an embedding space (minilm-static's discriminative estimator)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsir.estimate import FitStats, ImportanceEstimator
from dsir.estimate.discriminative import DiscriminativeEstimator
from dsir.estimate.embedding import EmbeddingLogisticRegression, mean_vectors
from dsir.estimate.methods import EMBEDDING_TRAINING
from dsir.featurize import StaticEmbeddingFeaturizer


def blobs(seed=0, n_t=60, n_r=200, d=8):
    rng = np.random.default_rng(seed)
    shift = np.zeros(d)
    shift[0] = 2.0
    return rng.normal(size=(n_t, d)) + shift, rng.normal(size=(n_r, d))


def test_mean_vectors_by_hand():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    x = mean_vectors(np.array([0, 2, 2, 5]), np.array([0, 1, 3, 3, 2]), vectors)
    assert x.tolist() == [[1.5, 2.5, 3.5], [0.0, 0.0, 0.0], [8.0, 9.0, 10.0]]


def test_log_odds_of_two_gaussians_is_their_log_density_ratio():
    # unit-variance Gaussians 2 apart along x0: log p_t(x) / p_r(x) = 2 x0 - 2, the classes
    # weighted equally (so the class sizes, 60 against 200, do not enter the odds)
    t, r = blobs(n_t=3000, n_r=9000, d=2)
    clf = EmbeddingLogisticRegression(l2=0.0, learning_rate=0.05, epochs=600).fit(t, r)
    np.testing.assert_allclose(clf.coef_, [2.0, 0.0], atol=0.12)
    assert clf.intercept_ == pytest.approx(-2.0, abs=0.12)


def test_fit_is_bit_for_bit_repeatable_and_l2_shrinks():
    t, r = blobs()
    a = EmbeddingLogisticRegression(1e-3, 0.05, 200).fit(t, r)
    b = EmbeddingLogisticRegression(1e-3, 0.05, 200).fit(t.copy(), r.copy())
    assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_ and a.loss_ == b.loss_
    shrunk = EmbeddingLogisticRegression(1.0, 0.05, 200).fit(t, r)
    assert abs(shrunk.coef_[0]) < abs(a.coef_[0])


def test_piece_scores_mean_is_the_log_odds_of_the_mean_vector():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 6)).astype(np.float32)
    t_ids, r_ids = rng.integers(0, 25, 400), rng.integers(20, 50, 600)
    t_ptr, r_ptr = np.arange(0, 401, 4), np.arange(0, 601, 6)
    clf = EmbeddingLogisticRegression(1e-3, 0.05, 100).fit(mean_vectors(t_ptr, t_ids, vectors),
                                                            mean_vectors(r_ptr, r_ids, vectors))
    per_piece = clf.piece_scores(vectors) + clf.intercept_
    docs = np.add.reduceat(per_piece[t_ids], t_ptr[:-1]) / 4
    np.testing.assert_allclose(docs, clf.decision_function(mean_vectors(t_ptr, t_ids, vectors)), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("kw, match", [(dict(l2=-1.0), "l2"), (dict(learning_rate=0.0), "learning_rate"),
                                       (dict(epochs=0), "epochs")])
def test_bad_training_parameters_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        EmbeddingLogisticRegression(**{**dict(l2=0.0, learning_rate=0.1, epochs=1), **kw})


def test_empty_classes_are_refused():
    with pytest.raises(ValueError, match="at least one target and one raw"):
        EmbeddingLogisticRegression(0.0, 0.1, 1).fit(np.zeros((0, 3)), np.zeros((2, 3)))


def test_the_discriminative_estimator_in_the_static_space(tmp_path):
    f = StaticEmbeddingFeaturizer()
    target = pa.array(["the ship sailed on the stormy sea", "waves and gulls over the harbour"] * 10)
    raw = pa.array(["the farmer ploughed the wheat field", "cows in the barn by the mill",
                    "the ship sailed on the stormy sea"] * 10)
    est = DiscriminativeEstimator(f, **EMBEDDING_TRAINING).fit(f.buckets_of(target), f.buckets_of(raw),
                                                                f.count(target)[0], FitStats(20, 30, 30, 1.0))
    assert est.embedded and est.coef_.shape == (f.buckets,)
    np.testing.assert_array_equal(est.log_ratio_, est.coef_ + est.intercept_)
    sums, _, pieces = f.score(pa.array(["waves over the harbour", "cows in the wheat field"]), est.log_ratio_)
    sea, land = sums / pieces
    assert sea > 0 > land
    path = str(tmp_path / "model.npz")
    est.save(path)
    again = ImportanceEstimator.load(path)
    assert np.array_equal(again.log_ratio_, est.log_ratio_) and again.featurizer == f
