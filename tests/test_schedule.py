"""``dsir schedule``: exact token arithmetic, the Megatron-LM and GPT-NeoX files, refusals,
and a run on real selections."""

from __future__ import annotations

import json
import logging
import os

import click
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import EXIT_INPUT, EXIT_USAGE
from dsir.cli.schedule_command import schedule
from dsir.errors import InputError, UsageError
from dsir.schedule import (Shard, Source, dataset_prefix, largest_remainder, load_source, plan_schedule,
                           schedule_json, write_schedule)
from tests.pipeline.make_data import documents, make_pool, make_target, write_jsonl


def source(name: str, tokens: int, shard_bytes=(100,)) -> Source:
    shards = tuple(Shard(f"/data/{name}/part-{i:05d}.jsonl", 10, b) for i, b in enumerate(shard_bytes))
    return Source(name, f"/data/{name}", None, tokens, tokens, 10 * len(shards), shards)


def parse_megatron(text: str) -> list[tuple[float, str]]:
    words = text.split()
    assert len(words) % 2 == 0
    return [(float(words[i]), words[i + 1]) for i in range(0, len(words), 2)]


def cli(*args):
    group = click.Group("dsir")
    group.add_command(schedule)
    return CliRunner().invoke(group, ["schedule", *map(str, args)])


# -- token arithmetic -----------------------------------------------------------------------


def test_largest_remainder():
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]  # a tie goes to the earlier part
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder(7, [1, 2, 4]) == [1, 2, 4]
    assert largest_remainder(5, [0, 1, 1]) == [0, 3, 2]  # weight 0 gets nothing
    assert largest_remainder(1, [1, 1]) == [1, 0]
    assert largest_remainder(10, [0.1, 0.2, 0.7]) == [1, 2, 7]  # floats by their decimals, exactly
    assert largest_remainder(11, [2, 3, 5]) == [2, 3, 6]  # quotas 2.2, 3.3, 5.5
    for total in (1, 2, 999, 10**12 + 7):
        assert sum(largest_remainder(total, [3, 0.5, 7, 1e-9])) == total


def test_base_and_window_tokens_are_exact_integers():
    a, b, c = source("a", 600), source("b", 300), source("c", 100)
    s = plan_schedule([a, b, c], 2000, 0.1, upsample={"c": 0.5})
    base, window = s.phases
    assert (base.name, base.start, base.end) == ("base", 0, 1800)
    assert (window.name, window.start, window.end) == ("window", 1800, 2000)
    assert base.tokens == {"a": 1080, "b": 540, "c": 180}  # natural mixture 6:3:1
    # window: c has exactly half; a and b split the other 100 as 6:3, quotas 66.67 and 33.33
    assert window.tokens == {"a": 67, "b": 33, "c": 100}
    assert [s.drawn(n) for n in "abc"] == [1147, 573, 280]
    assert s.epochs("a") == pytest.approx(1147 / 600) and s.epochs("c") == pytest.approx(2.8)
    assert s.epochs("c", window) == 1.0 and s.epochs("b", base) == 1.8
    assert s.warnings == ["source a is repeated: 1147 tokens drawn of its 600 (1.91 epochs)",
                          "source b is repeated: 573 tokens drawn of its 300 (1.91 epochs)",
                          "source c is repeated: 280 tokens drawn of its 100 (2.80 epochs)"]
    assert window.weight("c") == 0.5 and base.weight("a") == 0.6


def test_phase_budgets_round_by_largest_remainder():
    a, b = source("a", 10**9), source("b", 10**9)
    s = plan_schedule([a, b], 7, 0.5)
    assert [p.size for p in s.phases] == [4, 3]  # 3.5 and 3.5: the tie goes to the base phase
    s = plan_schedule([a, b], 1001, 0.15)
    assert [p.size for p in s.phases] == [851, 150]  # 850.85 and 150.15
    assert [sum(p.tokens.values()) for p in s.phases] == [851, 150]
    assert s.phases[1].tokens == {"a": 75, "b": 75} and s.phases[0].tokens == {"a": 426, "b": 425}
    assert s.warnings == []


def test_given_base_weights_and_a_source_dropped_from_the_window():
    a, b, c = source("a", 600), source("b", 300), source("c", 100)
    s = plan_schedule([a, b, c], 1000, 0.2, upsample={"b": 0.75, "a": 0}, base_weights={"a": 1, "b": 1, "c": 2})
    assert s.phases[0].tokens == {"a": 200, "b": 200, "c": 400}
    assert s.phases[1].tokens == {"a": 0, "b": 150, "c": 50}
    s = plan_schedule([a, b], 100, 0.1, upsample={"a": 0.3, "b": 0.7})  # shares that sum to 1
    assert s.phases[1].tokens == {"a": 3, "b": 7}


