"""Reference-exact mode through the CLI: ``--features sha256-ngrams --method reference``.

The selection is checked against the reference's ranking computed here in plain Python
(``tests/estimate/test_reference_estimator.py`` restates its formulas), and the run's
model, resume and replay behave as for the default features and method.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.cli.test_select import run
from tests.estimate.test_reference_estimator import WORDPUNCT, ref_counts, ref_log_diff
from tests.pipeline.make_data import documents, write_jsonl

BUCKETS = 1009
REFERENCE = ["--features", "sha256-ngrams", "--method", "reference", "--weighting", "sum", "--temperature", "1",
             "--buckets", str(BUCKETS), "--workers", "2", "--quiet", "--no-report"]


def _data(tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    pool = documents(90, 11, sea_share=0.4, words=24) + ["", "a b", "ship"]
    write_jsonl(str(pool_dir / "a.jsonl"), pool[:50])
    write_jsonl(str(pool_dir / "b.jsonl"), pool[50:])
    target_texts = documents(20, 12, sea_share=0.95, words=30)
    target = Path(write_jsonl(str(tmp_path / "target.jsonl"), target_texts))
    return pool_dir, target, pool, target_texts


def _texts(out: Path) -> list[str]:
    return [json.loads(line)["text"] for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()]


def _shards(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*"))}


def test_top_k_selects_the_reference_ranking(tmp_path):
    pool_dir, target, pool, target_texts = _data(tmp_path)
    out = tmp_path / "out"
    k, min_length = 25, 3
    run("select", "--raw", pool_dir, "--target", target, "-k", k, "-o", out, "--top-k", "--min-length", min_length,
        *REFERENCE)
    log_diff = ref_log_diff(ref_counts(target_texts, 2, BUCKETS), ref_counts(pool, 2, BUCKETS))
    weights = np.array([np.dot(log_diff, ref_counts([t], 2, BUCKETS)) for t in pool])
    eligible = np.array([len(WORDPUNCT.findall(t.lower())) >= min_length for t in pool])
    order = np.flatnonzero(eligible)[np.argsort(-weights[eligible], kind="stable")]
    assert weights[order[k - 1]] > weights[order[k]]  # no tie at the cut on this data
    assert sorted(_texts(out)) == sorted(pool[i] for i in order[:k])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "reference"
    assert manifest["parameters"]["featurizer"] == {"name": "sha256-ngrams-v1", "ngrams": 2, "buckets": BUCKETS,
                                                    "unicode_version": "14.0.0"}
    assert manifest["replay"]["features"] == "sha256-ngrams" and manifest["replay"]["target_smoothing"] == 0.0
    # the replay table runs it again
    again = tmp_path / "again"
    run("select", "--quiet", "--config", out / "manifest.json", "-o", again)
    assert _shards(again) == _shards(out)


def test_fit_then_select_with_the_model_and_resume(tmp_path):
    pool_dir, target, _, _ = _data(tmp_path)
    model = tmp_path / "model.npz"
    run("fit", "--raw", pool_dir, "--target", target, "-o", model, "--method", "reference", "--features",
        "sha256-ngrams", "--buckets", BUCKETS, "--target-smoothing", "0.5", "--quiet")
    fitted = tmp_path / "fitted"
    run("select", "--raw", pool_dir, "--target", target, "-k", 20, "-o", fitted, "--target-smoothing", "0.5",
        *REFERENCE)
    with_model = tmp_path / "with-model"
    run("select", "--raw", pool_dir, "--model", model, "-k", 20, "-o", with_model, *REFERENCE)
    assert _shards(with_model) == _shards(fitted)
    refused = run("select", "--raw", pool_dir, "--model", model, "-k", 20, "-o", tmp_path / "no", "--quiet", ok=False)
    assert refused.exit_code == 2 and ("holds a reference fit; method 'discriminative' cannot use it (give method "
            "'reference')" in refused.output)  # the default method is not the model's
    # --resume over the finished run reuses it; with other features it is recomputed
    run("select", "--raw", pool_dir, "--target", target, "-k", 20, "-o", fitted, "--target-smoothing", "0.5",
        "--resume", *REFERENCE)
    assert _shards(fitted) == _shards(with_model)
    hashed = [a if a != "sha256-ngrams" else "hashed-ngrams" for a in REFERENCE]
    run("select", "--raw", pool_dir, "--target", target, "-k", 20, "-o", fitted, "--target-smoothing", "0.5",
        "--resume", *hashed)
    fresh = tmp_path / "fresh"
    run("select", "--raw", pool_dir, "--target", target, "-k", 20, "-o", fresh, "--target-smoothing", "0.5", *hashed)
    assert _shards(fitted) == _shards(fresh) != _shards(with_model)
    assert json.loads((fitted / "manifest.json").read_text())["parameters"]["featurizer"]["name"] == "hashed-ngrams-v1"
