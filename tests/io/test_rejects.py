"""``--on-error skip``: bad records are skipped, listed in rejects.jsonl and counted; the
selection over a dirty file equals the selection over the same file cleaned."""

from __future__ import annotations

import base64
import gzip
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir import DSIR
from dsir.errors import InputError
from dsir.io.paths import InputFile
from dsir.io.readers import iter_text_batches
from dsir.io.rejects import Reject
from tests.pipeline.make_data import documents, make_target

BAD = [
    (b'{"text": "unterminated', "malformed JSON: Unterminated string starting at (column 10)"),
    (b'{"body": "no text"}', "missing text field 'text'"),
    (b'{"text": null}', "text field 'text' is null, expected a string"),
    (b'{"text": 17}', "text field 'text' is a number, expected a string"),
    (b'{"text": ["x"]}', "text field 'text' is a list, expected a string"),
    (b'{"text": "caf\xe9"}', "invalid UTF-8 at byte 13 of the line"),
    (b'"just a string"', "expected a JSON object, got a string"),
]


def dirty_and_clean(tmp_path, n_good=60, seed=5):
    """A jsonl file with the BAD lines spread among good ones (and blank lines), and the same
    file without them; returns the paths and where each bad line landed (line, row)."""
    good = [json.dumps({"text": t, "n": i}).encode() for i, t in enumerate(documents(n_good, seed))]
    rng = np.random.default_rng(seed)
    slots = sorted(rng.choice(np.arange(1, n_good), size=len(BAD), replace=False).tolist())
    lines, where = [], []
    b = 0
    for i, g in enumerate(good):
        if b < len(BAD) and i == slots[b]:
            lines.append(BAD[b][0])
            where.append(len(lines))
            b += 1
        if i % 9 == 0:
            lines.append(b"")
        lines.append(g)
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_bytes(b"".join(line + b"\n" for line in lines))
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"".join(line + b"\n" for line in lines if line and line not in dict(BAD)))
    nonblank = [i + 1 for i, line in enumerate(lines) if line]
    rows = [nonblank.index(line) for line in where]
    return str(dirty), str(clean), list(zip(where, rows))


def select(raw, target, out, **kw):
    k = kw.pop("k", 15)
    report = kw.pop("report", False)
    return DSIR(raw_sample=kw.pop("raw_sample", 100_000), **kw).select(raw, out, k=k, target=target, report=report)


def shards(out):
    return {n: open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out)) if n.startswith("part-")}


def test_skip_lists_every_bad_record_and_selects_as_if_they_were_absent(tmp_path):
    dirty, clean, where = dirty_and_clean(tmp_path)
    target = make_target(str(tmp_path / "t.jsonl"))
    m = select(dirty, target, str(tmp_path / "a"), on_error="skip")
    ref = select(clean, target, str(tmp_path / "b"))
    assert shards(str(tmp_path / "a")) == shards(str(tmp_path / "b"))
    assert m["counts"]["documents"] == ref["counts"]["documents"] == 60
    assert m["counts"]["rejected"] == len(BAD) and m["inputs"][0]["rejected"] == len(BAD)
    assert m["parameters"]["on_error"] == "skip"
    assert m["rejects"] == {"path": "rejects.jsonl", "records": len(BAD)}
    with open(tmp_path / "a" / "rejects.jsonl", "rb") as fh:
        listed = [json.loads(line) for line in fh]
    assert [(r["line"], r["row"], r["reason"]) for r in listed] == [
        (line, row, why) for (line, row), (_, why) in zip(where, BAD)]
    for r, (raw, _) in zip(listed, BAD):
        assert r["file"] == dirty
        got = r["record"].encode() if "record" in r else base64.b64decode(r["record_base64"])
        assert got == raw  # the record itself, byte for byte
    assert f"{len(BAD)} bad records were skipped ({len(BAD)} raw, 0 target); each is listed with its file, " \
           "line and reason in rejects.jsonl" in m["warnings"]