def test_no_upsample_keeps_the_base_mixture_in_the_window():
    s = plan_schedule([source("a", 600), source("b", 300), source("c", 100)], 2000)
    assert s.phases[1].tokens == {"a": 120, "b": 60, "c": 20}


# -- the framework files ----------------------------------------------------------------------


def test_megatron_and_neox_files_parse_back_and_sum_to_one(tmp_path):
    a, b, c = source("a", 600, (300, 100)), source("b", 300), source("c", 100, (1, 1, 2))
    s = plan_schedule([a, b, c], 2000, 0.1, upsample={"c": 0.5, "b": 0})
    written = write_schedule(s, str(tmp_path / "sched"))
    assert sorted(os.path.basename(p) for p in written) == [
        "gpt-neox-base.json", "gpt-neox-window.json", "megatron-base.txt", "megatron-window.txt", "schedule.json"]
    for phase in s.phases:
        pairs = parse_megatron((tmp_path / "sched" / f"megatron-{phase.name}.txt").read_text())
        neox = json.loads((tmp_path / "sched" / f"gpt-neox-{phase.name}.json").read_text())
        assert set(neox) == {"train_data_paths", "train_data_weights"}
        assert neox["train_data_paths"] == [p for _, p in pairs]
        assert neox["train_data_weights"] == pytest.approx([w for w, _ in pairs], rel=1e-15)
        assert sum(w for w, _ in pairs) == pytest.approx(1, abs=1e-12)
        for src in s.sources:  # each source's shards together carry its share of the phase
            mine = [w for w, p in pairs if p.startswith(src.directory + "/")]
            assert sum(mine) == pytest.approx(phase.weight(src.name), abs=1e-12)
    window = dict((p, w) for w, p in parse_megatron((tmp_path / "sched" / "megatron-window.txt").read_text()))
    assert "/data/b/part-00000_text_document" not in window  # no tokens in the window: left out
    assert window["/data/a/part-00000_text_document"] == pytest.approx(0.5 * 3 / 4)  # bytes 300 of 400
    assert window["/data/c/part-00002_text_document"] == pytest.approx(0.5 * 2 / 4)
    doc = json.loads((tmp_path / "sched" / "schedule.json").read_text())
    assert doc == json.loads(json.dumps(schedule_json(s)))
    assert doc["format"] == "dsir-schedule" and doc["format_version"] == 1
    assert [(p["name"], p["start_token"], p["end_token"], p["tokens"]) for p in doc["phases"]] == [
        ("base", 0, 1800, 1800), ("window", 1800, 2000, 200)]
    assert [x["tokens"] for x in doc["phases"][1]["sources"]] == [100, 0, 100]
    assert [x["tokens"] for x in doc["totals"]] == [1180, 540, 280]
    assert len(doc["warnings"]) == 3 and not list((tmp_path / "sched").glob(".*"))  # no temporary left


def test_dataset_prefix_strips_the_format():
    assert dataset_prefix(Shard("/o/part-a-00001.00002.jsonl.zst", 1, 1)) == "/o/part-a-00001.00002_text_document"
    assert dataset_prefix(Shard("s3://b/o/part-00000.parquet", 1, 1), "body") == "s3://b/o/part-00000_body_document"


def test_a_path_with_whitespace_is_refused_before_writing(tmp_path):
    s = plan_schedule([source("a", 10)], 100, 0.1)
    spaced = plan_schedule([Source("a", "/x y", None, 10, 10, 1, (Shard("/x y/part-00000.jsonl", 1, 5),))], 100)
    write_schedule(s, str(tmp_path))
    with pytest.raises(UsageError, match="whitespace"):
        write_schedule(spaced, str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 0}, "strictly between 0 and 1"),
    ({"window": 1}, "strictly between 0 and 1"),
    ({"window": 1.5}, "strictly between 0 and 1"),
    ({"total_tokens": 0}, "positive number of tokens"),
    ({"total_tokens": -5}, "positive number of tokens"),
    ({"total_tokens": 5, "window": 0.05}, "too small"),
    ({"upsample": {"zz": 0.5}}, "--upsample zz: no --source is named 'zz' \\(sources: a, b\\)"),
    ({"upsample": {"a": 0.7, "b": 0.6}}, "sum to 1.3, more than 1"),
    ({"upsample": {"a": 1.5}}, "at most 1"),
    ({"upsample": {"a": -0.1}}, "negative"),
    ({"upsample": {"a": 0.5, "b": 0.2}}, "no other source"),
    ({"base_weights": {"a": 1}}, "missing: b"),
    ({"base_weights": {"a": 0, "b": 0}}, "sum to 0"),
    ({"base_weights": {"a": 1, "c": 1}}, "--base-weight c: no --source"),
])
def test_plan_refusals(kwargs, message):
    args = {"sources": [source("a", 600), source("b", 300)], "total_tokens": 2000, **kwargs}
    with pytest.raises(UsageError, match=message):
        plan_schedule(**args)


