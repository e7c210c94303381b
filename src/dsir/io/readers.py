"""Reading documents a batch at a time: jsonl (plain, .gz, .zst) and parquet, local or remote.

jsonl files are read as blocks of whole lines; a block is parsed by pyarrow into Arrow
arrays, and its line spans are kept so that a record can be named by its line number and
copied to the output byte for byte. Blank lines (only spaces, tabs, CR) are skipped, as
pyarrow does, so row ``r`` of a file is always its ``r``-th non-blank line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq
import zstandard

from dsir import cancel
from dsir.engines import progress
from dsir.errors import InputError
from dsir.featurize.kernels import line_spans
from dsir.io import fields as fl
from dsir.io import trace
from dsir.io.json_text import extract_text_field
from dsir.io.paths import InputFile, open_binary

DEFAULT_BLOCK_BYTES = 16 << 20


def open_input_stream(file: InputFile) -> pa.NativeFile:
    """A decompressing Arrow input stream over a local path or fsspec URL."""
    return _decompressed(file, _open_raw(file))


def _open_raw(file: InputFile, traced: bool = True) -> pa.NativeFile:
    """The file's bytes as stored (compressed or not), as an Arrow file (``traced``: a read
    of the data, which ``dsir.io.trace`` counts; a look at a footer is not)."""
    if traced:
        trace.record_open(file.path, file.part)
    if file.is_local:
        path = file.path[len("file://"):] if file.path.startswith("file://") else file.path
        return pa.OSFile(path, "rb")
    return pa.PythonFile(open_binary(file.path), mode="r")


def _decompressed(file: InputFile, raw: pa.NativeFile) -> pa.NativeFile:
    return pa.CompressedInputStream(raw, file.compression) if file.compression else raw


def _stored_rows(pf, file: InputFile) -> int:
    """Rows of a parquet file (or of its part) from its footer; 0 (no progress within the
    file) for Arrow IPC, whose streams would have to be scanned to count them."""
    if not isinstance(pf, pq.ParquetFile):
        return 0
    if file.part is None:
        return pf.metadata.num_rows
    return sum(pf.metadata.row_group(g).num_rows for g in range(file.part.start, file.part.stop))


def table_batches(pf, file: InputFile, batch_size: int, columns: list[str] | None = None):
    """``pf.iter_batches`` over the whole table file, or over its part's row groups."""
    if file.part is None:
        return pf.iter_batches(batch_size=batch_size, columns=columns, use_threads=False)
    return pf.iter_batches(batch_size=batch_size, row_groups=range(file.part.start, file.part.stop),
                           columns=columns, use_threads=False)


def first_row_of(file: InputFile) -> int:
    """The file's row number of the first row a reader of ``file`` (or its part) yields."""
    return file.part.first_row if file.part is not None else 0


class _RowProgress:
    """Advances the running task's progress by a table file's share of bytes per batch of rows
    (a row group's bytes on disk are not known batch by batch)."""

    def __init__(self, file: InputFile, rows: int):
        self.per_row = file.weight / rows if rows else 0.0
        self.rows = 0
        self.sent = 0

    def add(self, rows: int) -> None:
        self.rows += rows
        now = int(self.rows * self.per_row)
        progress.advance(now - self.sent)
        self.sent = now


@dataclass
class LineBlock:
    """Whole non-blank lines of a jsonl file: ``buf[starts[i]:ends[i]]`` is row ``first_row + i``."""

    buf: np.ndarray  # uint8 view of the block
    starts: np.ndarray
    ends: np.ndarray
    line_numbers: np.ndarray  # 1-based line number of each row
    first_row: int

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, i: int) -> bytes:
        return self.buf[self.starts[i]:self.ends[i]].tobytes()

    def gather(self, rows: np.ndarray) -> bytes:
        """The chosen rows' lines, each ended by a newline, as one buffer."""
        return gather_lines(self.buf, self.starts[rows], self.ends[rows])


