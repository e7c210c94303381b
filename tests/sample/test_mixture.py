"""--mix: the parsed spec, exact largest-remainder shares, the allocation by part, and whole
runs whose composition over the field is exactly the requested one (any split, tokens,
dedup, chunks, parquet, a later report), with the refusals."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from dsir import DSIR
from dsir.errors import UsageError
from dsir.sample.mixture import Mixture, allocate_mixture, part_indices
from tests.sample.records import selected_records, write_records, write_split_parquet


def test_parse_and_print():
    m = Mixture.parse("domain=legal:0.5,news:0.3,a:b:0.2")
    assert (m.field, m.values, m.proportions) == ("domain", ("legal", "news", "a:b"), (0.5, 0.3, 0.2))
    assert str(m) == "domain=legal:0.5,news:0.3,a:b:0.2"
    assert Mixture.parse(str(m)) == m


@pytest.mark.parametrize("spec,message", [
    ("legal:0.5", "--mix must be FIELD=VALUE:PROPORTION"),
    ("domain=legal", "--mix part 'legal' must be VALUE:PROPORTION"),
    ("domain=legal:x", "the proportion must be a number, got 'x'"),
    ("domain=legal:0", "the proportion must be a positive number, got 0.0"),
    ("domain=legal:1,legal:2", "--mix names 'legal' more than once"),
    ("domain=", "--mix domain= names no value"),
    ("=a:1", "--mix needs a field"),
])
def test_bad_specs_are_refused(spec, message):
    with pytest.raises(UsageError, match=message.replace("(", "\\(").replace(")", "\\)")):
        Mixture.parse(spec)


def test_shares_are_largest_remainder_and_sum_to_the_budget():
    m = Mixture.parse("f=a:1,b:1,c:1")
    assert m.shares(10) == [4, 3, 3]  # equal remainders: the earlier value
    assert Mixture.parse("f=a:0.5,b:0.3,c:0.2").shares(7) == [4, 2, 1]  # 3.5, 2.1, 1.4
    assert Mixture.parse("f=a:2,b:1").shares(1000) == [667, 333]


def test_part_indices():
    got = part_indices(pa.array(["b", "x", "a", None, "b"]), ("a", "b"))
    assert got.tolist() == [1, -1, 0, -1, 1]


def test_allocation_takes_each_parts_largest_keys():
    keys = [np.array([[9.0, 8.0, 7.0, 6.0, 5.0, 4.0, -np.inf]]), np.array([[3.0, 2.0, 1.0]])]
    parts = [np.array([0, 0, 1, 0, 1, 1, 0], np.int16), np.array([1, 0, 1], np.int16)]
    alloc, by_part = allocate_mixture(keys, parts, lambda u: np.zeros(len(parts[u]), np.uint64), [2, 3])
    assert by_part.assigned[0].tolist() == [0, 0, 1, -1, 1, 1, -1]
    assert by_part.assigned[1].tolist() == [-1, -1, -1]
    assert alloc.assigned[0].tolist() == [0, 0, 0, -1, 0, 0, -1] and alloc.selected == [5]
    _, by_part = allocate_mixture(keys, parts, lambda u: np.zeros(len(parts[u]), np.uint64), [2, 6])
    assert by_part.selected == [2, 5]  # part 1 has only 5 units


# -- whole runs --------------------------------------------------------------------------

SEA = "ship sail harbour tide anchor wave deck mast crew storm ocean captain port keel".split()
LAND = "wheat field plough barn harvest farmer soil cattle meadow orchard fence hay".split()


def _records(n: int = 150, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        source = ["gazette", "weekly", "digest"][i % 3]
        topic = SEA if rng.random() < 0.5 else LAND
        words = " ".join(rng.choice(topic) for _ in range(rng.randint(20, 80)))
        out.append({"id": f"d{i}", "text": f"{i} {words}.", "meta": {"source": source}})
    return out




@pytest.fixture
def data(tmp_path):
    recs = _records()
    rng = random.Random(5)
    target = [{"text": " ".join(rng.choice(SEA) for _ in range(50))} for _ in range(20)]
    return {"records": recs, "pool": write_records(tmp_path / "pool.jsonl", recs),
            "target": write_records(tmp_path / "t.jsonl", target)}


MIX = "meta.source=gazette:0.5,weekly:0.3,digest:0.2"


def test_composition_is_exact_and_each_part_is_its_own_top_keys(tmp_path, data):
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "out"), k=31, target=data["target"], mix=MIX)
    got = Counter(r["meta"]["source"] for r in selected_records(tmp_path / "out"))
    assert got == {"gazette": 16, "weekly": 9, "digest": 6}  # 15.5, 9.3, 6.2 by largest remainder
    parts = m["mix"]["parts"]
    assert [(p["value"], p["requested"], p["selected"], p["eligible"]) for p in parts] == [
        ("gazette", 16, 16, 50), ("weekly", 9, 9, 50), ("digest", 6, 6, 50)]
    assert m["counts"]["selected"] == 31 and m["replay"]["mix"] == MIX
    # each part holds the largest keys of its own documents (dsir score ranks the same keys)
    scores = DSIR(seed=1).score(data["pool"], target=data["target"]).to_pylist()
    for value, n in got.items():
        rows = [s for s, r in zip(scores, data["records"]) if r["meta"]["source"] == value]
        best = {data["records"][s["row"]]["id"] for s in sorted(rows, key=lambda s: -s["key"])[:n]}
        assert best == {r["id"] for r in selected_records(tmp_path / "out") if r["meta"]["source"] == value}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Mixture</h2>" in html
    assert json.loads((tmp_path / "out" / "report.json").read_text())["mix"] == m["mix"]


def test_same_selection_whatever_the_split_workers_and_format(tmp_path, data):
    split = write_split_parquet(data["records"], tmp_path / "split", 3, 13)
    DSIR(seed=1).select(data["pool"], str(tmp_path / "one"), k=30, target=data["target"], mix=MIX, report=False)
    DSIR(seed=1, workers=2).select(str(split), str(tmp_path / "many"), k=30, target=data["target"], mix=MIX,
                                   report=False)
    ids = lambda out: sorted(r["id"] for r in selected_records(out))  # noqa: E731
    assert ids(tmp_path / "one") == ids(tmp_path / "many")


def test_without_a_target_each_part_is_uniform(tmp_path, data):
    m = DSIR(seed=3, method="random").select(data["pool"], str(tmp_path / "out"), k=10, mix="meta.source=digest:1")
    assert {r["meta"]["source"] for r in selected_records(tmp_path / "out")} == {"digest"}
    assert m["counts"]["eligible"] == 50


def test_token_budget_and_a_short_part(tmp_path, data):
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "out"), tokens=2000, target=data["target"], mix=MIX,
                            report=False)
    parts = {p["value"]: p for p in m["mix"]["parts"]}
    assert [p["requested_tokens"] for p in parts.values()] == [1000, 600, 400]
    for p in parts.values():
        assert p["selected_tokens"] >= p["requested_tokens"]
    sel = selected_records(tmp_path / "out")
    assert sum(p["selected"] for p in parts.values()) == len(sel) == m["counts"]["selected"]
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "short"), k=120, target=data["target"],
                            mix="meta.source=gazette:0.9,weekly:0.1", report=False)
    # k is more than the 100 eligible documents: the 100 are split 90 / 10, and gazette has 50
    assert [(p["requested"], p["selected"]) for p in m["mix"]["parts"]] == [(90, 50), (10, 10)]
    assert any("part meta.source=gazette: 50 of its 90 documents selected" in w for w in m["warnings"])


def test_with_dedup_and_a_later_report(tmp_path, data):
    recs = data["records"] + [{**r, "id": r["id"] + "-copy"} for r in data["records"][:60]]
    pool = write_records(tmp_path / "dups.jsonl", recs)
    out = tmp_path / "out"
    m = DSIR(seed=1).select(pool, str(out), k=30, target=data["target"], mix=MIX, dedup="exact")
    texts = [r["text"] for r in selected_records(out)]
    assert len(texts) == len(set(texts)) == 30
    assert Counter(r["meta"]["source"] for r in selected_records(out)) == {"gazette": 15, "weekly": 9, "digest": 6}
    assert m["dedup"]["dropped"] > 0
    first = json.loads((out / "report.json").read_text())
    from dsir.reports import make_report

    (out / "report.json").unlink()
    make_report(str(out))
    assert json.loads((out / "report.json").read_text()) == first


def test_chunks_take_their_documents_value(tmp_path, data):
    m = DSIR(seed=1, chunk_words=10, emit="chunks").select(data["pool"], str(tmp_path / "out"), k=20,
                                                           target=data["target"], mix=MIX, report=False)
    got = Counter(r["meta"]["source"] for r in selected_records(tmp_path / "out"))
    assert got == {"gazette": 10, "weekly": 6, "digest": 4} and m["counts"]["unit"] == "chunks"


def test_several_targets_are_refused(tmp_path, data):
    with pytest.raises(UsageError, match="--mix splits one target's selection"):
        DSIR().select(data["pool"], str(tmp_path / "out"), k=5, target=[f"a={data['target']}",
                                                                         f"b={data['target']}"], mix=MIX)
    assert not (tmp_path / "out").exists()
