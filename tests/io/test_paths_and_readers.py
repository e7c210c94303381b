"""Path expansion and batch readers: formats, line numbers, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dsir.errors import InputError
from dsir.io.paths import detect_format, expand_paths
from dsir.io.readers import count_rows, iter_line_blocks, iter_text_batches
from tests.conftest import FORMATS, write_records


def test_detect_format():
    assert detect_format("a/b.jsonl") == ("jsonl", None)
    assert detect_format("s3://x/b.JSONL.ZST") == ("jsonl", "zstd")
    assert detect_format("b.ndjson.gz") == ("jsonl", "gzip")
    assert detect_format("b.parquet") == ("parquet", None)
    assert detect_format("b.csv") is None and detect_format("b.tar.gz") is None


def test_expand_files_dirs_and_globs(tmp_path):
    for name in ("b.jsonl", "a.jsonl.zst", "c.parquet", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jsonl.gz").write_bytes(b"")
    by_dir = [f.path for f in expand_paths([str(tmp_path)])]
    assert [p.rsplit("/", 1)[1] for p in by_dir] == ["a.jsonl.zst", "b.jsonl", "c.parquet", "d.jsonl.gz"]
    by_glob = expand_paths([str(tmp_path / "*.jsonl*")])
    assert [(f.format, f.compression) for f in by_glob] == [("jsonl", "zstd"), ("jsonl", None)]


@pytest.mark.parametrize("pattern, message", [
    ("missing.jsonl", "does not exist"),
    ("*.nothing", "matches no readable file"),
    ("notes.txt", "unsupported file type"),
])
def test_expand_errors_name_the_path(tmp_path, pattern, message):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=message) as err:
        expand_paths([str(tmp_path / pattern)])
    assert str(tmp_path / pattern) in str(err.value)


def test_the_same_file_twice_is_refused(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(InputError, match="given twice"):
        expand_paths([str(tmp_path / "a.jsonl"), str(tmp_path)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_the_same_texts(tmp_path, fmt):
    records = [{"id": i, "text": f"doc {i} " + "é" * i, "meta": {"k": i}} for i in range(1000)]
    path = write_records(tmp_path / "pool", records, fmt)
    [file] = expand_paths([str(path)])
    batches = list(iter_text_batches(file, block_bytes=4096))
    assert len(batches) > 1  # small blocks: many batches, rows continue across them
    texts = [t for b in batches for t in b.texts.to_pylist()]
    assert texts == [r["text"] for r in records]
    assert [b.first_row for b in batches] == list(np.cumsum([0] + [len(b.texts) for b in batches[:-1]]))
    assert count_rows(file, 4096) == 1000


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"text": "a"}\n\n   \n{"text": "b"}\r\n{"text": "c"}')
    [file] = expand_paths([str(path)])
    blocks = list(iter_line_blocks(file))
    assert [n for b in blocks for n in b.line_numbers.tolist()] == [1, 4, 5]
    assert [t for b in iter_text_batches(file) for t in b.texts.to_pylist()] == ["a", "b", "c"]


@pytest.mark.parametrize("line, message", [
    (b'{"text": "ok"', "malformed JSON"),
    (b'{"txt": "no text"}', "missing text field 'text'"),
    (b'{"text": null}', "text field 'text' is null"),
    (b'{"text": 5}', "is a number, expected a string"),
    (b'{"text": ["a"]}', "is a list"),
    (b'["not", "an object"]', "expected a JSON object"),
    (b'{"text": "bad \xff utf8"}', "invalid UTF-8"),
])
def test_bad_records_are_named_by_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "fine"}\n\n{"text": "fine too"}\n' + line + b"\n" + b'{"text": "after"}\n')
    [file] = expand_paths([str(path)])
    with pytest.raises(InputError, match=message) as err:
        list(iter_text_batches(file))
    assert str(err.value).startswith(f"{path}:4: ")


def test_truncated_zstd_is_reported(tmp_path):
    path = write_records(tmp_path / "p", [{"text": "x" * 1000 + str(i)} for i in range(2000)], "jsonl.zst")
    path.write_bytes(path.read_bytes()[:-50])
    [file] = expand_paths([str(path)])
    with pytest.raises(InputError, match="truncated or corrupt") as err:
        list(iter_text_batches(file))
    assert str(path) in str(err.value)


def test_parquet_without_the_text_column(tmp_path):
    path = write_records(tmp_path / "p", [{"body": "x"}], "parquet")
    [file] = expand_paths([str(path)])
    with pytest.raises(InputError, match="no column named 'text'"):
        list(iter_text_batches(file))


def test_an_existing_path_with_glob_characters_is_taken_literally(tmp_path):
    """Issue 18, item 7: --raw 'a[1].jsonl' reads that file, not a1.jsonl."""
    from dsir.io.paths import expand_paths as _expand

    (tmp_path / "a[1].jsonl").write_text('{"text": "literal"}\n')
    (tmp_path / "a1.jsonl").write_text('{"text": "globbed"}\n')
    (files,) = [_expand([str(tmp_path / "a[1].jsonl")])]
    assert [f.path for f in files] == [str(tmp_path / "a[1].jsonl")]
    globbed = _expand([str(tmp_path / "a[0-9].jsonl")])  # no such file: a glob
    assert [f.path for f in globbed] == [str(tmp_path / "a1.jsonl")]


def test_odd_file_systems_never_drop_or_block_silently(tmp_path, caplog):
    """Issue 18, items 6, 10 and 13: symlinked directories are followed (a loop ends), files
    that are no input (a named pipe among them) are named in a warning and not read, a
    named pipe given by name or a broken link is an error."""
    import logging

    from dsir.errors import InputError
    from dsir.io.paths import expand_paths as _expand

    pool = tmp_path / "pool"
    (pool / "real").mkdir(parents=True)
    (pool / "real" / "a.jsonl").write_text('{"text": "a"}\n')
    (pool / "b.jsonl.xz").write_bytes(b"not read")
    (pool / "linked").symlink_to(pool / "real", target_is_directory=True)
    (pool / "real" / "loop").symlink_to(pool, target_is_directory=True)
    caplog.set_level(logging.WARNING, logger="dsir")
    warnings: list = []
    files = _expand([str(pool)], "raw", warnings)
    assert [os.path.basename(f.path) for f in files] == ["a.jsonl"]  # the linked copy is the same file: once
    assert len(warnings) == 1 and "b.jsonl.xz" in warnings[0] and "not read" in warnings[0]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "c.jsonl").write_text('{"text": "c"}\n')
    (pool / "to-other").symlink_to(tmp_path / "other", target_is_directory=True)
    assert sorted(os.path.basename(f.path) for f in _expand([str(pool)])) == ["a.jsonl", "c.jsonl"]
    os.mkfifo(pool / "pipe.jsonl")
    warnings = []
    assert sorted(os.path.basename(f.path) for f in _expand([str(pool)], "raw", warnings)) == ["a.jsonl", "c.jsonl"]
    assert "pipe.jsonl (not a regular file)" in warnings[0]
    with pytest.raises(InputError, match="not a regular file"):
        _expand([str(pool / "pipe.jsonl")])
    os.unlink(pool / "pipe.jsonl")
    (pool / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(InputError, match="broken symbolic link"):
        _expand([str(pool)])
    with pytest.raises(InputError, match="broken symbolic link"):
        _expand([str(pool / "gone.jsonl")])
