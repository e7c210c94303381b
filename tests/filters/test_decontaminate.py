"""Decontamination: word n-gram hashes against a pure-Python reference, the n-gram set of
files (per-file provenance, bad input), and the pipeline's exclusion of matching documents."""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from dsir import DSIR
from dsir.errors import InputError, UsageError
from dsir.filters import FilterOptions
from dsir.filters.decontaminate import NgramSet, matching_ngram
from dsir.filters.words import ngram_hashes, word_hashes, words_of
from dsir.io.paths import expand_paths
from tests.featurize.reference import MASK64, fmix64, fnv1a64

MULT = 0x9E3779B97F4A7C15


def ref_words(text: str | None) -> list[str]:
    """Lowercased runs of letters and digits (Unicode L* and N*), by a plain character scan."""
    out, cur = [], []
    for ch in (text or "").lower():
        if unicodedata.category(ch)[0] in "LN":
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def ref_ngrams(text: str, n: int) -> list[int]:
    hs = [fmix64(fnv1a64(w.encode("utf-8"))) for w in ref_words(text)]
    out = []
    for i in range(len(hs) - n + 1):
        h = 0
        for x in hs[i:i + n]:
            h = (h * MULT + x) & MASK64
        out.append(fmix64(h))
    return out


def write(path, texts) -> str:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return str(path)


def test_words_are_lowercased_runs_of_letters_and_digits():
    texts = pa.array(["Don't STOP—now!", None, "", "  ...  ", "café 42nd", "Ünïcode_x"]).slice(0)
    assert words_of(texts).to_pylist()[0] == ["don", "t", "stop", "now"]
    got = words_of(texts).to_pylist()
    got = [[w for w in ws if w] for ws in got]
    assert got == [ref_words(t) for t in texts.to_pylist()]


@pytest.mark.parametrize("n", [1, 3, 13])
def test_ngram_hashes_match_the_reference(n):
    rng = random.Random(n)
    vocab = ["alpha", "beta", "Gamma", "δέλτα", "e5", "über", "x"]
    texts = [" ".join(rng.choice(vocab) + rng.choice(["", ",", ".", " —"]) for _ in range(rng.randint(0, 30)))
             for _ in range(60)] + [None, ""]
    arr = pa.array(texts, pa.large_string()).slice(3)
    h, indptr = word_hashes(words_of(arr))
    grams, doc = ngram_hashes(h, indptr, n)
    expect = [(d, g) for d, t in enumerate(arr.to_pylist()) for g in ref_ngrams(t, n)]
    assert [(int(d), int(g)) for d, g in zip(doc, grams)] == expect


def test_the_set_of_files_keeps_which_file_holds_each_ngram(tmp_path):
    a = write(tmp_path / "a.jsonl", ["one two three four", "x"])
    b = write(tmp_path / "b.jsonl", ["three four five"])
    s = NgramSet.from_files(expand_paths([a, b], "decontaminate"), words=3)
    owners = {}
    for t, f in (("one two three four", 0), ("three four five", 1)):
        for g in ref_ngrams(t, 3):
            owners.setdefault(g, set()).add(f)
    assert s.hashes.tolist() == sorted(owners)
    assert [set(s.file_ids[s.file_indptr[i]:s.file_indptr[i + 1]].tolist()) for i in range(len(s.hashes))] == \
        [owners[g] for g in sorted(owners)]
    assert s.sources == ({"path": a, "documents": 2, "ngrams": 2, "short_documents": 1},
                         {"path": b, "documents": 1, "ngrams": 1, "short_documents": 0})
    texts = pa.array(["zero One, two!", "Three four FIVE six", "five six", None, "two three four five"])
    matched, pairs, first = s.matches(texts)
    assert matched.tolist() == [False, True, False, False, True]
    assert pairs.tolist() == [[1, 1], [4, 0], [4, 1]]  # "three four five" is in both files
    assert first.tolist() == [-1, 0, -1, -1, 0]
    assert matching_ngram("Three four FIVE six", 0, 3) == "three four five"


def test_bad_decontamination_files_name_the_file(tmp_path):
    short = write(tmp_path / "short.jsonl", ["a b", "c"])
    with pytest.raises(InputError, match=r"short\.jsonl: the decontamination file holds no text of 3 words or more "
                                         r"\(2 documents, 2 of them shorter\)"):
        NgramSet.from_files(expand_paths([short], "decontaminate"), words=3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "one two three"}\n{"text": oops}\n{"text": "four five six"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: malformed JSON"):
        NgramSet.from_files(expand_paths([str(bad)], "decontaminate"), words=3)
    s = NgramSet.from_files(expand_paths([str(bad)], "decontaminate"), words=3, on_error="skip")
    assert s.sources[0] == {"path": str(bad), "documents": 2, "ngrams": 2, "short_documents": 0, "rejected": 1,
                            "first_rejected": f"{bad}:2: " + s.sources[0]["first_rejected"].split(": ", 1)[1]}
    assert "malformed JSON" in s.sources[0]["first_rejected"]
    with pytest.raises(UsageError, match="--decontaminate-words must be at least 1, got 0"):
        FilterOptions((short,), 0)


@pytest.fixture
def pool(tmp_path):
    rng = random.Random(5)
    vocab = "ship sail wave tide harbour anchor storm field plough barn wheat cow".split()
    docs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(20, 80))) for _ in range(120)]
    bench = [" ".join(docs[i].split()[3:19]) for i in (4, 17, 60)]
    return {"pool": write(tmp_path / "pool.jsonl", docs), "target": write(tmp_path / "t.jsonl", docs[:20]),
            "bench": write(tmp_path / "bench.jsonl", bench), "docs": docs, "bench_texts": bench}


