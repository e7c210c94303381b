"""fit_importance_estimator and compute_importance_weights of the shim: values, rows to shards,
user functions, subclass hooks."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dsir.compat.data_selection import _native, base
from dsir.compat.data_selection.base import DSIR
from dsir.compat.data_selection.hashed_ngram_dsir import HashedNgramDSIR, get_ngram_counts
from tests.compat.conftest import write_jsonl, words

needs_reference = pytest.mark.skipif(not _native.REFERENCE_FEATURES,
                                     reason="dsir has no reference-exact featurizer (features='sha256-ngrams')")


def shard_files(cache: Path, sub: str, n: int) -> list[np.ndarray]:
    return [np.load(cache / sub / f"{i}.npy") for i in range(n)]


@needs_reference
def test_pinned_reference_values(tiny, tmp_path) -> None:
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(tmp_path / "c"), num_proc=2, min_example_length=0)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    # data_selection 1.0.3, same files, num_proc=2: rows 0, 2, 4 in shard 0, rows 1, 3, 5 in shard 1
    w0, w1 = shard_files(tmp_path / "c", "log_importance_weights", 2)
    np.testing.assert_allclose(w0, [-88.16766644771593, -74.42911625088794, -178.46801875163052], rtol=1e-12)
    np.testing.assert_allclose(w1, [-60.61360523292375, -14.731801689838347, -72.51957408600342], rtol=1e-12)
    m0, m1 = shard_files(tmp_path / "c", "perexample_metadata", 2)
    assert m0.dtype == np.float64 and m0.tolist() == [4.0, 4.0, 7.0] and m1.tolist() == [3.0, 1.0, 4.0]
    assert d.log_diff.min() == pytest.approx(-15.830413711839862, rel=1e-12)
    assert d.log_diff.max() == pytest.approx(16.341239282272525, rel=1e-12)
    assert d.raw_probs[6720] == pytest.approx(0.1) and d.target_probs[6720] == pytest.approx(0.25)


def test_defaults_run_compiled(tiny, tmp_path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the per-example Python path ran")

    monkeypatch.setattr(base.DSIR, "_compute_per_example", fail)
    monkeypatch.setattr(sys.modules["dsir.compat.data_selection.hashed_ngram_dsir"], "get_ngram_counts", fail)
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(tmp_path / "c"), num_proc=2, min_example_length=0)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    assert [len(w) for w in shard_files(tmp_path / "c", "log_importance_weights", 2)] == [3, 3]


def test_rows_go_to_shards_modulo_their_count(tmp_path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [words(i) for i in range(11)])  # row i has i tokens
    b = write_jsonl(tmp_path / "b.jsonl", [words(20 + i) for i in range(4)])
    t = write_jsonl(tmp_path / "t.jsonl", [words(8)])
    d = HashedNgramDSIR([a, b], [t], str(tmp_path / "c"), num_proc=3, min_example_length=0)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    meta = shard_files(tmp_path / "c", "perexample_metadata", 3)
    # a: 2 shards (rows 0, 2, ... and 1, 3, ...), b: 1 shard
    assert [m.tolist() for m in meta] == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9], [20, 21, 22, 23]]
    weights = shard_files(tmp_path / "c", "log_importance_weights", 3)
    assert [w.shape for w in weights] == [(6,), (5,), (4,)]
    if _native.REFERENCE_FEATURES:  # the weight of each row is log_diff @ its features
        texts = [[words(i) for i in range(0, 11, 2)], [words(i) for i in range(1, 11, 2)],
                 [words(20 + i) for i in range(4)]]
        for w, ts in zip(weights, texts):
            np.testing.assert_allclose(w, [d.importance_estimator(get_ngram_counts(x)) for x in ts],
                                       rtol=1e-12, atol=1e-12)


def test_length_metadata_is_the_references_for_trigrams(tmp_path) -> None:
    # (n-grams + n(n-1)/2) // n: 1 for an empty text with n = 3, as in the reference
    a = write_jsonl(tmp_path / "a.jsonl", ["", "one", "one two", words(5)])
    d = HashedNgramDSIR([a], [a], str(tmp_path / "c"), num_proc=1, ngrams=3, min_example_length=0)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    assert np.load(tmp_path / "c" / "perexample_metadata" / "0.npy").tolist() == [1.0, 1.0, 2.0, 5.0]
    assert [d.get_perexample_metadata(None, get_ngram_counts(t, n=3)) for t in ["", "one", "one two"]] == [1, 1, 2]


def reference_fit_rows(token_counts: list[int], num_shards: int, share: int, ngrams: int) -> list[int]:
    """The rows the reference's _fit_bow reads, by its own loop (one shard after the other)."""
    rows = []
    for s in range(num_shards):
        total = 0
        for i in range(s, len(token_counts), num_shards):
            rows.append(i)
            total += sum(max(0, token_counts[i] - k + 1) for k in range(1, ngrams + 1))
            if total > share:
                break
    return sorted(rows)


