"""Module-level helpers of the shim: exact values of the reference (data-selection 1.0.3)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from dsir.compat.data_selection import DSIR, HashedNgramDSIR, base, hashed_ngram_dsir, utils
from dsir.compat.data_selection.hashed_ngram_dsir import get_ngram_counts, hash_buckets, wpt


@pytest.mark.parametrize(("text", "b10000", "b7", "b_max"), [
    ("alice", 6720, 6, 1354126177),
    ("the", 8288, 6, 445621237),
    ("alice was", 7217, 4, 1762189653),
    ("!", 6338, 6, 897645151),
    ("Alice", 1507, 3, 1747656572),  # no lowercasing here: get_ngram_counts lowercases
    ("naïve", 8184, 3, 1357491854),  # hashed as UTF-8
    ("", 6549, 1, 524392846),
])
def test_hash_buckets_values(text: str, b10000: int, b7: int, b_max: int) -> None:
    # values printed by data_selection.hashed_ngram_dsir.hash_buckets 1.0.3
    assert hash_buckets(text) == b10000
    assert hash_buckets(text, num_buckets=7) == b7
    assert hash_buckets(text, 2**31 - 1) == b_max


def test_wordpunct_tokens() -> None:
    assert wpt.tokenize("alice was here, was she?!") == ["alice", "was", "here", ",", "was", "she", "?!"]
    assert wpt.tokenize("l'été — déjà") == ["l", "'", "été", "—", "déjà"]


def test_get_ngram_counts_of_a_line() -> None:
    # data_selection 1.0.3: get_ngram_counts("Alice was here, was she?")
    c = get_ngram_counts("Alice was here, was she?")
    assert c.shape == (10000,) and c.dtype == np.dtype(int)
    assert {int(i): int(c[i]) for i in np.flatnonzero(c)} == {
        772: 1, 1021: 1, 1148: 1, 1169: 1, 1540: 1, 4197: 2, 4887: 1, 6603: 1, 6720: 1, 7217: 1, 9075: 1, 9354: 1}
    assert c.sum() == 7 + 6  # 7 unigrams, 6 bigrams
    assert c[hash_buckets("alice")] == 1 and c[hash_buckets("alice was")] == 1


def test_get_ngram_counts_trigrams_and_in_place() -> None:
    # "a b a b": unigrams a, b (x2 each), bigrams "a b" (x2), "b a", trigrams "a b a", "b a b"
    c = get_ngram_counts("A B a b", n=3, num_buckets=50)
    assert {int(i): int(c[i]) for i in np.flatnonzero(c)} == {14: 1, 15: 2, 35: 2, 36: 1, 44: 1, 49: 2}
    assert [hash_buckets(s, 50) for s in ("a", "b", "a b", "b a", "a b a", "b a b")] == [49, 15, 35, 36, 44, 14]
    counts = np.zeros(50, dtype=int)
    same = get_ngram_counts("a b a b", n=3, num_buckets=50, counts=counts)
    assert same is counts and counts.sum() == 9
    get_ngram_counts("a", n=3, num_buckets=50, counts=counts)
    assert counts[49] == 3


def test_get_ngram_counts_other_tokenizer() -> None:
    c = get_ngram_counts("x,y", n=1, num_buckets=100, tokenizer=lambda s: s.split(","))
    assert c[hash_buckets("x", 100)] == 1 and c[hash_buckets("y", 100)] == 1 and c.sum() == 2


def test_module_layout_mirrors_the_reference() -> None:
    assert hashed_ngram_dsir.HashedNgramDSIR is HashedNgramDSIR
    assert issubclass(HashedNgramDSIR, base.DSIR) and base.DSIR is DSIR
    assert hashed_ngram_dsir.default_load_dataset_fn is base.default_load_dataset_fn
    assert hashed_ngram_dsir.parallelize is utils.parallelize
    assert list(base._iterate_virtually_sharded_dataset(range(10), 3, 1)) == [1, 4, 7]


def test_default_load_and_parse(tmp_path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "one", "k": 1}\n\n   \n{"text": "two"}\n')
    records = list(base.default_load_dataset_fn(str(p)))
    assert records == [{"text": "one", "k": 1}, {"text": "two"}]  # blank lines are no records
    assert [base.default_parse_example_fn(r) for r in records] == ["one", "two"]


def test_parallelize_keeps_order_and_uses_threads() -> None:
    names: set[str] = set()

    def fn(x: int) -> int:
        names.add(threading.current_thread().name)
        return x * x

    assert utils.parallelize(fn, range(20), 4) == [x * x for x in range(20)]
    assert utils.parallelize(lambda x: x + 1, [1, 2], None) == [2, 3]  # a closure: no pickling
    assert utils.parallelize(fn, [], 3) == []


@pytest.mark.parametrize(("num_proc", "expected"), [
    # (shard_idx, num_shards, overall_idx) per shard, as data_selection 1.0.3 assigns them
    (1, [(0, 1, 0), (0, 1, 1), (0, 1, 2)]),
    (2, [(0, 1, 0), (0, 1, 1), (0, 1, 2)]),
    (3, [(0, 1, 0), (0, 1, 1), (0, 1, 2)]),
    (5, [(0, 2, 0), (1, 2, 1), (0, 2, 2), (1, 2, 3), (0, 1, 4)]),
    (7, [(0, 3, 0), (1, 3, 1), (2, 3, 2), (0, 2, 3), (1, 2, 4), (0, 2, 5), (1, 2, 6)]),
])
def test_virtual_shards(tmp_path, num_proc: int, expected: list) -> None:
    d = HashedNgramDSIR(["a", "b", "c"], ["t"], str(tmp_path / "cache"), num_proc=num_proc)
    shards = d._get_virtually_sharded_datasets(["a", "b", "c"])
    assert [(s["shard_idx"], s["num_shards"], s["overall_idx"]) for s in shards] == expected
    assert [s["path"] for s in shards if s["shard_idx"] == 0] == ["a", "b", "c"]


def test_constructor_attributes(tmp_path) -> None:
    d = HashedNgramDSIR(["r"], ["t1", "t2"], str(tmp_path / "c"), separate_targets=True, target_proportions=[1, 3])
    assert (tmp_path / "c" / "log_importance_weights").is_dir()
    assert d.target_proportions.tolist() == [0.25, 0.75]
    assert (d.ngrams, d.num_buckets, d.min_example_length, d.target_laplace_smoothing) == (2, 10000, 100, 0.0)
    assert d.num_proc >= 1 and d.log_diff is None and d.tokenizer == wpt.tokenize
    with pytest.raises(ValueError, match="tokenizer not recognized"):
        HashedNgramDSIR(["r"], ["t"], str(tmp_path / "c"), tokenizer="spaces")
    with pytest.raises(ValueError, match="num_tokens_to_fit"):
        d.fit_importance_estimator(num_tokens_to_fit="most")


def test_records_are_json(tmp_path) -> None:
    # the default loader reads what json.dumps writes, unicode included
    p = tmp_path / "u.jsonl"
    p.write_text(json.dumps({"text": "été"}) + "\n" + json.dumps({"text": "東京"}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    assert [r["text"] for r in base.default_load_dataset_fn(str(p))] == ["été", "東京"]
