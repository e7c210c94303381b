"""CLI conventions (issue 13, item 7): ``--config`` and replay from a manifest, ``-v``/``-q``,
``--dry-run``, distinct exit statuses, and no third-party log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsir.cli.main import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_USAGE, main, select
from tests.cli.test_select import digest_dir, run, write_pool


def shards(out: Path) -> dict[str, str]:
    return {n: h for n, h in digest_dir(out).items() if n.startswith("part-")}


@pytest.fixture
def pool(tmp_path, example_records):
    return write_pool(tmp_path / "pool", example_records, "jsonl", 3)


def test_a_toml_and_a_yaml_config_give_the_flags_selection(tmp_path, pool, example_target):
    run("select", "--raw", pool, "--target", example_target, "-k", 30, "--seed", 5, "--min-length", 3,
        "--output-format", "parquet", "-o", tmp_path / "flags", "--quiet", "--no-report")
    (tmp_path / "c.toml").write_text(f'raw = ["{pool}"]\ntarget = "{example_target}"\nk = 30\nseed = 5\n'
                                     'min-length = 3\noutput_format = "parquet"\nquiet = true\nno-report = true\n')
    (tmp_path / "c.yaml").write_text(f"raw: {pool}\ntarget: [{example_target}]\nk: 30\nseed: 5\nmin_length: 3\n"
                                     "output-format: parquet\nquiet: true\nno_report: true\n")
    for name in ("c.toml", "c.yaml"):
        run("select", "--config", tmp_path / name, "-o", tmp_path / f"out-{name}")
        assert shards(tmp_path / f"out-{name}") == shards(tmp_path / "flags") != {}


def test_the_command_line_overrides_the_config(tmp_path, pool, example_target):
    (tmp_path / "c.toml").write_text(f'raw = ["{pool}"]\ntarget = "{example_target}"\nk = 30\nseed = 5\n')
    run("select", "--config", tmp_path / "c.toml", "-k", 7, "--seed", 6, "-o", tmp_path / "out", "--quiet")
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["counts"]["selected"] == 7 and m["parameters"]["seed"] == 6


@pytest.mark.parametrize("text,why", [
    ("kk = 3\n", "unknown option 'kk' for 'dsir select'"),
    ("top-k = \"yes\"\n", "'top-k' is a flag: true or false"),
    ("seed = [1, 2]\n", "'seed' takes one value"),
    ("k = \n", "not valid TOML"),
])
def test_a_bad_config_is_refused_with_its_file_and_key(tmp_path, text, why):
    (tmp_path / "c.toml").write_text(text)
    res = CliRunner().invoke(main, ["select", "--config", str(tmp_path / "c.toml"), "-o", str(tmp_path / "o")])
    assert res.exit_code == EXIT_USAGE and why in res.output and str(tmp_path / "c.toml") in res.output, res.output
    assert not (tmp_path / "o").exists()


def test_a_config_of_another_kind_or_missing_is_refused(tmp_path):
    (tmp_path / "c.ini").write_text("k = 3\n")
    for path, why in ((tmp_path / "c.ini", "a config is a .toml, .yaml, .yml or .json file"),
                      (tmp_path / "none.toml", "cannot read it")):
        res = CliRunner().invoke(main, ["select", "--config", str(path), "-o", str(tmp_path / "o")])
        assert res.exit_code == EXIT_USAGE and why in res.output, res.output


def test_replay_from_a_manifest_reproduces_the_run_byte_for_byte(tmp_path, pool, example_target):
    """Named targets with proportions, a min length, parquet output, shard limits, group-by."""
    a = tmp_path / "a.jsonl"
    a.write_text("".join(line for i, line in enumerate(Path(example_target).read_text().splitlines(True))
                         if i % 2 == 0))
    first = tmp_path / "first"
    run("select", "--raw", pool, "--target", f"austen={example_target}:3", "--target", f"half={a}:1", "-k", 40,
        "--seed", 11, "--min-length", 4, "--output-format", "parquet", "--max-shard-docs", 5,
        "--group-by", "source", "--no-report", "-o", first, "--quiet")
    replay = json.loads((first / "manifest.json").read_text())["replay"]
    assert set(replay) <= {p.name for p in select.params}  # every key is an option of select
    run("select", "--config", first / "manifest.json", "-o", tmp_path / "again", "--quiet")
    assert shards(tmp_path / "again") == shards(first) and len(shards(first)) > 2
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (first, tmp_path / "again"))
    assert m1["outputs"] == m2["outputs"] and m1["parameters"] == m2["parameters"]
    assert m1["replay"] == m2["replay"]


def test_replay_of_a_run_with_a_saved_model(tmp_path, pool, example_target):
    run("fit", "--raw", pool, "--target", example_target, "-o", tmp_path / "m.npz", "--quiet")
    run("select", "--raw", pool, "--model", tmp_path / "m.npz", "-k", 20, "-o", tmp_path / "first", "--quiet")
    run("select", "--config", tmp_path / "first" / "manifest.json", "-o", tmp_path / "again", "--quiet")
    assert shards(tmp_path / "again") == shards(tmp_path / "first") != {}


def test_replay_of_an_in_memory_run_asks_for_the_raw_data(tmp_path, example_records, example_target):
    from dsir import DSIR

    DSIR(workers=1, progress=False).select([{"text": r["text"]} for r in example_records], str(tmp_path / "first"), k=10,
                                           target=str(example_target), report=False)
    replay = json.loads((tmp_path / "first" / "manifest.json").read_text())["replay"]
    assert replay["raw"] is None  # spooled from memory: gone
    assert [Path(p).name for p in replay["target"]] == [Path(example_target).name]
    res = CliRunner().invoke(main, ["select", "--config", str(tmp_path / "first" / "manifest.json"),
                                    "-o", str(tmp_path / "again")])
    assert res.exit_code == EXIT_USAGE and "Missing option '--raw'" in res.output, res.output


def test_quiet_prints_nothing_and_verbose_adds_debug_lines(tmp_path, pool, example_target):
    base = [sys.executable, "-m", "dsir", "select", "--raw", str(pool), "--target", str(example_target), "-k", "10",
            "--no-report"]
    quiet = subprocess.run(base + ["-o", str(tmp_path / "q"), "-q"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == "", quiet.stderr
    loud = subprocess.run(base + ["-o", str(tmp_path / "v"), "-v"], capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    assert "dsir: DEBUG: plan: count raw, fit target, fit raw, score, write" in loud.stderr
    assert "dsir: DEBUG: score: 3 units" in loud.stderr
    # nothing but dsir's own lines: no third-party logger speaks below warnings
    assert all(line.startswith(("dsir: ", "selected ", "  target ")) for line in loud.stderr.splitlines()), loud.stderr
    assert shards(tmp_path / "q") == shards(tmp_path / "v")


def test_dry_run_says_what_would_be_read_and_writes_nothing(tmp_path, pool, example_target):
    out = tmp_path / "out"
    res = run("select", "--raw", pool, "--target", example_target, "-k", 10, "-o", out, "--dry-run")
    assert not out.exists()
    text = res.stdout
    assert "dry run: nothing was read but file sizes, nothing was written" in text
    assert "raw: 3 files" in text and "target: 1 file" in text
    assert f"output {out}: would write a new selection" in text
    for phase in ("count raw", "fit target", "fit raw", "score", "write"):
        assert f"    {phase} " in text
    total = sum(p.stat().st_size for p in Path(pool).iterdir()) * 4 + Path(example_target).stat().st_size
    assert f"bytes read in all: {total / 1e6:.1f} MB" in text or f"{total / 1e3:.1f} kB" in text


def test_dry_run_refuses_what_the_run_would_refuse(tmp_path, pool, example_target):
    out = tmp_path / "out"
    run("select", "--raw", pool, "--target", example_target, "-k", 10, "-o", out, "--quiet", "--no-report")
    before = digest_dir(out)
    res = run("select", "--raw", pool, "--target", example_target, "-k", 10, "-o", out, "--dry-run", ok=False)
    assert res.exit_code == EXIT_USAGE and "holds an earlier dsir run" in res.output
    res = run("select", "--raw", pool, "--target", example_target, "-k", 10, "-o", out, "--dry-run", "--resume")
    assert "would resume the earlier run" in res.stdout
    res = run("select", "--raw", tmp_path / "missing", "--target", example_target, "-k", 10, "-o", out, "--dry-run",
              ok=False)
    assert res.exit_code == EXIT_INPUT
    assert digest_dir(out) == before


def test_exit_statuses_tell_usage_input_and_output_apart(tmp_path, pool, example_target):
    def status(*args) -> int:
        return CliRunner().invoke(main, ["select", *map(str, args)]).exit_code

    assert status("--raw", pool, "--target", example_target, "-o", tmp_path / "a") == EXIT_USAGE  # no -k
    assert status("--raw", pool, "--target", example_target, "-k", 0, "-o", tmp_path / "b") == EXIT_USAGE
    assert status("--raw", pool, "--bogus") == EXIT_USAGE
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "p.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    assert status("--raw", bad, "--target", example_target, "-k", 1, "-o", tmp_path / "c") == EXIT_INPUT
    assert status("--raw", tmp_path / "nowhere", "--target", example_target, "-k", 1, "-o", tmp_path / "d") == EXIT_INPUT
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert status("--raw", pool, "--target", example_target, "-k", 1, "-o", blocker / "out") == EXIT_OUTPUT


def test_an_interrupted_run_exits_130_with_one_line(tmp_path, example_target):
    """Ctrl-C (SIGINT) in the middle of a run: status 130, one line, no traceback; --resume then
    finishes it as if nothing had happened."""
    pool = tmp_path / "big"
    pool.mkdir()
    line = json.dumps({"text": " ".join(f"word{i % 997} elinor marianne" for i in range(400))}) + "\n"
    for f in range(2):
        (pool / f"p{f}.jsonl").write_text(line * 12_000)  # about 2 x 70 MB: seconds of work
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dsir", "select", "--raw", str(pool), "--target", str(example_target), "-k", "10",
           "-o", str(out), "--no-report", "--workers", "2", "--method", "dsir", "-v"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for text in proc.stderr:
        seen.append(text)
        if "DEBUG: fit raw:" in text:  # the run is under way
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=60)[1]
    stderr = "".join(seen) + rest
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "dsir: interrupted" in stderr and "Traceback" not in stderr, stderr
    assert not (out / "manifest.json").exists()
    done = subprocess.run(cmd[:-1] + ["-q", "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    fresh = [str(tmp_path / "fresh") if a == str(out) else a for a in cmd[:-1]] + ["-q"]
    assert subprocess.run(fresh, capture_output=True, text=True, timeout=300).returncode == 0
    assert shards(out) == shards(tmp_path / "fresh") != {}


def test_a_ray_run_prints_only_dsir_lines(tmp_path, pool, example_target):
    """Starting a local Ray instance logs nothing of Ray's own (issue 13: no third-party noise).
    Without --workers: the instance takes the machine's CPUs (this once failed, 'workers must be
    a positive integer, got None')."""
    pytest.importorskip("ray")
    res = subprocess.run([sys.executable, "-m", "dsir", "select", "--raw", str(pool), "--target", str(example_target),
                          "-k", "10", "--no-report", "--engine", "ray", "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert all(line.startswith(("dsir: ", "selected ")) for line in res.stderr.splitlines()), res.stderr
