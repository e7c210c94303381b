"""Nested text fields, ``--text-field meta.text`` (issue 13, item 2): every input format and
in-memory form selects exactly what the same texts in a flat field select, keeps every field
of the records it writes, and names the file and line (or row) of a record it cannot read.

The rule (``dsir.io.fields``): per record, a top-level field named exactly ``meta.text`` wins
when it is there and not null; otherwise the path ``meta`` -> ``text``.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir import DSIR
from dsir.cli.main import main
from dsir.io import fields as fl
from dsir.io.formats import FORMATS as READERS
from dsir.io.formats import TableBlock
from dsir.io.json_text import extract_text_field
from dsir.io.paths import expand_paths
from dsir.io.readers import iter_line_blocks, read_json_text
from tests.conftest import read_any, write_records
from tests.pipeline.make_data import documents

TEXTS = documents(160, seed=5, sea_share=0.3)
TARGET = documents(20, seed=6, sea_share=1.0)
K = 12


def nested(i: int, text: str) -> dict:
    return {"id": f"d{i}", "meta": {"src": f"s{i % 3}", "text": text, "n": i}, "n": i}


def cli(*args, ok: bool = True):
    result = CliRunner().invoke(main, ["select", "--quiet", "--no-report", "--workers", "1", "--seed", "3",
                                       "-k", str(K), *[str(a) for a in args]])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def picked(out: Path) -> list[int]:
    return [r["n"] for p in sorted(out.glob("part-*")) for r in read_any(p)]


def write_target(path: Path, nested_target: bool) -> Path:
    path.write_text("".join(json.dumps({"meta": {"text": t}} if nested_target else {"text": t}) + "\n"
                            for t in TARGET))
    return path


@pytest.fixture(scope="module")
def flat_selection(tmp_path_factory) -> dict:
    """What the texts select from a flat jsonl field, by record number ``n`` (with and without ids)."""
    d = tmp_path_factory.mktemp("flat")
    pool = write_records(d / "pool", [{"text": t, "n": i, "id": f"d{i}"} for i, t in enumerate(TEXTS)], "jsonl")
    target = write_target(d / "target.jsonl", False)
    cli("--raw", pool, "--target", target, "-o", d / "out")
    cli("--raw", pool, "--target", target, "-o", d / "out-id", "--id-field", "id")
    return {"plain": picked(d / "out"), "id": picked(d / "out-id")}


def write_nested(directory: Path, records: list[dict], fmt: str) -> Path:
    """``records`` in ``fmt``, written by the library a user would write them with."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "arrow":
        path = directory / "pool.feather"
        feather.write_feather(pa.Table.from_pylist(records), path)
        return path
    if fmt == "hf-saved":
        datasets.Dataset.from_list(records).save_to_disk(str(directory / "saved"))
        return directory / "saved"
    return write_records(directory / "pool", records, fmt)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "arrow", "hf-saved"])
def test_a_nested_text_field_selects_what_the_flat_field_selects(tmp_path, flat_selection, fmt):
    records = [nested(i, t) for i, t in enumerate(TEXTS)]
    pool = write_nested(tmp_path / "in", records, fmt)
    target = write_target(tmp_path / "target.jsonl", True)
    cli("--raw", pool, "--target", target, "--text-field", "meta.text", "-o", tmp_path / "out")
    assert picked(tmp_path / "out") == flat_selection["plain"]
    shards = sorted((tmp_path / "out").glob("part-*"))
    assert [r for p in shards for r in read_any(p)] == [records[n] for n in flat_selection["plain"]]
    if fmt == "jsonl":  # lines copied byte for byte
        lines = set(pool.read_bytes().splitlines())
        assert set(shards[0].read_bytes().splitlines()) <= lines
    cli("--raw", pool, "--target", target, "--text-field", "meta.text", "--id-field", "id", "-o", tmp_path / "out-id")
    assert picked(tmp_path / "out-id") == flat_selection["id"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_nested_id_field(tmp_path, flat_selection, fmt):
    records = [{"meta": {"id": f"d{i}", "text": t}, "n": i} for i, t in enumerate(TEXTS)]
    pool = write_nested(tmp_path / "in", records, fmt)
    target = write_target(tmp_path / "target.jsonl", False)
    cli("--raw", pool, "--target", target, "--text-field", "meta.text", "--target-text-field", "text",
        "--id-field", "meta.id", "-o", tmp_path / "out")
    assert picked(tmp_path / "out") == flat_selection["id"]


def test_the_target_text_field_may_be_nested_and_the_raw_one_flat(tmp_path, flat_selection):
    pool = write_records(tmp_path / "pool", [{"text": t, "n": i} for i, t in enumerate(TEXTS)], "parquet")
    target = write_target(tmp_path / "target.jsonl", True)
    cli("--raw", pool, "--target", target, "--target-text-field", "meta.text", "-o", tmp_path / "out")
    assert picked(tmp_path / "out") == flat_selection["plain"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"meta": [{"text": t, "src": "x"} for t in TEXTS], "n": range(len(TEXTS))})