def gather_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The lines ``buf[starts[i]:ends[i]]``, each ended by a newline, as one buffer."""
    return b"".join(buf[s:e].tobytes() + b"\n" for s, e in zip(starts, ends))


def iter_line_blocks(file: InputFile, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[LineBlock]:
    """Stream ``file`` (or its part: ``dsir.io.parts``) as ``LineBlock`` s of about
    ``block_bytes`` decompressed bytes, with the file's own row and line numbers.

    Each block is a fresh numpy buffer: the unfinished last line of the previous block is
    copied to its front and the stream is read straight into the rest (no bytes objects,
    no concatenation, little time holding the interpreter lock).
    """
    part = file.part
    if part is not None and (part.first_row is None or (file.format == "jsonl" and part.first_line is None)):
        raise ValueError(f"{file.path}: part {part.index} is read before its rows are counted")
    row = part.first_row if part is not None else 0
    line_base = (part.first_line if part is not None else 1) - 1
    for buf, starts, ends, before, newlines in _line_spans_of(file, block_bytes):
        if len(starts):
            yield LineBlock(buf, starts, ends, line_base + before + 1, row)
            row += len(starts)
        line_base += newlines


def count_lines(file: InputFile, block_bytes: int = DEFAULT_BLOCK_BYTES) -> tuple[int, int]:
    """``(rows, newlines)`` of a jsonl file or part: its non-blank lines, and its line terminators
    (the next part's first line number is this part's plus ``newlines``)."""
    rows = newlines = 0
    for _, starts, _, _, n in _line_spans_of(file, block_bytes):
        rows += len(starts)
        newlines += n
    return rows, newlines


def line_start(raw: pa.NativeFile, pos: int, size: int) -> int:
    """The first offset at or after ``pos`` where a line begins (``size`` if none does): a
    jsonl part owns the lines that begin in its byte range."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    raw.seek(pos - 1)
    at = pos - 1
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            return size
        i = chunk.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(chunk)


def _line_spans_of(file: InputFile, block_bytes: int):
    """``line_spans`` of every block of ``file`` (or of the lines its part owns):
    ``(buf, starts, ends, before, newlines)``, blocks without a line included."""
    raw = _open_raw(file)
    part = file.part
    begin, left = 0, None
    stored = raw.tell
    if part is None:
        stream = _decompressed(file, raw)
    else:
        source, size = raw, file.size
        if file.compression == "zstd":  # a seekable zstd file (``dsir.io.parts``): offsets are decompressed ones
            from dsir.io.seekable_zstd import SeekableReader, read_seek_table

            table = read_seek_table(raw, file.size)
            if table is None:
                raise InputError("the file has lost the seek table it was split by (changed since the run began?)",
                                 path=file.path)
            source = SeekableReader(raw, table)
            size, stored = table.size, source.raw_tell
        try:
            begin = line_start(source, part.start, size)
            left = line_start(source, part.stop, size) - begin
            source.seek(begin)
        except (OSError, zstandard.ZstdError) as exc:
            raise InputError(_decompress_message(file, exc), path=file.path) from exc
        stream = source
    read_before = stored()
    carry = np.empty(0, dtype=np.uint8)
    try:
        while True:
            cancel.check()
            read_now = stored()  # of the file as stored: what the progress bar counts
            progress.advance(read_now - read_before)
            read_before = read_now
            buf = np.empty(len(carry) + block_bytes, dtype=np.uint8)
            buf[: len(carry)] = carry
            n = len(carry)
            want = len(buf) if left is None else min(len(buf), n + left)
            try:
                while n < want:  # a stream may return less than asked before its end
                    got = stream.readinto(memoryview(buf)[n:want])
                    if not got:
                        break
                    n += got
            except (OSError, pa.ArrowException, zstandard.ZstdError) as exc:
                raise InputError(_decompress_message(file, exc), path=file.path) from exc
            if left is not None:
                left -= n - len(carry)
            final = n < len(buf) or left == 0
            if n == 0:
                break
            starts, ends, before, newlines, consumed = line_spans(buf, n, final)
            yield buf, starts, ends, before, newlines
            carry = buf[consumed:n].copy()
            if final:
                break
    finally:
        stream.close()


