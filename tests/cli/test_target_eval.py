"""``--target-eval`` on the command line: ``dsir select`` and ``dsir report``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsir.cli.main import EXIT_INPUT, EXIT_USAGE, main
from tests.cli.test_select import digest_dir, run


@pytest.fixture
def split(tmp_path, example_target) -> dict[str, Path]:
    """The Austen target cut in two: 30 passages to fit on, 10 held out."""
    lines = Path(example_target).read_text().splitlines()
    (tmp_path / "target.jsonl").write_text("\n".join(lines[:30]) + "\n")
    (tmp_path / "eval.jsonl").write_text("\n".join(lines[30:]) + "\n")
    return {"target": tmp_path / "target.jsonl", "eval": tmp_path / "eval.jsonl"}


def report_of(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_select_and_report_with_target_eval(tmp_path, split):
    out = tmp_path / "out"
    run("select", "--raw", "examples/pool", "--target", split["target"], "--target-eval", split["eval"], "-k", 50,
        "-o", out, "--quiet", "--workers", 2)
    pp = report_of(out)["perplexity"]
    assert pp["eval"]["documents"] == 10 and pp["selected"] < pp["pool"]  # Austen-like text predicts Austen better
    assert "held-out perplexity" in (out / "report.html").read_text()
    shards = {n: h for n, h in digest_dir(out).items() if not n.startswith("report")}
    run("report", out, "--quiet")  # kept: the same perplexity without the option
    assert report_of(out)["perplexity"] == pp
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"text": f"the kernel module {i} loads the driver"}) + "\n" for i in range(4)))
    run("report", out, "--target-eval", other, "--quiet")
    assert report_of(out)["perplexity"]["eval"]["paths"] == [str(other)]
    assert {n: h for n, h in digest_dir(out).items() if not n.startswith("report")} == shards


def test_named_targets(tmp_path, split, example_target):
    out = tmp_path / "out"
    run("select", "--raw", "examples/pool", "--target", f"austen={split['target']}", "--target", "b=examples/target",
        "--target-eval", f"austen={split['eval']}", "-k", 40, "-o", out, "--quiet", "--workers", 1)
    targets = {t["name"]: t["perplexity"] for t in report_of(out)["targets"]}
    assert targets["austen"]["eval"]["documents"] == 10
    assert targets["b"]["note"] == "no perplexity: no --target-eval for target b"


def test_the_manifest_replays_the_target_eval(tmp_path, split):
    """``--config OUT/manifest.json`` runs the selection again with its held-out files, named."""
    out, again = tmp_path / "out", tmp_path / "again"
    run("select", "--raw", "examples/pool", "--target", f"austen={split['target']}", "--target-eval",
        f"austen={split['eval']}", "-k", 30, "-o", out, "--quiet", "--workers", 1)
    replay = json.loads((out / "manifest.json").read_text())["replay"]
    assert replay["target_eval"] == [f"austen={split['eval']}"]
    run("select", "--config", out / "manifest.json", "-o", again, "--quiet")
    first, second = report_of(out)["targets"][0]["perplexity"], report_of(again)["targets"][0]["perplexity"]
    assert first == second and first["eval"]["documents"] == 10
    without = tmp_path / "without"
    run("select", "--raw", "examples/pool", "--target", split["target"], "-k", 5, "-o", without, "--quiet")
    assert json.loads((without / "manifest.json").read_text())["replay"]["target_eval"] is None


@pytest.mark.parametrize("value,code,message", [
    ("{d}/missing.jsonl", EXIT_INPUT, "{d}/missing.jsonl: target-eval path does not exist"),
    ("{d}/bad.jsonl", EXIT_INPUT, "{d}/bad.jsonl:2: malformed JSON"),
    ("{d}/empty.jsonl", EXIT_INPUT, "{d}/empty.jsonl: the held-out documents (--target-eval) hold no word"),
    ("austen={d}/eval.jsonl", EXIT_USAGE, "the target has no name, so no NAME="),
])
def test_select_refuses_a_bad_target_eval_up_front(tmp_path, split, value, code, message):
    (tmp_path / "bad.jsonl").write_text('{"text": "Emma"}\n{"text": "Emma",}\n')
    (tmp_path / "empty.jsonl").write_text("")
    res = CliRunner().invoke(main, ["select", "--raw", "examples/pool", "--target", str(split["target"]), "-k", "5",
                                    "--target-eval", value.format(d=tmp_path), "-o", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == code, res.output
    assert message.format(d=tmp_path) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_report_refuses_a_bad_target_eval_and_keeps_the_old(tmp_path, split):
    out = tmp_path / "out"
    run("select", "--raw", "examples/pool", "--target", split["target"], "--target-eval", split["eval"], "-k", 20,
        "-o", out, "--quiet", "--workers", 1)
    kept = (out / "_dsir" / "target-eval.json").read_text()
    res = CliRunner().invoke(main, ["report", str(out), "--target-eval", "x=" + str(split["eval"]), "--quiet"])
    assert res.exit_code == EXIT_USAGE and "the target has no name" in res.output
    res = CliRunner().invoke(main, ["report", str(out), "--target-eval", str(tmp_path / "nope"), "--quiet"])
    assert res.exit_code == EXIT_INPUT and f"{tmp_path}/nope: target-eval path does not exist" in res.output
    assert (out / "_dsir" / "target-eval.json").read_text() == kept
