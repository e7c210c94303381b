"""Writing selected documents to output shards that never appear half-written.

A shard is written under a hidden temporary name next to its final name and renamed
into place only once complete (object stores publish an object only when its upload
completes, so remote shards are written directly). Records keep all their fields: jsonl
lines are copied byte for byte, parquet rows keep their schema.

With ``ShardLimits`` (``--max-shard-docs``, ``--max-shard-bytes``) a shard whose records
would exceed them is cut, in record order, into pieces named by ``piece_path``
(``part-00003.00000.jsonl``, ``part-00003.00001.jsonl``, ...); a shard within them keeps
its own name. What a byte limit counts is ``line_sizes`` for jsonl records (the lines before
compression) and ``row_bytes`` for rows of parquet or Arrow inputs written as parquet.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from dsir.errors import OutputError, UsageError
from dsir.io.paths import open_binary
from dsir.io.storage import spool_path as _spool_path, upload_file

OUTPUT_FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet")
_COMPRESSION = {"jsonl": None, "jsonl.gz": "gzip", "jsonl.zst": "zstd"}


def output_format_of(fmt: str, compression: str | None) -> str:
    """The output format that mirrors an input's format (parquet for Arrow IPC inputs)."""
    if fmt in ("parquet", "arrow"):
        return "parquet"
    return {None: "jsonl", "gzip": "jsonl.gz", "zstd": "jsonl.zst"}[compression]


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def join_path(directory: str, name: str) -> str:
    return posixpath.join(directory, name) if is_remote(directory) else os.path.join(_local(directory), name)


def output_error(path: str, exc: BaseException) -> OutputError:
    """An ``OutputError`` that says in words what went wrong writing ``path``."""
    code = getattr(exc, "errno", None)
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "the file is larger than this process may write (file size limit)",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOENT: "the output directory no longer exists",
    }.get(code, str(exc))
    return OutputError(f"{path}: cannot write output: {reason}")


@dataclass(frozen=True)
class WrittenShard:
    """What the manifest records about an output file."""

    path: str
    documents: int
    bytes: int
    sha256: str


def json_value(value: object) -> object:
    """How a parquet value that JSON has no type for is written to jsonl: binary as base64
    text (documented in the README; never Python's ``b'...'`` repr), dates, times and
    decimals as their ISO or exact string."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def json_lines(table: pa.Table) -> bytes:
    """Arrow rows as JSON lines (``json_value`` for values JSON has no type for)."""
    return "".join(json.dumps(row, ensure_ascii=False, default=json_value) + "\n"
                   for row in table.to_pylist()).encode("utf-8")


# -- shard limits ------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?)b?|b)?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Bytes from an integer or a size: ``500MB`` (powers of 1000: kB, MB, GB, TB, PB),
    ``1GiB`` (powers of 1024: KiB ... PiB), ``1.5GB``, ``123`` or ``123B``; case does not
    matter. A ``ValueError`` saying what is accepted for anything else or for less than 1 byte."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        n = int(value)
    else:
        m = _SIZE.match(value) if isinstance(value, str) else None
        if m is None:
            raise ValueError(f"{value!r} is not a size: give bytes (123) or a number with a unit, "
                             "like 500MB, 2GB or 1GiB")
        number, unit, binary = m.groups()
        power = "kmgtp".index(unit.lower()) + 1 if unit else 0
        n = int(Decimal(number) * (1024 if binary else 1000) ** power)  # exact, unlike a float
    if n < 1:
        raise ValueError(f"{value!r} is not a size of at least 1 byte")
    return n


@dataclass(frozen=True)
class ShardLimits:
    """How output shards are written: the most records (``max_documents``) and bytes
    (``max_bytes``) one shard holds (``None``: no limit; a record larger than ``max_bytes``
    goes alone in its shard), and ``zstd_frame_bytes``: jsonl.zst shards in the seekable
    format, a zstd frame per that many bytes of lines (``None``: one frame)."""

    max_documents: int | None = None
    max_bytes: int | None = None
    zstd_frame_bytes: int | None = None

    @classmethod
    def of(cls, max_documents: object = None, max_bytes: object = None,
           zstd_frame_bytes: object = None) -> ShardLimits:
        """Checked limits from ``max_shard_docs``, ``max_shard_bytes`` and ``zstd_frame_size``
        as the API takes them (a size may be a string such as ``"500MB"``); a ``UsageError``
        for a bad value."""
        whole = isinstance(max_documents, (int, np.integer)) and not isinstance(max_documents, (bool, np.bool_))
        if max_documents is not None and not (whole and max_documents >= 1):  # type: ignore[operator]
            raise UsageError(f"max_shard_docs must be a positive integer, got {max_documents!r}")
        sizes = []
        for name, value in (("max_shard_bytes", max_bytes), ("zstd_frame_size", zstd_frame_bytes)):
            try:
                sizes.append(None if value is None else parse_size(value))  # type: ignore[arg-type]
            except ValueError as exc:
                raise UsageError(f"{name}: {exc}") from None
        return cls(None if max_documents is None else int(max_documents), *sizes)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        """Whether a shard may be cut into pieces."""
        return self.max_documents is not None or self.max_bytes is not None


def piece_path(path: str, output_format: str, index: int) -> str:
    """The name of piece ``index`` of the shard at ``path``: ``.MMMMM`` before the format
    (``part-00003.jsonl.gz`` -> ``part-00003.00001.jsonl.gz``). A shard name ends in
    ``-NNNNN.<format>`` and a piece name in ``-NNNNN.MMMMM.<format>``, so no piece of one
    shard can take the name of another shard, whatever the target names."""
    return f"{path[:-len(output_format) - 1]}.{index:05d}.{output_format}"


def remove_pieces(path: str, output_format: str) -> None:
    """Remove the pieces of the shard at ``path`` that an earlier, interrupted attempt left:
    piece 0, 1, ... up to the first one missing, the last first (pieces are published in
    order, so what any interruption leaves is again pieces 0 to some m)."""
    found = 0
    while _exists(piece_path(path, output_format, found)):
        found += 1
    for i in reversed(range(found)):
        _remove(piece_path(path, output_format, i))


def _exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.lexists(_local(path))
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(path)
    return fs.exists(root)


def _remove(path: str) -> None:
    try:
        if is_remote(path):
            from fsspec.core import url_to_fs

            fs, root = url_to_fs(path)
            fs.rm(root)
        else:
            os.unlink(_local(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise output_error(path, exc) from exc


def line_sizes(data: bytes, documents: int) -> np.ndarray:
    """The byte length of each of the ``documents`` JSON lines in ``data`` (newline included):
    what a byte limit counts for a jsonl record (before gzip or zstd compress it)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A) + 1
    if len(ends) != documents:  # a JSON line holds no raw newline: this is a caller's bug
        raise ValueError(f"expected {documents} JSON lines, found {len(ends)} newlines")
    return np.diff(ends, prepend=0)


