"""--scores: outside scores joined by (file, row) or by id, as the keys (top-k, --keep-top,
--tokens), as a term of the importance keys (--score-weight), and as a range; each selection
checked against a top-k computed here from the same scores; the refusals name the file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir import DSIR
from dsir.errors import InputError, UsageError

SEA = "ship sail harbour tide anchor wave deck mast crew storm ocean captain port keel".split()
LAND = "wheat field plough barn harvest farmer soil cattle meadow orchard fence hay".split()


def _write(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def _selected_ids(out: Path) -> set[str]:
    return {json.loads(line)["id"] for p in out.glob("part-*") for line in p.read_text().splitlines()}


@pytest.fixture
def data(tmp_path):
    rng = random.Random(3)
    pools = []
    for f in range(2):
        recs = []
        for i in range(60):
            topic = SEA if rng.random() < 0.5 else LAND
            recs.append({"id": f"d{f}-{i}", "text": " ".join(rng.choice(topic) for _ in range(rng.randint(10, 50)))})
        pools.append(recs)
    pool = tmp_path / "pool"
    pool.mkdir()
    paths = [_write(pool / f"p{f}.jsonl", recs) for f, recs in enumerate(pools)]
    quality = {r["id"]: round(rng.random(), 6) for recs in pools for r in recs}
    rows = [{"file": p, "row": i, "q": quality[r["id"]]} for p, recs in zip(paths, pools) for i, r in enumerate(recs)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "scores.parquet")
    _write(tmp_path / "by-id.jsonl", [{"id": k, "q": v} for k, v in quality.items()])
    target = _write(tmp_path / "t.jsonl", [{"text": " ".join(rng.choice(SEA) for _ in range(40))} for _ in range(15)])
    return {"pool": str(pool), "paths": paths, "records": [r for recs in pools for r in recs], "quality": quality,
            "scores": str(tmp_path / "scores.parquet"), "by_id": str(tmp_path / "by-id.jsonl"), "target": target}


def _best(quality: dict, n: int, allowed=None) -> set[str]:
    items = [(v, k) for k, v in quality.items() if allowed is None or allowed(v)]
    return {k for _, k in sorted(items, reverse=True)[:n]}


def test_top_k_by_the_scores(tmp_path, data):
    m = DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=17, scores=data["scores"],
                                     score_column="q")
    assert _selected_ids(tmp_path / "out") == _best(data["quality"], 17)
    s = m["scores"]
    assert s["by"] == "file,row" and s["use"] == "the key" and s["units_scored"] == 120
    assert m["replay"]["scores"] == [data["scores"]] and m["replay"]["score_column"] == "q"


def test_keep_top_is_the_best_fraction(tmp_path, data):
    m = DSIR().select(data["pool"], str(tmp_path / "out"), keep_top=0.1, scores=data["scores"], score_column="q",
                      report=False)
    assert m["counts"]["selected"] == 12 and m["method"] == "random"
    assert _selected_ids(tmp_path / "out") == _best(data["quality"], 12)


def test_by_id_and_a_range(tmp_path, data):
    m = DSIR(id_field="id").select(data["pool"], str(tmp_path / "out"), k=200, scores=data["by_id"],
                                   score_column="q", score_range="0.2:0.5", report=False)
    want = {k for k, v in data["quality"].items() if 0.2 <= v <= 0.5}
    assert _selected_ids(tmp_path / "out") == want and m["counts"]["eligible"] == len(want)
    assert m["scores"]["by"] == "id" and m["scores"]["units_in_range"] == len(want)


def test_score_weight_adds_to_the_importance_keys(tmp_path, data):
    lam = 3.0
    m = DSIR(seed=2).select(data["pool"], str(tmp_path / "out"), k=20, target=data["target"], scores=data["scores"],
                            score_column="q", score_weight=lam, report=False)
    keys = DSIR(seed=2).score(data["pool"], target=data["target"]).to_pylist()
    mixed = {data["records"][i]["id"]: k["key"] + lam * data["quality"][data["records"][i]["id"]]
             for i, k in enumerate(keys)}
    assert _selected_ids(tmp_path / "out") == _best(mixed, 20)
    plain = DSIR(seed=2).select(data["pool"], str(tmp_path / "plain"), k=20, target=data["target"], report=False)
    assert _selected_ids(tmp_path / "plain") == _best({data["records"][i]["id"]: k["key"] for i, k in enumerate(keys)},
                                                      20) != _selected_ids(tmp_path / "out")
    assert m["scores"]["use"] == "key + 3 * score" and plain["method"] == m["method"] == "discriminative"


def test_unscored_documents_are_not_eligible_and_a_split_gives_the_same(tmp_path, data):
    t = pq.read_table(data["scores"]).slice(0, 100)  # the last 20 documents of p1 have no score
    pq.write_table(t, tmp_path / "part.parquet")
    m = DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=500, scores=str(tmp_path / "part.parquet"),
                                     score_column="q", report=False)
    assert m["counts"]["eligible"] == 100 == m["scores"]["units_scored"]
    assert m["scores"]["units_without_score"] == 20
    two = DSIR(method="random", workers=2).select(data["pool"], str(tmp_path / "two"), k=30,
                                                  scores=data["scores"], score_column="q", report=False)
    assert _selected_ids(tmp_path / "two") == _best(data["quality"], 30) and two["counts"]["selected"] == 30


def test_chunks_take_their_documents_score(tmp_path, data):
    m = DSIR(method="random", chunk_words=5, emit="chunks").select(
        data["pool"], str(tmp_path / "out"), k=8, scores=data["scores"], score_column="q", report=False)
    best = max(data["quality"].items(), key=lambda kv: kv[1])[0]
    got = [json.loads(line) for p in (tmp_path / "out").glob("part-*") for line in p.read_text().splitlines()]
    assert m["counts"]["unit"] == "chunks" and len(got) == 8
    assert best in {r["id"] for r in got}


@pytest.mark.parametrize("change,message", [
    (lambda t: t.drop(["q"]), "the scores file has no column 'q'"),
    (lambda t: t.set_column(0, "file", pa.array(["elsewhere.jsonl"] * t.num_rows)),
     "scores 'elsewhere.jsonl', which is not a raw file of this run"),
    (lambda t: pa.concat_tables([t, t.slice(0, 1)]), "more than one score"),
    (lambda t: t.set_column(2, "q", pa.array(["x"] * t.num_rows)), "the score column 'q' is not numeric"),
    (lambda t: t.set_column(2, "q", pa.array([None] + [0.5] * (t.num_rows - 1), pa.float64())), "null or not finite"),
])
def test_bad_scores_files_are_refused_with_their_path(tmp_path, data, change, message):
    bad = tmp_path / "bad.parquet"
    pq.write_table(change(pq.read_table(data["scores"])), bad)
    with pytest.raises(InputError, match=message) as err:
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=5, scores=str(bad), score_column="q")
    assert str(bad) in str(err.value)


def test_a_row_the_pool_does_not_have_is_refused(tmp_path, data):
    t = pq.read_table(data["scores"])
    extra = pa.table({"file": [data["paths"][0]], "row": [60], "q": [0.5]})
    pq.write_table(pa.concat_tables([t, extra]), tmp_path / "more.parquet")
    with pytest.raises(InputError, match="give row 60 of this file a score, and it has 60 documents"):
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=5, scores=str(tmp_path / "more.parquet"),
                                     score_column="q")


@pytest.mark.parametrize("kwargs,message", [
    ({"score_column": "q"}, "--score-column names a column of --scores files"),
    ({"scores": "S"}, "--scores needs --score-column"),
    ({"scores": "S", "score_column": "q", "target": "T"}, "ranks by the scores alone, so a target"),
    ({"scores": "S", "score_column": "q", "score_range": "2:1"}, "is empty"),
    ({"scores": "S", "score_column": "q", "keep_top": 0.1, "k": 3}, "keep_top is a budget"),
    ({"keep_top": 0.1}, "keep_top keeps the best scores"),
])
def test_bad_options_are_refused(tmp_path, data, kwargs, message):
    kwargs = {k: (data["scores"] if v == "S" else data["target"] if v == "T" else v) for k, v in kwargs.items()}
    kwargs.setdefault("k", None if "keep_top" in kwargs else 5)
    with pytest.raises(UsageError, match=message):
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


# -- --scorer: scores made in the score pass by a fastText classifier --------------------------


@pytest.fixture
def model(tmp_path):
    """A fastText classifier of sea (``__label__sea``) against land texts."""
    from tests.io.moto_s3 import require

    fasttext = require("fasttext")
    rng = random.Random(9)
    lines = [f"__label__{name} " + " ".join(rng.choice(words) for _ in range(12))
             for _ in range(80) for name, words in (("sea", SEA), ("land", LAND))]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    # thread=12: fastText 0.9.3 starts from uninitialized weights with fewer (see test_fasttext_scorer.train)
    m = fasttext.train_supervised(str(tmp_path / "train.txt"), thread=12, epoch=5, dim=8, minCount=1, verbose=0)
    m.save_model(str(tmp_path / "model.bin"))
    return str(tmp_path / "model.bin")


def _probabilities(model: str, texts: list[str]) -> list[float]:
    """P(sea) per text, from fastText's own predict (a list of texts: its numpy-2-safe form)."""
    import fasttext

    m = fasttext.load_model(model)
    labels, probs = m.predict(texts, k=-1)
    return [float(dict(zip(ls, ps)).get("__label__sea", 0.0)) for ls, ps in zip(labels, probs)]


