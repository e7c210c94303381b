"""Input formats, one class each, registered by name: what the passes of a run need from a
file besides its texts (``readers.iter_text_batches``): its blocks of records, the texts of
some rows of a block, copying rows to a shard, writing chunk records, a metadata field.

A block is a ``readers.LineBlock`` for jsonl (whole lines, copied out unchanged) and a
``TableBlock`` for parquet and Arrow IPC (an Arrow table of all columns). Adding a format is one class
here and its registration in ``FORMATS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from dsir.errors import InputError
from dsir.io import fields as fl
from dsir.io.paths import InputFile
from dsir.io.json_text import extract_text_field
from dsir.io.readers import _is_utf8, iter_line_blocks, iter_record_tables, parse_text_spans, table_rows
from dsir.io.writers import SplitShardWriter

MISSING = "(missing)"
REJECTED = "(rejected record)"  # a record --on-error skip rejected: never selected
TOO_DEEP = "(value nested too deeply to show)"


def as_label(value: object) -> str:
    """A metadata value as the string it is grouped under."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class TableBlock:
    """Rows ``first_row .. first_row + len(table) - 1`` of a parquet file, all columns."""

    table: pa.Table
    first_row: int

    def __len__(self) -> int:
        return self.table.num_rows


class Format(Protocol):
    """What a run needs from one input format (see the module docstring)."""

    name: str
    #: whether a record has bytes of its own (a JSON line) to hash before parsing it
    has_record_bytes: bool

    def count_rows(self, file: InputFile, block_bytes: int) -> int: ...

    def iter_blocks(self, file: InputFile, block_bytes: int) -> Iterator[Any]: ...

    def texts_of(self, file: InputFile, read: Any, block: Any, rows: np.ndarray) -> tuple[pa.Array, list]: ...

    def write_rows(self, writer: SplitShardWriter, block: Any, rows: np.ndarray) -> None: ...

    def write_chunks(self, file: InputFile, read: Any, block: Any, writers: list, targets: np.ndarray,
                     rows: np.ndarray, index: np.ndarray, start: np.ndarray, end: np.ndarray,
                     index_field: str) -> None: ...

    def field_labels(self, file: InputFile, block: Any, field: str) -> pa.Array: ...


class JsonlFormat:
    """JSON lines, plain or gzip/zstd compressed."""

    name = "jsonl"
    has_record_bytes = True

    def count_rows(self, file: InputFile, block_bytes: int) -> int:
        """Non-blank lines, found by the newline scan without parsing them."""
        return sum(len(b) for b in iter_line_blocks(file, block_bytes))

    def iter_blocks(self, file: InputFile, block_bytes: int):
        return iter_line_blocks(file, block_bytes)

    def texts_of(self, file, read, block, rows):
        """Texts of ``rows`` (block-relative); with ``on_error="skip"`` a bad record reads as
        ``""`` and is returned among the rejects (absolute rows)."""
        if read.on_error == "skip":
            from dsir.io.rejects import parse_lines_skipping

            table, bad = parse_lines_skipping(file, [read.text_field], block.gather(rows),
                                              block.line_numbers[rows], block.first_row + rows)
            return table.column(0).combine_chunks(), bad
        return parse_text_spans(file, block.buf, block.starts[rows], block.ends[rows], block.line_numbers[rows],
                                read.text_field), []

    def write_rows(self, writer, block, rows):
        writer.write_jsonl(block.gather(rows), len(rows))

    def write_chunks(self, file, read, block, writers, targets, rows, index, start, end, index_field):
        from dsir.pipeline.tasks import chunk_record

        out: list[list[str]] = [[] for _ in writers]
        for t, r, i, s, e in zip(targets.tolist(), rows.tolist(), index.tolist(), start.tolist(), end.tolist()):
            record = chunk_record(block.line(r), read.text_field, s, e, i, file.path, int(block.line_numbers[r]))
            out[t].append(json.dumps(record, ensure_ascii=False) + "\n")
        for lines, w in zip(out, writers):
            if lines:
                w.write_jsonl("".join(lines).encode("utf-8"), len(lines))

    def field_labels(self, file, block, field):
        """The field's value in every record of the block as a label (see ``as_label``)."""
        if not len(block):
            return pa.array([], pa.string())
        # The compiled reader first (string values, the usual case); it leaves anything else
        # (a missing key, a number, a bad line) to pyarrow below.
        got = extract_text_field(block.buf, block.starts, block.ends, field) \
            if _is_utf8(block.buf[block.starts[0]:block.ends[-1]]) else -1
        if isinstance(got, tuple):
            data, offsets = got
            return pa.LargeStringArray.from_buffers(len(block), pa.py_buffer(offsets),
                                                    pa.py_buffer(data)).cast(pa.string())
        opts = pj.ParseOptions(explicit_schema=fl.json_schema(field), unexpected_field_behavior="ignore")
        data = block.buf[: block.ends[-1]].tobytes()
        try:
            table = pj.read_json(pa.BufferReader(data), parse_options=opts,
                                 read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1))
            return fl.column(table, field).fill_null(MISSING)
        except pa.ArrowException:
            pass  # a non-string value (or a bad line): read this block record by record
        values = []
        for i in range(len(block)):
            try:
                record = json.loads(block.line(i))
            except RecursionError:  # pyarrow read it; Python's json cannot: say so, drop nothing
                values.append(TOO_DEEP)
                continue
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            # The selection read this file, so a record that is no object is one it rejected.
            values.append(as_label(fl.json_field(record, field, "")[0]) if isinstance(record, dict) else REJECTED)
        return pa.array(values, pa.string())


