"""The filters in a whole run: quality rules and decontamination together, counted in the
manifest against the pure-Python references, shown in the report, on every engine and split."""

from __future__ import annotations

import json
import random

import pytest

from dsir import DSIR
from dsir.errors import UsageError
from dsir.filters import FilterOptions
from tests.filters.test_decontaminate import contaminated, write
from tests.filters.test_quality_rules import ref_c4, ref_gopher

VOCAB = ("the ship sailed to harbour with a cargo of wheat and the crew rested that night . "
         "storm waves hit the deck of the boat").split()


def _docs(seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(150):
        n = rng.choice([10, 40, 60, 120])
        text = " ".join(rng.choice(VOCAB) for _ in range(n))
        if i % 7 == 0:
            text += " lorem ipsum dolor."
        if i % 11 == 0:
            text = "\n".join(f"- item {j} ..." for j in range(60))
        docs.append(text)
    return docs


@pytest.fixture
def data(tmp_path):
    docs = _docs()
    bench = [" ".join(docs[i].split()[2:20]) for i in (5, 50, 99) if len(docs[i].split()) >= 20]
    return {"docs": docs, "bench_texts": bench, "pool": write(tmp_path / "pool.jsonl", docs),
            "target": write(tmp_path / "t.jsonl", docs[100:130]), "bench": write(tmp_path / "bench.jsonl", bench)}


@pytest.mark.parametrize("preset,ref", [("gopher", ref_gopher), ("c4", ref_c4)])
def test_quality_rules_counts_per_rule_match_the_reference(tmp_path, data, preset, ref):
    m = DSIR(seed=4).select(data["pool"], str(tmp_path / "out"), fraction=1.0, target=data["target"],
                            quality_rules=preset)
    sec = m["filters"]["quality_rules"]
    fails = [ref(t) for t in data["docs"]]
    bad = {i for i, f in enumerate(fails) if any(f)}
    assert 0 < len(bad) < len(data["docs"])
    assert sec["excluded_documents"] == len(bad)
    assert list(sec["failed_documents"].values()) == [sum(f[r] for f in fails) for r in range(len(sec["rules"]))]
    assert m["counts"]["selected"] == len(data["docs"]) - len(bad)
    kept = {json.loads(line)["text"] for p in (tmp_path / "out").glob("part-*") for line in p.read_text().splitlines()}
    assert kept == {t for i, t in enumerate(data["docs"]) if i not in bad}
    report = json.loads((tmp_path / "out" / "report.json").read_text())["filters"]["quality_rules"]
    assert report["examples"] and all(set(e["rules"]) <= set(sec["rules"]) for e in report["examples"])
    assert "Quality rules (" + preset + ")" in (tmp_path / "out" / "report.html").read_text()
    assert m["replay"]["quality_rules"] == preset


def test_both_filters_together_on_two_workers_and_a_split_pool(tmp_path, data):
    bad_rules = {i for i, t in enumerate(data["docs"]) if any(ref_gopher(t))}
    bad_bench = contaminated(data["docs"], data["bench_texts"])
    split = tmp_path / "split"
    split.mkdir()
    for i in range(3):
        write(split / f"p{i}.jsonl", data["docs"][i * 50:(i + 1) * 50])
    runs = {}
    for name, pool, workers in (("one", data["pool"], 1), ("split", str(split), 2)):
        runs[name] = DSIR(seed=4, workers=workers).select(pool, str(tmp_path / f"out-{name}"), k=20, target=data["target"],
                                                          quality_rules="gopher", decontaminate=data["bench"],
                                                          report=False)
    for m in runs.values():
        assert m["filters"]["quality_rules"]["excluded_documents"] == len(bad_rules)
        assert m["filters"]["decontaminate"]["excluded_documents"] == len(bad_bench)
        assert m["counts"]["eligible"] == len(data["docs"]) - len(bad_rules | bad_bench)
    texts = lambda out: sorted(line for p in out.glob("part-*") for line in p.read_text().splitlines())
    assert texts(tmp_path / "out-one") == texts(tmp_path / "out-split")
    selected = {json.loads(line)["text"] for line in texts(tmp_path / "out-one")}
    assert not selected & {data["docs"][i] for i in bad_rules | bad_bench}


def test_a_bad_preset_is_refused():
    with pytest.raises(UsageError, match="--quality-rules must be one of none, gopher, c4, got 'fineweb'"):
        FilterOptions(quality_rules="fineweb")