def test_scorer_alone_selects_the_best_probabilities(tmp_path, data, model):
    m = DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=20, scorer=f"fasttext:{model}",
                                     scorer_label="sea")
    p = dict(zip((r["id"] for r in data["records"]), _probabilities(model, [r["text"] for r in data["records"]])))
    got = _selected_ids(tmp_path / "out")
    cut = sorted(p.values(), reverse=True)[19]
    assert len(got) == 20 and {i for i, v in p.items() if v > cut} <= got <= {i for i, v in p.items() if v >= cut}
    sc = m["scores"]
    assert (sc["scorer"], sc["label"], sc["by"], sc["use"], sc["units_scored"]) == (
        f"fasttext:{model}", "__label__sea", "text", "the key", 120)
    assert m["replay"]["scorer"] == f"fasttext:{model}" and m["replay"]["scorer_label"] == "sea"
    assert m["replay"]["scores"] is None


def test_scorer_with_a_weight_and_a_range_and_keep_top(tmp_path, data, model):
    p = dict(zip((r["id"] for r in data["records"]), _probabilities(model, [r["text"] for r in data["records"]])))
    scores = DSIR(seed=2).score(data["pool"], target=data["target"]).to_pylist()
    key = {data["records"][i]["id"]: s["key"] for i, s in enumerate(scores)}  # the files in order, rows in order
    DSIR(seed=2).select(data["pool"], str(tmp_path / "w"), k=15, target=data["target"], scorer=f"fasttext:{model}",
                        scorer_label="__label__sea", score_weight=3.0, report=False)
    mixed = sorted(((key[i] + 3.0 * p[i], i) for i in p if key[i] != -np.inf), reverse=True)
    assert _selected_ids(tmp_path / "w") == {i for _, i in mixed[:15]}
    m = DSIR(method="random").select(data["pool"], str(tmp_path / "r"), keep_top=0.1, scorer=f"fasttext:{model}",
                                     scorer_label="sea", score_range="0.5:", report=False)
    inside = [i for i, v in p.items() if v >= 0.5]
    assert m["scores"]["units_in_range"] == len(inside) == m["counts"]["eligible"]
    assert m["counts"]["selected"] == max(1, int(0.1 * len(inside) + 0.5))


