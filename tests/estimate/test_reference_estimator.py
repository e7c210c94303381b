"""``--method reference``: the reference package's estimator (``data-selection`` 1.0.3).

Its ``fit_importance_estimator`` computes ``raw_probs = counts / counts.sum()`` (unsmoothed),
``target_probs`` the same after adding ``target_laplace_smoothing`` (later versions; 0 is
1.0.3's behaviour), ``log_diff = log(target_probs + 1e-8) - log(raw_probs + 1e-8)``, and a
document's log-weight ``np.dot(log_diff, counts)``: every n-gram occurrence counts. The
tests below restate that in numpy and compare, then select through the API and check the
top-k against a ranking made here from those formulas.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pyarrow as pa
import pytest

from dsir import DSIR
from dsir.errors import InputError, UsageError
from dsir.estimate import FitStats, ImportanceEstimator, ReferenceEstimator, reference_log_probs
from dsir.featurize import HashedNgramFeaturizer, Sha256NgramFeaturizer

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


def ref_counts(texts: list[str], n: int, nb: int) -> np.ndarray:
    """The reference's summed ``get_ngram_counts`` (see tests/featurize/test_sha256_ngrams.py)."""
    counts = np.zeros(nb, dtype=int)
    for text in texts:
        words = WORDPUNCT.findall(text.lower())
        for k in range(1, n + 1):
            for i in range(len(words) - k + 1):
                counts[int(hashlib.sha256(" ".join(words[i: i + k]).encode()).hexdigest(), 16) % nb] += 1
    return counts


def ref_log_diff(target: np.ndarray, raw: np.ndarray, smoothing: float = 0.0) -> np.ndarray:
    target_probs = target + smoothing
    target_probs = target_probs / target_probs.sum()
    raw_probs = raw / raw.sum()
    return np.log(target_probs + 1e-8) - np.log(raw_probs + 1e-8)


TARGET = ["the sea, the ship and the harbour", "a ship sails the sea at dawn", "harbour lights; ship horns"]
RAW = ["the farm and the field", "a tractor in the field", "the sea is calm", "ship ship ship", "",
       "wheat, barley and oats", "the harbour of the town"]


def test_log_probs_are_the_references():
    c = np.array([3, 0, 1])
    assert np.array_equal(reference_log_probs(c), np.log(c / c.sum() + 1e-8))
    assert reference_log_probs(c)[1] == math.log(1e-8)  # unsmoothed: an unseen bucket gets log(1e-8)
    np.testing.assert_array_equal(reference_log_probs(c, 0.5), np.log((c + 0.5) / (c + 0.5).sum() + 1e-8))
    with pytest.raises(ValueError, match="target_smoothing"):
        reference_log_probs(c, -1.0)


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_the_log_ratio_is_the_reference_log_diff(smoothing):
    f = Sha256NgramFeaturizer(2, 257)
    target, raw = f.count(pa.array(TARGET))[0], f.count(pa.array(RAW))[0]
    assert np.array_equal(target, ref_counts(TARGET, 2, 257)) and np.array_equal(raw, ref_counts(RAW, 2, 257))
    est = ReferenceEstimator(f, smoothing).fit(target, raw)
    # bit for bit, with the same numpy (numpy 1.26's vectorized log can differ in the last bit)
    assert np.array_equal(est.log_ratio_, ref_log_diff(target, raw, smoothing))


def test_a_document_weighs_the_sum_over_its_ngram_occurrences():
    f = Sha256NgramFeaturizer(2, 257)
    est = ReferenceEstimator(f).fit(f.count(pa.array(TARGET))[0], f.count(pa.array(RAW))[0])
    docs = ["ship ship ship", "the sea", "ship", "", "harbour harbour, harbour"]
    log_weight, n_tokens, n_ngrams = f.score(pa.array(docs), est.log_ratio_)
    for d, doc in enumerate(docs):
        features = ref_counts([doc], 2, 257)  # "ship ship ship": ship x3 and "ship ship" x2
        assert log_weight[d] == pytest.approx(float(np.dot(est.log_ratio_, features)), rel=1e-13, abs=1e-13)
        assert n_ngrams[d] == features.sum()
    ship = est.log_ratio_[int(hashlib.sha256(b"ship").hexdigest(), 16) % 257]
    pair = est.log_ratio_[int(hashlib.sha256(b"ship ship").hexdigest(), 16) % 257]
    assert log_weight[0] == pytest.approx(3 * ship + 2 * pair, rel=1e-13)


def test_an_empty_raw_sample_is_an_error_not_nan():
    f = Sha256NgramFeaturizer(2, 64)
    with pytest.raises(InputError, match="raw sample has no n-grams"):
        ReferenceEstimator(f).fit(f.count(pa.array(["a b"]))[0], np.zeros(64, np.int64))


