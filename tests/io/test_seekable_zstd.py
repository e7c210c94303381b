"""The zstd seekable format: files pyzstd writes (frames cut anywhere, even inside a line)
are split into parts that read as the whole file, and the shards ``--zstd-frame-size``
writes are seekable files pyzstd reads, so a selection can itself be a pool that splits."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import zstandard

from dsir.api import DSIR
from dsir.errors import UsageError
from dsir.io.parts import split_file, splittable, with_bases
from dsir.io.paths import expand_paths
from dsir.io.readers import count_lines, iter_line_blocks
from dsir.io.seekable_zstd import SeekableFrames, SeekableReader, read_seek_table

pyzstd = pytest.importorskip("pyzstd")

WORDS = "court appeal statute harbor wave anchor flour butter oven the a of".split()


def _lines(n: int) -> list[bytes]:
    return [json.dumps({"id": i, "text": " ".join(WORDS[(i * j) % len(WORDS)] for j in range(i % 40 + 1))}).encode()
            for i in range(n)]


def _foreign(path, body: bytes, frame: int) -> str:
    """``body`` as a seekable zstd file written by pyzstd, a frame per ``frame`` bytes."""
    with pyzstd.SeekableZstdFile(str(path), "w", max_frame_content_size=frame) as f:
        f.write(body)
    return str(path)


def _rows(file) -> list[tuple[int, int, bytes]]:
    return [(b.first_row + i, int(b.line_numbers[i]), b.line(i)) for b in iter_line_blocks(file, 211)
            for i in range(len(b))]


@pytest.mark.parametrize("frame", [100, 1000, 50_000])
@pytest.mark.parametrize("unit", [1, 700, 5000])
def test_parts_of_a_foreign_seekable_file_read_as_the_whole_file(tmp_path, frame, unit):
    body = b"".join(line + (b"\n\n" if i % 9 == 0 else b"\n") for i, line in enumerate(_lines(400)))
    file = expand_paths([_foreign(tmp_path / "pool.jsonl.zst", body, frame)], "raw")[0]
    assert splittable(file)
    parts = split_file(file, unit)
    table = read_seek_table(open(file.path, "rb"), file.size)
    assert len(parts) == (1 if file.size <= unit else min(table.frames, -(-file.size // unit)))
    counted = with_bases(parts, {k: count_lines(p) for k, p in enumerate(parts) if p.part is not None})
    assert [r for p in counted for r in _rows(p)] == _rows(file)
    assert len(_rows(file)) == 400


def test_a_plain_zstd_file_has_no_seek_table_and_stays_whole(tmp_path):
    p = tmp_path / "pool.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(_lines(2000)) + b"\n"))
    file = expand_paths([str(p)], "raw")[0]
    assert read_seek_table(open(p, "rb"), file.size) is None and not splittable(file)
    assert split_file(file, 100) == [file]


def test_a_seek_table_that_does_not_add_up_is_not_trusted(tmp_path):
    body = b"\n".join(_lines(300)) + b"\n"
    path = _foreign(tmp_path / "pool.jsonl.zst", body, 500)
    data = bytearray(open(path, "rb").read())
    data[-9 - 8] ^= 0x01  # the last frame's decompressed size, off by one
    data[-9 - 12] ^= 0x40  # and its compressed size: the sizes no longer reach the table
    open(path, "wb").write(bytes(data))
    assert read_seek_table(open(path, "rb"), len(data)) is None


def test_the_reader_seeks_into_any_frame():
    body = b"".join(_lines(500))
    sink = io.BytesIO()
    with pyzstd.SeekableZstdFile(sink, "w", max_frame_content_size=777) as f:
        f.write(body)
    raw = io.BytesIO(sink.getvalue())
    table = read_seek_table(raw, len(sink.getvalue()))
    reader = SeekableReader(raw, table)
    for offset in (0, 1, 776, 777, 778, 5000, len(body) - 3, len(body)):
        reader.seek(offset)
        assert reader.tell() == offset and reader.read(50) == body[offset: offset + 50]


def test_frames_end_at_line_ends_and_pyzstd_reads_them(tmp_path):
    out = io.BytesIO()
    frames = SeekableFrames(out, 1000)
    lines = _lines(300)
    for k in range(0, 300, 7):
        frames.write(b"".join(line + b"\n" for line in lines[k:k + 7]))
    frames.close()
    data = out.getvalue()
    assert pyzstd.SeekableZstdFile(io.BytesIO(data)).read() == b"".join(line + b"\n" for line in lines)
    table = read_seek_table(io.BytesIO(data), len(data))
    assert table.frames > 5 and all(d >= 1000 for d in (table.decompressed[1:-1] - table.decompressed[:-2]))
    whole = b"".join(line + b"\n" for line in lines)
    assert all(whole[int(d) - 1: int(d)] == b"\n" for d in table.decompressed[1:])


@pytest.fixture
def pool(tmp_path):
    lines = _lines(1500)
    (tmp_path / "pool.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": "court appeal statute the court of appeal " * (i % 5 + 1)}) + "\n"
                              for i in range(60)))
    return tmp_path, str(target)


def test_a_selection_written_seekable_is_a_pool_that_splits(pool, tmp_path):
    root, target = pool
    d = DSIR(seed=2, raw_sample=500)
    d.select(str(root / "pool.jsonl"), str(tmp_path / "plain"), k=900, target=target, output_format="jsonl.zst",
             report=False)
    m = d.select(str(root / "pool.jsonl"), str(tmp_path / "seekable"), k=900, target=target,
                 output_format="jsonl.zst", report=False, zstd_frame_size=4000)
    assert m["parameters"]["zstd_frame_bytes"] == 4000 and m["replay"]["zstd_frame_size"] == 4000
    shard = tmp_path / "seekable" / "part-00000.jsonl.zst"
    plain = zstandard.ZstdDecompressor().stream_reader(open(tmp_path / "plain" / "part-00000.jsonl.zst", "rb")).read()
    assert pyzstd.SeekableZstdFile(str(shard)).read() == plain  # the same lines, seekable
    # the seekable selection as a pool: in parts or whole, the same selection
    again = {}
    for name, unit in (("whole", 1 << 30), ("parts", shard.stat().st_size // 5)):
        shutil.rmtree(tmp_path / name, ignore_errors=True)
        again[name] = DSIR(seed=2, raw_sample=300, unit_bytes=unit, workers=2).select(
            str(shard), str(tmp_path / name), k=300, target=target, report=False)
    assert again["parts"]["inputs"][0]["parts"] > 3 and again["whole"]["inputs"][0]["parts"] == 1
    assert again["parts"]["outputs"] == again["whole"]["outputs"]
    assert again["parts"]["counts"] == again["whole"]["counts"]


def test_zstd_frame_size_needs_jsonl_zst_output(pool, tmp_path):
    root, target = pool
    with pytest.raises(UsageError, match="--zstd-frame-size writes seekable jsonl.zst shards, and these would be "
                                         "jsonl: give --output-format jsonl.zst"):
        DSIR().select(str(root / "pool.jsonl"), str(tmp_path / "o"), k=5, target=target, zstd_frame_size="1MB")
    with pytest.raises(UsageError, match="zstd_frame_size: 'x' is not a size"):
        DSIR().select(str(root / "pool.jsonl"), str(tmp_path / "o"), k=5, target=target, zstd_frame_size="x")
    assert not (tmp_path / "o").exists()
