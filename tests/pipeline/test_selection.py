"""Selection with the quality options, end to end on small generated corpora: methods,
chunks, several targets; exact counts, no document twice, and byte-identical output
whatever the workers or the file split."""

from __future__ import annotations

import glob
import json
import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir.api import DSIR
from dsir.errors import InputError, UsageError
from dsir.pipeline.targets import TargetSpec, group_targets, parse_target, target_proportions
from dsir.sample.allocate import allocate_targets

VOCAB = {
    "law": "court appeal statute plaintiff defendant judge ruling contract liability clause".split(),
    "food": "flour butter oven bake sugar whisk dough recipe salt simmer".split(),
    "sea": "boat sail harbor wave anchor tide captain deck storm crew".split(),
}
COMMON = "the a of and to in is it that with".split()


def make_doc(rng: random.Random, domain: str, words: int) -> str:
    return " ".join(rng.choice(VOCAB[domain]) if rng.random() < 0.5 else rng.choice(COMMON) for _ in range(words))


def records(seed: int, per_domain: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for domain in VOCAB:
        for i in range(per_domain):
            out.append({"id": f"{domain}-{seed}-{i}", "domain": domain, "text": make_doc(rng, domain, rng.randint(5, 120))})
    rng.shuffle(out)
    return out


def write_jsonl(path, recs) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    pool = records(1, 40)
    os.makedirs(root / "one")
    os.makedirs(root / "three")
    write_jsonl(root / "one" / "pool.jsonl", pool)
    for i in range(3):
        write_jsonl(root / "three" / f"pool-{i}.jsonl", pool[i::3])
    targets = {}
    for d in VOCAB:
        targets[d] = write_jsonl(root / f"target-{d}.jsonl", [r for r in records(2, 15) if r["domain"] == d])
    return {"root": root, "pool": pool, "one": str(root / "one"), "three": str(root / "three"), "targets": targets}


def selected(out) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "part-*"))):
        if path.endswith(".parquet"):
            rows.extend(pq.read_table(path).to_pylist())
        else:
            with open(path, encoding="utf-8") as fh:
                rows.extend(json.loads(line) for line in fh)
    return rows


def run(tmp_path, name, raw, k, target, report=False, **kw):
    out = tmp_path / name
    m = DSIR(**kw).select(raw, str(out), k=k, target=target, report=report)
    return m, selected(out)


def key(rows):
    return sorted((r["id"], r.get("chunk_index"), r["text"]) for r in rows)


@pytest.mark.parametrize("options", [
    dict(),  # the default: mean log-ratio per n-gram, temperature 0.01
    dict(weighting="sum", temperature=1.0, chunk_words=16),
    dict(chunk_words=16, emit="chunks"),
    dict(method="random"),
    dict(method="classifier"),
    dict(method="discriminative", buckets=1 << 16),
    dict(method="discriminative", features="minilm-static"),
])
def test_same_selection_whatever_the_workers_and_file_split(tmp_path, corpus, options):
    t = corpus["targets"]["law"]
    m1, a = run(tmp_path, "a", corpus["one"], 30, t, workers=1, **options)
    _, b = run(tmp_path, "b", corpus["three"], 30, t, workers=2, **options)
    assert len(a) == 30 == m1["counts"]["selected"]
    assert key(a) == key(b)


@pytest.mark.parametrize("method", ["discriminative", "classifier"])
def test_the_classifier_trains_on_the_engines_workers_and_selects_the_same(tmp_path, corpus, monkeypatch, method):
    """The run's own process trains on as many threads as the engine has workers (idle
    meanwhile), and the selection does not change with them (the threshold that keeps
    small fits on one thread lowered, so this small one is split)."""
    from dsir.estimate import classifier

    monkeypatch.setattr(classifier, "_MIN_ENTRIES_PER_THREAD", 1)
    trained_on = []
    train = classifier._adam_logistic
    monkeypatch.setattr(classifier, "_adam_logistic",
                        lambda *a, **kw: trained_on.append(a[-1]) or train(*a, **kw))
    t = corpus["targets"]["law"]
    m1, a = run(tmp_path, "a", corpus["one"], 30, t, workers=1, method=method, buckets=1 << 12)
    m2, b = run(tmp_path, "b", corpus["one"], 30, t, workers=2, method=method, buckets=1 << 12)
    assert trained_on == [1, 2]
    assert key(a) == key(b) and m1["scores"] == m2["scores"] and m1["parameters"] == m2["parameters"]