def test_scorer_chunks_resume_with_another_model_and_a_later_report(tmp_path, data, model):
    out = tmp_path / "out"
    DSIR(method="random", chunk_words=8, emit="chunks").select(data["pool"], str(out), k=10,
                                                               scorer=f"fasttext:{model}", scorer_label="sea")
    first = json.loads((out / "report.json").read_text())
    from dsir.reports import make_report

    (out / "report.json").unlink()
    make_report(str(out))
    assert json.loads((out / "report.json").read_text()) == first
    land = tmp_path / "land.bin"  # the same model's bytes, another label: another score
    land.write_bytes(Path(model).read_bytes())
    m = DSIR(method="random", chunk_words=8, emit="chunks").select(
        data["pool"], str(out), k=10, scorer=f"fasttext:{land}", scorer_label="land", resume=True, report=False)
    fresh = DSIR(method="random", chunk_words=8, emit="chunks").select(
        data["pool"], str(tmp_path / "fresh"), k=10, scorer=f"fasttext:{land}", scorer_label="land", report=False)
    assert m["outputs"] == fresh["outputs"] and m["scores"]["label"] == "__label__land"


@pytest.mark.parametrize("kwargs,message", [
    ({"scorer": "M", "scorer_label": "sea", "scores": "S", "score_column": "q"}, "give one of them"),
    ({"scorer": "M", "scorer_label": "sea", "score_column": "q"}, "--scorer scores by its label"),
    ({"scorer_label": "sea"}, "--scorer-label names a label of the --scorer model"),
    ({"scorer": "M"}, "needs --scorer-label"),
    ({"scorer": "model.bin", "scorer_label": "sea"}, "expected fasttext:MODEL.bin"),
    ({"scorer": "M", "scorer_label": "sky"}, "sky"),
    ({"scorer": "M", "scorer_label": "sea", "target": "T"}, "ranks by the scores alone, so a target"),
])
def test_bad_scorer_options_are_refused_before_any_work(tmp_path, data, model, kwargs, message):
    kwargs = {k: (data["scores"] if v == "S" else data["target"] if v == "T" else f"fasttext:{model}" if v == "M"
                  else v) for k, v in kwargs.items()}
    with pytest.raises(UsageError, match=message):
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=5, **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_missing_model_is_named_before_any_work(tmp_path, data):
    with pytest.raises(InputError, match="nope.bin"):
        DSIR(method="random").select(data["pool"], str(tmp_path / "out"), k=5, scorer=f"fasttext:{tmp_path}/nope.bin",
                                     scorer_label="sea")
    assert not (tmp_path / "out").exists()