@pytest.mark.parametrize(("num_shards", "share", "ngrams"), [(1, 0, 2), (1, 10, 2), (3, 25, 2), (4, 7, 1),
                                                             (2, 10**9, 3)])
def test_budget_reads_the_references_rows(num_shards: int, share: int, ngrams: int) -> None:
    rng = np.random.default_rng(0)
    tokens = [int(x) for x in rng.integers(0, 9, size=40)]
    texts = pa.array([words(t) for t in tokens], pa.large_string())
    batches = [texts.slice(i, 7) for i in range(0, 40, 7)]  # batch edges change nothing
    kept = pa.concat_arrays(list(_native.within_budget(batches, num_shards, share, ngrams))).to_pylist()
    assert kept == [words(tokens[i]) for i in reference_fit_rows(tokens, num_shards, share, ngrams)]


@needs_reference
@pytest.mark.parametrize(("num_tokens_to_fit", "num_proc"), [("all", 2), ("auto", 3), (60, 2), (200, 5), (1, 1)])
def test_fit_is_the_references_fit(tmp_path, num_tokens_to_fit, num_proc: int) -> None:
    rng = np.random.default_rng(1)
    vocab = ["alice", "queen", "tea", "the", ",", "rabbit!"]
    pool = [[" ".join(rng.choice(vocab, size=int(rng.integers(0, 12)))) for _ in range(n)] for n in (30, 17)]
    paths = [write_jsonl(tmp_path / f"r{i}.jsonl", p) for i, p in enumerate(pool)]
    t = write_jsonl(tmp_path / "t.jsonl", ["alice and the queen", "tea, tea"])
    d = HashedNgramDSIR(paths, [t], str(tmp_path / "c"), num_proc=num_proc, target_laplace_smoothing=0.5)
    d.fit_importance_estimator(num_tokens_to_fit)
    budget = {"all": None, "auto": 100000 * 10000}.get(num_tokens_to_fit, num_tokens_to_fit)
    raw = d._fit_bow(paths, budget)  # the reference's loop, in Python
    target = d._fit_bow([t]) + 0.5
    np.testing.assert_array_equal(d.raw_probs, raw / raw.sum())
    np.testing.assert_array_equal(d.target_probs, target / target.sum())
    np.testing.assert_array_equal(d.log_diff, np.log(d.target_probs + 1e-8) - np.log(d.raw_probs + 1e-8))


def test_target_laplace_smoothing(tiny, tmp_path) -> None:
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(tmp_path / "c"), num_proc=1, target_laplace_smoothing=2.0)
    d.fit_importance_estimator()
    fit = d._native[0].fit_
    counts = fit.target_counts[0] + 2.0
    np.testing.assert_array_equal(d.target_probs, counts / counts.sum())
    np.testing.assert_array_equal(d.raw_probs, fit.raw_counts / fit.raw_counts.sum())  # raw: unsmoothed
    assert d.raw_probs.min() == 0.0 and d.target_probs.min() > 0