class ParquetFormat:
    """Parquet files (any compression pyarrow reads)."""

    name = "parquet"
    has_record_bytes = False

    def count_rows(self, file: InputFile, block_bytes: int) -> int:
        """From the file's footer, reading no data page."""
        return table_rows(file)

    def iter_blocks(self, file: InputFile, block_bytes: int):
        for first_row, table in iter_record_tables(file, block_bytes):
            yield TableBlock(table, first_row)

    def texts_of(self, file, read, block, rows):
        texts = fl.column(block.table, read.text_field, text=True)
        if texts is None:
            raise InputError(f"no column named {read.text_field!r}", path=file.path)
        texts = texts.take(pa.array(rows))
        if pa.types.is_dictionary(texts.type):
            texts = texts.cast(pa.large_string())
        return texts.fill_null("") if texts.null_count else texts, []  # nulls: rejected by the score pass

    def write_rows(self, writer, block, rows):
        writer.write_table(block.table.take(pa.array(rows)))

    def write_chunks(self, file, read, block, writers, targets, rows, index, start, end, index_field):
        from dsir.pipeline.tasks import chunk_text

        table = block.table
        if index_field in table.column_names:
            raise InputError(f"column {index_field!r} already exists, which --emit chunks adds", path=file.path)
        for t, w in enumerate(writers):
            js = np.flatnonzero(targets == t)
            if w is None or not len(js):
                continue
            sub = table.take(pa.array(rows[js]))
            texts = fl.column(sub, read.text_field, text=True).to_pylist()
            chunk_texts = [chunk_text(s or "", int(start[j]), int(end[j])) for s, j in zip(texts, js)]
            sub = fl.replace_column(sub, read.text_field, chunk_texts)
            w.write_table(sub.append_column(index_field, pa.array(index[js].astype(np.int64))))

    def field_labels(self, file, block, field):
        column = fl.column(block.table, field)
        if column is None:  # like a jsonl record without the key
            return pa.array([MISSING] * len(block), pa.string())
        try:
            return column.cast(pa.string()).fill_null(MISSING)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values: label them as JSON
            return pa.array([as_label(v) for v in column.to_pylist()], pa.string())


class ArrowFormat(ParquetFormat):
    """Arrow IPC files (``.arrow``, ``.feather``; file or stream format, as ``datasets`` writes
    them): tables like parquet, counted from their record batch headers. Selected rows are
    written as parquet (``--output-format`` can choose jsonl)."""

    name = "arrow"

    def count_rows(self, file: InputFile, block_bytes: int) -> int:
        """From the record batch headers (a memory-mapped file's data are not read)."""
        return table_rows(file)


FORMATS: dict[str, Format] = {"jsonl": JsonlFormat(), "parquet": ParquetFormat(), "arrow": ArrowFormat()}


def format_of(file: InputFile) -> Format:
    """The registered format of an input file."""
    try:
        return FORMATS[file.format]
    except KeyError:
        raise InputError(f"no reader for format {file.format!r}", path=file.path) from None