FORMS = {
    "records": (lambda: [nested(i, t) for i, t in enumerate(TEXTS)], lambda got: [r["n"] for r in got]),
    "arrow-table": (lambda: pa.Table.from_pylist([nested(i, t) for i, t in enumerate(TEXTS)]),
                    lambda got: got.column("n").to_pylist()),
    "pandas": (_frame, lambda got: got["n"].tolist()),
    "hf-dataset": (lambda: datasets.Dataset.from_list([nested(i, t) for i, t in enumerate(TEXTS)]),
                   lambda got: list(got["n"])),
}


@pytest.mark.parametrize("form", FORMS)
def test_in_memory_nested_fields(form, flat_selection):
    make, rows_of = FORMS[form]
    target = [{"meta": {"text": t}} for t in TARGET]
    got = DSIR(seed=3, text_field="meta.text").select(make(), k=K, target=target)
    assert rows_of(got) == flat_selection["plain"]
    got = DSIR(seed=3, text_field="meta.text", target_text_field="text").select(make(), k=K, target=list(TARGET))
    assert rows_of(got) == flat_selection["plain"]


# --- the precedence rule ---------------------------------------------------------------

def _with_decoys(i: int, t: str, jsonl: bool = False) -> dict:
    """Record ``i`` with its text in one of the places the rule looks, and a decoy elsewhere."""
    decoy = "decoy " + TEXTS[-1 - i]
    variants = [{"meta.text": t, "meta": {"text": decoy}, "n": i},      # the exact top-level key wins
                {"meta": {"text": t}, "meta.text": None, "n": i},        # ... unless it is null
                {"meta": {"text": decoy}, "n": i, "meta.text": t},      # whatever the key order
                {"n": i, "meta": {"text": t}},                           # no exact key: the path
                {"meta.text": t, "n": i}]                                # no path: the exact key
    if jsonl:  # a path that is no object does not matter when the exact key wins
        variants += [{"meta": decoy, "meta.text": t, "n": i}, {"meta": {"text": 5}, "meta.text": t, "n": i}]
    return variants[i % len(variants)]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl-read-by-pyarrow", "parquet", "arrow"])
def test_a_top_level_field_named_with_the_dots_wins_record_by_record(tmp_path, flat_selection, fmt):
    records = [_with_decoys(i, t, fmt.startswith("jsonl")) for i, t in enumerate(TEXTS)]
    if fmt == "jsonl-read-by-pyarrow":  # a number the compiled reader leaves to pyarrow, in every block
        records = [{**r, "f": 1e300} for r in records]
        fmt = "jsonl"
    pool = write_nested(tmp_path / "in", records, fmt)  # parquet and arrow: columns 'meta.text' and 'meta'
    if fmt != "jsonl":
        assert {"meta.text", "meta"} <= set(pq.read_schema(pool).names if fmt == "parquet"
                                            else feather.read_table(pool).column_names)
    target = write_target(tmp_path / "target.jsonl", False)
    cli("--raw", pool, "--target", target, "--text-field", "meta.text", "--target-text-field", "text",
        "-o", tmp_path / "out")
    assert picked(tmp_path / "out") == flat_selection["plain"]


def test_the_compiled_reader_follows_the_rule_without_leaving_lines_to_pyarrow():
    lines = [json.dumps(_with_decoys(i, t, jsonl=True)).encode() for i, t in enumerate(TEXTS)]
    buf = np.frombuffer(b"\n".join(lines) + b"\n", dtype=np.uint8)
    ends = np.cumsum([len(x) + 1 for x in lines]) - 1
    got = extract_text_field(buf, ends - np.array([len(x) for x in lines]), ends, "meta.text")
    assert isinstance(got, tuple)  # read in one pass
    data, offsets = got
    assert [bytes(data[offsets[i]:offsets[i + 1]]).decode() for i in range(len(lines))] == TEXTS


