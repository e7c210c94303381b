"""Bag-of-n-grams models and the log importance weight, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from dsir.errors import InputError
from dsir.estimate import FitStats, ImportanceEstimator, smoothed_log_probs
from dsir.featurize import HashedNgramFeaturizer
from tests.featurize import reference as R


def test_smoothing_is_additive_and_normalized():
    lp = smoothed_log_probs(np.array([3, 0, 1]), 1.0)
    np.testing.assert_allclose(np.exp(lp), [4 / 7, 1 / 7, 2 / 7])
    np.testing.assert_allclose(np.exp(smoothed_log_probs(np.array([3, 0, 1]), 0.5)), [3.5 / 5.5, 0.5 / 5.5, 1.5 / 5.5])
    with pytest.raises(ValueError):
        smoothed_log_probs(np.array([1]), 0.0)


def test_hand_computed_log_weights_on_a_three_document_toy():
    # Unigrams in 1000 buckets; "a", "b", "c" land in distinct buckets (asserted), so by hand:
    # target "a a b" -> a:2 b:1;  raw "a", "b", "c" -> a:1 b:1 c:1;  Laplace smoothing over B = 1000:
    # p_t = (3, 2, 1) / 1003 and p_r = (2, 2, 2) / 1003 for (a, b, c), so
    # log w("a") = log 3/2, log w("a b") = log 3/2 + log 1, log w("c c") = 2 log 1/2.
    buckets = 1000
    assert len({R.bucket(t, buckets) for t in "abc"}) == 3
    f = HashedNgramFeaturizer(1, buckets)
    target_counts, _ = f.count(pa.array(["a a b"]))
    raw_counts, _ = f.count(pa.array(["a", "b", "c"]))
    est = ImportanceEstimator(f, smoothing=1.0).fit(target_counts, raw_counts)
    log_weight, n_tokens, n_ngrams = f.score(pa.array(["a", "a b", "c c"]), est.log_ratio_)
    np.testing.assert_allclose(log_weight, [math.log(3 / 2), math.log(3 / 2), 2 * math.log(1 / 2)], rtol=1e-12)
    assert n_tokens.tolist() == [1, 2, 2] and n_ngrams.tolist() == [1, 2, 2]
    # A bucket seen in neither sample has ratio log(1/1003) - log(1/1003) = 0 exactly.
    unseen = next(b for b in range(buckets) if b not in {R.bucket(t, buckets) for t in "abc"})
    assert est.log_ratio_[unseen] == 0.0


def test_bigram_weights_sum_unigrams_and_bigrams():
    f = HashedNgramFeaturizer(2, 50_000)
    target = f.count(pa.array(["red fish blue fish"]))[0]
    raw = f.count(pa.array(["one fish two fish", "red car"]))[0]
    est = ImportanceEstimator(f, 1.0).fit(target, raw)
    doc = "red fish"
    expected = sum(est.log_ratio_[R.bucket(g, 50_000)] for g in ["red", "fish", "red fish"])
    assert f.score(pa.array([doc]), est.log_ratio_)[0][0] == pytest.approx(expected, rel=1e-12)


def test_weights_are_always_finite():
    f = HashedNgramFeaturizer(2, 64)
    est = ImportanceEstimator(f, 1e-9).fit(f.count(pa.array(["x"]))[0], np.zeros(64, np.int64))
    assert np.isfinite(est.log_ratio_).all()


def test_empty_target_is_an_error():
    f = HashedNgramFeaturizer(2, 64)
    with pytest.raises(InputError, match="target has no n-grams"):
        ImportanceEstimator(f).fit(np.zeros(64, np.int64), np.ones(64, np.int64))


def test_save_and_load_round_trip(tmp_path):
    f = HashedNgramFeaturizer(3, 128)
    est = ImportanceEstimator(f, 0.5).fit(f.count(pa.array(["a b c d"]))[0], f.count(pa.array(["e f", "a"]))[0],
                                          FitStats(1, 2, 10, 0.2))
    path = str(tmp_path / "model.npz")
    est.save(path)
    loaded = ImportanceEstimator.load(path)
    assert loaded.featurizer == f and loaded.smoothing == 0.5 and loaded.stats_ == FitStats(1, 2, 10, 0.2)
    assert np.array_equal(loaded.log_ratio_, est.log_ratio_)
    with np.load(path, allow_pickle=False) as z:  # no pickle anywhere in the format
        assert set(z.files) == {"header", "target_counts", "raw_counts", "log_ratio"}


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a dsir model file"):
        ImportanceEstimator.load(str(bad))


def _model_with_featurizer(tmp_path, edit) -> str:
    """A saved model whose header's featurizer entry was changed by ``edit(dict)``."""
    import json

    f = HashedNgramFeaturizer(2, 64)
    est = ImportanceEstimator(f).fit(f.count(pa.array(["a b c"]))[0], f.count(pa.array(["d e"]))[0])
    path = tmp_path / "model.npz"
    est.save(str(path))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    edit(header["featurizer"])
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("edit,theirs", [
    (lambda feat: feat.update(unicode_version="15.0.0"), "featurizer 'hashed-ngrams-v1' (Unicode 15.0.0)"),
    (lambda feat: feat.pop("unicode_version"), "featurizer 'hashed-ngrams-v1' (Unicode not recorded)"),
    (lambda feat: feat.update(name="hashed-ngrams-v9"), "featurizer 'hashed-ngrams-v9' (Unicode 14.0.0)"),
])
def test_load_refuses_a_model_of_another_featurizer(tmp_path, edit, theirs):
    """A model made on a Python of another Unicode version by an older dsir (which derived its
    tables from the interpreter), one that recorded no version, or another featurizer."""
    path = _model_with_featurizer(tmp_path, edit)
    with pytest.raises(InputError) as info:
        ImportanceEstimator.load(path)
    assert str(info.value) == (f"{path}: model was made with {theirs}, but this dsir computes featurizer "
                               "'hashed-ngrams-v1' (Unicode 14.0.0), which gives other buckets; "
                               "refit the model with this dsir")


def test_load_names_any_other_featurizer_parameter_that_differs(tmp_path):
    path = _model_with_featurizer(tmp_path, lambda feat: feat.update(lowercase=False))
    with pytest.raises(InputError, match=r'"lowercase": false.*, but this dsir computes \{"buckets": 64'):
        ImportanceEstimator.load(path)
    path = _model_with_featurizer(tmp_path, lambda feat: feat.pop("buckets"))
    with pytest.raises(InputError, match=r"not a dsir model file \(bad featurizer in its header: 'buckets'\)"):
        ImportanceEstimator.load(path)


def test_a_model_made_on_python_3_11_before_the_tables_shipped_still_loads(tmp_path):
    """Older dsir recorded the interpreter's Unicode version; on Python 3.11 that is 14.0.0,
    the pinned version, and those buckets are exactly this dsir's."""
    path = _model_with_featurizer(tmp_path, lambda feat: feat.update(unicode_version="14.0.0"))
    assert ImportanceEstimator.load(path).featurizer == HashedNgramFeaturizer(2, 64)
