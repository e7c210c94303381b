"""The report's equal texts and their diversity, against a pure-Python rebuild of the texts
from the selected files and the pool."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from dsir.metrics import KneserNeyBigram, word_ids
from dsir.reports import ReportOptions, make_report
from dsir.reports.samples import TEXT_SAMPLE_STREAM
from dsir.sample.gumbel import seed_key
from tests.reports.test_report import SEED, _report, _select, _selected_records, _uniform


def equal_text(texts: list[str], words: int) -> list[list[int]]:
    """The first ``words`` word ids of ``texts`` in the report's order, the last text cut."""
    key = seed_key(SEED, TEXT_SAMPLE_STREAM)
    ordered = sorted(texts, key=lambda t: _uniform(t, key))
    indptr, ids = word_ids(pa.array(ordered, pa.large_string()))
    docs, left = [], words
    for a, b in zip(indptr[:-1], indptr[1:]):
        if left <= 0:
            break
        docs.append(ids[a:min(b, a + left)].tolist())
        left -= len(docs[-1])
    return [d for d in docs if d]


def distinct(docs: list[list[int]]) -> float:
    pairs = [(a, b) for d in docs for a, b in zip(d, d[1:])]
    return len(set(pairs)) / len(pairs)


def as_csr(docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.cumsum([0] + [len(d) for d in docs]), np.array([w for d in docs for w in d], dtype=np.int32)


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "out"
    manifest = _select(toy, out, group_by=None)
    return out, manifest, _report(out)


def test_equal_texts_and_diversity_by_hand(toy, run):
    out, manifest, report = run
    selected = [r["text"] for r in _selected_records(out)]
    pool = [r["text"] for r in toy["records"] if r["text"]]  # the eligible pool: all but the empty one
    words = manifest["counts"]["selected_tokens"]  # fewer than ReportOptions.text_words: all of them
    eq, dv = report["equal_text"], report["diversity"]
    assert eq["words"] == words and eq["selected_units"] == len(selected)
    sel_text, pool_text = equal_text(selected, words), equal_text(pool, words)
    assert sum(map(len, sel_text)) == sum(map(len, pool_text)) == words
    assert eq["pool_units"] == len(pool_text) < len(pool)
    assert dv["selected"] == distinct(sel_text) and dv["pool"] == distinct(pool_text)
    assert report["targets"][0]["diversity"] == dv
    assert report["perplexity"] is None  # no --target-eval
    page = (out / "report.html").read_text()
    assert "Diversity and held-out perplexity" in page and "--target-eval PATH" in page


def test_a_smaller_text_cuts_the_last_unit(toy, run, tmp_path):
    out, _, _ = run
    report = make_report(str(out), options=ReportOptions(text_words=777))  # another spec: the pool is read again
    selected = [r["text"] for r in _selected_records(out)]
    pool = [r["text"] for r in toy["records"] if r["text"]]
    assert report["equal_text"]["words"] == 777
    assert report["diversity"]["selected"] == distinct(equal_text(selected, 777))
    assert report["diversity"]["pool"] == distinct(equal_text(pool, 777))


def test_selecting_everything_gives_the_pools_text(toy, tmp_path):
    eval_path = tmp_path / "eval.jsonl"
    eval_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["cat purr nap", "kitten fur paw tail"]))
    _select(toy, tmp_path / "all", k=None, fraction=1.0, group_by=None, target_eval=str(eval_path))
    report = _report(tmp_path / "all")
    assert report["diversity"]["selected"] == report["diversity"]["pool"]
    pp = report["perplexity"]
    assert pp["selected"] == pp["pool"] and pp["ratio"] == 1.0
    pool = [r["text"] for r in toy["records"] if r["text"]]
    text = as_csr(equal_text(pool, report["equal_text"]["words"]))
    lm = KneserNeyBigram().fit(*text)
    assert pp["selected"] == pytest.approx(lm.perplexity(*word_ids(pa.array(["cat purr nap", "kitten fur paw tail"]))),
                                           rel=1e-12)
    assert pp["eval"] == {"paths": [str(eval_path)], "documents": 2, "words": 7, "rejected": 0}