def test_skip_with_a_sampled_raw_fit_and_small_blocks(tmp_path):
    """Rows stay aligned between passes when the raw model sees only a sample and blocks are tiny
    (the n-gram ratio's raw model: ``raw_sample`` is its sample size)."""
    dirty, clean, where = dirty_and_clean(tmp_path, n_good=200, seed=8)
    target = make_target(str(tmp_path / "t.jsonl"))
    from dsir.pipeline.tasks import ReadSpec

    runs = {}
    for name, raw, policy in (("a", dirty, "skip"), ("b", clean, "stop")):
        d = DSIR(method="dsir", raw_sample=60, on_error=policy, block_bytes=512)
        runs[name] = d.select(raw, str(tmp_path / name), k=30, target=target, report=False)
    a, b = runs["a"], runs["b"]
    assert a["counts"]["rejected"] == len(BAD)
    assert a["fit"]["raw_sample_rate"] < 1 and a["fit"]["raw_documents"] < a["fit"]["raw_pool_documents"]
    assert a["counts"]["documents"] == b["counts"]["documents"] == 200
    # Pools differ in size (bad lines are counted before they are parsed), so the raw
    # sample rate differs; what must hold is that no bad record is ever selected and
    # every selected line is a good record of the file, in file order.
    out_lines = shards(str(tmp_path / "a"))["part-00000.jsonl"].splitlines()
    good_lines = [line for line in open(clean, "rb").read().splitlines()]
    assert len(out_lines) == 30 and set(out_lines) <= set(good_lines)
    assert out_lines == sorted(out_lines, key=good_lines.index)


def test_stop_is_the_default(tmp_path):
    dirty, _, where = dirty_and_clean(tmp_path)
    target = make_target(str(tmp_path / "t.jsonl"))
    with pytest.raises(InputError) as err:
        select(dirty, target, str(tmp_path / "a"))
    assert str(err.value).startswith(f"{dirty}:{where[0][0]}: malformed JSON")
    assert not [n for n in os.listdir(tmp_path / "a") if n != "_dsir"]


def test_bad_target_records_are_skipped_and_listed_first(tmp_path):
    dirty, clean, where = dirty_and_clean(tmp_path, n_good=30)
    raw = make_target(str(tmp_path / "raw.jsonl"), n=40, seed=3)
    m = select(raw, dirty, str(tmp_path / "a"), on_error="skip")
    ref = select(raw, clean, str(tmp_path / "b"))
    assert m["fit"]["target_documents"] == ref["fit"]["target_documents"] == 30
    assert m["fit"]["target_rejected"] == len(BAD) and m["counts"]["rejected"] == 0
    assert m["targets"][0]["rejected"] == len(BAD) and m["targets"][0]["documents"] == 30
    assert shards(str(tmp_path / "a")) == shards(str(tmp_path / "b"))
    with open(tmp_path / "a" / "rejects.jsonl") as fh:
        assert [json.loads(line)["line"] for line in fh] == [w[0] for w in where]


def test_skip_in_parquet_rejects_null_texts_by_row(tmp_path):
    texts = documents(30, seed=4)
    with_nulls = list(texts)
    for r in (0, 11, 29):
        with_nulls[r] = None
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.table({"text": pa.array(with_nulls, pa.string()), "n": list(range(30))}), raw)
    target = make_target(str(tmp_path / "t.jsonl"))
    m = select(str(raw), target, str(tmp_path / "a"), on_error="skip", k=27)
    assert m["counts"]["documents"] == 27 and m["counts"]["selected"] == 27 and m["counts"]["rejected"] == 3
    selected = pq.read_table(tmp_path / "a" / "part-00000.parquet")
    assert selected.column("n").to_pylist() == [i for i in range(30) if i not in (0, 11, 29)]
    with open(tmp_path / "a" / "rejects.jsonl") as fh:
        listed = [json.loads(line) for line in fh]
    assert [(r["row"], r["line"], r["reason"]) for r in listed] == [
        (r, None, "text column 'text' is null") for r in (0, 11, 29)]