@pytest.mark.parametrize("meta", [{"other": "x"}, {"text": 5}, 5], ids=["no-text", "int-text", "no-struct"])
def test_a_parquet_column_named_with_the_dots_is_read_whatever_the_path_holds(tmp_path, flat_selection, meta):
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"meta.text": TEXTS, "meta": [meta] * len(TEXTS), "n": range(len(TEXTS))}), pool)
    target = write_target(tmp_path / "target.jsonl", False)
    cli("--raw", pool, "--target", target, "--text-field", "meta.text", "--target-text-field", "text",
        "-o", tmp_path / "out")
    assert picked(tmp_path / "out") == flat_selection["plain"]


# --- bad records -------------------------------------------------------------------------

BAD_JSONL = [
    ('{"n": -1}', "missing text field 'meta.text' (no field 'meta')"),
    ('{"meta": {"src": "x"}, "n": -1}', "missing text field 'meta.text' (no field 'text' in 'meta')"),
    ('{"meta": 5, "n": -1}', "text field 'meta.text': 'meta' is a number, expected an object"),
    ('{"meta": "a string", "n": -1}', "text field 'meta.text': 'meta' is a string, expected an object"),
    ('{"meta": null, "n": -1}', "text field 'meta.text': 'meta' is null, expected an object"),
    ('{"meta": ["x"], "n": -1}', "text field 'meta.text': 'meta' is a list, expected an object"),
    ('{"meta": {"text": 7}, "n": -1}', "text field 'meta.text' is a number, expected a string"),
    ('{"meta": {"text": null}, "n": -1}', "text field 'meta.text' is null, expected a string"),
    ('{"meta": {"text": {"a": "b"}}, "n": -1}', "text field 'meta.text' is an object, expected a string"),
    ('{"meta.text": 3, "meta": {"text": "x"}, "n": -1}', "text field 'meta.text' is a number, expected a string"),
    ('{"meta.text": null, "n": -1}', "text field 'meta.text' is null, expected a string"),
]


def _dirty_jsonl(tmp_path: Path, bad: str) -> Path:
    """The pool with a bad record on line 4 (after a blank line): row 2."""
    good = [json.dumps(nested(i, t)) for i, t in enumerate(TEXTS)]
    path = tmp_path / "dirty.jsonl"
    path.write_text("\n".join(good[:2] + ["", bad] + good[2:]) + "\n")
    return path


@pytest.mark.parametrize("bad,why", BAD_JSONL, ids=[w for _, w in BAD_JSONL])
def test_a_bad_jsonl_record_is_named_by_line_or_rejected(tmp_path, flat_selection, bad, why):
    pool = _dirty_jsonl(tmp_path, bad)
    target = write_target(tmp_path / "target.jsonl", True)
    args = ("--raw", pool, "--target", target, "--text-field", "meta.text")
    stopped = cli(*args, "-o", tmp_path / "stop", ok=False)
    assert stopped.exit_code == 3 and stopped.stderr.strip() == f"dsir: error: {pool}:4: {why}"
    cli(*args, "-o", tmp_path / "skip", "--on-error", "skip")
    rejects = [json.loads(line) for line in (tmp_path / "skip" / "rejects.jsonl").read_text().splitlines()]
    assert rejects == [{"file": str(pool), "line": 4, "row": 2, "reason": why, "record": bad}]
    assert picked(tmp_path / "skip") == flat_selection["plain"]


def test_a_deeper_path_names_where_it_stops(tmp_path):
    for i, (bad, why) in enumerate([
            ('{"a": {}}', "missing text field 'a.b.c' (no field 'b' in 'a')"),
            ('{"a": {"b": 1}}', "text field 'a.b.c': 'a.b' is a number, expected an object"),
            ('{"a": {"b": {"c": false}}}', "text field 'a.b.c' is a boolean, expected a string")]):
        pool = tmp_path / f"pool-{i}.jsonl"
        pool.write_text('{"a": {"b": {"c": "fine"}}}\n' + bad + "\n")
        result = cli("--raw", pool, "--target", write_target(tmp_path / "t.jsonl", False), "--text-field", "a.b.c",
                     "--target-text-field", "text", "-o", tmp_path / f"out-{i}", ok=False)
        assert result.stderr.strip() == f"dsir: error: {pool}:2: {why}"


