"""A toy corpus with a known structure: a target about cats, a pool of cat, finance and
cooking documents with a ``domain`` field (some numeric, some missing), in jsonl and parquet."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

CATS = "cat cats kitten purr whiskers meow fur paw tail nap sunny window mouse chase".split()
MONEY = "bank loan interest rate market stock bond fund price credit debt equity yield".split()
FOOD = "flour sugar butter oven bake salt pepper onion garlic simmer boil stir pan".split()


def _doc(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) + ("." if rng.random() < 0.1 else "") for _ in range(n))


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("toy")
    (root / "pool").mkdir()
    target = root / "target.jsonl"
    target.write_text("".join(json.dumps({"text": _doc(rng, CATS, rng.randint(20, 60))}) + "\n" for _ in range(30)))
    records = []
    for i in range(150):
        topic = i % 3
        words, domain = [(CATS, "cats"), (MONEY, "finance"), (FOOD, "cooking")][topic]
        rec = {"id": i, "text": _doc(rng, words, rng.randint(5, 120)), "domain": domain}
        if i % 25 == 7:
            rec["domain"] = 42  # a non-string value is grouped by its JSON text
        if i % 31 == 3:
            del rec["domain"]
        records.append(rec)
    records.append({"id": 999, "text": "", "domain": "cats"})  # empty: never eligible
    with open(root / "pool" / "a.jsonl", "w") as fh:
        for rec in records[:90]:
            fh.write(json.dumps(rec) + "\n")
            if rec["id"] == 10:
                fh.write("\n")  # blank lines are skipped
    rows = records[90:]
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                             "domain": [str(r["domain"]) if "domain" in r else None for r in rows]}),
                   root / "pool" / "b.parquet")
    return {"root": root, "target": str(target), "pool": str(root / "pool"), "records": records}