def _decompress_message(file: InputFile, exc: Exception) -> str:
    if file.compression:
        return f"cannot decompress ({file.compression}): the file is truncated or corrupt ({exc})"
    return f"cannot read file: {exc}"


def count_rows(file: InputFile, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Number of documents in ``file`` (non-blank lines, or parquet rows) without parsing them."""
    from dsir.io.formats import format_of

    return format_of(file).count_rows(file, block_bytes)


def check_jsonl_line(raw: bytes, text_field: str) -> str | None:
    """Why this line is not a usable record, or ``None`` if it is (``text_field`` may be dotted:
    ``dsir.io.fields``)."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start} of the line"
    try:
        record = json.loads(decoded)
    except RecursionError:
        return "JSON nested too deeply to read (more than about 900 levels)"
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # "{...}{...}", or records split by bare CRs
            return f"more than one JSON value on the line (a missing newline?) from column {exc.colno}"
        return f"malformed JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {fl.describe(record)}"
    value, why = fl.json_field(record, text_field, "text field")
    if why:
        return why
    if not isinstance(value, str):
        return f"text field {text_field!r} is {fl.describe(value)}, expected a string"
    return None


def parse_block(file: InputFile, block: LineBlock, fields: list[str], data: bytes | None = None,
                line_numbers: np.ndarray | None = None) -> pa.Table:
    """Parse a block's lines (or the ``data`` gathered from some of them) into ``fields``.

    ``fields[0]`` is the text field and must be a string in every record; other fields are
    kept with the types pyarrow infers. Each field may be dotted (``dsir.io.fields``): the
    table has one column per field, named as in ``fields``, with the value it picks. A bad
    record raises ``InputError`` naming its line.
    """
    if data is None and len(fields) == 1 and len(block):
        texts = parse_text_spans(file, block.buf, block.starts, block.ends, block.line_numbers, fields[0])
        return pa.table({fields[0]: texts})
    if data is None:
        data = block.buf[: block.ends[-1]].tobytes() if len(block) else b""
        line_numbers = block.line_numbers
    text_field = fields[0]
    infer = len(fields) > 1
    try:
        _check_utf8(data)  # pyarrow's JSON reader would pass invalid bytes through
        table = read_json_text(data, text_field, infer)
    except pa.ArrowException as exc:
        raise _locate_bad_line(file, data, line_numbers, text_field, exc, infer) from exc
    if table.num_rows != len(line_numbers):
        # pyarrow reads "{...}{...}" on one line, or records split by bare CRs, as several rows:
        # rows would drift from lines, and the write pass copies lines
        raise _record_count_error(file, data, line_numbers, text_field)
    text = fl.column(table, text_field)
    try:
        text.validate(full=True)  # pyarrow's JSON reader does not check UTF-8 by itself
    except pa.ArrowException as exc:
        raise _locate_bad_line(file, data, line_numbers, text_field, exc, infer) from exc
    if text.null_count:
        bad = int(fl.null_rows(text)[0])
        line = _nth_nonblank_line(data, bad)
        why = check_jsonl_line(line, text_field) or f"text field {text_field!r} is null"
        raise InputError(why, path=file.path, line=int(line_numbers[bad]))
    columns = [text] + [fl.column(table, f) for f in fields[1:]]
    missing = [f for f, c in zip(fields, columns) if c is None]
    if missing:
        raise InputError(f"field {missing[0]!r} is missing from every record of this block", path=file.path,
                         line=int(line_numbers[0]))
    return pa.Table.from_arrays(columns, names=fields)


def _read_json(data: bytes, schema: pa.Schema, infer: bool) -> pa.Table:
    opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer" if infer else "ignore")
    read_opts = pj.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 16))
    return pj.read_json(pa.BufferReader(data), read_options=read_opts, parse_options=opts)