def test_separate_targets(tmp_path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [words(i) for i in range(9)] + ["alice", "queen queen"])
    t1 = write_jsonl(tmp_path / "t1.jsonl", ["alice alice alice"])  # 3 + 2 n-grams
    t2 = write_jsonl(tmp_path / "t2.jsonl", ["queen", "queen queen queen"])  # 1 + 3 + 2
    d = HashedNgramDSIR([a], [t1, t2], str(tmp_path / "c"), num_proc=2, separate_targets=True,
                        target_laplace_smoothing=1.0)
    d.fit_importance_estimator()
    assert d.target_probs.shape == (2, 10000) and d.log_diff.shape == (2, 10000) and d.raw_probs.shape == (10000,)
    np.testing.assert_allclose(d.target_proportions, [5 / 11, 6 / 11])
    d.compute_importance_weights()
    w = shard_files(tmp_path / "c", "log_importance_weights", 2)
    assert [x.shape for x in w] == [(6, 2), (5, 2)]
    if _native.REFERENCE_FEATURES:
        np.testing.assert_allclose(w[0][5], d.importance_estimator(get_ngram_counts("queen queen")), rtol=1e-12)
        assert w[0][5][1] > w[0][5][0]  # "queen queen" (row 10) is closer to the second target
    given = HashedNgramDSIR([a], [t1, t2], str(tmp_path / "c2"), num_proc=2, separate_targets=True,
                            target_proportions=[3, 1])
    given.fit_importance_estimator()
    assert given.target_proportions.tolist() == [0.75, 0.25]


