"""Files read in parts (``--unit-size``): the selection, its rejects and its report are the
same whatever the unit size, the number of workers or the split of the pool into files."""

from __future__ import annotations

import json
import random
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir.api import DSIR
from dsir.errors import InputError
from dsir.io.trace import read_trace

WORDS = {
    "law": "court appeal statute plaintiff defendant judge ruling contract".split(),
    "sea": "boat sail harbor wave anchor tide captain deck".split(),
    "food": "flour butter oven bake sugar whisk dough recipe".split(),
}
COMMON = "the a of and to in is it".split()
WHOLE = 1 << 30


def _records(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = rng.choice(list(WORDS))
        text = " ".join(rng.choice(WORDS[d]) if rng.random() < 0.5 else rng.choice(COMMON)
                        for _ in range(rng.randint(3, 90)))
        out.append({"id": f"r{i}", "domain": d, "text": text})
    return out


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """The same 1,200 records as one jsonl file (blank lines and a bad record in it), one
    parquet file of 50-row groups, and three jsonl files; a law target; outside scores."""
    root = tmp_path_factory.mktemp("parts")
    recs = _records(1200, 1)
    lines = [json.dumps(r) for r in recs]
    body = "".join(line + ("\n\n" if i % 111 == 0 else "\n") for i, line in enumerate(lines))
    (root / "one.jsonl").write_text(body)
    bad = body.replace(lines[700], '{"text": "cut short', 1)
    (root / "bad.jsonl").write_text(bad)
    pq.write_table(pa.Table.from_pylist(recs), root / "one.parquet", row_group_size=50)
    (root / "three").mkdir()
    for i in range(3):
        (root / "three" / f"p{i}.jsonl").write_text("".join(line + "\n" for line in lines[i * 400:(i + 1) * 400]))
    target = root / "law.jsonl"
    target.write_text("".join(json.dumps(r) + "\n" for r in _records(300, 2) if r["domain"] == "law"))
    scores = root / "scores.jsonl"
    scores.write_text("".join(json.dumps({"id": r["id"], "score": (i * 7919) % 1000 / 1000}) + "\n"
                              for i, r in enumerate(recs)))
    return {"root": root, "jsonl": str(root / "one.jsonl"), "parquet": str(root / "one.parquet"),
            "three": str(root / "three"), "bad": str(root / "bad.jsonl"), "target": str(target),
            "scores": str(scores), "size": {f: (root / f"one.{f}").stat().st_size for f in ("jsonl", "parquet")}}


def _select(tmp_path, name, raw, unit_bytes, workers=1, dsir=None, **kw):
    out = tmp_path / name
    shutil.rmtree(out, ignore_errors=True)
    d = DSIR(seed=5, raw_sample=400, workers=workers, unit_bytes=unit_bytes, **(dsir or {}))
    m = d.select(raw, str(out), **kw)
    return m, out


def _same(a, b) -> None:
    """Two runs' selections: the same shards, byte for byte, and the same counts."""
    (ma, oa), (mb, ob) = a, b
    assert [(o["path"], o["documents"], o["sha256"]) for o in ma["outputs"]] == \
        [(o["path"], o["documents"], o["sha256"]) for o in mb["outputs"]]
    assert ma["counts"] == mb["counts"]
    for section in ("fit", "filters", "dedup", "mix", "scores", "balance"):
        assert ma[section] == mb[section], section
    for name in ("rejects.jsonl", "report.json"):
        if (oa / name).exists() or (ob / name).exists():
            assert (oa / name).read_bytes() == (ob / name).read_bytes(), name


OPTIONS = {
    "default": {"k": 200},
    "paper weights": {"k": 150, "dsir": {"method": "dsir"}},
    "random": {"k": 100, "dsir": {"method": "random"}},
    "chunks": {"k": 120, "dsir": {"chunk_words": 20, "emit": "chunks"}},
    "by id, tokens": {"tokens": 6000, "dsir": {"id_field": "id", "top_k": True}},
    "dedup, group-by": {"k": 150, "dedup": "near", "group_by": "domain"},
    "outside scores": {"k": 150, "scores": "SCORES", "score_column": "score", "score_weight": 3.0, "dsir": {"id_field": "id"}},
    "balance by field": {"balance_field": "domain", "balance_cap": 40},
    "mix": {"k": 90, "mix": "domain=law:2,sea:1"},
}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("name", OPTIONS)
def test_parts_select_what_the_whole_file_selects(pool, tmp_path, fmt, name):
    kw = json.loads(json.dumps(OPTIONS[name]).replace("SCORES", pool["scores"]))
    kw.setdefault("target", pool["target"])
    kw.setdefault("report", name == "default")
    whole = _select(tmp_path, "whole", pool[fmt], WHOLE, **kw)
    parted = _select(tmp_path, "parted", pool[fmt], pool["size"][fmt] // 7, workers=2, **kw)
    assert len(list((parted[1] / "_dsir").glob("scores-00000.part-*.npz"))) >= 5
    _same(whole, parted)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_one_file_in_parts_and_three_files_select_alike(pool, tmp_path, workers):
    one = _select(tmp_path, "one", pool["jsonl"], 3000, workers=workers, k=200, target=pool["target"],
                  output_format="parquet")
    three = _select(tmp_path, "three", pool["three"], WHOLE, k=200, target=pool["target"], output_format="parquet")
    assert sum(o["documents"] for o in one[0]["outputs"]) == sum(o["documents"] for o in three[0]["outputs"]) == 200
    rows = lambda out: sorted(r["id"] for p in sorted(out.glob("part-*.parquet"))  # noqa: E731
                              for r in pq.read_table(p).to_pylist())
    assert rows(one[1]) == rows(three[1])


def test_a_bad_record_in_a_later_part_is_named_by_its_file_line(pool, tmp_path):
    with pytest.raises(InputError) as whole:
        _select(tmp_path, "w", pool["bad"], WHOLE, k=10, target=pool["target"])
    with pytest.raises(InputError) as parted:
        _select(tmp_path, "p", pool["bad"], 2000, workers=2, k=10, target=pool["target"])
    assert whole.value.line == parted.value.line == 708  # 700 records and 7 blank lines before it
    assert str(parted.value) == str(whole.value)


def test_rejects_of_parts_are_the_whole_file_rejects(pool, tmp_path):
    whole = _select(tmp_path, "w", pool["bad"], WHOLE, k=50, target=pool["target"], dsir={"on_error": "skip"})
    parted = _select(tmp_path, "p", pool["bad"], 2000, workers=2, k=50, target=pool["target"],
                     dsir={"on_error": "skip"})
    _same(whole, parted)
    rejected = [json.loads(line) for line in (parted[1] / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["row"]) for r in rejected] == [(708, 700)]


def test_a_resumed_run_in_parts_reuses_its_parts_and_selects_the_same(pool, tmp_path, caplog):
    first = _select(tmp_path, "r", pool["jsonl"], 4000, k=100, target=pool["target"], report=False)
    work = first[1] / "_dsir"
    parts = sorted(work.glob("scores-00000.part-*.npz"))
    (work / "scores-00000.npz").unlink()  # the merge is redone from the parts' records
    parts[2].unlink()  # this part is scored again
    (first[1] / "manifest.json").unlink()
    with caplog.at_level("INFO", logger="dsir"):
        again = DSIR(seed=5, raw_sample=400, unit_bytes=4000).select(pool["jsonl"], str(first[1]), k=100,
                                                                    target=pool["target"], report=False, resume=True)
    assert f"score: {len(parts) - 1} of {len(parts)} units already done" in caplog.text
    assert [o["sha256"] for o in again["outputs"]] == [o["sha256"] for o in first[0]["outputs"]]


def test_a_file_in_parts_is_read_as_often_as_a_whole_one(pool, tmp_path, monkeypatch):
    reads = {}
    for name, unit in (("whole", WHOLE), ("parted", 3000)):
        trace = tmp_path / f"{name}.trace"
        monkeypatch.setenv("DSIR_TRACE_OPENS", str(trace))
        _select(tmp_path, name, pool["jsonl"], unit, workers=2, k=100, target=pool["target"])
        reads[name] = {phase: paths.get(pool["jsonl"]) for phase, paths in read_trace(str(trace)).items()
                       if pool["jsonl"] in paths}
    assert reads["parted"] == reads["whole"] == {"count raw": 1, "fit raw": 1, "score": 1, "write": 1}


def test_without_a_count_pass_jsonl_parts_are_counted_for_their_line_numbers(pool, tmp_path, monkeypatch):
    trace = tmp_path / "t.trace"
    monkeypatch.setenv("DSIR_TRACE_OPENS", str(trace))
    parted = _select(tmp_path, "p", pool["jsonl"], 3000, k=80, dsir={"method": "random"})
    counted = read_trace(str(trace))["count raw"][pool["jsonl"]]
    assert 0.9 < counted < 1  # every part but the last
    monkeypatch.delenv("DSIR_TRACE_OPENS")
    _same(_select(tmp_path, "w", pool["jsonl"], WHOLE, k=80, dsir={"method": "random"}), parted)


def test_unit_bytes_must_be_a_positive_integer():
    from dsir.errors import UsageError

    for bad in (0, -5, 2.5, True, "1MB"):
        with pytest.raises(UsageError, match="unit_bytes must be a positive integer"):
            DSIR(unit_bytes=bad)


def test_the_dry_run_names_the_count_that_jsonl_parts_need(pool, tmp_path):
    plan = DSIR(method="random", unit_bytes=3000).select(pool["jsonl"], str(tmp_path / "d"), k=5, dry_run=True)
    assert [s["phase"] for s in plan["passes"]] == ["count raw", "score", "write"]
    assert "jsonl files read in parts" in plan["passes"][0]["note"]
    whole = DSIR(method="random").select(pool["jsonl"], str(tmp_path / "d"), k=5, dry_run=True)
    assert [s["phase"] for s in whole["passes"]] == ["score", "write"]
