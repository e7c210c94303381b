"""How often each input file is opened, per phase: a default ``select`` with its report and
``--group-by`` reads each raw file at most 4 times and the target once; the report and the
group counts ride on the write pass."""

from __future__ import annotations

import json

import pytest

from dsir.api import DSIR
from dsir.io.trace import TRACE_ENV, read_trace


@pytest.fixture
def corpus(tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    words = "the court ruled boat sailed harbour bread oven flour judge appeal tide".split()
    for f in range(3):
        lines = [json.dumps({"text": " ".join(words[(i * 7 + j + f) % len(words)] for j in range(12)),
                             "source": f"s{i % 3}"}) for i in range(50)]
        (pool / f"p{f}.jsonl").write_text("\n".join(lines) + "\n")
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": "the court ruled the judge heard the appeal"}) + "\n"
                              for _ in range(20)))
    return str(pool), str(target)


def _opens(tmp_path, monkeypatch, corpus, **kw) -> dict:
    trace = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    pool, target = corpus
    method = kw.pop("method", "dsir")
    DSIR(method=method, workers=2, raw_sample=60, **kw).select(
        pool, str(tmp_path / f"out-{trace.stem}"), k=20, target=target if method != "random" else None,
        group_by="source")
    monkeypatch.delenv(TRACE_ENV)
    return read_trace(str(trace))


def _per_file(opens: dict, suffix: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for phase, paths in opens.items():
        for path, n in paths.items():
            if path.endswith(suffix):
                total[path] = total.get(path, 0) + n
    return total


@pytest.mark.parametrize("method,raw_reads", [("dsir", 4), ("classifier", 4), ("discriminative", 4), ("random", 2)])
def test_each_input_is_read_at_most_four_times(tmp_path, monkeypatch, corpus, method, raw_reads):
    opens = _opens(tmp_path, monkeypatch, corpus, method=method)
    raw = _per_file(opens, ".jsonl")
    raw = {p: n for p, n in raw.items() if "/pool/" in p}
    assert len(raw) == 3 and set(raw.values()) == {raw_reads}, opens
    for phase, paths in opens.items():  # once per file in every phase that reads it
        assert set(paths.values()) == {1}, (phase, paths)
    assert not any(phase and phase.startswith("report") for phase in opens), opens
    target = {p: n for p, n in _per_file(opens, "target.jsonl").items()}
    assert list(target.values()) == ([] if method == "random" else [1])


def test_chunks_and_named_targets_read_no_more(tmp_path, monkeypatch, corpus):
    pool, target = corpus
    opens = _opens(tmp_path, monkeypatch, (pool, target), chunk_words=4, emit="chunks")
    assert set(_per_file(opens, ".jsonl").values()) <= {1, 4}


@pytest.mark.parametrize("method", ["dsir", "classifier", "discriminative", "random"])
def test_a_dry_run_lists_the_passes_a_run_makes(tmp_path, monkeypatch, corpus, method):
    """``dry_run`` names exactly the phases, in order and with the files, that the run opens."""
    opens = _opens(tmp_path, monkeypatch, corpus, method=method)
    pool, target = corpus
    dry = tmp_path / "dry"
    plan = DSIR(method=method, workers=2, raw_sample=60).select(
        pool, str(dry), k=20, target=target if method != "random" else None, group_by="source", dry_run=True)
    assert [s["phase"] for s in plan["passes"]] == [p for p in opens if p]
    for step in plan["passes"]:
        assert step["files"] == len(opens[step["phase"]])
    assert plan["bytes_read"] == sum(s["bytes"] for s in plan["passes"])
    assert not dry.exists()  # nothing written, not even the directory
