"""Every input and output path may be an object-store URL: the results equal a local run's.

The store is moto's S3 server on 127.0.0.1, started and stopped by this module.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main as cli
from dsir.errors import InputError, UsageError
from dsir.io.storage import open_npz, save_npz
from dsir.io.writers import ShardWriter
from tests.io.moto_s3 import ENV, make_bucket, require, running_s3_server
from tests.synthetic_corpus import output_files, write_corpus

require("s3fs")
require("moto.server")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(s3fs file system, local raw dir, local target) with the corpus also in s3://dsir-io/."""
    raw, target = write_corpus(str(tmp_path_factory.mktemp("corpus")), seed=3)
    with running_s3_server():
        fs = make_bucket("dsir-io")
        fs.put(raw, "dsir-io/pool", recursive=True)
        fs.put_file(target, "dsir-io/target/sea.jsonl")
        yield fs, raw, target


def _select(raw, target, out, **kw):
    return DSIR(seed=11, raw_sample=150).select(raw, out, target=target, k=70, report=False, **kw)


def test_pool_target_and_selection_on_s3_equal_a_local_run(store, tmp_path):
    fs, raw, target = store
    local = _select(raw, target, str(tmp_path / "local"))
    remote = _select("s3://dsir-io/pool", "s3://dsir-io/target/sea.jsonl", "s3://dsir-io/runs/a")
    assert [i["path"] for i in remote["inputs"]] == [f"s3://dsir-io/pool/{n}" for n in sorted(os.listdir(raw))]
    for key in ("counts", "outputs", "fit", "parameters"):
        assert remote[key] == local[key]
    assert [{k: v for k, v in i.items() if k != "path"} for i in remote["inputs"]] == \
        [{k: v for k, v in i.items() if k != "path"} for i in local["inputs"]]
    published = {p.rsplit("/", 1)[-1] for p in fs.ls("dsir-io/runs/a")}
    assert published == {"_dsir", "manifest.json", "README.md", *(o["path"] for o in local["outputs"])}
    for name, data in output_files(str(tmp_path / "local")).items():
        if name != "manifest.json":
            assert fs.cat_file(f"dsir-io/runs/a/{name}") == data
    assert json.loads(fs.cat_file("dsir-io/runs/a/manifest.json")) == remote
    assert {p.rsplit("/", 1)[-1] for p in fs.ls("dsir-io/runs/a/_dsir")} >= {"model.npz", "scores-00000.npz"}


def test_non_empty_remote_output_is_refused_and_overwrite_keeps_foreign_objects(store):
    fs, _, _ = store
    fs.pipe_file("dsir-io/runs/b/notes.txt", b"mine")
    fs.pipe_file("dsir-io/runs/b/part-00009.jsonl", b"not dsir's\n")
    for overwrite in (False, True):  # no dsir run there: nothing in it is dsir's to replace
        with pytest.raises(UsageError, match="s3://dsir-io/runs/b: output directory is not empty"):
            _select("s3://dsir-io/pool", "s3://dsir-io/target/sea.jsonl", "s3://dsir-io/runs/b", overwrite=overwrite)
    fs.rm("dsir-io/runs/b/part-00009.jsonl")
    first = _select("s3://dsir-io/pool", "s3://dsir-io/target/sea.jsonl", "s3://dsir-io/runs/b/run")
    fs.pipe_file("dsir-io/runs/b/run/part-notes.txt", b"mine too")  # a user's file that looks like a shard
    m = _select("s3://dsir-io/pool/a.jsonl", "s3://dsir-io/target/sea.jsonl", "s3://dsir-io/runs/b/run",
                overwrite=True)
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("dsir-io/runs/b/run", refresh=True)}
    assert names == {"part-notes.txt", "_dsir", "manifest.json", "README.md", *(o["path"] for o in m["outputs"])}
    assert len(first["outputs"]) > len(m["outputs"])  # the earlier run's other shards are gone


