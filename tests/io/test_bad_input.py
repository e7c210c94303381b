"""Bad input, end to end through the CLI: a clear message naming the file (and line or row),
exit status 2, no traceback, and no output."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import EXIT_INPUT, EXIT_USAGE, main
from dsir.errors import InputError
from dsir.pipeline.tasks import ReadSpec
from tests.pipeline.make_data import documents

GOOD = [json.dumps({"text": t}) for t in documents(12, seed=1)]


def lines_file(path, lines: list[str], raw: bytes = b"") -> str:
    with open(path, "wb") as fh:
        fh.write("".join(line + "\n" for line in lines).encode("utf-8") + raw)
    return str(path)


@pytest.fixture
def target(tmp_path):
    return lines_file(tmp_path / "target.jsonl", [json.dumps({"text": t}) for t in documents(5, seed=2)])


def dsir_select(*args: str):
    return CliRunner().invoke(main, ["select", "--quiet", "--no-report", "--workers", "1", *args])


def assert_refused(result, out: str, *fragments: str, status: int = EXIT_INPUT) -> None:
    """Refused with ``status`` (bad input unless told), one error line holding every fragment."""
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("dsir: error: ")
    for fragment in fragments:
        assert fragment in message, message
    # Nothing that could pass for output: no shard, manifest, rejects file or temporary file.
    if os.path.isdir(out):
        assert not [n for n in os.listdir(out) if n != "_dsir"], os.listdir(out)
        assert not [n for n in os.listdir(os.path.join(out, "_dsir")) if "tmp" in n]


BAD_LINES = [
    ("malformed", GOOD[:3] + ['{"text": "unterminated'] + GOOD[3:], 4, "malformed JSON: Unterminated string"),
    ("not-object", GOOD[:2] + ['["text", "x"]'] + GOOD[2:], 3, "expected a JSON object, got a list"),
    ("missing", GOOD[:4] + ['{"body": "no text here"}'] + GOOD[4:], 5, "missing text field 'text'"),
    ("null", GOOD[:5] + ['{"text": null}'] + GOOD[5:], 6, "text field 'text' is null, expected a string"),
    ("number", GOOD[:5] + ['{"text": 42}'] + GOOD[5:], 6, "text field 'text' is a number, expected a string"),
    ("list", GOOD[:1] + ['{"text": ["a", "b"]}'] + GOOD[1:], 2, "text field 'text' is a list, expected a string"),
    ("object", ['{"text": {"a": 1}}'] + GOOD, 1, "text field 'text' is an object, expected a string"),
    # Blank lines count for line numbers (editors show them) but are not records.
    ("after-blanks", GOOD[:2] + ["", "   ", ""] + ['{"text": 1.5}'] + GOOD[2:], 6, "text field 'text' is a number"),
]


@pytest.mark.parametrize("name, lines, line, why", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_raw_record_names_file_and_line(tmp_path, target, name, lines, line, why):
    raw = lines_file(tmp_path / f"{name}.jsonl", lines)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out), out, f"{raw}:{line}: {why}")


def test_bad_target_record_names_the_target_file(tmp_path):
    raw = lines_file(tmp_path / "raw.jsonl", GOOD)
    bad = lines_file(tmp_path / "t.jsonl", GOOD[:2] + ['{"txt": "typo"}'])
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", bad, "-k", "3", "-o", out), out,
                   f"{bad}:3: missing text field 'text'")


def test_invalid_utf8_names_line_and_byte(tmp_path, target):
    raw = lines_file(tmp_path / "latin1.jsonl", GOOD[:2], '{"text": "caf\xe9 au lait"}\n'.encode("latin-1")
                     + "".join(g + "\n" for g in GOOD[2:]).encode())
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out), out,
                   f"{raw}:3: invalid UTF-8 at byte 13 of the line")


def test_other_text_field_is_used_and_checked(tmp_path):
    target = lines_file(tmp_path / "t.jsonl", [json.dumps({"content": "a ship"})])
    raw = lines_file(tmp_path / "raw.jsonl", [json.dumps({"content": "a b c"}), json.dumps({"text": "x"})])
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "--text-field", "content", "-k", "1", "-o", out),
                   out, f"{raw}:2: missing text field 'content'")


def test_error_far_into_a_file_has_its_exact_line(tmp_path):
    """Line numbers stay exact across block boundaries (tiny blocks here)."""
    lines = []
    for i in range(300):
        lines.append(json.dumps({"text": f"doc {i}"}))
        if i % 7 == 0:
            lines.append("")
    lines.insert(250, '{"text": false}')
    raw = lines_file(tmp_path / "long.jsonl", lines)
    d = DSIR(raw_sample=10_000, block_bytes=256)
    with pytest.raises(InputError) as err:
        d.fit(raw, raw)
    assert str(err.value) == f"{raw}:251: text field 'text' is a boolean, expected a string"
    assert (err.value.path, err.value.line) == (raw, 251)


@pytest.mark.parametrize("codec", ["gz", "zst"])
def test_truncated_compressed_file(tmp_path, target, codec):
    data = "".join(g + "\n" for g in GOOD * 40).encode()
    packed = gzip.compress(data) if codec == "gz" else zstandard.ZstdCompressor().compress(data)
    raw = tmp_path / f"cut.jsonl.{codec}"
    raw.write_bytes(packed[: len(packed) * 2 // 3])
    out = str(tmp_path / "out")
    name = {"gz": "gzip", "zst": "zstd"}[codec]
    assert_refused(dsir_select("--raw", str(raw), "--target", target, "-k", "3", "-o", out), out,
                   f"{raw}: cannot decompress ({name}): the file is truncated or corrupt")


def test_corrupt_parquet(tmp_path, target):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": [f"document {i} " * 20 for i in range(500)]}), good, compression="snappy")
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 64] = b"\xff" * 64  # damage the column data, keep the footer
    raw = tmp_path / "bad.parquet"
    raw.write_bytes(bytes(data))
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", str(raw), "--target", target, "-k", "3", "-o", out), out,
                   f"{raw}: corrupt parquet data near row 0")


def test_parquet_that_is_not_parquet(tmp_path, target):
    raw = tmp_path / "fake.parquet"
    raw.write_bytes(b"PAR1 this is not really parquet")
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", str(raw), "--target", target, "-k", "3", "-o", out), out,
                   f"{raw}: not a readable parquet file")


def test_parquet_null_text_and_missing_column(tmp_path, target):
    raw = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["a b", "c d", None, "e f"]}), raw)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", str(raw), "--target", target, "-k", "1", "-o", out), out,
                   f"{raw} (row 2): text column 'text' is null")
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"body": ["a"]}), other)
    out = str(tmp_path / "out2")
    assert_refused(dsir_select("--raw", str(other), "--target", target, "-k", "1", "-o", out), out,
                   f"{other}: no column named 'text' (columns: body)")


def test_empty_raw_pool_and_empty_target(tmp_path, target):
    empty = lines_file(tmp_path / "empty.jsonl", [])
    blank = lines_file(tmp_path / "blank.jsonl", ["", "  ", "\t"])
    raw = lines_file(tmp_path / "raw.jsonl", GOOD)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", empty, "--raw", blank, "--target", target, "-k", "3", "-o", out), out,
                   f"{empty}, {blank}: the raw pool has no documents")
    out2 = str(tmp_path / "out2")
    assert_refused(dsir_select("--raw", raw, "--target", empty, "-k", "3", "-o", out2), out2,
                   f"{empty}: the target has no documents")


def test_an_empty_file_among_others_is_counted_and_named(tmp_path, target):
    """An empty file is not an error (crawls have empty shards) but is named in a warning."""
    empty = lines_file(tmp_path / "a-empty.jsonl", [])
    raw = lines_file(tmp_path / "b.jsonl", GOOD)
    out = str(tmp_path / "out")
    result = dsir_select("--raw", empty, "--raw", raw, "--target", target, "-k", "3", "-o", out)
    assert result.exit_code == 0, result.output
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert [(i["path"], i["documents"]) for i in m["inputs"]] == [(empty, 0), (raw, 12)]
    assert f"{empty}: raw file holds no documents" in m["warnings"]


def test_paths_that_match_nothing(tmp_path, target):
    out = str(tmp_path / "out")
    (tmp_path / "notes.txt").write_text("x")
    cases = [
        (str(tmp_path / "nope.jsonl"), "nope.jsonl: raw path does not exist"),
        (str(tmp_path / "*.jsonl.gz"), ".jsonl.gz: raw glob matches no readable file"),
        (str(tmp_path / "*.txt"), "raw glob matches no readable file (1 files matched but none is jsonl"),
        (str(tmp_path / "notes.txt"), "notes.txt: unsupported file type: expected .jsonl, .jsonl.gz, .jsonl.zst, "
                                      ".parquet or .arrow"),
    ]
    for raw, fragment in cases:
        assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out), out, fragment)
    empty_dir = tmp_path / "emptydir"
    empty_dir.mkdir()
    assert_refused(dsir_select("--raw", str(empty_dir), "--target", target, "-k", "3", "-o", out), out,
                   f"{empty_dir}: raw directory holds no jsonl[.gz|.zst], parquet or arrow file")
    assert not os.path.exists(out)


def test_the_same_file_twice(tmp_path, target):
    raw = lines_file(tmp_path / "raw.jsonl", GOOD)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--raw", str(tmp_path / "." / "raw.jsonl"), "--target", target,
                               "-k", "3", "-o", out), out, "the same file is given twice (also as")
    assert_refused(dsir_select("--raw", raw, "--raw", str(tmp_path / "*.jsonl"), "--target", target,
                               "-k", "3", "-o", out), out, "the same file is given twice")
    assert not os.path.exists(out)


@pytest.mark.parametrize("args, fragment", [
    (["-k", "0"], "k must be a positive number of documents, got 0"),
    (["-k", "-5"], "k must be a positive number of documents, got -5"),
    (["--fraction", "0"], "fraction must be in (0, 1], got 0.0"),
    (["--fraction", "1.5"], "fraction must be in (0, 1], got 1.5"),
    (["--fraction", "-0.1"], "fraction must be in (0, 1], got -0.1"),
    (["--fraction", "nan"], "fraction must be in (0, 1], got nan"),
    (["-k", "3", "--smoothing", "0"], "smoothing must be a positive number, got 0.0"),
    (["-k", "3", "--smoothing", "nan"], "smoothing must be a positive number, got nan"),
])
def test_k_and_fraction_out_of_range(tmp_path, target, args, fragment):
    raw = lines_file(tmp_path / "raw.jsonl", GOOD)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, *args, "-o", out), out, fragment, status=EXIT_USAGE)
    assert not os.path.exists(out)


def test_k_and_fraction_together_or_neither(tmp_path, target):
    raw = lines_file(tmp_path / "raw.jsonl", GOOD)
    out = str(tmp_path / "out")
    for args in (["-k", "3", "--fraction", "0.5"], ["--fraction", "0.5", "--tokens", "100"], []):
        result = dsir_select("--raw", raw, "--target", target, *args, "-o", out)
        assert result.exit_code == 2 and "give exactly one of -k, --fraction and --tokens" in result.stderr
    assert not os.path.exists(out)


def test_blank_lines_are_skipped_and_empty_texts_counted_but_ineligible(tmp_path, target):
    lines = [json.dumps({"text": "a ship at sea"}), "", json.dumps({"text": ""}), "   ",
             json.dumps({"text": "  \n\t "}), json.dumps({"text": "harbour"}), json.dumps({"text": "..."})]
    raw = lines_file(tmp_path / "raw.jsonl", lines)
    out = str(tmp_path / "out")
    result = dsir_select("--raw", raw, "--target", target, "--fraction", "1", "-o", out)
    assert result.exit_code == 0, result.output
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert (m["counts"]["documents"], m["counts"]["eligible"], m["counts"]["selected"]) == (5, 3, 3)
    with open(os.path.join(out, "part-00000.jsonl")) as fh:
        assert fh.read().splitlines() == [lines[0], lines[5], lines[6]]


def test_k_above_eligible_selects_all_with_a_warning(tmp_path, target):
    raw = lines_file(tmp_path / "raw.jsonl", GOOD + [json.dumps({"text": ""})])
    out = str(tmp_path / "out")
    result = dsir_select("--raw", raw, "--target", target, "-k", "100", "-o", out)
    assert result.exit_code == 0, result.output
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert m["counts"]["selected"] == 12
    assert m["warnings"] == ["k = 100 is more than the 12 eligible documents: selecting all of them"]


def test_real_process_prints_one_line_and_no_traceback(tmp_path, target):
    raw = lines_file(tmp_path / "bad.jsonl", GOOD[:1] + ['{"text": "x",}'])
    out = str(tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--workers", "1", "--raw", raw,
                           "--target", target, "-k", "1", "-o", out], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_INPUT
    assert "Traceback" not in proc.stderr
    assert f"dsir: error: {raw}:2: malformed JSON" in proc.stderr
    assert not [n for n in os.listdir(out) if n != "_dsir"]


@pytest.mark.parametrize("separator, line", [("", 4), ("\r", 3)])  # cat of a file without a final newline; bare CRs
@pytest.mark.parametrize("id_field", [None, "id"])
def test_a_line_holding_several_records_is_a_bad_record_not_two(tmp_path, target, separator, line, id_field):
    """Rows never drift from lines: such a line stops the run naming it, or is rejected whole."""
    records = [json.dumps({"text": t, **({"id": f"d{i}"} if id_field else {})})
               for i, t in enumerate(documents(12, seed=1))]
    lines = records[: line - 1] + [separator.join(records[line - 1: line + 2])] + records[line + 2:]
    raw = lines_file(tmp_path / "pool.jsonl", lines)
    extra = ["--id-field", id_field] if id_field else []
    out = str(tmp_path / "out")
    result = dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out, *extra)
    assert_refused(result, out, f"pool.jsonl:{line}:", "more than one JSON value on the line")
    skipped = str(tmp_path / "skipped")
    result = dsir_select("--raw", raw, "--target", target, "-k", "100", "-o", skipped, "--on-error", "skip", *extra)
    assert result.exit_code == 0, result.output
    (reject,) = [json.loads(x) for x in open(os.path.join(skipped, "rejects.jsonl"))]
    assert reject["line"] == line and reject["row"] == line - 1
    kept = [x.rstrip("\n") for p in sorted(os.listdir(skipped)) if p.startswith("part-")
            for x in open(os.path.join(skipped, p), newline="\n")]
    assert sorted(kept) == sorted(x for i, x in enumerate(lines) if i != line - 1)  # the others, unchanged


def test_deeply_nested_json_is_one_line_not_a_traceback(tmp_path, target):
    """Issue 18, item 11: about 1,000 levels of nesting, in the text field and in a --group-by field."""
    deep_text = '{"text": ' + "[" * 1000 + "]" * 1000 + "}"
    raw = lines_file(tmp_path / "deep.jsonl", GOOD[:2] + [deep_text] + GOOD[2:])
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out), out,
                   "deep.jsonl:3:", "nested too deeply")
    skipped = str(tmp_path / "skipped")
    result = dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", skipped, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    (reject,) = [json.loads(x) for x in open(os.path.join(skipped, "rejects.jsonl"))]
    assert reject["line"] == 3 and "nested too deeply" in reject["reason"]
    deep_meta = json.dumps({"text": "harbour storm"})[:-1] + ', "meta": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    raw = lines_file(tmp_path / "meta.jsonl", GOOD[:2] + [deep_meta] + GOOD[2:])
    grouped = str(tmp_path / "grouped")
    result = CliRunner().invoke(main, ["select", "--quiet", "--workers", "1", "--raw", raw, "--target", target, "-k",
                                       "3", "-o", grouped, "--group-by", "meta"])
    assert result.exit_code == 0, result.output
    groups = json.loads(open(os.path.join(grouped, "_dsir", "groups-meta.json")).read())
    assert sum(g["pool"] for g in groups["groups"]) == len(GOOD) + 1


def test_an_id_field_holding_objects_is_one_line(tmp_path, target):
    """Issue 18, item 14."""
    raw = lines_file(tmp_path / "ids.jsonl", [json.dumps({"text": t, "id": {"n": i}})
                                               for i, t in enumerate(documents(4, seed=1))])
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "2", "-o", out, "--id-field", "id"), out,
                   "ids.jsonl:1:", "id field 'id' holds struct")


@pytest.mark.parametrize("bad, reason", [
    ('{"text": "bad \\ud800 here", "id": 700}', "surrogate pair in string is invalid"),
    ('{"text": "a", "text": "b", "id": 700}', "specified twice"),
    ('{"text": "a", "n": 1e400, "id": 700}', "Number too big"),
    ('{"text": "a", "id": "seven hundred"}', "a field changes its type at this record"),
])
def test_records_only_pyarrow_refuses_are_named_by_their_own_line(tmp_path, target, bad, reason):
    """Issue 18, item 17: line 701 of 1,000 is reported as line 701 (not 'lines 1-1000'), and
    under skip it is rejected (a changing id type too) instead of stopping the run."""
    lines = [json.dumps({"text": f"doc {i} words here", "id": i}) for i in range(1000)]
    lines[700] = bad
    raw = lines_file(tmp_path / "pool.jsonl", lines)
    out = str(tmp_path / "out")
    assert_refused(dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", out, "--id-field", "id"), out,
                   "pool.jsonl:701:", reason)
    skipped = str(tmp_path / "skipped")
    result = dsir_select("--raw", raw, "--target", target, "-k", "3", "-o", skipped, "--id-field", "id",
                         "--on-error", "skip")
    assert result.exit_code == 0, result.output
    (reject,) = [json.loads(x) for x in open(os.path.join(skipped, "rejects.jsonl"))]
    assert (reject["line"], reject["row"]) == (701, 700) and reason in reject["reason"]


def test_a_target_whose_records_are_all_rejected_says_so(tmp_path):
    """Issue 18, item 18: not just 'the target has no documents'."""
    raw = lines_file(tmp_path / "pool.jsonl", GOOD)
    bad_target = lines_file(tmp_path / "target.jsonl", ['{"body": "x"}', '{"body": "y"}'])
    out = str(tmp_path / "out")
    result = dsir_select("--raw", raw, "--target", bad_target, "-k", "3", "-o", out, "--on-error", "skip")
    assert_refused(result, out, "the target has no documents: all its 2 records were rejected",
                   "target.jsonl:1: missing text field 'text'")


def test_a_target_file_in_the_pool_is_named_in_a_warning(tmp_path, target):
    raw = lines_file(tmp_path / "pool.jsonl", GOOD)
    out = tmp_path / "out"
    result = dsir_select("--raw", raw, "--raw", target, "--target", target, "-k", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert any("this target file is also in the raw pool" in w and w.startswith(target) for w in warnings)


def test_parquet_binary_columns_become_base64_in_jsonl(tmp_path, target):
    """Issue 18, item 8: not the Python repr "b'\\x00\\xff'"."""
    import base64
    import datetime

    records = [{"text": t, "blob": bytes([0, 255, i]), "day": datetime.date(2026, 12, i + 1)}
               for i, t in enumerate(documents(6, seed=4))]
    raw = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(records), raw)
    out = tmp_path / "out"
    result = dsir_select("--raw", str(raw), "--target", target, "-k", "6", "-o", str(out), "--output-format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for p in sorted(out.glob("part-*")) for x in p.read_text().splitlines()]
    assert sorted(base64.b64decode(r["blob"]) for r in rows) == sorted(r["blob"] for r in records)
    assert sorted(r["day"] for r in rows) == [f"2026-12-0{i + 1}" for i in range(6)]