def test_duplicate_source_names_are_refused():
    with pytest.raises(UsageError, match="two sources are named 'a'"):
        plan_schedule([source("a", 1), source("a", 2)], 100)


def test_load_source_refusals(tmp_path, selections):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty/manifest.json: not found: .* is not a finished dsir selection"):
        load_source("x", str(tmp_path / "empty"))
    (tmp_path / "unfinished" / "_dsir").mkdir(parents=True)
    with pytest.raises(InputError, match=r"unfinished/manifest.json: not found: .*unfinished dsir selection"):
        load_source("x", str(tmp_path / "unfinished"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"name": "not dsir"}')
    with pytest.raises(InputError, match="other/manifest.json: not a dsir selection manifest"):
        load_source("x", str(tmp_path / "other"))
    with pytest.raises(InputError, match=r"two/manifest.json: no target named 'zz' .*its targets are sea, land"):
        load_source("x", selections["two"], "zz")
    with pytest.raises(InputError, match="one/manifest.json: no target named 'sea' .*no named targets"):
        load_source("x", selections["one"], "sea")


# -- real selections, and the command ------------------------------------------------------------


@pytest.fixture(scope="module")
def selections(tmp_path_factory):
    """Two small real selections: one plain, one of two named targets."""
    root = tmp_path_factory.mktemp("sel")
    pool = make_pool(str(root / "pool"), files=2, docs_per_file=60)
    sea = make_target(str(root / "sea.jsonl"))
    land = write_jsonl(str(root / "land.jsonl"), documents(20, 7, sea_share=0.05), extra=False)
    one = DSIR(seed=1).select(pool, str(root / "one"), k=30, target=sea, report=False)
    two = DSIR(seed=2).select(pool, str(root / "two"), k=40, target=[f"sea={sea}:0.25", f"land={land}:0.75"],
                              report=False)
    assert one["counts"]["selected"] == 30 and two["counts"]["selected"] == 40
    return {"one": str(root / "one"), "two": str(root / "two"), "m1": one, "m2": two}


def test_load_source_reads_the_manifest(selections):
    m1, m2 = selections["m1"], selections["m2"]
    one = load_source("web", selections["one"])
    assert one.tokens == one.dsir_tokens == m1["counts"]["selected_tokens"]
    assert [sh.path for sh in one.shards] == [os.path.join(selections["one"], o["path"]) for o in m1["outputs"]]
    sea = load_source("sea", selections["two"], "sea", tokens_per_dsir_token=1.3)
    want = next(t for t in m2["per_target"] if t["name"] == "sea")
    assert sea.dsir_tokens == want["selected_tokens"] and sea.tokens == round(want["selected_tokens"] * 1.3)
    assert sea.documents == want["selected"]
    assert sea.shards and all(os.path.basename(sh.path).startswith("part-sea-") for sh in sea.shards)


def test_the_command_on_real_selections(tmp_path, selections, caplog):
    out = tmp_path / "sched"
    with caplog.at_level(logging.WARNING, logger="dsir"):
        r = cli("--source", f"web={selections['one']}", "--source", f"sea={selections['two']}#sea",
                "--source", f"land={selections['two']}#land", "--total-tokens", "1.5M", "--window", 0.2,
                "--upsample", "sea=0.5", "--tokens-per-dsir-token", 1.3, "-o", out)
    assert r.exit_code == 0, r.output + r.stderr
    assert "window tokens 1200000-1500000" in r.stderr
    doc = json.loads((out / "schedule.json").read_text())
    assert doc["total_tokens"] == 1_500_000 and doc["window"] == 0.2 and doc["tokens_per_dsir_token"] == 1.3
    assert [s["target"] for s in doc["sources"]] == [None, "sea", "land"]
    base, window = doc["phases"]
    assert sum(x["tokens"] for x in base["sources"]) == base["tokens"] == 1_200_000
    assert sum(x["tokens"] for x in window["sources"]) == window["tokens"] == 300_000
    assert window["sources"][1] == {"name": "sea", "tokens": 150_000, "weight": 0.5,
                                    "epochs": 150_000 / doc["sources"][1]["tokens"]}
    avail = [s["tokens"] for s in doc["sources"]]
    assert [x["tokens"] for x in base["sources"]] == largest_remainder(1_200_000, avail)
    assert any("is repeated" in w for w in doc["warnings"])  # a few thousand tokens for 1.5M
    assert [m.getMessage() for m in caplog.records] == doc["warnings"]
    for phase in ("base", "window"):
        pairs = parse_megatron((out / f"megatron-{phase}.txt").read_text())
        assert sum(w for w, _ in pairs) == pytest.approx(1, abs=1e-12)
        shards = {sh["prefix"]: sh["path"] for s in doc["sources"] for sh in s["shards"]}
        assert all(os.path.exists(shards[p]) and p.endswith("_text_document") for _, p in pairs)
        neox = json.loads((out / f"gpt-neox-{phase}.json").read_text())
        assert neox["train_data_paths"] == [p for _, p in pairs]
        assert sum(neox["train_data_weights"]) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("args, status, message", [
    (["--source", "a={empty}"], EXIT_INPUT, "manifest.json: not found"),
    (["--source", "a={one}", "--source", "a={one}"], EXIT_USAGE, "--source a is given twice"),
    (["--source", "a={two}#zz"], EXIT_INPUT, "no target named 'zz'"),
    (["--source", "a={one}", "--upsample", "b=0.5"], EXIT_USAGE, "--upsample b: no --source is named 'b'"),
    (["--source", "a={one}", "--upsample", "a"], EXIT_USAGE, "--upsample a: give NAME=SHARE"),
    (["--source", "a={one}", "--window", "1.2"], EXIT_USAGE, "--window must be"),
    (["--source", "a={one}", "--window", "0"], EXIT_USAGE, "--window must be"),
    (["--source", "{one}"], EXIT_USAGE, "give NAME=DIR or NAME=DIR#TARGET"),
])
def test_command_refusals(tmp_path, selections, args, status, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", **selections) for a in args]
    r = cli(*args, "--total-tokens", "1000", "-o", tmp_path / "sched")
    assert r.exit_code == status, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsir: error: ") and message in lines[0]
    assert not (tmp_path / "sched").exists()


def test_total_tokens_must_be_positive(tmp_path, selections):
    r = cli("--source", f"a={selections['one']}", "--total-tokens", "0", "-o", tmp_path / "s")
    assert r.exit_code == EXIT_USAGE and "not a positive number of tokens" in r.stderr
    r = cli("--source", f"a={selections['one']}", "--total-tokens", "2M", "-q", "-o", tmp_path / "s")
    assert r.exit_code == 0 and "schedule of" not in r.stderr
    assert json.loads((tmp_path / "s" / "schedule.json").read_text())["total_tokens"] == 2_000_000


def test_selections_and_the_schedule_on_an_object_store(tmp_path, selections):
    """A selection written to s3:// (by a run with --on-error skip and a bad record) is a source
    as a local one is, and the schedule is written to s3:// too, its paths the shards' URLs."""
    from tests.io.moto_s3 import make_bucket, running_s3_server

    pool = make_pool(str(tmp_path / "pool"), files=2, docs_per_file=40)
    with open(sorted(pool)[0], "a") as f:
        f.write('{"text": "a bad record",}\n')
    target = make_target(str(tmp_path / "sea.jsonl"))
    with running_s3_server():
        fs = make_bucket("dsir-schedule")
        m = DSIR(seed=1, on_error="skip").select(pool, "s3://dsir-schedule/sel", k=20, target=target, report=False)
        assert m["rejects"]["records"] == 1
        r = cli("--source", "remote=s3://dsir-schedule/sel", "--source", f"local={selections['one']}",
                "--total-tokens", "100k", "--upsample", "remote=0.5", "-o", "s3://dsir-schedule/schedule")
        assert r.exit_code == 0, r.output + r.stderr
        doc = json.loads(fs.cat("dsir-schedule/schedule/schedule.json"))
        assert doc["sources"][0]["tokens"] == m["counts"]["selected_tokens"]
        base = parse_megatron(fs.cat("dsir-schedule/schedule/megatron-base.txt").decode())
        assert any(p.startswith("s3://dsir-schedule/sel/part-") for _, p in base)
        assert abs(sum(w for w, _ in base) - 1) < 1e-9