def test_cli_fit_select_and_score_with_urls_never_show_credentials(store, tmp_path):
    fs, raw, target = store
    runner = CliRunner()
    common = ["--raw", "s3://dsir-io/pool/*.jsonl*", "--seed", "5", "--workers", "1", "--quiet"]
    r = runner.invoke(cli, ["fit", *common, "--target", "s3://dsir-io/target", "-o", "s3://dsir-io/model.npz"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["select", *common, "--model", "s3://dsir-io/model.npz", "-k", "20",
                            "-o", "s3://dsir-io/runs/c"])
    assert r.exit_code == 0, r.output
    r2 = runner.invoke(cli, ["score", *common, "--model", "s3://dsir-io/model.npz", "-o", "s3://dsir-io/scores.parquet"])
    assert r2.exit_code == 0, r2.output
    for output in (r.output, r2.output, fs.cat_file("dsir-io/runs/c/manifest.json").decode()):
        assert ENV["AWS_SECRET_ACCESS_KEY"] not in output and ENV["AWS_ACCESS_KEY_ID"] not in output

    local_glob = os.path.join(raw, "*.jsonl*")
    local = DSIR(seed=5).fit(local_glob, target)
    assert local.save(str(tmp_path / "model.npz")) is None
    with open_npz("s3://dsir-io/model.npz") as remote_model, np.load(tmp_path / "model.npz") as local_model:
        assert sorted(remote_model.files) == sorted(local_model.files)
        for name in local_model.files:
            if name != "header":  # the header holds dsir_version and paths-free params only
                assert np.array_equal(remote_model[name], local_model[name])
    local.select(local_glob, str(tmp_path / "c"), k=20, report=False)
    for name, data in output_files(str(tmp_path / "c")).items():
        if name != "manifest.json":
            assert fs.cat_file(f"dsir-io/runs/c/{name}") == data
    with fs.open("dsir-io/scores.parquet", "rb") as fh:
        scores = pq.read_table(fh)
    expected = local.score(local_glob)
    assert scores.drop(["file"]).equals(expected.drop(["file"]))
    assert not [p for p in fs.ls("dsir-io") if "dsir-work" in p]  # the score work arrays were removed


def test_missing_remote_input_is_named(store, tmp_path):
    with pytest.raises(InputError, match="s3://dsir-io/nowhere: raw path does not exist"):
        _select("s3://dsir-io/nowhere", "s3://dsir-io/target/sea.jsonl", str(tmp_path / "out"))


def test_failed_remote_shard_leaves_no_object_and_no_spool_file(store):
    fs, _, _ = store
    writer = ShardWriter("s3://dsir-io/runs/d/part-00000.jsonl", "jsonl")
    writer.write_jsonl(b'{"text": "half"}\n', 1)
    spool = writer._tmp
    assert os.path.exists(spool)
    writer.abort()
    assert not os.path.exists(spool)
    assert not fs.exists("dsir-io/runs/d/part-00000.jsonl")
    writer = ShardWriter("s3://dsir-io/runs/d/part-00001.jsonl.gz", "jsonl.gz")
    writer.write_jsonl(b'{"text": "whole"}\n', 1)
    shard = writer.commit()
    assert not os.path.exists(writer._tmp)
    assert shard.bytes == len(fs.cat_file("dsir-io/runs/d/part-00001.jsonl.gz"))


def test_npz_round_trip_on_s3(store):
    arrays = {"key": np.array([0.5, -np.inf]), "hash": np.array([1, 2**63], dtype=np.uint64)}
    save_npz("s3://dsir-io/arrays.npz", arrays)
    with open_npz("s3://dsir-io/arrays.npz") as z:
        assert sorted(z.files) == ["hash", "key"]
        assert np.array_equal(z["key"], arrays["key"]) and np.array_equal(z["hash"], arrays["hash"])


def test_file_urls_equal_plain_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw, target = write_corpus(str(tmp_path / "corpus"), seed=4)
    plain = _select(raw, target, str(tmp_path / "plain"))
    url = _select(f"file://{raw}", f"file://{target}", f"file://{tmp_path / 'url'}")
    assert url["counts"] == plain["counts"] and url["outputs"] == plain["outputs"]
    assert not os.path.exists(tmp_path / "file:")  # the URL named the directory; it did not become one
    assert (tmp_path / "url" / "_dsir" / "model.npz").exists()
    table = DSIR(seed=11).load_model(f"file://{tmp_path / 'url' / '_dsir' / 'model.npz'}").score(
        f"file://{raw}", f"file://{tmp_path / 'scores.parquet'}")
    assert pq.read_table(tmp_path / "scores.parquet").equals(table)
    assert output_files(str(tmp_path / "url")).keys() == output_files(str(tmp_path / "plain")).keys()
    for name, data in output_files(str(tmp_path / "plain")).items():
        if name != "manifest.json":
            assert output_files(str(tmp_path / "url"))[name] == data


def test_resume_skip_and_report_on_s3(store, tmp_path, caplog):
    """An object-store output keeps its unit records there too: --resume reuses them, and
    --on-error skip and the report are written to the store."""
    fs, raw, target = store
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "harbour storm sea"}\n{oops\n{"text": "boat on the sea"}\n')
    fs.put_file(str(bad), "dsir-io/bad/bad.jsonl")
    args = dict(target="s3://dsir-io/target/sea.jsonl", k=70, on_error="skip")
    raws = ["s3://dsir-io/pool", "s3://dsir-io/bad/bad.jsonl"]
    first = DSIR(seed=11, raw_sample=150, on_error="skip").select(raws, "s3://dsir-io/runs/r", k=70,
                                                                  target=args["target"])
    assert first["rejects"] == {"path": "rejects.jsonl", "records": 1}
    (reject,) = [json.loads(line) for line in fs.cat_file("dsir-io/runs/r/rejects.jsonl").splitlines()]
    assert reject["file"] == "s3://dsir-io/bad/bad.jsonl" and reject["line"] == 2
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("dsir-io/runs/r")}
    assert {"report.json", "report.html", "report", "manifest.json"} <= names
    fs.rm("dsir-io/runs/r/manifest.json")  # as if killed before the manifest
    caplog.set_level("INFO", logger="dsir")
    again = DSIR(seed=11, raw_sample=150, on_error="skip").select(raws, "s3://dsir-io/runs/r", k=70,
                                                                  target=args["target"], resume=True)
    assert again["outputs"] == first["outputs"] and again["counts"] == first["counts"]
    assert "resume: write: 5 of 5 units already done" in caplog.text, caplog.text
    res = CliRunner().invoke(cli, ["report", "s3://dsir-io/runs/r", "--quiet"], env=ENV)
    assert res.exit_code == 0, res.output


def test_a_pool_on_s3_read_in_parts_selects_what_its_whole_files_select(store, tmp_path):
    """Parts of object-store files are read by seeking (ranged reads), as local ones are."""
    fs, raw, target = store
    whole = _select(raw, target, str(tmp_path / "local"))
    parted = DSIR(seed=11, raw_sample=150, unit_bytes=3000, workers=2).select(
        "s3://dsir-io/pool", str(tmp_path / "parted"), target=target, k=70, report=False)
    assert all(i["parts"] > 1 for i in parted["inputs"] if i["path"].endswith(".jsonl")), parted["inputs"]
    assert parted["outputs"] == whole["outputs"] and parted["counts"] == whole["counts"]
