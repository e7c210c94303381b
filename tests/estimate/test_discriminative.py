"""Density ratio by classification: the log-odds is the log importance weight, checked by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from dsir.errors import InputError
from dsir.estimate import FitStats, ImportanceEstimator
from dsir.estimate.discriminative import DiscriminativeEstimator
from dsir.featurize import HashedNgramFeaturizer
from dsir.io.storage import save_npz
from tests.featurize import reference as R

BUCKETS = 1000


def toy() -> tuple[HashedNgramFeaturizer, pa.Array, pa.Array]:
    # Unigrams; "a" and "b" land in distinct buckets (asserted). Target: "a", "a", "b"; raw:
    # "a", "b", "b", "b". A one-word document is one feature, so the classifier is saturated and
    # its optimum is the exact density ratio of the two one-word documents:
    #   w("a") = p_target("a") / p_raw("a") = (2/3) / (1/4) = 8/3,
    #   w("b") = (1/3) / (3/4) = 4/9,
    # whatever the class sizes (3 against 4): the classes are weighted equally, so the class
    # size ratio that Bayes' rule puts into the odds is 1.
    assert R.bucket("a", BUCKETS) != R.bucket("b", BUCKETS)
    return HashedNgramFeaturizer(1, BUCKETS), pa.array(["a", "a", "b"]), pa.array(["a", "b", "b", "b"])


def fitted(l2: float = 0.0, epochs: int = 3000) -> tuple[HashedNgramFeaturizer, DiscriminativeEstimator]:
    f, target, raw = toy()
    est = DiscriminativeEstimator(f, l2=l2, learning_rate=0.05, epochs=epochs)
    return f, est.fit(f.buckets_of(target), f.buckets_of(raw), f.count(target)[0], FitStats(3, 4, 4, 1.0))


def test_log_odds_of_a_saturated_toy_is_the_hand_computed_log_density_ratio():
    f, est = fitted()
    log_weight, _, n_ngrams = f.score(pa.array(["a", "b", "a a b"]), est.log_ratio_)
    mean = log_weight / n_ngrams  # weighting "mean": the classifier's log-odds
    np.testing.assert_allclose(mean[:2], [math.log(8 / 3), math.log(4 / 9)], atol=1e-4)
    # a longer document's log-odds is the mean of its n-grams' terms: (2 log 8/3 + log 4/9) / 3
    assert mean[2] == pytest.approx((2 * math.log(8 / 3) + math.log(4 / 9)) / 3, abs=1e-4)
    # a bucket neither class has keeps a zero coefficient: its term is the intercept alone
    unseen = next(b for b in range(BUCKETS) if b not in {R.bucket(t, BUCKETS) for t in "ab"})
    assert est.coef_[unseen] == 0.0 and est.log_ratio_[unseen] == est.intercept_


def test_l2_shrinks_the_log_odds_towards_zero():
    _, free = fitted()
    _, shrunk = fitted(l2=0.05)
    a = R.bucket("a", BUCKETS)
    assert 0 < shrunk.log_ratio_[a] < free.log_ratio_[a]


def test_save_and_load_round_trip_exactly(tmp_path):
    _, est = fitted(epochs=50)
    path = str(tmp_path / "m.npz")
    est.save(path)
    loaded = ImportanceEstimator.load(path)
    assert isinstance(loaded, DiscriminativeEstimator)
    assert loaded.params == est.params and loaded.intercept_ == est.intercept_
    np.testing.assert_array_equal(loaded.log_ratio_, est.log_ratio_)
    np.testing.assert_array_equal(loaded.target_counts_, est.target_counts_)
    assert loaded.stats_ == est.stats_
    with np.load(path, allow_pickle=False) as z:  # no pickle, a versioned header
        header = json.loads(z["header"].tobytes())
    assert header["format_version"] == 3 and header["method"] == "discriminative"


def test_an_inconsistent_or_incomplete_model_file_is_refused(tmp_path):
    _, est = fitted(epochs=5)
    path = str(tmp_path / "m.npz")
    est.save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    bad = dict(arrays, log_ratio=arrays["log_ratio"] + 1.0)
    save_npz(str(tmp_path / "bad.npz"), bad)
    with pytest.raises(InputError, match="not coef \\+ intercept"):
        ImportanceEstimator.load(str(tmp_path / "bad.npz"))
    save_npz(str(tmp_path / "short.npz"), {k: v for k, v in arrays.items() if k != "coef"})
    with pytest.raises(InputError, match="bad discriminative model"):
        ImportanceEstimator.load(str(tmp_path / "short.npz"))


def test_empty_samples_are_input_errors():
    f, target, raw = toy()
    est = DiscriminativeEstimator(f, 0.0, 0.05, 5)
    empty = f.buckets_of(pa.array([""]))
    with pytest.raises(InputError, match="target has no n-grams"):
        est.fit(empty, f.buckets_of(raw), np.zeros(BUCKETS, np.int64))
    with pytest.raises(InputError, match="raw sample has no n-grams"):
        est.fit(f.buckets_of(target), empty, f.count(target)[0])
    with pytest.raises(ValueError):
        DiscriminativeEstimator(f, l2=-1.0, learning_rate=0.05, epochs=5)