def _table_pool(tmp_path: Path, fmt: str, meta: pa.Array) -> Path:
    table = pa.table({"meta": meta, "n": range(len(meta))})
    if fmt == "arrow":
        feather.write_feather(table, tmp_path / "pool.arrow")
        return tmp_path / "pool.arrow"
    pq.write_table(table, tmp_path / "pool.parquet")
    return tmp_path / "pool.parquet"


def _with_null(texts: list, row: int, where: str) -> pa.Array:
    """A struct column ``meta`` of ``texts`` whose ``row`` is a null text or a null struct."""
    meta = [{"text": t, "src": "x"} for t in texts]
    if where == "text":
        meta[row]["text"] = None
    else:
        meta[row] = None
    return pa.array(meta, pa.struct([("text", pa.string()), ("src", pa.string())]))


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("where,why", [("text", "text column 'meta.text' is null"),
                                       ("struct", "text column 'meta.text' is null (struct 'meta' is null)")])
def test_a_null_in_a_struct_column_is_named_by_row_or_rejected(tmp_path, fmt, where, why):
    pool = _table_pool(tmp_path, fmt, _with_null(TEXTS, 2, where))
    target = write_target(tmp_path / "target.jsonl", True)
    args = ("--raw", pool, "--target", target, "--text-field", "meta.text")
    stopped = cli(*args, "-o", tmp_path / "stop", ok=False)
    assert stopped.exit_code == 3 and stopped.stderr.strip() == f"dsir: error: {pool} (row 2): {why}"
    cli(*args, "-o", tmp_path / "skip", "--on-error", "skip")
    rejects = [json.loads(line) for line in (tmp_path / "skip" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"], r["row"], r["reason"]) for r in rejects] == [(str(pool), None, 2, why)]
    assert 2 not in picked(tmp_path / "skip")


@pytest.mark.parametrize("meta,why", [
    (pa.array([{"src": "x"}] * 3), "no column named 'meta.text' (columns: meta, n), and struct column 'meta' has "
                                   "no field 'text' (its fields: src)"),
    (pa.array([1, 2, 3]), "no column named 'meta.text' (columns: meta, n), and column 'meta' has type int64, "
                          "not a struct with a field 'text'"),
    (pa.array([{"text": 1}] * 3), "column 'meta.text' has type int64, expected a string column"),
])
def test_a_struct_column_without_a_string_at_the_path_is_refused(tmp_path, meta, why):
    pool = _table_pool(tmp_path, "parquet", meta)
    result = cli("--raw", pool, "--target", write_target(tmp_path / "t.jsonl", True), "--text-field", "meta.text",
                 "-o", tmp_path / "out", ok=False)
    assert result.exit_code != 0 and result.stderr.strip() == f"dsir: error: {pool}: {why}"


# --- chunks and group labels -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_chunks_of_a_nested_text_are_written_in_place(tmp_path, fmt):
    target = write_target(tmp_path / "target.jsonl", False)
    chunks = ("--chunk-words", "8", "--emit", "chunks", "--target-text-field", "text")
    flat = write_nested(tmp_path / "flat", [{"text": t, "n": i} for i, t in enumerate(TEXTS)], fmt)
    cli("--raw", flat, "--target", target, *chunks, "-o", tmp_path / "a")
    records = [nested(i, t) for i, t in enumerate(TEXTS)]
    pool = write_nested(tmp_path / "nested", records, fmt)
    cli("--raw", pool, "--target", target, *chunks, "--text-field", "meta.text", "-o", tmp_path / "b")
    want = [{**records[r["n"]], "meta": {**records[r["n"]]["meta"], "text": r["text"]},
             "chunk_index": r["chunk_index"]} for r in read_any(next((tmp_path / "a").glob("part-*")))]
    assert read_any(next((tmp_path / "b").glob("part-*"))) == want


def test_group_labels_follow_the_rule_in_every_reader(tmp_path):
    records = [{"meta": {"src": f"s{i % 3}", "text": "t"}} for i in range(6)]
    records[1] = {"meta.src": "exact", "meta": {"src": "decoy", "text": "t"}}
    records[4] = {"meta": {"text": "t"}}
    want = ["s0", "exact", "s2", "s0", "(missing)", "s2"]
    path = write_records(tmp_path / "pool", records, "jsonl")
    file = expand_paths([str(path)])[0]
    block = next(iter_line_blocks(file))
    assert READERS["jsonl"].field_labels(file, block, "meta.src").to_pylist() == want
    records[2] = {"meta": {"src": 5, "text": "t"}}  # not a string: pyarrow's reader, then Python's
    path = write_records(tmp_path / "pool2", records, "jsonl")
    block = next(iter_line_blocks(expand_paths([str(path)])[0]))
    assert READERS["jsonl"].field_labels(file, block, "meta.src").to_pylist() == [
        "s0", "exact", "5", "s0", "(missing)", "s2"]
    table = pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(
        [r for i, r in enumerate(records) if i != 2]))])  # fields of every record (from_pylist: the first's)
    assert READERS["parquet"].field_labels(file, TableBlock(table, 0), "meta.src").to_pylist() == [
        "s0", "exact", "s0", "(missing)", "s2"]