def test_skip_rejects_missing_ids(tmp_path):
    raw = tmp_path / "raw.jsonl"
    recs = [{"text": t, "id": i} for i, t in enumerate(documents(10, seed=6))]
    del recs[4]["id"]
    recs[7]["id"] = None
    raw.write_text("".join(json.dumps(r) + "\n" for r in recs))
    target = make_target(str(tmp_path / "t.jsonl"))
    with pytest.raises(InputError, match=r"raw.jsonl:5: id field 'id' is missing or null"):
        select(str(raw), target, str(tmp_path / "stop"), id_field="id")
    m = select(str(raw), target, str(tmp_path / "a"), on_error="skip", id_field="id", k=100)
    assert m["counts"]["rejected"] == 2 and m["counts"]["selected"] == 8
    with open(tmp_path / "a" / "rejects.jsonl") as fh:
        assert [(json.loads(line)["line"], json.loads(line)["reason"]) for line in fh] == [
            (5, "id field 'id' is missing or null"), (8, "id field 'id' is missing or null")]


def test_skip_does_not_hide_a_damaged_file(tmp_path):
    """Records can be skipped; a truncated file cannot (how much was lost is unknown)."""
    data = "".join(json.dumps({"text": t}) + "\n" for t in documents(200, seed=1)).encode()
    raw = tmp_path / "cut.jsonl.gz"
    raw.write_bytes(gzip.compress(data)[:-50])
    target = make_target(str(tmp_path / "t.jsonl"))
    with pytest.raises(InputError, match="cannot decompress \\(gzip\\): the file is truncated or corrupt"):
        select(str(raw), target, str(tmp_path / "a"), on_error="skip")


def test_reader_keeps_rows_aligned_in_skip_mode(tmp_path):
    raw = tmp_path / "r.jsonl"
    raw.write_bytes(b'{"text": "a"}\n\n{"text": 3}\n{"text": "b"}\n{bad\n{"text": "c"}\n')
    f = InputFile(str(raw), "jsonl", None, raw.stat().st_size)
    batches = list(iter_text_batches(f, on_error="skip"))
    texts = [t for b in batches for t in b.texts.to_pylist()]
    rejects = [r for b in batches for r in b.rejects]
    assert texts == ["a", "", "b", "", "c"]
    assert rejects == [
        Reject(str(raw), 1, "text field 'text' is a number, expected a string", 3, b'{"text": 3}'),
        Reject(str(raw), 3, "malformed JSON: Expecting property name enclosed in double quotes (column 2)", 5,
               b"{bad"),
    ]


def test_score_api_marks_rejected_rows(tmp_path):
    raw = tmp_path / "r.jsonl"
    raw.write_bytes(b'{"text": "a ship"}\n{"text": null}\n\n{"text": "the harbour"}\n')
    target = make_target(str(tmp_path / "t.jsonl"))
    d = DSIR(on_error="skip").fit(str(raw), target)
    table = d.score(str(raw))
    assert table.column("row").to_pylist() == [0, 1, 2]
    assert table.column("rejected").to_pylist() == [False, True, False]
    assert table.column("eligible").to_pylist() == [True, False, True]
    with pytest.raises(InputError, match=r"r.jsonl:2: text field 'text' is null"):
        DSIR(on_error="stop").fit(str(raw), target)


def test_report_and_groups_read_files_with_rejected_records(tmp_path):
    raw = tmp_path / "raw.jsonl"
    recs = [json.dumps({"text": t, "source": "a" if i % 2 else "b"}) for i, t in enumerate(documents(20, seed=2))]
    recs[3], recs[8] = '{"text": 7, "source": "a"}', '{oops'
    raw.write_text("".join(r + "\n" for r in recs))
    target = make_target(str(tmp_path / "t.jsonl"))
    out = tmp_path / "a"
    m = DSIR(on_error="skip").select(str(raw), str(out), k=5, target=target, group_by="source")
    assert m["counts"]["rejected"] == 2
    report = json.loads((out / "report.json").read_text())
    assert report  # written, over the same rows as the selection
    groups = json.loads((out / "_dsir" / "groups-source.json").read_text())
    assert "(rejected record)" in json.dumps(groups)
