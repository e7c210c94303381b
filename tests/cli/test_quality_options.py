"""``dsir select`` with --method, --weighting/--temperature, --chunk-words/--emit and named targets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dsir.cli.main import main

POOL = "examples/pool"
AUSTEN = "examples/target/austen.jsonl"


def invoke(*args):
    return CliRunner().invoke(main, ["select", "--raw", POOL, "--workers", "1", *args])


def test_named_targets_with_proportions(tmp_path):
    out = tmp_path / "out"
    r = invoke("--target", f"austen={AUSTEN}:3", "--target", "pool=examples/pool/pool-1.jsonl:1", "-k", "20",
               "-o", str(out))
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert [(t["name"], t["requested"], t["selected"]) for t in m["per_target"]] == [("austen", 15, 15), ("pool", 5, 5)]
    assert "target austen: 15 of 15" in r.output
    assert {p.name.rsplit("-", 1)[0] for p in out.glob("part-*")} == {"part-austen", "part-pool"}


def test_plain_target_and_old_weights_stay_reachable(tmp_path):
    r = invoke("--target", AUSTEN, "-k", "10", "-o", str(tmp_path / "o"), "--weighting", "sum", "--temperature", "1",
               "--method", "dsir")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["method"] == "dsir" and m["parameters"]["weighting"] == "sum"
    assert sorted(p.name for p in (tmp_path / "o").glob("part-*")) == ["part-00000.jsonl", "part-00001.jsonl"]


def test_random_without_target_and_chunks(tmp_path):
    r = invoke("--method", "random", "-k", "7", "-o", str(tmp_path / "r"))
    assert r.exit_code == 0, r.output
    r = invoke("--target", AUSTEN, "--chunk-words", "50", "--emit", "chunks", "-k", "9", "-o", str(tmp_path / "c"))
    assert r.exit_code == 0, r.output
    assert "selected 9 of" in r.output and "eligible chunks" in r.output
    rows = [json.loads(x) for p in (tmp_path / "c").glob("part-*") for x in open(p)]
    assert len(rows) == 9 and all("chunk_index" in x for x in rows)


@pytest.mark.parametrize("args,message", [
    (["--target", AUSTEN, "--emit", "chunks"], "--emit chunks needs --chunk-words"),
    (["--method", "classifier"], "give --target"),
    (["--target", AUSTEN, "--temperature", "0"], "temperature must be a positive number"),
    (["--target", f"a={AUSTEN}", "--target", AUSTEN], "give every target a name"),
    (["--target", f"a={AUSTEN}:0"], "the proportion must be a positive number, got 0"),
    (["--target", "a=missing.jsonl:1"], "missing.jsonl: target a path does not exist"),
    (["--target", AUSTEN, "--method", "classifier", "--chunk-words", "0"], "--chunk-words"),
])
def test_usage_errors(tmp_path, args, message):
    r = invoke(*args, "-k", "5", "-o", str(tmp_path / "o"))
    assert r.exit_code == (3 if "does not exist" in message else 2)  # a missing input is bad input
    assert message in r.output