# --- the compiled reader against the rule, on random records ----------------------------

_keys = st.sampled_from(["meta", "text", "meta.text", "x", "métа"])
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-99, 99), st.text(max_size=8))
_value = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
                      max_leaves=8)


def _by_rule(line: bytes, name: str) -> str | None:
    """The string the rule picks, by Python's json, or None where there is none."""
    value, why = fl.json_field(json.loads(line), name, "text field")
    return value if why is None and isinstance(value, str) else None


def _by_pyarrow(line: bytes, name: str) -> str | None:
    """The string pyarrow's JSON reader picks with the rule's schema (dsir's slow path), or None."""
    try:
        return fl.column(read_json_text(line + b"\n", name, infer=False), name)[0].as_py()
    except pa.ArrowException:
        return None


@st.composite
def _records(draw) -> tuple[dict, str]:
    """A record and a dotted name, with a string at the path, at the exact key, both or neither,
    among random fields, in a random order (and random values wherever the path goes)."""
    name = draw(st.sampled_from(["meta.text", "métа.text", "a.b.c"]))
    path = name.split(".")
    items = list(draw(st.dictionaries(_keys, _value, max_size=3)).items())
    put = lambda value: draw(st.one_of(st.text(max_size=8), _value)) if draw(st.booleans()) else value
    if draw(st.booleans()):  # the path, with a string (usually) at its end
        value = put(draw(st.text(max_size=8)))
        for part in reversed(path[1:]):
            inner = list(draw(st.dictionaries(_keys, _value, max_size=2)).items())
            inner.insert(draw(st.integers(0, len(inner))), (part, value))
            value = dict(inner)
        items.insert(draw(st.integers(0, len(items))), (path[0], value))
    if draw(st.booleans()):  # the exact key: a string, null or anything
        items.insert(draw(st.integers(0, len(items))), (name, put(draw(st.one_of(st.none(), st.text(max_size=8))))))
    record: dict = {}
    for k, v in items:
        record.setdefault(k, v)  # one value per key: json.dumps of a dict writes no repeats
    return record, name


@settings(max_examples=400, deadline=None)
@given(case=_records(), ensure_ascii=st.booleans())
def test_the_compiled_reader_reads_a_dotted_field_as_the_rule_and_pyarrow_do(case, ensure_ascii):
    record, name = case
    line = json.dumps(record, ensure_ascii=ensure_ascii).encode()
    assert _by_pyarrow(line, name) == _by_rule(line, name), line  # dsir's slow path
    buf = np.frombuffer(line + b"\0", dtype=np.uint8)
    got = extract_text_field(buf, np.array([0]), np.array([len(line)]), name)
    if isinstance(got, int):
        return  # left to pyarrow, which reads it or names the line
    data, offsets = got
    text = bytes(data[offsets[0]:offsets[1]]).decode()
    assert text == _by_rule(line, name) == _by_pyarrow(line, name), line


def test_a_name_with_an_empty_part_is_only_a_top_level_name():
    assert fl.path_of("a..b") is None and fl.path_of(".a") is None and fl.path_of("a.") is None
    assert fl.json_field({"a": {"": {"b": "x"}}}, "a..b", "text field") == (None, "missing text field 'a..b'")