def read_json_text(data: bytes, text_field: str, infer: bool) -> pa.Table:
    """pyarrow's reading of jsonl ``data`` with both candidates of ``text_field`` as strings
    (``dsir.io.fields``); the other fields inferred if ``infer``, else ignored.

    pyarrow refuses a record that holds something else than an object on a dotted field's path,
    although the rule ignores the path where the exact key holds a string: without ``infer``,
    the exact key is then read from every record, and the path from those without it. Raises
    ``pa.ArrowException`` when that fails too.
    """
    schema = fl.json_schema(text_field)
    try:
        return _read_json(data, schema, infer)
    except pa.ArrowException:
        if infer or fl.path_of(text_field) is None:
            raise
    exact = _read_json(data, pa.schema([schema.field(0)]), False).column(0).combine_chunks()
    if exact.null_count:
        buf = np.frombuffer(data, dtype=np.uint8)
        starts, ends, _, _, _ = line_spans(buf, len(buf), True)
        rows = fl.null_rows(exact)
        if len(starts) != len(exact):
            raise pa.ArrowInvalid("lines and records differ")  # the caller names the line
        nested = fl.column(_read_json(gather_lines(buf, starts[rows], ends[rows]), schema, False), text_field)
        if len(nested) != len(rows):
            raise pa.ArrowInvalid("lines and records differ")
        exact = pc.replace_with_mask(exact, exact.is_null(), nested)
    return pa.table({text_field: exact})


def parse_text_spans(file: InputFile, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     line_numbers: np.ndarray, text_field: str) -> pa.Array:
    """The string ``text_field`` of each jsonl line ``buf[starts[r]:ends[r]]``, as an Arrow array.

    The compiled reader (``dsir.io.json_text``) does it in one pass; lines it leaves to
    pyarrow are parsed by ``parse_block``, which reads them the same way or raises the
    ``InputError`` that names the bad line.
    """
    if not len(starts):
        return pa.array([], type=pa.string())
    # One UTF-8 check (Arrow's, ~4 GB/s) for the lines and anything between them: the
    # compiled reader leaves UTF-8 to it. Invalid bytes anywhere send the lines to pyarrow.
    got = extract_text_field(buf, starts, ends, text_field) if _is_utf8(buf[starts[0]:ends[-1]]) else -1
    if isinstance(got, tuple):
        data, offsets = got
        if offsets[-1] < 2**31:
            return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
        return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    table = parse_block(file, LineBlock(buf, starts, ends, line_numbers, 0), [text_field],
                        gather_lines(buf, starts, ends), line_numbers)
    return table.column(0).combine_chunks()


def _is_utf8(data) -> bool:
    try:
        _check_utf8(data)
    except pa.ArrowInvalid:
        return False
    return True


def _check_utf8(data: bytes) -> None:
    """Raise ``pa.ArrowInvalid`` unless ``data`` is valid UTF-8 (Arrow's validating cast, no copy)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.large_string())


def _nth_nonblank_line(data: bytes, n: int) -> bytes:
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends, _, _, _ = line_spans(buf, len(buf), True)
    return data[starts[n]:ends[n]]


def _first_bad_line(file: InputFile, data: bytes, line_numbers, text_field: str) -> InputError | None:
    """The error naming the first line of ``data`` that is no usable record by Python's json."""
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends, _, _, _ = line_spans(buf, len(buf), True)
    for i in range(len(starts)):
        why = check_jsonl_line(data[starts[i]:ends[i]], text_field)
        if why:
            return InputError(why, path=file.path, line=int(line_numbers[i]))
    return None


def _record_count_error(file: InputFile, data: bytes, line_numbers, text_field: str) -> InputError:
    """The error for a block whose lines do not hold one record each, naming the first such line."""
    first, last = int(line_numbers[0]), int(line_numbers[-1])
    return _first_bad_line(file, data, line_numbers, text_field) or InputError(
        f"lines {first}-{last} do not hold one JSON record each", path=file.path, line=first)


