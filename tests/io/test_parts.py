"""Parts of a file (``dsir.io.parts``): read one after the other, a file's parts give exactly
the rows, line numbers and texts of the whole file, wherever the cuts fall."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsir.errors import InputError
from dsir.io.parts import needs_base, split_file, split_files, with_bases
from dsir.io.paths import expand_paths
from dsir.io.readers import count_lines, iter_line_blocks, iter_text_batches
from dsir.io.trace import read_trace, record_open

LINES = [json.dumps({"text": f"document {i} " + "word " * (i % 13), "id": i}) for i in range(200)]


def _jsonl(tmp_path, body: bytes):
    p = tmp_path / "pool.jsonl"
    p.write_bytes(body)
    return expand_paths([str(p)], "raw")[0]


def _counted(parts):
    """The parts with their bases, from ``count_lines`` of each (what the count pass does)."""
    return with_bases(parts, {k: count_lines(p) for k, p in enumerate(parts) if p.part is not None})


def _rows(file) -> list[tuple[int, int, bytes]]:
    """(row, line number, line) of every record ``iter_line_blocks`` yields."""
    out = []
    for block in iter_line_blocks(file, block_bytes=97):
        out += [(block.first_row + i, int(block.line_numbers[i]), block.line(i)) for i in range(len(block))]
    return out


BODIES = {
    "plain": ("\n".join(LINES) + "\n").encode(),
    "no final newline": "\n".join(LINES).encode(),
    "blank lines and CRLF": "".join(line + ("\r\n" if i % 3 else "\n\n  \n") for i, line in enumerate(LINES)).encode(),
    "one long line": ("\n".join(LINES[:5]) + "\n" + json.dumps({"text": "x" * 5000}) + "\n"
                      + "\n".join(LINES[5:20]) + "\n").encode(),
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("unit", [1, 37, 500, 4096])
def test_jsonl_parts_read_as_the_whole_file(tmp_path, body, unit):
    file = _jsonl(tmp_path, body)
    parts = split_file(file, unit)
    assert len(parts) == -(-file.size // unit) if file.size > unit else 1
    assert [p.part.index for p in parts if p.part] == list(range(len(parts))) if len(parts) > 1 else True
    counted = _counted(parts)
    assert not any(needs_base(p) for p in counted)
    whole = _rows(file)
    assert [r for p in counted for r in _rows(p)] == whole
    assert sum(count_lines(p)[0] for p in counted) == len(whole) == count_lines(file)[0]


def test_a_part_before_its_count_is_not_read(tmp_path):
    parts = split_file(_jsonl(tmp_path, BODIES["plain"]), 1000)
    assert needs_base(parts[1]) and not needs_base(parts[0])
    with pytest.raises(ValueError, match="before its rows are counted"):
        next(iter_line_blocks(parts[1]))


def test_a_bad_line_in_a_later_part_is_named_by_its_line_in_the_file(tmp_path):
    lines = list(LINES)
    lines[150] = '{"text": "broken'
    file = _jsonl(tmp_path, ("\n\n".join(lines) + "\n").encode())  # every record on an odd line
    parts = _counted(split_file(file, 2000))
    assert len(parts) > 3
    with pytest.raises(InputError) as whole:
        for _ in iter_text_batches(file):
            pass
    with pytest.raises(InputError) as parted:
        for p in parts:
            for _ in iter_text_batches(p):
                pass
    assert whole.value.line == parted.value.line == 301
    assert str(whole.value) == str(parted.value)


@pytest.mark.parametrize("unit", [1, 3000, 20000])
def test_parquet_parts_are_row_groups_with_their_first_rows(tmp_path, unit):
    table = pa.table({"text": [f"t {i} " * (1 + i % 7) for i in range(1000)], "n": list(range(1000))})
    path = tmp_path / "pool.parquet"
    pq.write_table(table, path, row_group_size=64)
    file = expand_paths([str(path)], "raw")[0]
    parts = split_file(file, unit)
    if file.size <= unit:
        assert parts == [file]
    else:
        assert [p.part.start for p in parts][0] == 0 and parts[-1].part.stop == 16
        assert all(a.part.stop == b.part.start for a, b in zip(parts, parts[1:]))
    got = [(b.first_row, b.texts.to_pylist()) for p in parts for b in iter_text_batches(p, block_bytes=900)]
    rows = [r for first, texts in got for r in range(first, first + len(texts))]
    assert rows == list(range(1000))
    assert [t for _, texts in got for t in texts] == table.column("text").to_pylist()


def test_compressed_jsonl_stays_whole_and_is_named_when_much_larger(tmp_path, caplog):
    import zstandard

    big = tmp_path / "big.jsonl.zst"
    big.write_bytes(zstandard.ZstdCompressor(level=1).compress(("\n".join(LINES * 40) + "\n").encode()))
    for i in range(3):
        (tmp_path / f"small-{i}.jsonl").write_text(LINES[i] + "\n")
    files = expand_paths([str(tmp_path)], "raw")
    with caplog.at_level("INFO", logger="dsir"):
        parts, owners = split_files(files, 100)
    assert parts[0] == files[0] and parts[0].part is None  # big.jsonl.zst sorts first
    assert "big.jsonl.zst is much larger than the other input files and cannot be split (zstd without a seek table)" \
        in caplog.text
    assert owners == [0, 1, 2, 3]


def test_the_trace_counts_a_read_in_parts_as_one_read(tmp_path, monkeypatch):
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("DSIR_TRACE_OPENS", str(trace))
    parts = _counted(split_file(_jsonl(tmp_path, BODIES["plain"]), 1000))
    monkeypatch.setenv("DSIR_TRACE_OPENS", str(trace))
    trace.unlink(missing_ok=True)
    for p in parts:
        list(iter_line_blocks(p))
    record_open("other.jsonl")
    record_open("half.jsonl", parts[0].part)
    counts = read_trace(str(trace))[None]
    assert counts[parts[0].path] == 1 and isinstance(counts[parts[0].path], int)
    assert counts["other.jsonl"] == 1
    assert counts["half.jsonl"] == pytest.approx(1 / len(parts))


def test_row_numbers_of_parts_match_rows_of_the_whole_file_with_ids(tmp_path):
    file = _jsonl(tmp_path, BODIES["blank lines and CRLF"])
    parts = _counted(split_file(file, 777))
    ids = np.concatenate([b.ids.to_numpy() for p in parts for b in iter_text_batches(p, id_field="id")])
    firsts = [b.first_row for p in parts for b in iter_text_batches(p, id_field="id")]
    assert ids.tolist() == list(range(200))
    assert firsts == sorted(firsts) and firsts[0] == 0
