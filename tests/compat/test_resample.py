"""resample: the files it writes and their content, the reference's sampling, seeded sampling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dsir.compat.data_selection import _native
from dsir.compat.data_selection.hashed_ngram_dsir import HashedNgramDSIR
from tests.compat.conftest import write_jsonl, words


def with_weights(tmp_path: Path, texts: list[list[str]], weights: list[np.ndarray], metadata=None,
                 num_proc: int = 2, **kwargs) -> HashedNgramDSIR:
    """A shim over jsonl files of ``texts`` whose shards hold the given weights (no fit)."""
    paths = [write_jsonl(tmp_path / f"raw{i}.jsonl", t) for i, t in enumerate(texts)]
    d = HashedNgramDSIR(paths, [paths[0]], str(tmp_path / "cache"), num_proc=num_proc, **kwargs)
    for i, w in enumerate(weights):
        np.save(d.log_importance_weights_dir / f"{i}.npy", np.asarray(w, dtype=np.float64))
    if metadata is not None:
        d.perexample_metadata_dir.mkdir()
        for i, m in enumerate(metadata):
            np.save(d.perexample_metadata_dir / f"{i}.npy", np.asarray(m, dtype=np.float64))
    return d


def selected(out: Path, shards: int) -> list[list[int]]:
    """The ``row`` field of each selected record, per output shard."""
    return [[json.loads(line)["row"] for line in (out / f"{i}.jsonl").read_text().splitlines()]
            for i in range(shards)]


def test_top_k_files_and_content(tmp_path) -> None:
    # one file, 2 shards: rows 0, 2, 4, 6 and 1, 3, 5
    texts = [[f"doc {i}" for i in range(7)]]
    d = with_weights(tmp_path, texts, [[0.0, 5.0, 1.0, 7.0], [6.0, 2.0, 3.0]])
    d.resample(str(tmp_path / "out"), 3, top_k=True)
    assert sorted(os.listdir(tmp_path / "out")) == ["0.jsonl", "1.jsonl"]
    assert selected(tmp_path / "out", 2) == [[2, 6], [1]]
    # the lines themselves, stripped: the input's bytes
    lines = (tmp_path / "raw0.jsonl").read_text().splitlines()
    assert (tmp_path / "out" / "0.jsonl").read_text() == lines[2] + "\n" + lines[6] + "\n"


def test_lines_are_copied_stripped_and_blank_lines_are_no_rows(tmp_path) -> None:
    raw = tmp_path / "raw0.jsonl"
    d = with_weights(tmp_path, [["a", "b", "c"]], [[1.0, 0.0, 2.0]], num_proc=1)
    raw.write_text('  {"text": "a", "row": 0}  \n\n{"text": "b", "row": 1}\n   \n{"text":"c","row":2}')
    d.resample(str(tmp_path / "out"), 2, top_k=True)
    assert (tmp_path / "out" / "0.jsonl").read_text() == '{"text": "a", "row": 0}\n{"text":"c","row":2}\n'


def test_min_example_length_filters(tmp_path) -> None:
    d = with_weights(tmp_path, [[f"d{i}" for i in range(6)]], [[9.0, 8.0, 7.0], [6.0, 5.0, 4.0]],
                     metadata=[[1, 5, 5], [5, 1, 5]], min_example_length=5)
    d.resample(str(tmp_path / "out"), 3, top_k=True)
    assert selected(tmp_path / "out", 2) == [[2, 4], [1]]  # rows 0 and 3 are too short


def reference_choice(weights: np.ndarray, mask: np.ndarray, k: int) -> set[int]:
    """The reference's draw: Gumbel noise from numpy's global state over the eligible rows."""
    idx = np.flatnonzero(mask)
    keys = weights[idx] + np.random.gumbel(size=len(idx))
    return {int(i) for i in idx[np.argsort(-keys)[:k]]}


def test_without_seed_it_draws_like_the_reference(tmp_path) -> None:
    rng = np.random.default_rng(5)
    texts = [[f"a{i}" for i in range(9)], [f"b{i}" for i in range(8)]]
    # num_proc=3: raw0 in 2 shards (rows 0, 2, .. and 1, 3, ..), raw1 in 1
    shards = [rng.normal(size=5), rng.normal(size=4), rng.normal(size=8)]
    meta = [rng.integers(0, 3, size=len(w)) for w in shards]
    d = with_weights(tmp_path, texts, shards, metadata=meta, num_proc=3, min_example_length=1)
    concat, mask = np.concatenate(shards), np.concatenate(meta) >= 1
    np.random.seed(11)
    expected = reference_choice(concat, mask, 4)
    np.random.seed(11)
    d.resample(str(tmp_path / "out"), 4)
    rows = [(0, 2 * i) for i in range(5)] + [(0, 2 * i + 1) for i in range(4)] + [(1, i) for i in range(8)]
    picked = selected(tmp_path / "out", 3)
    got = {rows.index((0, r)) for r in picked[0] + picked[1]} | {rows.index((1, r)) for r in picked[2]}
    assert got == expected


def test_separate_targets_share_the_selection(tmp_path) -> None:
    # k = 5 with proportions 0.5, 0.5: int(2.5) = 2 for the first, the rest (3) for the last
    w = np.array([[9, 0], [8, 0], [7, 9], [0, 8], [0, 1], [0, 0]], dtype=float)
    d = with_weights(tmp_path, [[f"d{i}" for i in range(6)]], [w], num_proc=1, separate_targets=True,
                     target_proportions=[1, 1])
    d.target_datasets = ["t1", "t2"]
    d.resample(str(tmp_path / "out"), 5, top_k=True)
    # target 1 takes rows 0, 1; target 2 rows 2, 3, then 4 (row 2 is not taken twice)
    assert selected(tmp_path / "out", 1) == [[0, 1, 2, 3, 4]]


def test_more_than_eligible_selects_all_with_a_warning(tmp_path) -> None:
    d = with_weights(tmp_path, [["a", "b", "c"]], [[1.0, 2.0, 3.0]], num_proc=1)
    with pytest.warns(UserWarning, match="3 left to select from"):
        d.resample(str(tmp_path / "out"), 10)
    assert selected(tmp_path / "out", 1) == [[0, 1, 2]]


def test_cache_dir_is_moved_to_out_dir(tmp_path) -> None:
    d = with_weights(tmp_path, [["a", "b", "c"]], [[1.0, 2.0, 3.0]], num_proc=1)
    d.resample(str(tmp_path / "out"), 1, cache_dir=str(tmp_path / "rcache"), top_k=True)
    assert not (tmp_path / "rcache").exists() and selected(tmp_path / "out", 1) == [[2]]
    # an existing out_dir receives the cache directory inside it, as shutil.move (and the reference) does
    d.resample(str(tmp_path / "out"), 1, cache_dir=str(tmp_path / "rcache"), top_k=True)
    assert selected(tmp_path / "out" / "rcache", 1) == [[2]]


def test_seeded_resampling_is_deterministic(tmp_path) -> None:
    rng = np.random.default_rng(3)
    texts = [[f"a{i}" for i in range(40)], [f"b{i}" for i in range(25)]]
    base_rows = [(f, r) for f, t in enumerate(texts) for r in range(len(t))]
    w = rng.normal(size=len(base_rows))

    def run(num_proc: int, seed: int, name: str) -> set:
        d = HashedNgramDSIR([write_jsonl(tmp_path / f"{name}-{i}.jsonl", t) for i, t in enumerate(texts)],
                            ["t"], str(tmp_path / name), num_proc=num_proc)
        for s in d._get_virtually_sharded_datasets(d.raw_datasets):
            f = d.raw_datasets.index(s["path"])
            rows = range(s["shard_idx"], len(texts[f]), s["num_shards"])
            np.save(d.log_importance_weights_dir / f"{s['overall_idx']}.npy",
                    np.array([w[base_rows.index((f, r))] for r in rows]))
        state = np.random.get_state()[1].copy()
        d.resample(str(tmp_path / f"{name}-out"), 10, seed=seed)
        assert np.array_equal(np.random.get_state()[1], state)  # the global state is left alone
        out = tmp_path / f"{name}-out"
        return {json.loads(line)["text"] for f in os.listdir(out) for line in (out / f).read_text().splitlines()}

    first = run(2, 7, "a")
    assert len(first) == 10
    assert run(2, 7, "b") == first
    assert run(5, 7, "c") == first  # whatever the number of shards
    assert run(2, 8, "d") != first


def test_end_to_end_like_the_reference(tiny, tmp_path) -> None:
    raw, target = tiny
    d = HashedNgramDSIR([raw], [target], str(tmp_path / "c"), num_proc=2, min_example_length=2)
    d.fit_importance_estimator()
    d.compute_importance_weights()
    np.random.seed(0)
    d.resample(str(tmp_path / "out"), 3)
    if _native.REFERENCE_FEATURES:  # data_selection 1.0.3 wrote these files from the same steps
        assert (tmp_path / "out" / "0.jsonl").read_text() == '{"text": "alice and the queen"}\n'
        assert (tmp_path / "out" / "1.jsonl").read_text() == '{"text": "The Queen!"}\n{"text": "Alice, Alice."}\n'
    d.resample(str(tmp_path / "seeded"), 3, seed=1)
    d.resample(str(tmp_path / "again"), 3, seed=1)
    for i in range(2):
        assert (tmp_path / "seeded" / f"{i}.jsonl").read_bytes() == (tmp_path / "again" / f"{i}.jsonl").read_bytes()


def test_user_loader_writes_json_dumps(tmp_path) -> None:
    records = [{"body": words(i), "n": i, "tags": ["x", "é"]} for i in range(6)]
    d = HashedNgramDSIR(["mem"], ["mem"], str(tmp_path / "c"), num_proc=2, raw_load_dataset_fn=lambda p: records,
                        raw_parse_example_fn=lambda ex: ex["body"])
    for i, w in enumerate([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]):
        np.save(d.log_importance_weights_dir / f"{i}.npy", np.array(w))
    d.resample(str(tmp_path / "out"), 2, top_k=True)
    assert (tmp_path / "out" / "0.jsonl").read_text() == json.dumps(records[2]) + "\n"
    assert (tmp_path / "out" / "1.jsonl").read_text() == json.dumps(records[1]) + "\n"