def test_the_default_picks_the_target_domain_and_the_manifest_says_how(tmp_path, corpus):
    m, rows = run(tmp_path, "out", corpus["one"], 40, corpus["targets"]["food"], report=True)
    # 15 target documents give a classifier of small log-odds, which T = 0.3 resamples softly
    assert sum(r["domain"] == "food" for r in rows) >= 30
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counts"]["selected_documents"] == 40  # recomputed by the report from the stored keys
    assert m["parameters"]["weighting"] == "mean" and m["parameters"]["temperature"] == 0.3
    assert m["parameters"]["buckets"] == 1 << 18
    assert m["counts"]["selected"] == 40 and m["method"] == "discriminative"
    lines = {json.dumps(r) for r in corpus["pool"]}
    assert all(json.dumps(r) in lines for r in rows)  # documents are copied unchanged


def test_random_needs_no_target_and_is_uniform(tmp_path, corpus):
    m, rows = run(tmp_path, "out", corpus["one"], 60, None, method="random")
    assert len({r["id"] for r in rows}) == 60
    assert 10 <= sum(r["domain"] == "law" for r in rows) <= 30
    assert m["fit"] is None


def test_chunk_records(tmp_path, corpus):
    m, rows = run(tmp_path, "out", corpus["one"], 25, corpus["targets"]["sea"], chunk_words=10, emit="chunks")
    by_id = {r["id"]: r for r in corpus["pool"]}
    assert len(rows) == 25 and m["counts"]["unit"] == "chunks"
    assert m["counts"]["eligible"] > m["counts"]["documents"]
    for r in rows:
        doc = by_id[r["id"]]
        words = doc["text"].split()
        n = max(1, (2 * len(words) + 10) // 20)
        c = r["chunk_index"]
        assert r["text"] == " ".join(words[c * len(words) // n: (c + 1) * len(words) // n])
        assert {k: v for k, v in r.items() if k not in ("text", "chunk_index")} == \
            {k: v for k, v in doc.items() if k != "text"}
    assert len({(r["id"], r["chunk_index"]) for r in rows}) == 25
    assert sum(r["domain"] == "sea" for r in rows) >= 23


def test_chunk_records_from_parquet(tmp_path, corpus):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(corpus["pool"]), path)
    _, rows = run(tmp_path, "out", str(path), 12, corpus["targets"]["sea"], chunk_words=10, emit="chunks")
    _, rows_jsonl = run(tmp_path, "out2", corpus["one"], 12, corpus["targets"]["sea"], chunk_words=10, emit="chunks")
    assert key(rows) == key(rows_jsonl)


def test_chunk_index_field_collision_is_an_error(tmp_path, corpus):
    raw = write_jsonl(tmp_path / "pool.jsonl", [dict(r, chunk_index=0) for r in corpus["pool"]])
    with pytest.raises(InputError, match=r"pool.jsonl:\d+: record already has a field 'chunk_index'"):
        run(tmp_path, "out", raw, 5, corpus["targets"]["sea"], chunk_words=10, emit="chunks")


@pytest.mark.parametrize("workers,raw,features", [(1, "one", "hashed-ngrams"), (2, "three", "hashed-ngrams"),
                                                   (2, "three", "minilm-static")])
def test_several_targets_share_k_and_never_take_a_document_twice(tmp_path, corpus, workers, raw, features):
    t = corpus["targets"]
    specs = [f"law={t['law']}:2", f"food={t['food']}:1", f"sea={t['sea']}:1"]
    out = tmp_path / "out"
    kw = {"features": features, "method": "discriminative"} if features == "minilm-static" else {}
    m = DSIR(workers=workers, **kw).select(corpus[raw], str(out), k=40, target=specs)
    report = json.loads((out / "report.json").read_text())  # a section per target
    assert [t["name"] for t in report["targets"]] == [t["name"] for t in m["per_target"]]
    assert [t["selected"] for t in report["targets"]] == [t["selected"] for t in m["per_target"]]
    per = {p["name"]: p for p in m["per_target"]}
    assert [per[n]["requested"] for n in ("law", "food", "sea")] == [20, 10, 10]
    assert [per[n]["selected"] for n in ("law", "food", "sea")] == [20, 10, 10]
    ids = set()
    for name in ("law", "food", "sea"):
        rows = []
        for path in sorted(glob.glob(str(out / f"part-{name}-*.jsonl"))):
            rows.extend(json.loads(line) for line in open(path, encoding="utf-8"))
        assert len(rows) == per[name]["selected"]
        assert sum(r["domain"] == name for r in rows) >= len(rows) - 1
        ids |= {r["id"] for r in rows}
    assert len(ids) == 40
    assert os.path.exists(out / "_dsir" / "model-food.npz")
    if workers == 2:  # the same files as with one worker and one file, apart from the shard numbering
        m1 = DSIR(workers=1, **kw).select(corpus["one"], str(tmp_path / "one"), k=40, target=specs, report=False)
        assert key(selected(out)) == key(selected(tmp_path / "one"))
        assert [p["selected"] for p in m1["per_target"]] == [20, 10, 10]


def test_contested_documents_go_to_the_earlier_target(tmp_path, corpus):
    t = corpus["targets"]["law"]
    m, rows = run(tmp_path, "out", corpus["one"], 80, [f"first={t}", f"second={t}"], method="dsir")
    assert [p["selected"] for p in m["per_target"]] == [40, 40]
    first = [json.loads(x) for p in glob.glob(str(tmp_path / "out" / "part-first-*")) for x in open(p)]
    assert sum(r["domain"] == "law" for r in first) == 40
    assert len({r["id"] for r in selected(tmp_path / "out")}) == 80


def test_asking_for_more_than_eligible_selects_all_and_warns(tmp_path, corpus):
    t = corpus["targets"]
    m, rows = run(tmp_path, "out", corpus["one"], 500, [f"law={t['law']}", f"sea={t['sea']}"])
    assert len(rows) == 120 and len({r["id"] for r in rows}) == 120
    assert any("more than the 120 eligible" in w for w in m["warnings"])


def test_parse_and_group_targets(tmp_path):
    assert parse_target("a/b.jsonl") == TargetSpec(("a/b.jsonl",))
    assert parse_target("law=a/b.jsonl:0.25") == TargetSpec(("a/b.jsonl",), "law", 0.25)
    assert parse_target("web=s3://bucket/x.jsonl") == TargetSpec(("s3://bucket/x.jsonl",), "web", None)
    assert parse_target("web=s3://bucket/x.jsonl:3") == TargetSpec(("s3://bucket/x.jsonl",), "web", 3.0)
    odd = tmp_path / "a=b.jsonl"
    odd.write_text("{}\n")
    assert parse_target(str(odd)).name is None  # an existing path is a path
    groups = group_targets(["x=1.jsonl:1", "y=2.jsonl:3", "x=3.jsonl"])
    assert [(g.name, g.paths, g.proportion) for g in groups] == [("x", ("1.jsonl", "3.jsonl"), 1.0),
                                                                   ("y", ("2.jsonl",), 3.0)]
    assert target_proportions(groups) == [0.25, 0.75]
    assert group_targets(["p.jsonl", "q.jsonl"]) == [TargetSpec(("p.jsonl", "q.jsonl"))]
    for bad in (["x=1.jsonl", "plain.jsonl"], ["x=1.jsonl:1", "y=2.jsonl"], ["x=1.jsonl:-1"], ["x="],
                ["x=1:1", "x=2:2"]):
        with pytest.raises(UsageError):
            group_targets(bad)


def test_allocate_targets_is_sequential_and_exclusive(tmp_path):
    keys, hashes = [], []
    for u, (k0, k1) in enumerate([([5.0, 4.0, 1.0], [9.0, 0.0, 8.0]), ([3.0, -np.inf], [7.0, 6.0])]):
        keys.append(np.array([k0, k1]))
        hashes.append(np.arange(len(k0), dtype=np.uint64) + 10 * u)
    a = allocate_targets(keys, lambda u: hashes[u], [2, 2])
    assert a.selected == [2, 2]
    assert a.assigned[0].tolist() == [0, 0, 1] and a.assigned[1].tolist() == [1, -1]


def tokens_of(text: str) -> int:
    """dsir's token count of a text of the generated corpus (space-separated words only)."""
    return len(text.split())


@pytest.mark.parametrize("options", [dict(), dict(chunk_words=16, emit="chunks"), dict(method="random")])
def test_a_token_budget_is_the_k_ranking_cut_where_its_tokens_reach_it(tmp_path, corpus, options):
    """tokens=T selects what k=n selects, n the first count whose tokens reach T; the
    manifest states the budget and what was reached; the file split and workers change nothing."""
    t = corpus["targets"]["law"] if options.get("method") != "random" else None
    out = tmp_path / "t"
    m = DSIR(**options).select(corpus["one"], str(out), tokens=1500, target=t, report=True)
    rows = selected(out)
    n = m["counts"]["selected"]
    assert m["parameters"]["tokens"] == 1500 and m["parameters"]["k"] is None
    assert m["counts"]["requested_tokens"] == 1500 and m["counts"]["requested"] is None
    assert m["counts"]["selected_tokens"] == sum(tokens_of(r["text"]) for r in rows) >= 1500
    assert m["per_target"][0]["requested_tokens"] == 1500
    assert m["per_target"][0]["selected_tokens"] == m["counts"]["selected_tokens"]
    m_k = DSIR(**options).select(corpus["one"], str(tmp_path / "k"), k=n, target=t, report=False)
    assert key(selected(tmp_path / "k")) == key(rows)  # the same ranking, cut by tokens
    fewer = DSIR(**options).select(corpus["one"], str(tmp_path / "k1"), k=n - 1, target=t, report=False)
    assert fewer["counts"]["selected_tokens"] < 1500 <= m_k["counts"]["selected_tokens"]
    DSIR(workers=2, **options).select(corpus["three"], str(tmp_path / "three"), tokens=1500, target=t, report=False)
    assert key(selected(tmp_path / "three")) == key(rows)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["requested_tokens"] == 1500
    assert report["counts"]["selected_tokens"] == m["counts"]["selected_tokens"]
    assert "1,500 tokens" in (out / "report.html").read_text()


def test_several_targets_share_a_token_budget(tmp_path, corpus):
    t = corpus["targets"]
    specs = [f"law={t['law']}:2", f"food={t['food']}:1", f"sea={t['sea']}:1"]
    out = tmp_path / "out"
    m = DSIR(workers=2).select(corpus["three"], str(out), tokens=4000, target=specs)
    per = {p["name"]: p for p in m["per_target"]}
    assert [per[n]["requested_tokens"] for n in ("law", "food", "sea")] == [2000, 1000, 1000]
    ids = set()
    for name in ("law", "food", "sea"):
        rows = [json.loads(x) for p in sorted(glob.glob(str(out / f"part-{name}-*.jsonl"))) for x in open(p)]
        assert per[name]["selected_tokens"] == sum(tokens_of(r["text"]) for r in rows) >= per[name]["requested_tokens"]
        assert per[name]["selected"] == len(rows)
        ids |= {r["id"] for r in rows}
    assert len(ids) == m["counts"]["selected"]  # never a document twice
    report = json.loads((out / "report.json").read_text())
    assert [x["requested_tokens"] for x in report["targets"]] == [2000, 1000, 1000]


def test_a_token_budget_beyond_the_pool_selects_all_and_warns(tmp_path, corpus):
    out = tmp_path / "out"
    m = DSIR(min_length=30).select(corpus["one"], str(out), tokens=10**9, target=corpus["targets"]["sea"],
                                   report=False)
    rows = selected(out)
    eligible = [r for r in corpus["pool"] if tokens_of(r["text"]) >= 30]
    assert len(rows) == len(eligible) == m["counts"]["eligible"]
    assert m["counts"]["selected_tokens"] == sum(tokens_of(r["text"]) for r in eligible)
    assert any("more than the" in w and "tokens of the" in w for w in m["warnings"])


def test_a_token_budget_in_memory_and_its_usage_errors(tmp_path, corpus):
    texts = [r["text"] for r in corpus["pool"]]
    picked = DSIR().select(texts, tokens=500, target=[r["text"] for r in corpus["pool"] if r["domain"] == "law"])
    total = sum(map(tokens_of, picked))
    assert total >= 500 > total - max(map(tokens_of, picked))  # without its last-ranked text it would fall short
    for kwargs, message in [(dict(k=5, tokens=5), "exactly one of k, fraction and tokens"),
                            (dict(tokens=0), "positive number of tokens"), (dict(tokens=1.5), "integer")]:
        with pytest.raises(UsageError, match=message):
            DSIR().select(corpus["one"], str(tmp_path / "bad"), target=corpus["targets"]["law"], **kwargs)
    assert not (tmp_path / "bad").exists()
    plan = DSIR().select(corpus["one"], str(tmp_path / "dry"), tokens=2000, target=corpus["targets"]["law"],
                         dry_run=True)
    assert plan["select"] == "2,000 tokens"


def test_discriminative_ranks_on_the_classifiers_log_odds_and_saves_its_model(tmp_path, corpus):
    """Its weight is the log-odds of its logistic regression (computed here apart, from the
    model's coefficients and the documents' bucket ids), over the temperature; the model
    saved by ``save`` gives the same selection through ``load_model``."""
    law = corpus["targets"]["law"]
    d = DSIR(method="discriminative", temperature=0.5)
    assert d.settings.buckets == 1 << 18  # the method's own hash space when none is given
    scores = d.score(corpus["one"], target=law).to_pandas().sort_values("row")
    est = d.estimator_
    f = est.featurizer
    texts = pa.array([r["text"] for r in corpus["pool"]], pa.large_string())
    indptr, ids = f.buckets_of(texts)
    lengths = np.diff(indptr)
    log_odds = np.add.reduceat(est.coef_[ids], indptr[:-1]) / lengths + est.intercept_
    np.testing.assert_allclose(scores["weight"].to_numpy(), log_odds / 0.5, rtol=1e-9)
    m, rows = run(tmp_path, "fresh", corpus["one"], 20, law, method="discriminative", temperature=0.5)
    assert sum(r["domain"] == "law" for r in rows) >= 16 and m["method"] == "discriminative"
    assert m["parameters"]["buckets"] == 1 << 18
    d.save(str(tmp_path / "model.npz"))
    again = DSIR(method="discriminative", temperature=0.5).load_model(str(tmp_path / "model.npz"))
    again.select(corpus["one"], str(tmp_path / "loaded"), k=20)
    assert key(selected(tmp_path / "loaded")) == key(rows)
    with pytest.raises(UsageError, match="holds a discriminative fit"):
        DSIR(method="dsir").load_model(str(tmp_path / "model.npz"))


def test_minilm_static_ranks_on_the_log_odds_of_mean_piece_vectors(tmp_path, corpus):
    """In the static embedding space the weight is the logistic regression's log-odds of a
    document's mean piece vector (computed here apart, from the document-vector coefficients),
    over the temperature; its model file gives the same selection, and --buckets is refused."""
    from dsir.estimate.embedding import mean_vectors

    law = corpus["targets"]["law"]
    d = DSIR(method="discriminative", features="minilm-static", temperature=0.5)
    assert d.settings.buckets == 30_522
    scores = d.score(corpus["one"], target=law).to_pandas().sort_values("row")
    est = d.estimator_
    f = est.featurizer
    texts = pa.array([r["text"] for r in corpus["pool"]], pa.large_string())
    x = mean_vectors(*f.buckets_of(texts), f.vectors)
    w = np.linalg.lstsq(f.vectors.astype(np.float64), est.coef_, rcond=None)[0]  # the vector-space coefficients
    np.testing.assert_allclose(scores["weight"].to_numpy(), (x @ w + est.intercept_) / 0.5, rtol=1e-6, atol=1e-6)
    m, rows = run(tmp_path, "fresh", corpus["one"], 20, law, method="discriminative", features="minilm-static",
                  temperature=0.5)
    assert sum(r["domain"] == "law" for r in rows) >= 16
    assert m["parameters"]["features"] == "minilm-static" and m["parameters"]["buckets"] == 30_522
    d.save(str(tmp_path / "model.npz"))
    again = DSIR(method="discriminative", features="minilm-static", temperature=0.5).load_model(
        str(tmp_path / "model.npz"))
    again.select(corpus["one"], str(tmp_path / "loaded"), k=20)
    assert key(selected(tmp_path / "loaded")) == key(rows)
    with pytest.raises(UsageError, match="buckets does not apply"):
        DSIR(features="minilm-static", buckets=1000)
