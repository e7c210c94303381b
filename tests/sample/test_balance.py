"""Balanced selection (MetaCLIP's rule): the entries file, the matcher, field entries, the
balance order on a hand-made pool with exact ranks and keys, and whole runs whose counts per
entry are exactly min(count, cap) (any split and workers, tokens, dedup, chunks, a later
report), with the refusals."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main
from dsir.errors import InputError, UsageError
from dsir.sample.balance import (
    Balance, FieldEntries, UnitEntries, balanced_keys, global_entries, head_and_tail, match_entries, pack_names,
    reached_cap, read_entries, unpack_names,
)
from tests.sample.records import selected_records, write_records, write_split_parquet


def csr(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return np.asarray([i for r in rows for i in r], np.int32), offsets


def rows_of(e: UnitEntries) -> list[list[int]]:
    return [e.ids[a:b].tolist() for a, b in zip(e.offsets[:-1], e.offsets[1:])]


# -- the entries file ------------------------------------------------------------------------


def test_entries_are_lowercased_stripped_and_blank_lines_skipped(tmp_path):
    p = tmp_path / "e.txt"
    p.write_bytes(" Cat \n\nDOG house\r\n   \nÉclair\n".encode())
    assert read_entries(str(p)) == ("cat", "dog house", "éclair")


@pytest.mark.parametrize("content,message", [
    (b"cat\ndog\nCat\n", r"e.txt:3: the entry 'cat' repeats line 1"),
    (b"cat\n\xff\xfe\n", r"e.txt:2: not UTF-8 text"),
    (b"\n \n", r"e.txt: the entries file has no entries"),
])
def test_bad_entries_files_name_the_file_and_line(tmp_path, content, message):
    p = tmp_path / "e.txt"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_entries(str(p))


def test_a_missing_entries_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope.txt: no such file \(--balance-entries\)"):
        Balance.of(entries_path=str(tmp_path / "nope.txt"))


@pytest.mark.parametrize("kwargs,message", [
    ({"cap": 3}, "--balance-cap caps the entries of --balance-field or --balance-entries"),
    ({"field": "f", "entries_path": "x", "cap": None}, "exactly one of --balance-field and --balance-entries"),
    ({"field": " "}, "--balance-field needs a field name"),
    ({"field": "f", "cap": 0}, "--balance-cap must be a positive number"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(UsageError, match=message):
        if kwargs.get("entries_path"):
            Balance(**kwargs)
        else:
            Balance.of(**kwargs)


# -- matching ----------------------------------------------------------------------------


def test_substrings_lowercased_overlapping_once_each_and_never_across_texts():
    entries = ("cat", "dog", "é", "at")
    texts = pa.array(["The CAT sat", "dogcat cat", None, "Éclair", "ca", "t dog", ""])
    got = match_entries(entries, texts)
    assert rows_of(got) == [[0, 3], [0, 1, 3], [], [2], [], [1], []]  # "ca" + "t dog" is no "cat"


def test_matching_a_sliced_array_uses_its_own_rows():
    texts = pa.array(["cat", "dog", "cat dog", "x"]).slice(1, 2)
    assert rows_of(match_entries(("cat", "dog"), texts)) == [[1], [0, 1]]


def test_field_entries_are_numbered_as_first_seen_and_missing_values_have_none():
    f = FieldEntries()
    got = f.of(pa.array(["x", "(missing)", "y", "x", None]))
    assert rows_of(got) == [[0], [], [1], [0], []] and f.names == ["x", "y"]
    got = f.of(pa.array(["z", "y"]))
    assert rows_of(got) == [[2], [1]] and f.names == ["x", "y", "z"]


def test_field_entries_map_to_one_sorted_name_list():
    names, ids = global_entries([["x", "y"], ["z", "y"], None],
                                [np.array([1, 0], np.int32), np.array([0, 1, 1], np.int32), np.empty(0, np.int32)])
    assert names == ["x", "y", "z"]
    assert [i.tolist() for i in ids] == [[1, 0], [2, 1, 1], []]
    assert unpack_names(*pack_names(["a", "ü", ""])) == ["a", "ü", ""]


def test_chunks_take_their_documents_entries():
    e = UnitEntries(*csr([[0], [1, 2], []]))
    assert rows_of(e.take(np.array([1, 1, 0, 2]))) == [[1, 2], [1, 2], [0], []]


# -- the balance order -----------------------------------------------------------------------

# file 0: keys 5, 4, 3, -inf; file 1: keys 6, 1. Entries A=0, B=1, C=2.
KEYS = [np.array([5.0, 4.0, 3.0, -np.inf]), np.array([6.0, 1.0])]
HASHES = [np.array([1, 2, 3, 4], np.uint64), np.array([5, 6], np.uint64)]
ENTRIES = [csr([[0], [0, 1], [1], [0]]), csr([[2], [0]])]


def _balanced(cap=None, keys=KEYS, hashes=HASHES, entries=ENTRIES):
    return balanced_keys(keys, hashes, [i for i, _ in entries], [o for _, o in entries], ["A", "B", "C"], cap)


def test_ranks_counts_and_the_balance_order():
    b = _balanced()
    # A ranks (5, 4, 1) as 0, 1, 2; B ranks (4, 3) as 0, 1; C ranks (6) as 0; best rank per unit
    assert [r.tolist() for r in b.ranks] == [[0, 0, 1, -1], [0, 2]]
    assert b.counts.tolist() == [3, 2, 1]
    # rank 0: keys 6, 5, 4; then rank 1: key 3; then rank 2: key 1
    assert [k.tolist() for k in b.keys] == [[4.0, 3.0, 2.0, -np.inf], [5.0, 1.0]]
    assert b.beyond_cap == 0


def test_a_cap_keeps_each_entrys_best_and_a_unit_kept_by_any_of_its_entries():
    b = _balanced(cap=1)
    assert [k.tolist() for k in b.keys] == [[2.0, 1.0, -np.inf, -np.inf], [3.0, -np.inf]]
    assert b.beyond_cap == 2
    chosen = [np.isfinite(k).astype(np.int16) - 1 for k in b.keys]  # all the cap keeps
    # A keeps 1 through itself, and unit (0, 1) again through B: the rule's OR
    assert b.selected_counts(chosen).tolist() == [2, 1, 1]
    assert reached_cap(b, chosen) is None


def test_the_cap_a_budget_reached():
    b = _balanced()
    top3 = [np.array([0, 0, -1, -1], np.int16), np.array([0, -1], np.int16)]
    assert b.selected_counts(top3).tolist() == [2, 1, 1]
    assert reached_cap(b, top3) == 1  # every entry kept its 1 best: (0, 2) of rank 1 was left out


def test_the_order_does_not_depend_on_the_split():
    one = _balanced(keys=[np.concatenate(KEYS)], hashes=[np.concatenate(HASHES)],
                    entries=[csr([[0], [0, 1], [1], [0], [2], [0]])])
    assert one.keys[0].tolist() == np.concatenate(_balanced().keys).tolist()


def test_equal_keys_rank_by_unit_hash():
    b = balanced_keys([np.array([1.0, 1.0, 1.0])], [np.array([9, 3, 5], np.uint64)], [np.array([0, 0, 0], np.int32)],
                      [np.array([0, 1, 2, 3])], ["A"], 2)
    assert b.ranks[0].tolist() == [2, 0, 1] and b.keys[0].tolist() == [-np.inf, 2.0, 1.0]


def test_head_and_tail():
    names = [f"e{i:02d}" for i in range(25)]
    before = np.arange(25)[::-1] * 10
    got = head_and_tail(names, before, np.minimum(before, 50), np.minimum(before, 50), n=3)
    assert [r["entry"] for r in got["head"]] == ["e00", "e01", "e02"]
    assert [r["entry"] for r in got["tail"]] == ["e22", "e23", "e24"]
    assert got["head"][0] == {"entry": "e00", "before": 240, "after": 50, "expected": 50}
    small = head_and_tail(["a", "b"], np.array([1, 2]), np.array([1, 1]), None, n=3)
    assert [r["entry"] for r in small["head"]] == ["b", "a"] and small["tail"] == []


# -- whole runs --------------------------------------------------------------------------

TOPICS = {"cats": 40, "dogs": 14, "fish": 5, "birds": 2}
WORDS = "sun rain wind snow cloud storm frost mist".split()


def _records(seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for topic, n in TOPICS.items():
        for j in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 40)))
            out.append({"id": f"{topic}-{j}", "text": f"about {topic}: {words}.", "meta": {"topic": topic}})
    rng.shuffle(out)
    out.append({"id": "none", "text": "no topic here at all, only words " * 3, "meta": {}})
    return out




@pytest.fixture
def data(tmp_path):
    recs = _records()
    rng = random.Random(8)
    target = [{"text": " ".join(rng.choice(WORDS[:3]) for _ in range(30))} for _ in range(10)]
    return {"records": recs, "pool": write_records(tmp_path / "pool.jsonl", recs),
            "target": write_records(tmp_path / "t.jsonl", target)}


def test_a_cap_alone_keeps_exactly_min_count_cap_per_value(tmp_path, data):
    m = DSIR(seed=1, method="random").select(data["pool"], str(tmp_path / "out"), balance_field="meta.topic",
                                             balance_cap=6)
    got = Counter(r["meta"]["topic"] for r in selected_records(tmp_path / "out"))
    assert got == {"cats": 6, "dogs": 6, "fish": 5, "birds": 2}
    b = m["balance"]
    assert b["head"] == [{"entry": "cats", "before": 40, "after": 6, "expected": 6},
                         {"entry": "dogs", "before": 14, "after": 6, "expected": 6},
                         {"entry": "fish", "before": 5, "after": 5, "expected": 5},
                         {"entry": "birds", "before": 2, "after": 2, "expected": 2}]
    assert (b["units_without_entry"], b["units_beyond_cap"], b["entries"], b["cap_reached"]) == (1, 42, 4, None)
    assert m["counts"]["eligible"] == 61 and m["counts"]["selected"] == 19
    assert m["replay"]["balance_field"] == "meta.topic" and m["replay"]["balance_cap"] == 6
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Balance</h2>" in html and "<td>birds</td>" in html
    assert json.loads((tmp_path / "out" / "report.json").read_text())["balance"] == b


def test_with_a_target_each_value_keeps_its_best_keys(tmp_path, data):
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "out"), k=12, target=data["target"],
                            balance_field="meta.topic")
    sel = selected_records(tmp_path / "out")
    # 12 = 3 ranks of 4 values: each value's 3 largest keys (birds has 2: the next rank's best fills)
    assert Counter(r["meta"]["topic"] for r in sel) in ({"cats": 4, "dogs": 3, "fish": 3, "birds": 2},
                                                        {"cats": 3, "dogs": 4, "fish": 3, "birds": 2},
                                                        {"cats": 3, "dogs": 3, "fish": 4, "birds": 2})
    scores = DSIR(seed=1).score(data["pool"], target=data["target"]).to_pylist()
    for topic in TOPICS:
        rows = sorted((s for s, r in zip(scores, data["records"]) if r["meta"].get("topic") == topic),
                      key=lambda s: -s["key"])
        n = sum(r["meta"]["topic"] == topic for r in sel)
        assert {data["records"][s["row"]]["id"] for s in rows[:n]} == {r["id"] for r in sel
                                                                       if r["meta"]["topic"] == topic}
    assert m["balance"]["cap_reached"] == 3


def test_same_selection_whatever_the_split_workers_and_format(tmp_path, data):
    split = write_split_parquet(data["records"], tmp_path / "split", 3, 5)
    entries = tmp_path / "entries.txt"
    entries.write_text("Cats\ndogs\nfish\nrain\n")
    for how in ({"balance_field": "meta.topic"}, {"balance_entries": str(entries), "balance_cap": 4}):
        one, many = tmp_path / f"one-{len(how)}", tmp_path / f"many-{len(how)}"
        DSIR(seed=1).select(data["pool"], str(one), k=10, target=data["target"], report=False, **how)
        DSIR(seed=1, workers=2).select(str(split), str(many), k=10, target=data["target"], report=False, **how)
        ids = lambda out: sorted(r["id"] for r in selected_records(out))  # noqa: E731
        assert ids(one) == ids(many) and len(ids(one)) == 10


def test_entries_match_the_text_and_a_document_counts_for_each_of_its_entries(tmp_path, data):
    entries = tmp_path / "entries.txt"
    entries.write_text("CATS\nfish\nrain\n")
    m = DSIR(seed=1, method="random").select(data["pool"], str(tmp_path / "out"), balance_entries=str(entries),
                                             balance_cap=3, report=False)
    texts = [r["text"].lower() for r in selected_records(tmp_path / "out")]
    counts = {e: sum(e in r["text"].lower() for r in data["records"]) for e in ("cats", "fish", "rain")}
    listed = {x["entry"]: x for x in m["balance"]["head"]}
    assert {e: x["before"] for e, x in listed.items()} == counts
    for e, x in listed.items():
        assert x["after"] == sum(e in t for t in texts) >= min(counts[e], 3) == x["expected"]
    assert len(texts) <= 9  # at most 3 through each entry


def test_token_budget_dedup_chunks_and_a_later_report(tmp_path, data):
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "tok"), tokens=300, target=data["target"],
                            balance_field="meta.topic", report=False)
    assert m["counts"]["selected_tokens"] >= 300
    recs = data["records"] + [{**r, "id": r["id"] + "-copy"} for r in data["records"][:30]]
    out = tmp_path / "dup"
    m = DSIR(seed=1).select(write_records(tmp_path / "dups.jsonl", recs), str(out), k=12, target=data["target"],
                            balance_field="meta.topic", dedup="exact")
    texts = [r["text"] for r in selected_records(out)]
    assert len(texts) == len(set(texts)) == 12 and m["dedup"]["dropped"] > 0
    first = json.loads((out / "report.json").read_text())
    from dsir.reports import make_report

    (out / "report.json").unlink()
    make_report(str(out))
    assert json.loads((out / "report.json").read_text()) == first
    m = DSIR(seed=1, chunk_words=8, emit="chunks").select(data["pool"], str(tmp_path / "chunks"),
                                                          target=data["target"], balance_field="meta.topic",
                                                          balance_cap=3, report=False)
    assert Counter(r["meta"]["topic"] for r in selected_records(tmp_path / "chunks")) == {
        "cats": 3, "dogs": 3, "fish": 3, "birds": 3}
    assert m["counts"]["unit"] == "chunks"


def test_nothing_matching_is_an_error(tmp_path, data):
    entries = tmp_path / "entries.txt"
    entries.write_text("zebra\n")
    with pytest.raises(InputError, match="or matches no balance entry"):
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=3, balance_entries=str(entries))


def test_refusals(tmp_path, data):
    with pytest.raises(UsageError, match="a balance orders one target's selection"):
        DSIR().select(data["pool"], str(tmp_path / "out"), k=5, balance_field="meta.topic",
                      target=[f"a={data['target']}", f"b={data['target']}"])
    with pytest.raises(UsageError, match="--mix and a balance both set the selection's composition"):
        DSIR().select(data["pool"], str(tmp_path / "out"), k=5, target=data["target"], balance_field="meta.topic",
                      mix="meta.topic=cats:1")
    assert not (tmp_path / "out").exists()


def test_cli(tmp_path, data):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["select", "--raw", data["pool"], "--method", "random", "--balance-field",
                                  "meta.topic", "--balance-cap", "2", "-o", str(out), "--no-report", "--quiet"])
    assert r.exit_code == 0, r.output
    assert Counter(x["meta"]["topic"] for x in selected_records(out)) == {"cats": 2, "dogs": 2, "fish": 2, "birds": 2}
    r = CliRunner().invoke(main, ["select", "--raw", data["pool"], "--method", "random", "--balance-field",
                                  "meta.topic", "-o", str(tmp_path / "o2"), "--no-report"])
    assert r.exit_code == 2 and "give exactly one of -k, --fraction and --tokens" in r.output
    r = CliRunner().invoke(main, ["select", "--raw", data["pool"], "--method", "random", "--balance-cap", "2",
                                  "-o", str(tmp_path / "o3"), "--no-report"])
    assert r.exit_code == 2 and "--balance-cap caps the entries" in r.output
