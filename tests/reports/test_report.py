"""report.json against values computed independently (pure-Python reference featurizer,
Decimal arithmetic) on the toy corpus."""

from __future__ import annotations

import json
import os
from collections import Counter
from decimal import Decimal, getcontext

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main
from dsir.errors import InputError
from dsir.errors import UsageError
from dsir.reports.samples import POOL_SAMPLE_STREAM, truncate
from dsir.sample.gumbel import seed_key
from tests.featurize import reference

B, N, SEED, K = 500, 2, 3, 40


def _select(toy, out, **kw):
    kw.setdefault("k", K)
    kw.setdefault("group_by", "domain")
    d = DSIR(ngrams=N, buckets=B, seed=SEED)
    manifest = d.select(toy["pool"], str(out), target=toy["target"], **kw)
    return manifest


def _report(out) -> dict:
    return json.loads((out / "report.json").read_text())


def _selected_records(out) -> list[dict]:
    recs = []
    for p in sorted(out.glob("part-*")):
        if p.suffix == ".parquet":
            recs += pq.read_table(p).to_pylist()
        else:
            recs += [json.loads(line) for line in p.read_text().splitlines()]
    return recs


def _counts(texts) -> np.ndarray:
    return sum((reference.bucket_counts(t, N, B) for t in texts), np.zeros(B, np.int64))


def _kl(p_counts, q_counts, a=1.0) -> float:
    p = (p_counts + a) / (p_counts.sum() + a * B)
    q = (q_counts + a) / (q_counts.sum() + a * B)
    return float(np.sum(p * np.log(p / q)))


def _uniform(text: str, key: int) -> float:
    h = reference.fmix64(reference.fnv1a64(text.encode("utf-8")))
    return ((reference.fmix64(h ^ int(key)) >> 11) + 0.5) / 2**53


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    manifest = _select(toy, out)
    return out, manifest, _report(out)


def test_writes_json_html_and_plots(run):
    out, _, report = run
    assert (out / "report.html").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "report").iterdir()) == [
        "composition-domain.png", "kl.png", "lengths.png", "weights.png", "why.png"]
    for p in (out / "report").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["report_format_version"] == 2


def test_counts_match_the_selected_files(toy, run):
    out, manifest, report = run
    c = report["counts"]
    selected = [r["text"] for r in _selected_records(out)]
    pool = [r["text"] for r in toy["records"]]
    assert c["selected_documents"] == len(selected) == K
    assert c["pool_documents"] == len(pool) == 151 and c["eligible_documents"] == 150
    assert c["selected_tokens"] == sum(len(reference.tokens(t)) for t in selected)
    assert c["pool_tokens"] == sum(len(reference.tokens(t)) for t in pool)
    assert c["selected_text_bytes"] == sum(len(t.encode()) for t in selected)
    assert c["pool_text_bytes"] == sum(len(t.encode()) for t in pool)
    assert c["selected_fraction_of_eligible"] == K / 150
    assert c["selected_output_bytes"] == sum(o["bytes"] for o in manifest["outputs"])