def _locate_bad_line(file: InputFile, data: bytes, line_numbers, text_field: str, exc: Exception,
                     infer: bool = True) -> InputError:
    """The error naming the line that made pyarrow fail with ``exc`` on ``data`` (read as
    ``read_json_text`` reads it)."""
    bad = _first_bad_line(file, data, line_numbers, text_field)
    if bad is not None:
        return bad
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends, _, _, _ = line_spans(buf, len(buf), True)
    # Python's json accepts what pyarrow refuses (a lone surrogate escape, a duplicated key,
    # 1e400): find the line by parsing each alone with pyarrow (this is the error path only)
    for i in range(len(starts)):
        line = data[starts[i]:ends[i]] + b"\n"
        try:
            read_json_text(line, text_field, infer)
        except pa.ArrowException as alone:
            return InputError(f"cannot parse the record: {_arrow_message(alone)}", path=file.path,
                              line=int(line_numbers[i]))
    # Each line is fine alone, not together: pyarrow names the row where a field changed type.
    found = re.search(r"in row (\d+)", str(exc))
    if found and int(found.group(1)) < len(starts):
        row = int(found.group(1))
        return InputError(f"a field changes its type at this record: {_arrow_message(exc)}", path=file.path,
                          line=int(line_numbers[row]))
    first, last = int(line_numbers[0]), int(line_numbers[-1])
    return InputError(f"cannot parse lines {first}-{last} together: {exc}", path=file.path, line=first)


def _arrow_message(exc: Exception) -> str:
    """pyarrow's JSON error without its 'in row N' (the row of a block; dsir names the line)."""
    return re.sub(r"\s*in row \d+\s*$", "", str(exc).replace("JSON parse error: ", "")).rstrip(".")


def _open_parquet(file: InputFile, traced: bool = True) -> pq.ParquetFile:
    if traced:
        trace.record_open(file.path, file.part)
    try:
        if file.is_local:
            path = file.path[len("file://"):] if file.path.startswith("file://") else file.path
            return pq.ParquetFile(path)
        return pq.ParquetFile(open_binary(file.path))
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"not a readable parquet file ({exc})", path=file.path) from exc


class ArrowSource:
    """An Arrow IPC file, in the file (random access, ``.feather``) or the stream format (what
    ``datasets.Dataset.save_to_disk`` writes), with the surface of ``pq.ParquetFile`` the
    readers use: ``schema_arrow``, ``num_rows`` and ``iter_batches``. Local files are memory
    mapped, so reading a column does not copy the others."""

    def __init__(self, file: InputFile):
        trace.record_open(file.path, file.part)
        self.path = file.path
        try:
            if file.is_local:
                self._source = pa.memory_map(file.path[len("file://"):] if file.path.startswith("file://")
                                             else file.path)
            else:
                self._source = open_binary(file.path)
            head = self._source.read(6)
            self._source.seek(0)
            self._random_access = head == b"ARROW1"
            if self._random_access:
                self._reader = pa.ipc.open_file(self._source)
                self.schema_arrow = self._reader.schema
            else:
                self.schema_arrow = pa.ipc.open_stream(self._source).schema
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"not a readable Arrow IPC file ({exc})", path=file.path) from exc

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._random_access:
            for i in range(self._reader.num_record_batches):
                yield self._reader.get_batch(i)
            return
        self._source.seek(0)
        yield from pa.ipc.open_stream(self._source)

    @property
    def num_rows(self) -> int:
        try:
            return sum(b.num_rows for b in self._batches())  # batch headers only: the data stay mapped
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"not a readable Arrow IPC file: the file is truncated or corrupt ({exc})",
                             path=self.path) from exc

    def first_batch_size(self) -> tuple[int, int]:
        """``(rows, bytes)`` of the first record batch, to size read blocks; ``(0, 0)`` if none."""
        first = next(self._batches(), None)
        return (first.num_rows, first.nbytes) if first is not None else (0, 0)

    def iter_batches(self, batch_size: int, columns: list[str] | None = None,
                     use_threads: bool = False) -> Iterator[pa.RecordBatch]:
        for batch in self._batches():
            if columns is not None:
                batch = batch.select(columns)
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def open_table_file(file: InputFile) -> pq.ParquetFile | ArrowSource:
    """A parquet or Arrow IPC file, opened for reading its record batches."""
    return ArrowSource(file) if file.format == "arrow" else _open_parquet(file)


