"""``target_eval``: held-out target documents, the report's perplexity on them, and how a
bad ``--target-eval`` is refused. It shapes the report only, never the selection."""

from __future__ import annotations

import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir import DSIR
from dsir.errors import InputError, UsageError
from dsir.metrics import KneserNeyBigram, word_ids
from dsir.reports import make_report
from dsir.reports.target_eval import heldout_perplexity, resolve_target_eval
from tests.reports.conftest import CATS, MONEY, _doc
from tests.reports.test_report import B, N, SEED, _report, _select, _selected_records
from tests.reports.test_text_sample import as_csr, equal_text


def write_eval(path, words=CATS, n=12, seed=11) -> str:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps({"text": _doc(rng, words, rng.randint(10, 40))}) + "\n" for _ in range(n)))
    return str(path)


def records(out):
    """The unit records' fingerprints: what decides whether a --resume reuses a unit."""
    found = {}
    for name in sorted(os.listdir(out / "_dsir")):
        if name.endswith(".rec"):
            data = (out / "_dsir" / name).read_bytes()
            found[name] = json.loads(data[8: 8 + int.from_bytes(data[:8], "little")])["fingerprint"]
    return found


@pytest.fixture(scope="module")
def runs(toy, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    cats = write_eval(root / "cats-eval.jsonl")
    plain, held = root / "plain", root / "held"
    _select(toy, plain, group_by=None)
    _select(toy, held, group_by=None, target_eval=cats)
    return {"root": root, "cats": cats, "plain": plain, "held": held}


def test_the_perplexity_is_that_of_models_on_the_equal_texts(toy, runs):
    report = _report(runs["held"])
    pp, words = report["perplexity"], report["equal_text"]["words"]
    selected = [r["text"] for r in _selected_records(runs["held"])]
    pool = [r["text"] for r in toy["records"] if r["text"]]
    held_out = word_ids(pa.array([json.loads(line)["text"] for line in open(runs["cats"])]))
    want = [KneserNeyBigram().fit(*as_csr(equal_text(t, words))).perplexity(*held_out) for t in (selected, pool)]
    assert [pp["selected"], pp["pool"]] == pytest.approx(want, rel=1e-12)
    assert pp["ratio"] == pytest.approx(want[0] / want[1], rel=1e-12)
    assert pp["selected"] < pp["pool"]  # a cat selection predicts held-out cat text better
    assert pp["train_words"] == words and pp["note"] is None
    assert pp["eval"] == {"paths": [runs["cats"]], "documents": 12, "words": len(held_out[1]), "rejected": 0}
    assert "Kneser-Ney" in pp["what"] and "0.75" in pp["what"] and "1,048,576" in pp["what"]
    page = (runs["held"] / "report.html").read_text()
    assert "held-out perplexity" in page and f"{pp['selected']:,.4g}" in page and "cats-eval.jsonl" in page


def test_it_changes_the_report_only(toy, runs, tmp_path):
    plain, held = runs["plain"], runs["held"]
    for name in sorted(os.listdir(plain)):
        if name.startswith("part-") or name == "README.md":
            assert (plain / name).read_bytes() == (held / name).read_bytes(), name
    m_plain, m_held = (json.loads((r / "manifest.json").read_text()) for r in (plain, held))
    assert m_held["replay"]["target_eval"] == [runs["cats"]] and m_plain["replay"]["target_eval"] is None
    assert {**m_plain, "replay": {**m_plain["replay"], "target_eval": None}} == \
        {**m_held, "replay": {**m_held["replay"], "target_eval": None}}  # the replay gives it again, nothing else
    a, b = _report(plain), _report(held)
    assert a["perplexity"] is None and b["perplexity"] is not None
    assert {k: v for k, v in a.items() if k not in ("perplexity", "targets")} == \
        {k: v for k, v in b.items() if k not in ("perplexity", "targets")}
    # resumed with held-out documents, the run reuses every unit: no fingerprint changes
    out = tmp_path / "out"
    _select(toy, out, group_by=None)
    before = records(out)
    _select(toy, out, group_by=None, resume=True, target_eval=runs["cats"])
    assert records(out) == before and _report(out)["perplexity"] == b["perplexity"]


def test_later_reports_keep_it_and_another_replaces_it(toy, runs, tmp_path):
    out = tmp_path / "out"
    _select(toy, out, group_by=None, report=False, target_eval=runs["cats"])  # checked and kept without a report
    assert json.loads((out / "_dsir" / "target-eval.json").read_text())["targets"] == [
        {"name": None, "paths": [runs["cats"]]}]
    first = make_report(str(out))
    assert first["perplexity"] == _report(runs["held"])["perplexity"]
    money = write_eval(tmp_path / "money.jsonl", MONEY, n=5)
    second = make_report(str(out), target_eval=[money])  # not stale: the new documents, kept for later
    assert second["perplexity"]["eval"]["paths"] == [money] and second["perplexity"]["eval"]["documents"] == 5
    assert second["perplexity"]["selected"] > second["perplexity"]["pool"]  # cats predict finance text worse
    assert make_report(str(out))["perplexity"] == second["perplexity"]
    # a --resume with other held-out documents remakes the report with them
    DSIR(ngrams=N, buckets=B, seed=SEED).select(toy["pool"], str(out), k=40, target=toy["target"], resume=True,
                                                 target_eval=runs["cats"])
    assert _report(out)["perplexity"] == first["perplexity"]
    make_report(str(out), target_eval=[money])
    os.remove(money)
    gone = make_report(str(out))["perplexity"]  # the kept file is gone: said, not a crash
    assert gone["selected"] is None and gone["note"].startswith("no perplexity: ") and "money.jsonl" in gone["note"]
    assert "no perplexity: " in (out / "report.html").read_text()


def test_named_targets_are_matched_by_name(toy, tmp_path):
    finance = tmp_path / "finance.jsonl"
    rng = random.Random(3)
    finance.write_text("".join(json.dumps({"text": _doc(rng, MONEY, 30)}) + "\n" for _ in range(20)))
    cats = write_eval(tmp_path / "cats.jsonl")
    out = tmp_path / "out"
    d = DSIR(ngrams=N, buckets=B, seed=SEED)
    d.select(toy["pool"], str(out), k=40, target=[f"cats={toy['target']}", f"money={finance}"],
             target_eval=[f"cats={cats}"])
    by_name = {t["name"]: t for t in _report(out)["targets"]}
    assert by_name["cats"]["perplexity"]["eval"]["paths"] == [cats]
    assert by_name["cats"]["perplexity"]["selected"] < by_name["cats"]["perplexity"]["pool"]
    assert by_name["money"]["perplexity"]["note"] == "no perplexity: no --target-eval for target money"
    assert by_name["money"]["diversity"]["selected"] is not None
    page = (out / "report.html").read_text()
    assert "held-out perplexity (selection / pool)" in page
    with pytest.raises(UsageError, match=r"dogs=.*no target is named 'dogs' \(the targets: cats, money\)"):
        make_report(str(out), target_eval=[f"dogs={cats}"])
    with pytest.raises(UsageError, match="the targets have names .*: give NAME=PATH"):
        make_report(str(out), target_eval=[cats])


def test_chunks_and_parquet_and_rejects(toy, tmp_path):
    rng = random.Random(5)
    texts = [_doc(rng, CATS, 25) for _ in range(6)]
    held, bad = tmp_path / "held.parquet", tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": texts}), held)
    pq.write_table(pa.table({"text": texts + [None]}), bad)
    out = tmp_path / "out"
    DSIR(ngrams=N, buckets=B, seed=SEED, chunk_words=16, emit="chunks").select(
        toy["pool"], str(out), k=40, target=toy["target"], target_eval=str(held))
    report = _report(out)
    assert report["counts"]["unit"] == "chunks" and report["perplexity"]["eval"]["documents"] == 6
    assert report["equal_text"]["words"] == report["counts"]["selected_tokens"]
    with pytest.raises(InputError, match=r"bad.parquet \(row 6\): text column 'text' is null"):
        make_report(str(out), target_eval=[str(bad)])
    skip = tmp_path / "skip"
    d = DSIR(ngrams=N, buckets=B, seed=SEED, on_error="skip")
    d.select(toy["pool"], str(skip), k=40, target=toy["target"], target_eval=str(bad))
    assert _report(skip)["perplexity"]["eval"] | {"paths": None} == {"paths": None, "documents": 6, "rejected": 1,
                                                                      "words": report["perplexity"]["eval"]["words"]}


@pytest.mark.parametrize("lines,match", [
    (None, r"missing-eval.jsonl: target-eval path does not exist"),
    (['{"text": "cat nap"}', '{"text": "cat",}'], r"eval.jsonl:2: malformed JSON"),
    (['{"body": "cat nap"}'], r"eval.jsonl:1: missing text field 'text'"),
    ([], r"eval.jsonl: the held-out documents \(--target-eval\) hold no word"),
    (['{"text": ""}', '{"text": "   "}'], r"eval.jsonl: the held-out documents \(--target-eval\) hold no word"),
])
def test_a_bad_target_eval_is_refused_before_any_output(toy, tmp_path, lines, match):
    path = tmp_path / ("missing-eval.jsonl" if lines is None else "eval.jsonl")
    if lines is not None:
        path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(InputError, match=match):
        _select(toy, tmp_path / "out", group_by=None, target_eval=str(path))
    assert not (tmp_path / "out").exists()


def test_usage_errors(toy, tmp_path):
    cats = write_eval(tmp_path / "cats.jsonl")
    with pytest.raises(UsageError, match="the target has no name, so no NAME="):
        _select(toy, tmp_path / "out", group_by=None, target_eval=f"cats={cats}")
    with pytest.raises(UsageError, match="no path after 'cats='"):
        _select(toy, tmp_path / "out", group_by=None, target_eval="cats=")
    with pytest.raises(UsageError, match="target_eval needs an output_dir"):
        DSIR(ngrams=N, buckets=B).select(["a b c", "d e f"], k=1, target=["a b"], target_eval=cats)
    assert not (tmp_path / "out").exists()
    plan = DSIR(ngrams=N, buckets=B).select(toy["pool"], str(tmp_path / "out"), k=3, target=toy["target"],
                                            target_eval=cats, dry_run=True)
    assert plan["dry_run"] and not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="nope.jsonl: target-eval path does not exist"):  # the dry run checks paths
        DSIR(ngrams=N, buckets=B).select(toy["pool"], str(tmp_path / "out"), k=3, target=toy["target"],
                                         target_eval=str(tmp_path / "nope.jsonl"), dry_run=True)


def test_no_text_to_train_or_to_evaluate_on_says_so(tmp_path):
    ev = resolve_target_eval([write_eval(tmp_path / "cats.jsonl")], [None])[0]
    some = word_ids(pa.array(["cat nap purr", "kitten fur"]))
    empty = word_ids(pa.array([], pa.string()))
    got = heldout_perplexity(ev, empty, empty, "text", "stop")
    assert got["note"] == "no perplexity: no selected text to train a model on" and got["selected"] is None
    (tmp_path / "cats.jsonl").write_text('{"text": ""}\n')  # emptied since it was checked
    got = heldout_perplexity(ev, some, some, "text", "stop")
    assert got["note"] == "no perplexity: the held-out documents hold no word" and got["ratio"] is None