def test_kl_numbers_by_hand(toy, run):
    out, _, report = run
    kl = report["kl"]
    target = _counts([json.loads(line)["text"] for line in open(toy["target"])])
    selected = _counts([r["text"] for r in _selected_records(out)])  # 40 <= sample bound: all of them
    rate = K / 151
    key = seed_key(SEED, POOL_SAMPLE_STREAM)
    sample = [r["text"] for r in toy["records"] if _uniform(r["text"], key) < rate]
    raw = _counts(sample)
    assert kl["samples"]["raw"]["documents"] == len(sample)
    assert kl["samples"]["raw"]["ngrams"] == raw.sum()
    assert kl["samples"]["selected"] == {"documents": K, "ngrams": int(selected.sum()), "what": kl["samples"]["selected"]["what"]}
    assert kl["samples"]["target"]["documents"] == 30 and kl["samples"]["target"]["ngrams"] == target.sum()
    assert kl["kl_target_raw"] == pytest.approx(_kl(target, raw), rel=1e-12)
    assert kl["kl_target_selected"] == pytest.approx(_kl(target, selected), rel=1e-12)
    assert kl["reduction"] == pytest.approx(_kl(target, raw) - _kl(target, selected), rel=1e-12)
    assert kl["reduction"] > 0.1  # cat documents are much closer to a cat target than the mixed pool
    pt = (target + 1) / (target.sum() + B)
    contrib = pt * (np.log((selected + 1) / (selected.sum() + B)) - np.log((raw + 1) / (raw.sum() + B)))
    top10 = np.sort(contrib)[::-1][:10].sum() / contrib.sum()
    assert kl["top_bucket_share"]["10"] == pytest.approx(top10, rel=1e-9)
    assert kl["top_contributions"][0]["bucket"] == int(np.argmax(contrib))


def test_selecting_everything_reduces_nothing(toy, tmp_path):
    _select(toy, tmp_path / "all", k=None, fraction=1.0, group_by=None)
    kl = _report(tmp_path / "all")["kl"]
    pool = _counts([r["text"] for r in toy["records"]])
    target = _counts([json.loads(line)["text"] for line in open(toy["target"])])
    # the selection is every eligible document (all but the empty one): its n-grams are the pool's
    assert kl["samples"]["selected"]["ngrams"] == pool.sum()
    assert kl["kl_target_selected"] == pytest.approx(_kl(target, pool), rel=1e-12)
    # the raw sample has as many documents as the selection sample: 150 of 151
    key = seed_key(SEED, POOL_SAMPLE_STREAM)
    raw = _counts([r["text"] for r in toy["records"] if _uniform(r["text"], key) < 150 / 151])
    assert kl["kl_target_raw"] == pytest.approx(_kl(target, raw), rel=1e-12)
    assert abs(kl["reduction"]) < 0.02


def test_effective_sample_size_and_histogram(toy, run):
    _, _, report = run
    table = DSIR(seed=SEED).load_model(str(run[0] / "_dsir" / "model.npz")).score(toy["pool"])
    lw = np.asarray(table.column("weight"))[np.asarray(table.column("eligible"))]
    getcontext().prec = 50
    w = [Decimal(float(x)).exp() for x in lw]
    ess = float(sum(w) ** 2 / sum(x * x for x in w))
    weights = report["weights"]
    assert weights["effective_sample_size"] == pytest.approx(ess, rel=1e-12)
    assert weights["effective_sample_size_fraction"] == pytest.approx(ess / 150, rel=1e-12)
    assert sum(weights["histogram"]["pool"]) == 150 and sum(weights["histogram"]["selected"]) == K
    assert weights["kth_largest_log_weight"] == float(np.sort(lw)[::-1][K - 1])
    assert weights["log_weight"]["max"] == float(lw.max())


def test_lengths(toy, run):
    out, _, report = run
    sel = [len(reference.tokens(r["text"])) for r in _selected_records(out)]
    tgt = [len(reference.tokens(json.loads(line)["text"])) for line in open(toy["target"])]
    ln = report["lengths"]
    assert ln["selected"]["median"] == float(np.median(sel)) and ln["selected"]["max"] == max(sel)
    assert ln["target"]["documents"] == 30 and ln["target"]["mean"] == pytest.approx(np.mean(tgt), rel=1e-14)
    assert ln["pool"]["min"] == 0 and ln["pool"]["documents"] == 151
    assert sum(ln["histogram"]["target"]) == 30 and sum(ln["histogram"]["selected"]) == K
    assert sum(ln["histogram"]["pool"]) == 150  # the empty document is below the first bin (1 token)


