"""save/load (pickle, as the reference) and the weights after a load."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dsir.compat.data_selection import __version__, _native, base
from dsir.compat.data_selection.hashed_ngram_dsir import HashedNgramDSIR
from tests.compat.conftest import write_jsonl


def fitted(tiny, cache) -> HashedNgramDSIR:
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(cache), num_proc=2, min_example_length=0, target_laplace_smoothing=0.1)
    d.fit_importance_estimator()
    return d


def test_round_trip(tiny, tmp_path) -> None:
    d = fitted(tiny, tmp_path / "c")
    d.compute_importance_weights()
    d.save(str(tmp_path / "params" / "dsir.pkl"))  # makes the parent directory
    with open(tmp_path / "params" / "dsir.pkl", "rb") as f:
        assert type(pickle.load(f)) is HashedNgramDSIR  # a plain pickle of the object
    e = HashedNgramDSIR(["other"], ["other"], str(tmp_path / "elsewhere"), num_proc=1)
    e.load(str(tmp_path / "params" / "dsir.pkl"))
    for key in ("raw_probs", "target_probs", "log_diff"):
        np.testing.assert_array_equal(getattr(e, key), getattr(d, key))
    assert (e.raw_datasets, e.num_proc, e.cache_dir, e.target_laplace_smoothing) == (
        d.raw_datasets, 2, d.cache_dir, 0.1)
    assert e.tokenizer("a, b") == ["a", ",", "b"]
    assert not hasattr(e, "_native")  # dsir's fit is not pickled
    e.resample(str(tmp_path / "out"), 2, top_k=True)  # reads the weights under the loaded cache_dir
    assert sum(len((tmp_path / "out" / f"{i}.jsonl").read_text().splitlines()) for i in range(2)) == 2


def test_exclude_keys_and_version(tiny, tmp_path) -> None:
    d = fitted(tiny, tmp_path / "c")
    d.save(str(tmp_path / "p.pkl"))
    e = HashedNgramDSIR(["r"], ["t"], str(tmp_path / "e"), num_proc=3)
    e.load(str(tmp_path / "p.pkl"), exclude_keys=["num_proc", "raw_datasets"])
    assert e.num_proc == 3 and e.raw_datasets == ["r"] and e.log_diff is not None
    assert HashedNgramDSIR.__version__ == __version__ and __version__.startswith("1.0.3+dsir.")
    d.__class__ = OldVersion  # e.g. a file of the reference itself
    with open(tmp_path / "old.pkl", "wb") as f:
        pickle.dump(d, f)
    with pytest.raises(ValueError, match="Version mismatch: 1.0.3 != 1.0.3\\+dsir"):
        e.load(str(tmp_path / "old.pkl"))


class OldVersion(HashedNgramDSIR):
    __version__ = "1.0.3"


def test_weights_after_load_are_the_same(tiny, tmp_path, monkeypatch) -> None:
    d = fitted(tiny, tmp_path / "c1")
    d.compute_importance_weights()
    d.save(str(tmp_path / "p.pkl"))
    e = HashedNgramDSIR([], [], str(tmp_path / "unused"))
    e.load(str(tmp_path / "p.pkl"), exclude_keys=["cache_dir", "log_importance_weights_dir"])
    e.log_importance_weights_dir = tmp_path / "c2" / "log_importance_weights"
    e.perexample_metadata_dir = tmp_path / "c2" / "perexample_metadata"
    e.log_importance_weights_dir.mkdir(parents=True)

    def fail(*args, **kwargs):
        raise AssertionError("the per-example Python path ran")

    monkeypatch.setattr(base.DSIR, "_compute_per_example", fail)
    e.compute_importance_weights()  # refits with dsir (same data, same log_diff): compiled
    for i in range(2):
        for sub in ("log_importance_weights", "perexample_metadata"):
            np.testing.assert_array_equal(np.load(tmp_path / "c1" / sub / f"{i}.npy"),
                                          np.load(tmp_path / "c2" / sub / f"{i}.npy"))


def test_a_log_diff_set_by_hand_runs_per_example(tiny, tmp_path) -> None:
    d = fitted(tiny, tmp_path / "c")
    d.log_diff = (d.featurizer("queen") > 0).astype(float)  # 1 in the bucket of "queen"
    with pytest.warns(UserWarning, match="one example at a time"):
        d.compute_importance_weights()
    w0, w1 = (np.load(tmp_path / "c" / "log_importance_weights" / f"{i}.npy") for i in range(2))
    # rows 0, 2, 4 and 1, 3, 5: the number of times "queen" occurs
    assert w0.tolist() == [0.0, 1.0, 1.0] and w1.tolist() == [1.0, 0.0, 0.0]


def test_fit_before_compute(tmp_path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", ["x"])
    with pytest.raises(ValueError, match="needs a fit"):
        HashedNgramDSIR([a], [a], str(tmp_path / "c")).compute_importance_weights()


@pytest.mark.skipif(not _native.REFERENCE_FEATURES, reason="dsir has no reference-exact featurizer")
def test_refit_is_checked_against_dsirs_vector(tiny, tmp_path) -> None:
    d = fitted(tiny, tmp_path / "c")
    native = d._native[0]
    np.testing.assert_allclose(native.fit_.score_vectors[0], d.log_diff, rtol=1e-12)
    with pytest.raises(RuntimeError, match="disagrees"):
        _native.check_vectors(native, d.log_diff + 1e-3)