def contaminated(docs, bench, n=13) -> set[int]:
    grams = {g for t in bench for g in ref_ngrams(t, n)}
    return {i for i, t in enumerate(docs) if grams & set(ref_ngrams(t, n))}


@pytest.mark.parametrize("options", [{}, {"chunk_words": 10, "emit": "chunks"}, {"chunk_words": 10}])
def test_no_selected_document_shares_an_ngram_with_the_benchmark(tmp_path, pool, options):
    bad = contaminated(pool["docs"], pool["bench_texts"])
    assert {4, 17, 60} <= bad
    d = DSIR(seed=1, **options)
    m = d.select(pool["pool"], str(tmp_path / "out"), fraction=1.0, target=pool["target"],
                 decontaminate=pool["bench"])
    sec = m["filters"]["decontaminate"]
    assert sec["excluded_documents"] == len(bad) == sec["files"][0]["excluded_documents"]
    assert sec["ngram_words"] == 13 and sec["files"][0]["documents"] == 3
    rows = [json.loads(line) for p in sorted((tmp_path / "out").glob("part-*")) for line in p.read_text().splitlines()]
    texts = {r["text"] for r in rows}
    if options.get("emit") == "chunks":
        assert not any(any(c in pool["docs"][i] for c in texts) for i in bad)  # no chunk of theirs
        assert not contaminated(list(texts), pool["bench_texts"])
    else:
        assert len(rows) == 120 - len(bad) and not texts & {pool["docs"][i] for i in bad}
    report = json.loads((tmp_path / "out" / "report.json").read_text())["filters"]["decontaminate"]
    assert 0 < len(report["examples"]) <= 5 and all(e["row"] in bad for e in report["examples"])
    for e in report["examples"]:
        assert e["ngram"] in " ".join(ref_words(pool["docs"][e["row"]]))
        assert any(e["ngram"] in " ".join(ref_words(b)) for b in pool["bench_texts"])


def test_in_memory_benchmark_texts_and_a_split_pool_give_the_same_selection(tmp_path, pool):
    one = DSIR(seed=2).select(pool["pool"], str(tmp_path / "one"), k=30, target=pool["target"],
                              decontaminate=pool["bench"], report=False)
    split = tmp_path / "split"
    split.mkdir()
    for i in range(4):
        write(split / f"p{i}.jsonl", pool["docs"][i * 30:(i + 1) * 30])
    many = DSIR(seed=2, workers=2).select(str(split), str(tmp_path / "many"), k=30, target=pool["target"],
                                          decontaminate=pool["bench_texts"], report=False)
    texts = lambda out: sorted(line for p in out.glob("part-*") for line in p.read_text().splitlines())
    assert texts(tmp_path / "one") == texts(tmp_path / "many")
    assert one["filters"]["decontaminate"]["excluded_documents"] == \
        many["filters"]["decontaminate"]["excluded_documents"]
    assert many["replay"]["decontaminate"] is None  # in memory: a replay needs it given again
    assert one["replay"]["decontaminate"] == [pool["bench"]]


def test_dry_run_lists_the_decontamination_pass(tmp_path, pool):
    plan = DSIR().select(pool["pool"], str(tmp_path / "out"), k=5, target=pool["target"], decontaminate=pool["bench"],
                         dry_run=True)
    assert plan["passes"][0] == {"phase": "decontaminate", "reads": "decontaminate", "files": 1,
                                 "bytes": len(open(pool["bench"], "rb").read())}
    with pytest.raises(InputError, match="missing.jsonl"):
        DSIR().select(pool["pool"], str(tmp_path / "o2"), k=5, target=pool["target"],
                      decontaminate=str(tmp_path / "missing.jsonl"), dry_run=True)


def test_score_marks_what_select_excludes(tmp_path, pool):
    """``dsir score --decontaminate`` gives the excluded documents key -inf, as select ranks them."""
    from click.testing import CliRunner

    from dsir.cli.main import main

    out = tmp_path / "s.parquet"
    r = CliRunner().invoke(main, ["score", "--raw", pool["pool"], "--target", pool["target"], "-o", str(out),
                                  "--decontaminate", pool["bench"], "--quiet"])
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    t = pq.read_table(out).to_pydict()
    bad = contaminated(pool["docs"], pool["bench_texts"])
    assert {i for i, e in zip(t["row"], t["eligible"]) if not e} == bad
    assert all(k == float("-inf") for i, k in zip(t["row"], t["key"]) if i in bad)