def test_why_names_buckets_by_their_own_ngrams(toy, run):
    _, _, report = run
    why = report["why"]
    assert why["raising"] and why["lowering"]
    assert all(r["log_ratio"] > 0 for r in why["raising"]) and all(r["log_ratio"] < 0 for r in why["lowering"])
    for r in why["raising"] + why["lowering"]:
        for name in r["names"]:
            assert reference.bucket(name, B) == r["bucket"]


def test_why_of_the_ngram_ratio_is_its_topic_words(toy, tmp_path):
    """The n-gram ratio raises the target's words and lowers the others' (the classifier of
    the default method may give a collinear cat word a negative coefficient, so this is the
    ratio's property, not every method's)."""
    out = tmp_path / "out"
    DSIR(ngrams=N, buckets=B, seed=SEED, method="dsir").select(toy["pool"], str(out), k=K, target=toy["target"])
    why = _report(out)["why"]
    raising_words = {w for r in why["raising"] for n in r["names"] for w in n.split()}
    lowering_words = {w for r in why["lowering"] for n in r["names"] for w in n.split()}
    from tests.reports.conftest import CATS, FOOD, MONEY
    assert len(raising_words & set(CATS)) >= 5 and not raising_words & set(MONEY + FOOD)
    assert len(lowering_words & set(MONEY + FOOD)) >= 5 and not lowering_words & set(CATS)


def test_examples(toy, run):
    out, _, report = run
    table = DSIR(seed=SEED).load_model(str(out / "_dsir" / "model.npz")).score(toy["pool"])
    lw = np.asarray(table.column("weight"))
    eligible = np.asarray(table.column("eligible"))
    texts = [r["text"] for r in toy["records"]]
    order = np.argsort(np.where(eligible, lw, -np.inf))[::-1]
    ex = report["examples"]
    assert [e["weight"] for e in ex["top"]] == [float(lw[i]) for i in order[:3]]
    assert ex["top"][0]["text"] == truncate(texts[order[0]], 600)
    low = np.argsort(np.where(eligible, lw, np.inf))[:3]
    assert [e["weight"] for e in ex["bottom"]] == [float(lw[i]) for i in low]
    assert all(e["selected"] for e in ex["threshold"]) and len(ex["threshold"]) == 3
    assert not any(e["selected"] for e in ex["bottom"])


def test_composition_by_domain(toy, run):
    out, _, report = run
    (comp,) = report["compositions"]
    label = lambda r: "(missing)" if "domain" not in r else str(r["domain"])  # noqa: E731
    pool = Counter(label(r) for r in toy["records"])
    selected = Counter(label(r) if r.get("domain") is not None else "(missing)" for r in _selected_records(out))
    got = {g["value"]: (g["pool"], g["selected"]) for g in comp["groups"]}
    assert got == {v: (pool[v], selected.get(v, 0)) for v in pool}
    assert set(got) == {"cats", "finance", "cooking", "42", "(missing)"}
    assert comp["groups"][0]["value"] == "cats"  # most pool documents first (cats has the empty one)
    assert sum(g["selected_share"] for g in comp["groups"]) == pytest.approx(1.0)
    assert (out / "_dsir" / "groups-domain.json").exists()