def table_rows(file: InputFile) -> int:
    """Rows of a parquet (from its footer) or Arrow IPC file (from its batch headers), or of a
    parquet file's part."""
    source = open_table_file(file)
    return source.num_rows if isinstance(source, ArrowSource) else _stored_rows(source, file)


@dataclass
class TextBatch:
    """Documents ``first_row .. first_row + len(texts) - 1`` of ``file``.

    ``line_numbers`` are given for jsonl (to name records in messages); ``block`` is the
    raw line block they came from, for copying records out unchanged.
    """

    file: InputFile
    texts: pa.Array
    first_row: int
    ids: pa.Array | None = None
    line_numbers: np.ndarray | None = None
    block: LineBlock | None = None
    rejects: list | None = None  # with on_error="skip": the rejected records (rows read as "")
    labels: pa.Array | None = None  # with a label_field: each document's value of it
    table: pa.Table | None = None  # a table file's rows, while their labels are read


def _parquet_batch_rows(pf: pq.ParquetFile | ArrowSource, block_bytes: int) -> int:
    if isinstance(pf, ArrowSource):
        rows, total = pf.first_batch_size()  # not the whole file: a stream has no footer to ask
    else:
        md = pf.metadata
        rows = md.num_rows
        total = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    if rows == 0:
        return 1024
    return int(max(64, min(1 << 20, block_bytes // max(1, total // rows))))


def _check_parquet_field(file: InputFile, pf: pq.ParquetFile | ArrowSource, field: str, must_be_text: bool) -> None:
    """Raise ``InputError`` unless the table file has a column (or struct path) for ``field``,
    of a string type if ``must_be_text``."""
    schema = pf.schema_arrow
    why = fl.schema_problem(schema, field)
    if why:
        raise InputError(why, path=file.path)
    t = fl.field_type(schema, field)[0]  # the top-level column's, which then picks alone if the path's is no text
    if must_be_text and not fl.is_text_type(t):
        raise InputError(f"column {field!r} has type {t}, expected a string column", path=file.path)


def plain_text(values: pa.Array) -> pa.Array:
    """A text column as the featurizer reads it: string-view and dictionary-encoded strings as large strings."""
    t = values.type
    if pa.types.is_string_view(t) or pa.types.is_dictionary(t) and fl.is_text_type(t.value_type):
        return values.cast(pa.large_string())
    return values


def plain_strings(batch: pa.RecordBatch, dictionaries: bool = True) -> pa.RecordBatch:
    """``batch`` with string-view (and, if ``dictionaries``, dictionary-encoded string)
    columns as large strings.

    Parquet stores all three alike; pyarrow hands back the type a file's writer recorded.
    ``take``, which writing a shard uses, has no string-view kernel, and the featurizer
    reads plain string buffers; dictionary columns are kept where only ``take`` sees them,
    so a shard keeps its input's schema there.
    """
    columns, changed = [], False
    for column in batch.columns:
        t = column.type
        if pa.types.is_string_view(t) or (dictionaries and pa.types.is_dictionary(t) and fl.is_text_type(t.value_type)):
            column, changed = column.cast(pa.large_string()), True
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names) if changed else batch


def iter_text_batches(file: InputFile, text_field: str = "text", id_field: str | None = None,
                      block_bytes: int = DEFAULT_BLOCK_BYTES, on_error: str = "stop",
                      label_field: str | None = None) -> Iterator[TextBatch]:
    """Stream the text (and id) of every document of ``file``, with row numbers; with
    ``label_field``, each document's value of that metadata field as a label too
    (``TextBatch.labels``, as ``--group-by`` reads it: a missing value is ``MISSING``).

    With ``on_error="skip"`` bad records are rejected instead (see ``dsir.io.rejects``).
    """
    for batch in _iter_text_batches(file, text_field, id_field, block_bytes, on_error, label_field):
        if label_field is not None:
            from dsir.io.formats import FORMATS, TableBlock

            source = batch.block if batch.block is not None else TableBlock(batch.table, batch.first_row)
            batch.labels = FORMATS[file.format].field_labels(file, source, label_field)
            batch.table = None
        yield batch


def _iter_text_batches(file: InputFile, text_field: str, id_field: str | None, block_bytes: int, on_error: str,
                       label_field: str | None) -> Iterator[TextBatch]:
    from dsir.io import rejects as rj

    skip = on_error == "skip"
    fields = [text_field] + ([id_field] if id_field else [])
    if file.format != "jsonl":  # a table file: parquet or Arrow IPC
        pf = open_table_file(file)
        for f in fields:
            _check_parquet_field(file, pf, f, must_be_text=f == text_field)
        label_columns = (fl.read_columns(pf.schema_arrow, [label_field], dotted=not isinstance(pf, ArrowSource))
                         if label_field is not None else [])
        columns = fl.read_columns(pf.schema_arrow, fields, dotted=not isinstance(pf, ArrowSource))
        columns = columns + [c for c in label_columns if c not in columns]
        row = first_row_of(file)
        try:
            rows = _RowProgress(file, _stored_rows(pf, file))
            for rb in table_batches(pf, file, _parquet_batch_rows(pf, block_bytes), columns):
                cancel.check()
                rows.add(rb.num_rows)
                texts = plain_text(fl.column(rb, text_field, text=True))
                ids = plain_text(fl.column(rb, id_field)) if id_field else None
                table = pa.Table.from_batches([rb]) if label_field is not None else None
                if skip:
                    texts, ids, rejected = rj.reject_null_texts(file, texts, row, text_field, ids,
                                                                lambda r, rb=rb: fl.null_detail(rb, text_field, r))
                    yield TextBatch(file, texts, row, ids, rejects=rejected, table=table)
                    row += rb.num_rows
                    continue
                if texts.null_count:
                    bad = int(fl.null_rows(texts)[0])
                    raise InputError(f"text column {text_field!r} is null{fl.null_detail(rb, text_field, bad)}",
                                     path=file.path, row=row + bad)
                yield TextBatch(file, texts, row, ids, table=table)
                row += rb.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"corrupt {file.format} data near row {row} ({exc})", path=file.path) from exc
        return
    for block in iter_line_blocks(file, block_bytes):
        rejected = None
        if skip:
            table, rejected = rj.parse_lines_skipping(file, fields, block.buf[: block.ends[-1]].tobytes(),
                                                      block.line_numbers, block.first_row + np.arange(len(block)))
        else:
            table = parse_block(file, block, fields)
        texts = table.column(0).combine_chunks()
        ids = table.column(1).combine_chunks() if id_field else None
        yield TextBatch(file, texts, block.first_row, ids, block.line_numbers, block, rejected)


def iter_record_tables(file: InputFile, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[tuple[int, pa.Table]]:
    """Every record of a parquet or Arrow IPC file with all its columns, as ``(first_row, table)``."""
    pf = open_table_file(file)
    row = first_row_of(file)
    try:
        rows = _RowProgress(file, _stored_rows(pf, file))
        for rb in table_batches(pf, file, _parquet_batch_rows(pf, block_bytes)):
            cancel.check()
            rows.add(rb.num_rows)
            yield row, pa.Table.from_batches([plain_strings(rb, dictionaries=False)])
            row += rb.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"corrupt {file.format} data near row {row} ({exc})", path=file.path) from exc