def row_bytes(table: pa.Table) -> np.ndarray:
    """What a byte limit counts for each row of parquet input written as parquet: the bytes
    of its values (text and binary lengths, the width of numbers, dates and other fixed-size
    values, summed through lists, maps and structs; nulls count 0), before parquet encodes
    and compresses them, so the files come out smaller than the limit."""
    total = np.zeros(table.num_rows, np.int64)
    for column in table.columns:
        total += _value_bytes(column.combine_chunks())
    return total


def _value_bytes(arr: pa.Array) -> np.ndarray:
    """``row_bytes`` of one column: int64 per value."""
    t = arr.type
    if isinstance(t, pa.ExtensionType):
        return _value_bytes(arr.storage)
    if pa.types.is_dictionary(t):
        return _value_bytes(arr.dictionary_decode())
    if pa.types.is_null(t):
        return np.zeros(len(arr), np.int64)
    if getattr(pa.types, "is_string_view", lambda _: False)(t):
        return _value_bytes(arr.cast(pa.large_string()))
    if getattr(pa.types, "is_binary_view", lambda _: False)(t):
        return _value_bytes(arr.cast(pa.large_binary()))
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_binary(t):
        return np.where(valid, t.byte_width, 0).astype(np.int64)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_struct(t):
        out = sum((_value_bytes(child) for child in arr.flatten()), np.zeros(len(arr), np.int64))
        return np.where(valid, out, 0)
    if pa.types.is_map(t):
        return _value_bytes(arr.cast(pa.list_(pa.struct([t.key_field, t.item_field]))))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = _value_bytes(pc.list_flatten(arr))
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
        return np.bincount(parents, weights=inner, minlength=len(arr)).round().astype(np.int64)
    try:
        width = max(1, t.bit_width // 8)
    except ValueError:  # a type without a fixed width not handled above (a union): its JSON size
        return np.array([len(json.dumps(v, default=json_value)) for v in arr.to_pylist()], np.int64)
    return np.where(valid, width, 0).astype(np.int64)


class ShardWriter:
    """Collects records for one output shard and publishes it atomically on ``commit``."""

    def __init__(self, path: str, output_format: str, zstd_frame_bytes: int | None = None):
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {output_format!r}")
        self.path = path
        self.format = output_format
        self.zstd_frame_bytes = zstd_frame_bytes if output_format == "jsonl.zst" else None
        self.documents = 0
        self._tables: list[pa.Table] = []
        # A remote shard is spooled to a local temporary file, hashed there and uploaded
        # whole on commit: a failed task never leaves a partial object under the final name.
        self._tmp = _spool_path(path) if is_remote(path) else os.path.join(
            os.path.dirname(_local(path)), f".{os.path.basename(path)}.tmp-{os.getpid()}"
        )
        self._sink = None
        self._stream = None
        self._finished: tuple[str, int] | None = None  # (sha256, size) once finished

    def _open_stream(self):
        if self._stream is None:
            try:
                self._sink = pa.OSFile(self._tmp, "wb")
                codec = _COMPRESSION[self.format]
                if self.zstd_frame_bytes:
                    from dsir.io.seekable_zstd import SeekableFrames

                    self._stream = SeekableFrames(self._sink, self.zstd_frame_bytes)
                else:
                    self._stream = pa.CompressedOutputStream(self._sink, codec) if codec else self._sink
            except OSError as exc:
                raise output_error(self.path, exc) from exc
        return self._stream

    def write_jsonl(self, data: bytes, documents: int) -> None:
        """Append whole JSON lines (each ending in a newline)."""
        if not documents:
            return
        if self.format == "parquet":
            self._tables.append(pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(
                use_threads=False, block_size=max(len(data) + 1, 1 << 16))))
        else:
            try:
                self._open_stream().write(data)
            except OSError as exc:
                raise output_error(self.path, exc) from exc
        self.documents += documents

    def write_table(self, table: pa.Table) -> None:
        """Append records given as an Arrow table (from parquet input)."""
        if not table.num_rows:
            return
        if self.format == "parquet":
            self._tables.append(table)
        else:
            try:
                self._open_stream().write(json_lines(table))
            except OSError as exc:
                raise output_error(self.path, exc) from exc
        self.documents += table.num_rows

    def table(self) -> pa.Table:
        """The parquet rows written so far, as one table (the schemas of the parts unified)."""
        return pa.concat_tables(self._tables, promote_options="permissive") if self._tables else pa.table({})

    def finish(self) -> None:
        """Complete the file under its temporary name and hash it (once)."""
        if self._finished is not None:
            return
        try:
            if self.format == "parquet":
                pq.write_table(self.table(), self._tmp, compression="zstd")
                self._tables = []
            else:
                self._open_stream()
                self._stream.close()
                if self._sink is not self._stream:
                    self._sink.close()
            self._finished = self._digest()
        except OSError as exc:
            self.abort()
            raise output_error(self.path, exc) from exc

    def publish(self, path: str | None = None) -> WrittenShard:
        """Finish the file, move it to ``path`` (its own path by default), and describe it."""
        path = path or self.path
        self.finish()
        try:
            if is_remote(path):
                upload_file(self._tmp, path)
                os.unlink(self._tmp)
            else:
                os.replace(self._tmp, _local(path))
        except OSError as exc:
            self.abort()
            raise output_error(path, exc) from exc
        digest, size = self._finished  # type: ignore[misc]
        return WrittenShard(path, self.documents, size, digest)

    def commit(self) -> WrittenShard:
        """Finish the file, move it to its final name, and describe it."""
        return self.publish()

    def _digest(self) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        with open(self._tmp, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    def abort(self) -> None:
        """Drop whatever was written; the final name is never touched."""
        for closable in (self._stream, self._sink):
            try:
                if closable is not None and not closable.closed:
                    closable.close()
            except Exception:  # noqa: BLE001 - already failing; the original error matters
                pass
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


class SplitShardWriter:
    """The records of one output shard, written as ``ShardWriter`` writes them but cut, in
    order, into pieces of at most ``limits`` (``piece_path``); the shard keeps its own name
    when they fit in one. Every piece is finished under a temporary name and all are
    published, in order, by ``commit``; ``abort`` leaves none of them."""

    def __init__(self, path: str, output_format: str, limits: ShardLimits = ShardLimits()):
        self.path, self.format, self.limits = path, output_format, limits
        # jsonl: one writer per piece, streamed as it fills. parquet: every row in one writer,
        # as without limits, and the pieces cut from its table on commit, so that they share
        # the unsplit shard's schema (JSON blocks infer theirs one by one).
        self._pieces = [ShardWriter(path, output_format, limits.zstd_frame_bytes)]
        self._starts = [0]  # the record each piece begins with
        self.documents = 0  # records given so far
        self._docs = 0  # records and counted bytes of the last piece
        self._bytes = 0
        self._published: list[str] = []

    def _runs(self, n: int, sizes: np.ndarray | None) -> Iterator[tuple[int, int]]:
        """Cut the next ``n`` records (of ``sizes`` bytes) into runs ``(lo, hi)`` that each go
        to the last piece, starting a piece (``_next_piece``) when the last one is full."""
        cum = np.cumsum(sizes, dtype=np.int64) if self.limits.max_bytes is not None else None
        i = 0
        while i < n:
            take = n - i
            if self.limits.max_documents is not None:
                take = min(take, self.limits.max_documents - self._docs)
            before = int(cum[i - 1]) if cum is not None and i else 0
            if cum is not None:
                fit = int(np.searchsorted(cum, self.limits.max_bytes - self._bytes + before, side="right")) - i
                take = min(take, fit)
            if take <= 0 and self._docs:
                self._next_piece(self.documents + i)
                continue
            take = max(take, 1)  # a record larger than the limit goes alone in its piece
            yield i, i + take
            self._docs += take
            self._bytes += int(cum[i + take - 1]) - before if cum is not None else 0
            i += take
        self.documents += n

    def _next_piece(self, start: int) -> None:
        self._starts.append(start)
        self._docs = self._bytes = 0
        if self.format != "parquet":
            self._pieces[-1].finish()
            self._pieces.append(ShardWriter(piece_path(self.path, self.format, len(self._pieces)), self.format,
                                            self.limits.zstd_frame_bytes))

    def write_jsonl(self, data: bytes, documents: int) -> None:
        """Append whole JSON lines (each ending in a newline)."""
        if not documents:
            return
        sizes = line_sizes(data, documents) if self.limits.max_bytes is not None else None
        if self.format == "parquet":
            for _ in self._runs(documents, sizes):
                pass
            self._pieces[0].write_jsonl(data, documents)
            return
        ends = None
        for lo, hi in self._runs(documents, sizes):
            if (lo, hi) == (0, documents):
                self._pieces[-1].write_jsonl(data, documents)
                continue
            if ends is None:
                ends = np.cumsum(sizes) if sizes is not None else np.flatnonzero(
                    np.frombuffer(data, np.uint8) == 0x0A) + 1
            self._pieces[-1].write_jsonl(data[int(ends[lo - 1]) if lo else 0:int(ends[hi - 1])], hi - lo)

    def write_table(self, table: pa.Table) -> None:
        """Append records given as an Arrow table (from parquet input)."""
        if not table.num_rows:
            return
        if self.format != "parquet":
            self.write_jsonl(json_lines(table), table.num_rows)
            return
        sizes = row_bytes(table) if self.limits.max_bytes is not None else None
        for _ in self._runs(table.num_rows, sizes):
            pass
        self._pieces[0].write_table(table)

    def commit(self) -> list[WrittenShard]:
        """Publish the pieces in order (or the one shard under its own name); describe them."""
        if self.format == "parquet" and len(self._starts) > 1:
            table, whole = self._pieces[0].table(), self._pieces[0]
            ends = self._starts[1:] + [table.num_rows]
            self._pieces = []
            for i, (lo, hi) in enumerate(zip(self._starts, ends)):
                w = ShardWriter(piece_path(self.path, self.format, i), self.format)
                self._pieces.append(w)
                w.write_table(table.slice(lo, hi - lo))
            whole.abort()
        names = [self.path] if len(self._pieces) == 1 else [
            piece_path(self.path, self.format, i) for i in range(len(self._pieces))]
        try:
            for w in self._pieces:
                w.finish()
            shards = []
            for w, name in zip(self._pieces, names):
                shards.append(w.publish(name))
                self._published.append(name)
        except BaseException:
            self.abort()
            raise
        return shards

    def abort(self) -> None:
        """Drop whatever was written, pieces already published included."""
        for w in self._pieces:
            w.abort()
        for name in self._published:
            try:
                _remove(name)
            except OutputError:
                pass  # already failing; the original error matters
        self._published = []


def temporary_name(path: str) -> str:
    """The hidden name a local file is written under before it is renamed to ``path``."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")


@contextmanager
def atomic_file(path: str, durable: bool = False) -> Iterator[BinaryIO]:
    """Write a local file that appears under ``path`` only once complete.

    Yields a binary file open on ``temporary_name(path)``; when the block ends normally the
    file is renamed to ``path`` (after an fsync when ``durable``). On any error the temporary
    file is removed, and an ``OSError`` becomes an ``OutputError`` that names ``path``.
    """
    path = _local(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise output_error(path, exc) from exc
        raise


def write_json_atomic(path: str, obj: object) -> None:
    """Write ``obj`` as pretty JSON to ``path`` (local: via a temporary name; remote: in one upload)."""
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8")
    if is_remote(path):
        with open_binary(path, "wb") as fh:
            fh.write(data)
        return
    with atomic_file(path, durable=True) as fh:
        fh.write(data)
