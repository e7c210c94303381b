"""Tracing input opens: each open of an input file is counted in the phase (map) that made it."""

from __future__ import annotations

import json
import os

import pytest

from dsir.engines import LocalEngine
from dsir.io.paths import InputFile, expand_paths
from dsir.io.readers import count_rows, iter_text_batches
from dsir.io.trace import TRACE_ENV, current_phase, in_phase, read_trace, record_open


@pytest.fixture
def inputs(tmp_path) -> list[InputFile]:
    """Three small jsonl files, with 1, 2 and 3 documents."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for n in (1, 2, 3):
        (pool / f"part-{n}.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(n)))
    return expand_paths([str(pool)])


def _count_twice(file: InputFile) -> tuple[int, str | None]:
    """Open ``file`` twice (rows, then texts) and say which phase the task ran in."""
    texts = sum(len(b.texts) for b in iter_text_batches(file))
    assert texts == count_rows(file)
    return texts, current_phase()


@pytest.mark.parametrize("processes", [False, True])
def test_opens_are_counted_per_phase_in_threads_and_processes(inputs, tmp_path, monkeypatch, processes):
    trace = tmp_path / "opens.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    with LocalEngine(2, progress=False, processes=processes) as engine:
        assert engine.map(count_rows, inputs, "fit") == [1, 2, 3]
        assert engine.map(_count_twice, inputs[1:], "score") == [(2, "score"), (3, "score")]
        assert engine.map(count_rows, inputs[:1], "one task runs in line") == [1]
    count_rows(inputs[0])  # in the driver, outside any map
    paths = [f.path for f in inputs]
    assert read_trace(str(trace)) == {
        "fit": dict.fromkeys(paths, 1),
        "score": {paths[1]: 2, paths[2]: 2},
        "one task runs in line": {paths[0]: 1},
        None: {paths[0]: 1},
    }
    lines = trace.read_text().splitlines()
    assert len(lines) == 3 + 4 + 1 + 1 and all(json.loads(line).keys() == {"phase", "path"} for line in lines)
    assert current_phase() is None  # the driver's phase is left as it was


def test_parquet_opens_are_traced(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a b", "c"]}), tmp_path / "docs.parquet")
    [file] = expand_paths([str(tmp_path / "docs.parquet")])
    monkeypatch.setenv(TRACE_ENV, str(tmp_path / "opens.jsonl"))
    with LocalEngine(1, progress=False) as engine:
        assert engine.map(count_rows, [file], "rows") == [2]
    assert read_trace(str(tmp_path / "opens.jsonl")) == {"rows": {file.path: 1}}


def test_without_the_variable_nothing_is_written_and_nothing_is_wrapped(inputs, tmp_path, monkeypatch):
    monkeypatch.delenv(TRACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with LocalEngine(2, progress=False) as engine:
        assert engine.map(_count_twice, inputs, "score") == [(1, None), (2, None), (3, None)]
    record_open("x.jsonl")
    assert sorted(os.listdir(tmp_path)) == before
    assert in_phase(count_rows, "score") is count_rows
    assert read_trace(str(tmp_path / "never-written.jsonl")) == {}


def test_lines_from_many_threads_do_not_interleave(tmp_path, monkeypatch):
    trace = tmp_path / "opens.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    path = "s3://bucket/" + "x" * 5000 + ".jsonl"  # a long line: one write of several kB
    with LocalEngine(2, progress=False) as engine:
        engine.map(lambda i: [record_open(path) for _ in range(50)], list(range(8)), "many")
    assert read_trace(str(trace)) == {"many": {path: 400}}
