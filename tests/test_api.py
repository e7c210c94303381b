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
    small = DSIR(raw_sample=60, seed=0).fit(pool, target).estimator_.stats_
    assert small.raw_pool_documents == 240 and small.raw_sample_rate == 0.25
    assert 30 <= small.raw_documents <= 90  # Binomial(240, 0.25): mean 60, sd 6.7
    a = DSIR(raw_sample=60, seed=0).fit(pool, target).estimator_.raw_counts_
    b = DSIR(raw_sample=60, seed=1).fit(pool, target).estimator_.raw_counts_
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
