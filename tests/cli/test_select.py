"""End to end through the CLI: every format, determinism across workers and file splits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dsir.cli.main import main
from tests.conftest import FORMATS, read_any, write_records


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def write_pool(directory: Path, records: list[dict], fmt: str, parts: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(records) // parts)
    for i in range(parts):
        write_records(directory / f"pool-{i:02d}", records[i * size:(i + 1) * size], fmt)
    return directory


def selected(out: Path) -> list[dict]:
    return [r for p in sorted(out.glob("part-*")) for r in read_any(p)]


def digest_dir(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_select_in_every_input_format(tmp_path, example_records, example_target, fmt):
    pool = write_pool(tmp_path / "pool", example_records, fmt, 2)
    out = tmp_path / "out"
    run("select", "--raw", pool, "--target", example_target, "-k", 50, "-o", out, "--workers", 1, "--quiet")
    docs = selected(out)
    assert len(docs) == 50 and len({d["id"] for d in docs}) == 50
    by_id = {r["id"]: r for r in example_records}
    assert all(d == by_id[d["id"]] for d in docs)  # every original field and value kept
    # The target is Jane Austen: the selection is mostly Austen although she is 25% of the pool.
    assert sum(d["source"] == "deb:r-cran-janeaustenr" for d in docs) >= 45
    assert all(p.name.endswith(fmt) for p in out.glob("part-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {**manifest["counts"], "documents": 240, "eligible": 240, "requested": 50,
                                  "selected": 50}
    assert sum(i["documents"] for i in manifest["inputs"]) == 240
    for o in manifest["outputs"]:
        data = (out / o["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == o["sha256"] and len(data) == o["bytes"]
    assert sum(o["documents"] for o in manifest["outputs"]) == 50
    assert manifest["parameters"]["featurizer"]["name"] == "hashed-ngrams-v1"


def test_jsonl_lines_are_copied_byte_for_byte(tmp_path, example_target):
    pool = tmp_path / "pool.jsonl"
    lines = [json.dumps({"text": f"Emma and Mr. Knightley {i}", "x": [1, {"y": None}]}, separators=(",", ":"))
             for i in range(30)]
    pool.write_text("\n".join(lines) + "\n")
    run("select", "--raw", pool, "--target", example_target, "-k", 10, "-o", tmp_path / "o", "--quiet")
    out_lines = (tmp_path / "o" / "part-00000.jsonl").read_text().splitlines()
    assert len(out_lines) == 10 and set(out_lines) <= set(lines)
    assert out_lines == [line for line in lines if line in set(out_lines)]  # input order kept


def test_workers_do_not_change_a_single_byte(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl.zst", 4)
    for workers in (1, 2):
        run("select", "--raw", pool, "--target", example_target, "-k", 60, "-o", tmp_path / f"w{workers}",
            "--workers", workers, "--quiet")
    assert digest_dir(tmp_path / "w1") == digest_dir(tmp_path / "w2")
    assert len(digest_dir(tmp_path / "w1")) == 8  # 4 shards + manifest + dataset card + report.json + report.html


@pytest.mark.parametrize("top_k", [False, True])
def test_resplitting_the_pool_keeps_the_selected_ids(tmp_path, example_records, example_target, top_k):
    flags = ["--top-k"] if top_k else []
    ids = []
    for parts, fmt in ((1, "jsonl"), (7, "jsonl.gz"), (3, "parquet")):
        pool = write_pool(tmp_path / f"pool{parts}", example_records, fmt, parts)
        out = tmp_path / f"out{parts}"
        run("select", "--raw", pool, "--target", example_target, "-k", 40, "-o", out, "--quiet", *flags)
        ids.append(sorted(d["id"] for d in selected(out)))
    assert ids[0] == ids[1] == ids[2]


def test_seed_changes_the_sample_and_top_k_is_deterministic(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 1)
    got = {}
    for name, extra in {"s0": ["--seed", 0], "s1": ["--seed", 1], "t0": ["--top-k", "--seed", 0],
                        "t1": ["--top-k", "--seed", 1]}.items():
        run("select", "--raw", pool, "--target", example_target, "-k", 100, "-o", tmp_path / name, "--quiet", *extra)
        got[name] = {d["id"] for d in selected(tmp_path / name)}
    assert got["s0"] != got["s1"]
    assert got["t0"] == got["t1"]


def test_fraction_min_length_and_too_large_k(tmp_path, example_target, caplog):
    pool = tmp_path / "pool.jsonl"
    texts = ["", "   ", "one", "two words", "three whole words", "and four whole words"] * 5
    pool.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    run("select", "--raw", pool, "--target", example_target, "--fraction", 0.5, "-o", tmp_path / "f", "--quiet")
    m = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert m["counts"]["eligible"] == 20 and m["counts"]["selected"] == 10  # empty texts never eligible
    run("select", "--raw", pool, "--target", example_target, "-k", 10, "--min-length", 3, "-o", tmp_path / "m",
        "--quiet")
    assert {len(d["text"].split()) for d in selected(tmp_path / "m")} == {3, 4}
    result = run("select", "--raw", pool, "--target", example_target, "-k", 1000, "-o", tmp_path / "big", "--quiet")
    assert "more than the 20 eligible documents" in caplog.text
    m = json.loads((tmp_path / "big" / "manifest.json").read_text())
    assert m["counts"]["selected"] == 20 and m["warnings"]


def test_output_format_conversion(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "parquet", 2)
    run("select", "--raw", pool, "--target", example_target, "-k", 30, "-o", tmp_path / "j", "--quiet",
        "--output-format", "jsonl.zst")
    run("select", "--raw", pool, "--target", example_target, "-k", 30, "-o", tmp_path / "p", "--quiet")
    as_jsonl = selected(tmp_path / "j")
    as_parquet = [r for p in sorted((tmp_path / "p").glob("part-*")) for r in pq.read_table(p).to_pylist()]
    assert as_jsonl == as_parquet and len(as_jsonl) == 30


@pytest.mark.parametrize("method", [[], ["--method", "discriminative"]], ids=["dsir", "discriminative"])
def test_fit_then_select_with_the_model_gives_the_same_output(tmp_path, example_records, example_target, method):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 2)
    model = tmp_path / "model.npz"
    run("fit", "--raw", pool, "--target", example_target, "-o", model, "--quiet", *method)
    run("select", "--raw", pool, "--model", model, "-k", 25, "-o", tmp_path / "a", "--quiet", *method)
    run("select", "--raw", pool, "--target", example_target, "-k", 25, "-o", tmp_path / "b", "--quiet", *method)
    a, b = digest_dir(tmp_path / "a"), digest_dir(tmp_path / "b")
    assert a.pop("manifest.json") != b.pop("manifest.json")  # one names the model, the other the target
    for name in ("report.json", "report.html"):  # the model run's report has no target files to show
        assert a.pop(name) != b.pop(name)
    assert a == b and len(a) == 3  # the two shards and the dataset card
    ma, mb = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    assert ma["counts"] == mb["counts"] and ma["model"] == str(model) and mb["model"] is None


def test_score_writes_every_log_weight_with_its_locator(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 2)
    model = tmp_path / "model.npz"
    run("fit", "--raw", pool, "--target", example_target, "-o", model, "--quiet")
    run("score", "--raw", pool, "--model", model, "-o", tmp_path / "scores.parquet", "--quiet")
    table = pq.read_table(tmp_path / "scores.parquet")
    assert table.column_names == ["file", "row", "log_weight", "weight", "key", "tokens", "eligible"]
    assert table.num_rows == 240
    rows = table.to_pylist()
    assert [r["row"] for r in rows if r["file"].endswith("pool-00.jsonl")] == list(range(120))

    def ids_of(best):
        return {example_records[r["row"] + (120 if r["file"].endswith("pool-01.jsonl") else 0)]["id"] for r in best}

    # The k largest keys are exactly what the default 'select' (same options) selects.
    run("select", "--raw", pool, "--model", model, "-k", 40, "-o", tmp_path / "d", "--quiet", "--no-report")
    assert ids_of(sorted(rows, key=lambda r: -r["key"])[:40]) == {d["id"] for d in selected(tmp_path / "d")}
    # ... and so for another weighting: top-k of the summed log-weight is the --top-k --weighting sum selection.
    run("select", "--raw", pool, "--model", model, "-k", 10, "--top-k", "--weighting", "sum", "-o", tmp_path / "t",
        "--quiet")
    best = sorted(rows, key=lambda r: -r["log_weight"])[:10]
    assert ids_of(best) == {d["id"] for d in selected(tmp_path / "t")}


def test_score_takes_the_selection_options_and_an_id_column(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 2)
    out = tmp_path / "s.parquet"
    run("score", "--raw", pool, "--target", example_target, "--weighting", "sum", "--temperature", "0.5",
        "--id-field", "id", "-o", out, "--quiet")
    t = pq.read_table(out).to_pylist()
    assert [r["id"] for r in t] == [r["id"] for r in example_records]
    assert all(abs(r["weight"] - r["log_weight"] / 0.5) < 1e-9 for r in t)
    run("select", "--raw", pool, "--target", example_target, "--weighting", "sum", "--temperature", "0.5",
        "--id-field", "id", "-k", 25, "-o", tmp_path / "d", "--quiet", "--no-report")
    assert {r["id"] for r in sorted(t, key=lambda r: -r["key"])[:25]} == {d["id"] for d in selected(tmp_path / "d")}


def test_id_field_drives_the_noise(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 1)
    renamed = [{**r, "text": r["text"] + " "} for r in example_records]  # same ids, other bytes
    pool2 = write_pool(tmp_path / "pool2", renamed, "jsonl", 1)
    for name, p in (("a", pool), ("b", pool2)):
        run("select", "--raw", p, "--target", example_target, "-k", 60, "--id-field", "id", "-o", tmp_path / name,
            "--quiet")
    assert {d["id"] for d in selected(tmp_path / "a")} == {d["id"] for d in selected(tmp_path / "b")}


@pytest.mark.parametrize("args, message", [
    (["-k", "0"], "k must be a positive number"),
    (["--fraction", "1.5"], "fraction must be in (0, 1]"),
    (["-k", "5", "--fraction", "0.5"], "exactly one of -k, --fraction and --tokens"),
    (["-k", "5", "--tokens", "2k"], "exactly one of -k, --fraction and --tokens"),
    ([], "exactly one of -k, --fraction and --tokens"),
    (["--tokens", "lots"], "not a number of tokens"),
])
def test_bad_k_is_a_usage_error(tmp_path, example_target, args, message):
    pool = tmp_path / "p.jsonl"
    pool.write_text('{"text": "a"}\n')
    result = run("select", "--raw", pool, "--target", example_target, "-o", tmp_path / "o", *args, ok=False)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()


def test_non_empty_output_is_refused_without_overwrite(tmp_path, example_records, example_target):
    pool = write_pool(tmp_path / "pool", example_records, "jsonl", 1)
    out = tmp_path / "o"
    run("select", "--raw", pool, "--target", example_target, "-k", 5, "-o", out, "--quiet")
    result = run("select", "--raw", pool, "--target", example_target, "-k", 5, "-o", out, "--quiet", ok=False)
    assert result.exit_code == 2 and "not empty" in result.output
    (out / "keep.txt").write_text("mine")
    run("select", "--raw", pool, "--target", example_target, "-k", 7, "-o", out, "--quiet", "--overwrite")
    assert len(selected(out)) == 7 and (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["select", "fit", "score"])
def test_help_explains_every_option(command):
    out = run(command, "--help").output
    assert "--raw" in out and "[default:" in out and "--text-field" in out


@pytest.mark.parametrize("given,tokens", [("2000", 2000), ("2k", 2000), ("2K", 2000), ("1.5M", 1_500_000),
                                          ("1.5B", 1_500_000_000), ("2G", 2_000_000_000), ("1T", 10**12),
                                          ("1_000", 1000), ("3,000", 3000)])
def test_tokens_takes_counts_with_decimal_suffixes(given, tokens):
    from dsir.cli.params import TOKEN_COUNT

    assert TOKEN_COUNT.convert(given, None, None) == tokens


@pytest.mark.parametrize("given,message", [("abc", "not a number of tokens"), ("1.5", "whole number"),
                                           ("0", "positive"), ("-3k", "positive"), ("2kB", "not a number")])
def test_tokens_refuses_what_is_not_a_count(given, message):
    import click

    from dsir.cli.params import TOKEN_COUNT

    with pytest.raises(click.BadParameter, match=message):
        TOKEN_COUNT.convert(given, None, None)
