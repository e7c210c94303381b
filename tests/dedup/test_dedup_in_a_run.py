"""--dedup in whole runs: exactly k documents and no pair at or above the threshold (brute
force), with several targets, chunks, a token budget, any split and workers, the report, and
a later ``dsir report``; exact mode on texts that differ in case and punctuation only."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from dsir import DSIR
from dsir.errors import UsageError
from tests.filters.test_decontaminate import write

SEA = "ship sail harbour tide anchor wave deck mast crew storm ocean captain port keel".split()
LAND = "wheat field plough barn harvest farmer soil cattle meadow orchard fence hay".split()
COMMON = "the a of and to in was with on at by for".split()


def _doc(rng: random.Random, topic: list[str], n: int) -> str:
    return " ".join(rng.choice(topic if rng.random() < 0.6 else COMMON) for _ in range(n)) + "."


def _near_copy(text: str, rng: random.Random) -> str:
    """The text with one word replaced, one upper-cased and a comma added: Jaccard about 0.9."""
    words = text.split()
    words[rng.randrange(len(words))] = "changed"
    words[3] = words[3].upper() + ","
    return " ".join(words)


def pool_texts(seed: int = 5) -> list[str]:
    """120 originals (sea and land, 80 to 150 words) and a near copy of each of the first 40 sea
    ones, in shuffled order."""
    rng = random.Random(seed)
    originals = [_doc(rng, SEA if i % 2 == 0 else LAND, rng.randint(80, 150)) for i in range(120)]
    copies = [_near_copy(t, rng) for t in originals[:80:2]]
    texts = originals + copies
    rng.shuffle(texts)
    return texts


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"[^\W_]+", text.lower())
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()


def near_pairs(texts: list[str], threshold: float = 0.8) -> list[tuple[int, int, float]]:
    """Brute force: every pair with a shingle Jaccard similarity of at least ``threshold``."""
    sets = [shingles(t) for t in texts]
    out = []
    for a in range(len(sets)):
        for b in range(a + 1, len(sets)):
            j = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
            if j >= threshold:
                out.append((a, b, j))
    return out


def selected(out: Path, field: str = "text") -> list[str]:
    return sorted(json.loads(line)[field] for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines())


@pytest.fixture
def data(tmp_path):
    rng = random.Random(9)
    texts = pool_texts()
    return {"texts": texts, "pool": write(tmp_path / "pool.jsonl", texts),
            "sea": write(tmp_path / "sea.jsonl", [_doc(rng, SEA, 100) for _ in range(30)]),
            "land": write(tmp_path / "land.jsonl", [_doc(rng, LAND, 100) for _ in range(30)])}


def test_the_pool_has_the_near_copies_it_is_made_of():
    pairs = near_pairs(pool_texts())
    assert len(pairs) == 40 and min(j for _, _, j in pairs) >= 0.8


def test_near_selects_k_documents_without_a_near_pair(tmp_path, data):
    plain = DSIR(seed=1).select(data["pool"], str(tmp_path / "plain"), k=50, target=data["sea"], report=False)
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "near"), k=50, target=data["sea"], dedup="near")
    got = selected(tmp_path / "near")
    assert m["counts"]["selected"] == len(got) == 50
    assert near_pairs(got) == []
    assert near_pairs(selected(tmp_path / "plain")), "without --dedup the sea selection holds copies"
    assert plain["counts"]["selected"] == 50 and "dedup" not in plain["replay"]
    d = m["dedup"]
    assert d["dropped"] == d["per_target"][0]["dropped"] > 0
    assert d["per_target"][0]["examined"] == 50 + d["dropped"]
    assert m["replay"]["dedup"] == "near" and m["replay"]["dedup_bands"] == 32
    report = json.loads((tmp_path / "near" / "report.json").read_text())["dedup"]
    ex = report["per_target"][0]["examples"]
    full = {t[:200]: t for t in data["texts"]}  # the report's texts are cut at 600 characters
    for e in ex:
        dropped, kept = full[e["text"][:200]], full[e["kept_text"][:200]]
        assert kept in got and dropped not in got
        a, b = shingles(dropped), shingles(kept)
        assert len(a & b) / len(a | b) >= 0.8
    assert "Duplicates skipped" in (tmp_path / "near" / "report.html").read_text()
    assert "skipped as duplicates" in (tmp_path / "near" / "README.md").read_text()


def test_a_later_report_recomputes_the_same_walk(tmp_path, data):
    out = tmp_path / "out"
    DSIR(seed=1).select(data["pool"], str(out), k=50, target=data["sea"], dedup="near")
    first = json.loads((out / "report.json").read_text())
    from dsir.reports import make_report

    (out / "report.json").unlink()
    make_report(str(out))
    assert json.loads((out / "report.json").read_text()) == first


@pytest.mark.parametrize("mode", ["exact", "near"])
def test_same_selection_whatever_the_split_and_workers(tmp_path, data, mode):
    split = tmp_path / "split"
    split.mkdir()
    for i in range(4):
        write(split / f"p{i}.jsonl", data["texts"][i * 40:(i + 1) * 40])
    runs = []
    for name, pool, workers in (("one", data["pool"], 1), ("split", str(split), 2)):
        DSIR(seed=2, workers=workers).select(pool, str(tmp_path / f"out-{name}"), k=45, target=data["sea"],
                                             dedup=mode, report=False)
        runs.append(selected(tmp_path / f"out-{name}"))
    assert runs[0] == runs[1] and len(runs[0]) == 45


def test_two_targets_share_no_near_pair(tmp_path, data):
    m = DSIR(seed=3).select(data["pool"], str(tmp_path / "out"), k=80, target=[f"sea={data['sea']}",
                                                                               f"land={data['land']}"],
                            dedup="near")
    got = selected(tmp_path / "out")
    assert len(got) == 80 and near_pairs(got) == []
    assert [t["selected"] for t in m["per_target"]] == [40, 40]
    assert [t["name"] for t in m["dedup"]["per_target"]] == ["sea", "land"]


def test_token_budget_with_near(tmp_path, data):
    m = DSIR(seed=1).select(data["pool"], str(tmp_path / "out"), tokens=3000, target=data["sea"], dedup="near",
                            report=False)
    got = selected(tmp_path / "out")
    assert near_pairs(got) == [] and m["counts"]["selected_tokens"] >= 3000
    assert m["counts"]["selected"] == len(got)


def test_chunks_are_deduplicated_as_units(tmp_path):
    rng = random.Random(4)
    part = [_doc(rng, SEA, 60) for _ in range(6)]
    # each document: two of the six sea paragraphs, and a land paragraph of its own
    texts = [part[i % 6] + " " + _doc(rng, LAND, 60) + " " + part[(i + 1) % 6] for i in range(30)]
    pool = write(tmp_path / "pool.jsonl", texts)
    target = write(tmp_path / "t.jsonl", [_doc(rng, SEA, 60) for _ in range(20)])
    m = DSIR(seed=1, chunk_words=61, emit="chunks").select(pool, str(tmp_path / "out"), k=10, target=target,
                                                          dedup="near")
    got = selected(tmp_path / "out")
    assert m["counts"]["unit"] == "chunks" and len(got) == 10
    assert near_pairs(got) == []
    assert m["dedup"]["dropped"] > 0  # the 60 copies of six sea paragraphs leave six distinct ones


def test_exact_counts_case_and_punctuation_variants_once(tmp_path, data):
    rng = random.Random(1)
    base = [_doc(rng, SEA, 30) for _ in range(10)]
    texts = base + [t.upper() for t in base] + [t.replace(" ", " , ") for t in base[:5]] + [
        _doc(rng, LAND, 30) for _ in range(10)]
    pool = write(tmp_path / "pool.jsonl", texts)
    m = DSIR(seed=1).select(pool, str(tmp_path / "out"), k=15, target=data["sea"], dedup="exact", report=False)
    words = [tuple(re.findall(r"[^\W_]+", t.lower())) for t in selected(tmp_path / "out")]
    assert len(words) == len(set(words)) == 15
    assert m["dedup"]["dropped"] >= 1 and m["dedup"]["mode"] == "exact"
    m = DSIR(seed=1).select(pool, str(tmp_path / "all"), k=30, target=data["sea"], dedup="exact", report=False)
    assert m["counts"]["selected"] == 20 and any("that are not duplicates" in w for w in m["warnings"])


def test_bad_options_are_refused_before_any_work(tmp_path, data):
    with pytest.raises(UsageError, match="--dedup-bands must divide"):
        DSIR().select(data["pool"], str(tmp_path / "out"), k=5, target=data["sea"], dedup="near", dedup_bands=7)
    assert not (tmp_path / "out").exists()