def tsv_load(path: str):
    """A user loader: ``id<TAB>body`` lines."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, body = line.rstrip("\n").split("\t")
            yield {"id": key, "body": body}


def tsv_parse(ex: dict) -> str:
    return ex["body"]


@pytest.mark.parametrize("num_tokens_to_fit", ["all", 40])
def test_user_functions_give_the_weights_of_the_files(tmp_path, num_tokens_to_fit) -> None:
    rng = np.random.default_rng(2)
    texts = [words(int(n)) + " alice" * int(n % 3) for n in rng.integers(0, 15, size=25)]
    jsonl = write_jsonl(tmp_path / "raw.jsonl", texts)
    tsv = tmp_path / "raw.tsv"
    tsv.write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(texts)), encoding="utf-8")
    target = write_jsonl(tmp_path / "t.jsonl", ["alice w1 w2", "alice alice"])
    files = HashedNgramDSIR([jsonl], [target], str(tmp_path / "c1"), num_proc=3)
    users = HashedNgramDSIR([str(tsv)], [target], str(tmp_path / "c2"), num_proc=3,
                            raw_load_dataset_fn=tsv_load, raw_parse_example_fn=tsv_parse)
    for d in (files, users):
        d.fit_importance_estimator(num_tokens_to_fit)
        d.compute_importance_weights()
    np.testing.assert_array_equal(files.log_diff, users.log_diff)
    for sub in ("log_importance_weights", "perexample_metadata"):
        for x, y in zip(shard_files(tmp_path / "c1", sub, 3), shard_files(tmp_path / "c2", sub, 3)):
            np.testing.assert_array_equal(x, y)


def test_user_functions_over_named_in_memory_datasets(tmp_path) -> None:
    # paths are whatever the loader takes: here names of in-memory lists, texts given as str
    data = {"pool-a": [words(i) for i in range(7)], "pool-b": ["alice"] * 3, "target": ["alice alice"]}
    d = HashedNgramDSIR(["pool-a", "pool-b"], ["target"], str(tmp_path / "c"), num_proc=2,
                        raw_load_dataset_fn=data.__getitem__, raw_parse_example_fn=None,
                        target_load_dataset_fn=data.__getitem__, target_parse_example_fn=None,
                        min_example_length=1)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    assert [m.tolist() for m in shard_files(tmp_path / "c", "perexample_metadata", 2)] == [
        [0, 1, 2, 3, 4, 5, 6], [1, 1, 1]]
    d.resample(str(tmp_path / "out"), 3, top_k=True)
    assert (tmp_path / "out" / "0.jsonl").read_text() == ""
    assert (tmp_path / "out" / "1.jsonl").read_text() == '"alice"\n' * 3  # json.dumps of the examples


class LengthMetadata(HashedNgramDSIR):
    """Characters, not tokens, as the length; counts its calls."""

    calls = 0

    def get_perexample_metadata(self, ex, features):
        type(self).calls += 1
        return len(ex["text"])


class FeatureSum(HashedNgramDSIR):
    def importance_estimator(self, features):
        return float(features.sum())


def test_a_subclass_hook_is_called_per_example(tiny, tmp_path) -> None:
    raw, target = tiny
    d = LengthMetadata([raw], [target], str(tmp_path / "c"), num_proc=2, min_example_length=0)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    assert LengthMetadata.calls == 6
    m0, m1 = shard_files(tmp_path / "c", "perexample_metadata", 2)
    assert m0.tolist() == [15, 19, 24] and m1.tolist() == [10, 1, 13]
    plain = HashedNgramDSIR([raw], [target], str(tmp_path / "p"), num_proc=2, min_example_length=0)
    plain.fit_importance_estimator()
    plain.compute_importance_weights()
    for x, y in zip(shard_files(tmp_path / "c", "log_importance_weights", 2),
                    shard_files(tmp_path / "p", "log_importance_weights", 2)):
        if _native.REFERENCE_FEATURES:  # the same weights, one example at a time
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
        assert x.shape == y.shape

    s = FeatureSum([raw], [target], str(tmp_path / "s"), num_proc=2, min_example_length=0)
    s.fit_importance_estimator()
    s.compute_importance_weights()
    # n-grams per row: tokens + (tokens - 1)
    assert [w.tolist() for w in shard_files(tmp_path / "s", "log_importance_weights", 2)] == [[7, 7, 13], [5, 1, 7]]


def test_word_tokenize_runs_in_python(tiny, tmp_path, monkeypatch) -> None:
    # a stand-in for nltk (not installed here): word_tokenize splits on spaces
    nltk, tokenize = types.ModuleType("nltk"), types.ModuleType("nltk.tokenize")
    tokenize.word_tokenize = str.split
    nltk.tokenize = tokenize
    monkeypatch.setitem(sys.modules, "nltk", nltk)
    monkeypatch.setitem(sys.modules, "nltk.tokenize", tokenize)
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(tmp_path / "c"), num_proc=2, tokenizer="word_tokenize",
                        min_example_length=0)
    d.fit_importance_estimator()
    from tests.compat.conftest import TINY_RAW, TINY_TARGET
    raw_counts = sum(get_ngram_counts(t, tokenizer=str.split) for t in TINY_RAW)
    target_counts = sum(get_ngram_counts(t, tokenizer=str.split) for t in TINY_TARGET)
    np.testing.assert_array_equal(d.raw_probs, raw_counts / raw_counts.sum())
    np.testing.assert_array_equal(d.target_probs, target_counts / target_counts.sum())
    d.compute_importance_weights()
    w0, _ = shard_files(tmp_path / "c", "log_importance_weights", 2)
    np.testing.assert_allclose(w0, [d.log_diff @ get_ngram_counts(t, tokenizer=str.split) for t in TINY_RAW[::2]])
    m0, m1 = shard_files(tmp_path / "c", "perexample_metadata", 2)
    assert m0.tolist() == [3, 4, 5] and m1.tolist() == [2, 1, 2]  # "Alice was here." is 3 words


class Lengths(DSIR):
    """A subclass of the base class, as the reference's README suggests: its own features."""

    def featurizer(self, text):
        return np.array([len(text)])

    def importance_estimator(self, features):
        return float(features[0]) * self.scale

    def fit_importance_estimator(self):
        self.scale = 0.5


def test_a_base_class_subclass(tiny, tmp_path) -> None:
    raw, target = tiny
    d = Lengths([raw], [target], str(tmp_path / "c"), num_proc=2)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    w = shard_files(tmp_path / "c", "log_importance_weights", 2)
    assert [x.tolist() for x in w] == [[7.5, 9.5, 12.0], [5.0, 0.5, 6.5]]
    assert not (tmp_path / "c" / "perexample_metadata").exists()  # no metadata hook: no filter
    d.resample(str(tmp_path / "out"), 2, top_k=True)
    assert (tmp_path / "out" / "0.jsonl").read_text() == '{"text": "alice and the queen"}\n' \
                                                         '{"text": "tea party at the queen\'s"}\n'
    assert (tmp_path / "out" / "1.jsonl").read_text() == ""