def test_model_round_trip_records_method_featurizer_and_smoothing(tmp_path):
    f = Sha256NgramFeaturizer(3, 101)
    est = ReferenceEstimator(f, 0.25).fit(f.count(pa.array(TARGET))[0], f.count(pa.array(RAW))[0],
                                          FitStats(3, 7, 7, 1.0))
    path = str(tmp_path / "model.npz")
    est.save(path)
    loaded = ImportanceEstimator.load(path)
    assert isinstance(loaded, ReferenceEstimator) and loaded.method == "reference"
    assert loaded.featurizer == f and loaded.target_smoothing == 0.25 and loaded.stats_ == FitStats(3, 7, 7, 1.0)
    assert np.array_equal(loaded.log_ratio_, est.log_ratio_)
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes())
    assert header["format_version"] == 2 and header["method"] == "reference"
    assert header["featurizer"]["name"] == "sha256-ngrams-v1"
    # a dsir model keeps format version 1 (what every dsir reads) and records no method
    ImportanceEstimator(HashedNgramFeaturizer(2, 64)).fit(np.ones(64, np.int64), np.ones(64, np.int64)).save(path)
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes())
    assert header["format_version"] == 1 and "method" not in header


def test_load_refuses_a_model_of_another_sha256_featurizer(tmp_path):
    f = Sha256NgramFeaturizer(2, 64)
    path = tmp_path / "model.npz"
    ReferenceEstimator(f).fit(f.count(pa.array(["a b"]))[0], f.count(pa.array(["c d"]))[0]).save(str(path))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    header["featurizer"]["name"] = "sha256-ngrams-v2"
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(InputError) as info:
        ImportanceEstimator.load(str(path))
    assert str(info.value) == (f"{path}: model was made with featurizer 'sha256-ngrams-v2' (Unicode 14.0.0), but "
                               "this dsir computes featurizer 'sha256-ngrams-v1' (Unicode 14.0.0), which gives "
                               "other buckets; refit the model with this dsir")


def _files(tmp_path) -> tuple[str, str]:
    raw, target = tmp_path / "raw.jsonl", tmp_path / "target.jsonl"
    raw.write_text("".join(json.dumps({"text": t}) + "\n" for t in RAW * 3 + ["the sea, the ship", "sea sea"]))
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in TARGET))
    return str(raw), str(target)


def test_api_top_k_is_the_reference_ranking(tmp_path):
    """With the reference's weights (sum, temperature 1) and top-k, the k selected documents
    are the k largest ``np.dot(log_diff, counts)`` among documents of at least min_length tokens."""
    raw, target = _files(tmp_path)
    texts = [json.loads(line)["text"] for line in open(raw, encoding="utf-8")]
    d = DSIR(features="sha256-ngrams", method="reference", weighting="sum", temperature=1.0, top_k=True,
             buckets=509, min_length=2, workers=1)
    table = d.score(raw, target=target)
    log_diff = ref_log_diff(ref_counts(TARGET, 2, 509), ref_counts(texts, 2, 509))
    weights = np.array([np.dot(log_diff, ref_counts([t], 2, 509)) for t in texts])
    np.testing.assert_allclose(table["log_weight"].to_numpy(), weights, rtol=1e-12, atol=1e-12)
    assert np.array_equal(d.estimator_.log_ratio_, log_diff)
    length = np.array([len(WORDPUNCT.findall(t.lower())) for t in texts])
    eligible = length >= 2
    assert table["eligible"].to_pylist() == eligible.tolist()
    k = 4
    manifest = d.select(raw, str(tmp_path / "out"), k=k)
    chosen = sorted(np.flatnonzero(eligible)[np.argsort(-weights[eligible], kind="stable")[:k]])
    selected = [json.loads(line)["text"] for line in open(tmp_path / "out" / "part-00000.jsonl", encoding="utf-8")]
    assert selected == [texts[i] for i in chosen]
    assert manifest["method"] == "reference" and manifest["parameters"]["featurizer"]["name"] == "sha256-ngrams-v1"


def test_api_model_round_trip_and_refusals(tmp_path):
    raw, target = _files(tmp_path)
    d = DSIR(features="sha256-ngrams", method="reference", target_smoothing=0.5, buckets=509, workers=1)
    d.fit(raw, target)
    path = str(tmp_path / "m.npz")
    d.save(path)
    again = DSIR(method="reference", workers=1).load_model(path)  # its featurizer and smoothing come with it
    assert (again.features, again.buckets, again.target_smoothing) == ("sha256-ngrams", 509, 0.5)
    assert np.array_equal(again.estimator_.log_ratio_, d.estimator_.log_ratio_)
    a, b = d.score(raw), again.score(raw)
    assert a.equals(b)
    with pytest.raises(UsageError, match="holds a reference fit; method 'dsir' cannot use it"):
        DSIR(method="dsir", workers=1).load_model(path)
    with pytest.raises(UsageError, match="target_smoothing is the target pseudo-count of method 'reference'"):
        DSIR(target_smoothing=1.0)
    with pytest.raises(UsageError, match="features must be one of hashed-ngrams, sha256-ngrams"):
        DSIR(features="sha1")