def test_report_command_rebuilds_the_same_report(toy, tmp_path):
    out = tmp_path / "out"
    _select(toy, out, report=False, group_by=None)
    assert not (out / "report.json").exists() and not (out / "report.html").exists()
    res = CliRunner().invoke(main, ["report", str(out), "--group-by", "domain", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "reduction" in res.output
    first = _report(out)
    assert first["compositions"][0]["field"] == "domain"
    res = CliRunner().invoke(main, ["report", str(out), "--workers", "2", "--quiet"])  # groups stored: no --group-by
    assert res.exit_code == 0, res.output
    second = _report(out)
    assert first == second
    assert json.loads((out / "_dsir" / "report-run.json").read_text())["seconds"] > 0


def test_overwrite_clears_an_old_report(toy, tmp_path):
    out = tmp_path / "out"
    _select(toy, out, group_by=None)
    assert (out / "report.html").exists()
    DSIR(ngrams=N, buckets=B).select(toy["pool"], str(out), k=5, target=toy["target"], overwrite=True, report=False)
    assert not (out / "report.html").exists() and not (out / "report").exists()


def test_unknown_group_by_field_is_an_error_after_a_complete_selection(toy, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="no document of the pool has a field 'nope'.*selection .* is complete"):
        _select(toy, out, group_by="nope")
    assert (out / "manifest.json").exists()
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--quiet"])
    assert res.exit_code == 3 and "not the output directory of a finished" in res.output  # bad input


def test_report_of_a_run_with_a_saved_model(toy, tmp_path):
    d = DSIR(ngrams=N, buckets=B, seed=SEED).fit(toy["pool"], toy["target"])
    d.save(str(tmp_path / "model.npz"))
    out = tmp_path / "out"
    DSIR().load_model(str(tmp_path / "model.npz")).select(toy["pool"], str(out), k=10)
    report = _report(out)
    assert report["lengths"]["target"]["available"] is False and report["lengths"]["target"]["documents"] == 0
    assert report["kl"]["samples"]["target"]["documents"] == 30
    assert "saved model" in (out / "report.html").read_text()


def test_html_is_self_contained(run):
    page = (run[0] / "report.html").read_text()
    for banned in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert banned not in page
    assert page.count('src="data:image/png;base64,') == 5
    assert "KL reduction" in page and "Composition by" in page


@pytest.mark.parametrize("method, message", [
    ("dsir", r"none of the 2 documents of the raw pool is eligible \(each has no tokens"),
    # the classifier is refused sooner: it has no raw documents to learn from
    ("discriminative", r"empty\.jsonl: the raw sample has no n-grams: each of its 2 documents has no tokens")])
def test_a_pool_with_nothing_eligible_is_refused_before_any_output(tmp_path, toy, method, message):
    pool = tmp_path / "empty.jsonl"
    pool.write_text('{"text": ""}\n{"text": "   "}\n')
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        DSIR(ngrams=N, buckets=B, method=method).select(str(pool), str(out), k=1, target=toy["target"])
    assert sorted(os.listdir(out)) == ["_dsir"]


@pytest.mark.parametrize("options", [dict(top_k=True), dict(weighting="sum", temperature=1.0, top_k=True),
                                     dict(weighting="sum", temperature=0.5)])
def test_cut_histogram_and_ess_are_those_of_the_keys_used(toy, tmp_path, options):
    """The report describes the weights the selection ranked on, whatever the weighting."""
    out = tmp_path / "out"
    DSIR(ngrams=N, buckets=B, seed=SEED, **options).select(toy["pool"], str(out), k=K, target=toy["target"])
    report = _report(out)
    table = DSIR(ngrams=N, buckets=B, seed=SEED, **options).load_model(str(out / "_dsir" / "model.npz")) \
        .score(toy["pool"]).to_pylist()
    selected_ids = {r["id"] for r in _selected_records(out)}
    records = toy["records"]
    weights = [r["weight"] for r in table if r["eligible"]]
    chosen = [r["weight"] for r, rec in zip(table, records) if rec["id"] in selected_ids]
    w = report["weights"]
    edges = np.asarray(w["histogram"]["edges"])
    assert w["histogram"]["pool"] == np.histogram(weights, edges)[0].tolist()
    assert w["histogram"]["selected"] == np.histogram(chosen, edges)[0].tolist()
    assert w["kth_largest_log_weight"] == sorted(weights, reverse=True)[K - 1]
    assert w["effective_sample_size"] == pytest.approx(
        float(np.exp(2 * np.logaddexp.reduce(weights) - np.logaddexp.reduce(2 * np.asarray(weights)))), rel=1e-9)
    assert ("summed" in w["what"]) == (options.get("weighting") == "sum")
    if options.get("top_k"):  # a hard cut: no selected unit below it
        assert min(chosen) >= w["kth_largest_log_weight"]
