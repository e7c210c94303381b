"""``datasets.load_dataset(OUT)`` loads exactly the selection (issue 13, item 3), through the
dataset card ``OUT/README.md`` whose configs name the shards."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir import DSIR
from tests.hostile.harness import _records
from tests.pipeline.make_data import documents, write_jsonl


def _pool(tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    write_jsonl(str(pool / "a.jsonl"), documents(150, seed=1))
    write_jsonl(str(pool / "b.jsonl"), documents(150, seed=2))
    target = write_jsonl(str(tmp_path / "target.jsonl"), documents(20, seed=3, sea_share=1.0))
    return pool, target


def _load(out, tmp_path, **kwargs):
    return datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"), **kwargs)["train"]


def test_load_dataset_reads_exactly_the_selected_records(tmp_path):
    pool, target = _pool(tmp_path)
    out = tmp_path / "out"
    manifest = DSIR(seed=1).select(str(pool), str(out), k=40, target=target, group_by="id")
    assert {"manifest.json", "report.json", "report.html", "_dsir", "README.md"} <= {p.name for p in out.iterdir()}
    loaded = _load(out, tmp_path)
    written = [json.loads(r) for shard in manifest["outputs"] for r in _records(out / shard["path"])]
    assert loaded.num_rows == 40 and loaded.to_list() == written


def test_named_targets_are_configs_and_mixed_formats_are_never_misread(tmp_path):
    pool, target = _pool(tmp_path)
    out = tmp_path / "named"
    DSIR(seed=1).select(str(pool), str(out), k=30, target=[f"sea={target}", f"pool={pool / 'a.jsonl'}"],
                        report=False)
    assert _load(out, tmp_path).num_rows == 30
    assert _load(out, tmp_path, name="sea").num_rows + _load(out, tmp_path, name="pool").num_rows == 30
    pq.write_table(pa.table({"text": documents(50, seed=9), "n": list(range(50))}), pool / "c.parquet")
    mixed = tmp_path / "mixed"
    m = DSIR(seed=1).select(str(pool), str(mixed), k=60, target=target, report=False)
    shards = [o["path"] for o in m["outputs"]]
    assert {p.rsplit(".", 1)[-1] for p in shards} == {"jsonl", "parquet"}
    with pytest.raises(Exception):  # one call cannot read both formats: an error, never other files
        _load(mixed, tmp_path)
    card = (mixed / "README.md").read_text()
    assert "--output-format parquet" in card
    got = 0
    for builder, ext in (("json", ".jsonl"), ("parquet", ".parquet")):
        files = [str(mixed / p) for p in shards if p.endswith(ext)]
        assert f'datasets.load_dataset("{builder}", data_files=[' in card
        got += datasets.load_dataset(builder, data_files=files, cache_dir=str(tmp_path / "c"))["train"].num_rows
    assert got == m["counts"]["selected"] == 60


def test_resume_and_overwrite_replace_the_card_with_the_run(tmp_path):
    pool, target = _pool(tmp_path)
    out = tmp_path / "out"
    DSIR(seed=1).select(str(pool), str(out), k=10, target=target, report=False)
    first = (out / "README.md").read_text()
    DSIR(seed=1).select(str(pool), str(out), k=20, target=target, report=False, overwrite=True)
    assert "20 documents selected" in (out / "README.md").read_text() != first
    assert _load(out, tmp_path).num_rows == 20
