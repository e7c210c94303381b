"""The Python API mirrors the CLI: fit, score, select, save and load."""

from __future__ import annotations

import numpy as np
import pytest

from dsir import DSIR
from dsir.errors import UsageError
from tests.conftest import EXAMPLES


def test_fit_score_select_round_trip(tmp_path):
    pool, target = str(EXAMPLES / "pool"), str(EXAMPLES / "target" / "austen.jsonl")
    d = DSIR(seed=3).fit(raw=pool, target=target)
    assert d.estimator_.stats_.target_documents == 40 and d.estimator_.stats_.raw_documents == 240
    scores = d.score(pool)
    assert scores.num_rows == 240 and np.isfinite(scores.column("log_weight").to_numpy()).all()
    d.save(str(tmp_path / "m.npz"))
    manifest = DSIR(seed=3).load_model(str(tmp_path / "m.npz")).select(pool, str(tmp_path / "out"), k=20)
    assert manifest["counts"]["selected"] == 20
    again = DSIR(seed=3).select(pool, str(tmp_path / "out2"), k=20, target=target)
    assert again["outputs"] == manifest["outputs"]


def test_raw_sample_is_a_uniform_subset(tmp_path):
    pool, target = str(EXAMPLES / "pool"), str(EXAMPLES / "target" / "austen.jsonl")
    small = DSIR(method="dsir", raw_sample=60, seed=0).fit(pool, target).estimator_.stats_
    assert small.raw_pool_documents == 240 and small.raw_sample_rate == 0.25
    assert 30 <= small.raw_documents <= 90  # Binomial(240, 0.25): mean 60, sd 6.7
    a = DSIR(method="dsir", raw_sample=60, seed=0).fit(pool, target).estimator_.raw_counts_
    b = DSIR(method="dsir", raw_sample=60, seed=1).fit(pool, target).estimator_.raw_counts_
    assert not np.array_equal(a, b)  # another seed draws another sample


def test_select_needs_a_fit_or_a_target(tmp_path):
    with pytest.raises(UsageError, match="fit"):
        DSIR().select(str(EXAMPLES / "pool"), str(tmp_path / "o"), k=3)


def test_a_fit_of_named_targets_selects_and_scores_with_their_names(tmp_path, example_target):
    pool = str(example_target.parent.parent / "pool")
    specs = [f"a={example_target}:3", f"b={example_target}:1"]
    d = DSIR(raw_sample=100).fit(pool, specs)
    m = d.select(pool, str(tmp_path / "out"), k=40, report=False)
    assert [(t["name"], t["requested"]) for t in m["per_target"]] == [("a", 30), ("b", 10)]
    assert {o["path"].split("-")[1] for o in m["outputs"]} == {"a", "b"}
    cols = d.score(pool).column_names
    assert {"key_a", "key_b", "log_weight_a", "weight_b"} <= set(cols)
    fresh = DSIR(raw_sample=100).select(pool, str(tmp_path / "fresh"), k=40, target=specs, report=False)
    assert fresh["outputs"] == m["outputs"]


def test_numpy_integers_and_paths_are_accepted(tmp_path, example_target):
    """Issue 18, item 19: numpy scalars and pathlib paths work, and the manifest is plain JSON."""
    import json

    import numpy as np

    pool = example_target.parent.parent / "pool"
    d = DSIR(ngrams=np.int64(2), buckets=np.int32(997), min_length=np.int64(1), seed=np.int64(3),
             raw_sample=np.int64(100), smoothing=np.float32(1.0), top_k=np.bool_(False))
    m = d.select(pool, tmp_path / "out", k=np.int64(5), target=example_target, report=False)
    assert m["counts"]["selected"] == 5 and m["parameters"]["seed"] == 3 and type(m["parameters"]["buckets"]) is int
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == m
    table = d.score([pool / "pool-0.jsonl"], output=tmp_path / "s.parquet")
    assert table.num_rows == 120 and (tmp_path / "s.parquet").exists()


@pytest.mark.parametrize("params, message", [
    (dict(ngrams=2.5), "ngrams must be an integer, got 2.5"),
    (dict(seed=None), "seed must be an integer"),
    (dict(seed=2**64), "seed must be an integer from 0 to 2\\*\\*64 - 1"),
    (dict(seed=-1), "seed must be an integer from 0"),
    (dict(text_field=None), "text_field must be a non-empty string"),
    (dict(buckets="10"), "buckets must be an integer"),
    (dict(top_k="yes"), "top_k must be True or False"),
    (dict(temperature="hot"), "temperature must be a number"),
])
def test_wrong_types_are_refused_at_construction_naming_the_parameter(params, message):
    """Issue 18, item 20."""
    with pytest.raises(UsageError, match=message):
        DSIR(**params)


def test_a_bad_path_argument_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="expected a path"):
        DSIR().select([tmp_path, 3], tmp_path / "out", k=1, target=str(tmp_path))


def test_too_many_buckets_for_this_machine_is_refused_up_front(monkeypatch):
    """Issue 18, item 15: the largest --buckets the CLI accepts, checked against memory before any work."""
    import dsir.pipeline.settings as settings

    monkeypatch.setattr(settings, "_physical_memory", lambda: 24 * 2**30)
    DSIR(buckets=2**26)  # 6 GiB: fine here
    with pytest.raises(UsageError, match=r"buckets = 2,147,483,647 needs about 192 GiB"):
        DSIR(buckets=2**31 - 1)
