"""Writing selected documents to output shards that never appear half-written.

A shard is written under a hidden temporary name next to its final name and renamed
into place only once complete (object stores publish an object only when its upload
completes, so remote shards are written directly). Records keep all their fields: jsonl
lines are copied byte for byte, parquet rows keep their schema.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from dsir.errors import OutputError
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


class ShardWriter:
    """Collects records for one output shard and publishes it atomically on ``commit``."""

    def __init__(self, path: str, output_format: str):
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {output_format!r}")
        self.path = path
        self.format = output_format
        self.documents = 0
        self._tables: list[pa.Table] = []
        # A remote shard is spooled to a local temporary file, hashed there and uploaded
        # whole on commit: a failed task never leaves a partial object under the final name.
        self._tmp = _spool_path(path) if is_remote(path) else os.path.join(
            os.path.dirname(_local(path)), f".{os.path.basename(path)}.tmp-{os.getpid()}"
        )
        self._sink = None
        self._stream = None
        self._hash = hashlib.sha256()
        self._bytes = 0

    def _open_stream(self):
        if self._stream is None:
            try:
                self._sink = pa.OSFile(self._tmp, "wb")
                codec = _COMPRESSION[self.format]
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
            lines = "".join(
                json.dumps(row, ensure_ascii=False, default=json_value) + "\n" for row in table.to_pylist()
            ).encode("utf-8")
            try:
                self._open_stream().write(lines)
            except OSError as exc:
                raise output_error(self.path, exc) from exc
        self.documents += table.num_rows

    def commit(self) -> WrittenShard:
        """Finish the file, move it to its final name, and describe it."""
        try:
            if self.format == "parquet":
                table = pa.concat_tables(self._tables, promote_options="permissive") if self._tables else pa.table({})
                pq.write_table(table, self._tmp, compression="zstd")
            else:
                self._open_stream()
                self._stream.close()
                if self._sink is not self._stream:
                    self._sink.close()
            digest, size = self._digest()
            if is_remote(self.path):
                upload_file(self._tmp, self.path)
                os.unlink(self._tmp)
            else:
                os.replace(self._tmp, _local(self.path))
        except OSError as exc:
            self.abort()
            raise output_error(self.path, exc) from exc
        return WrittenShard(self.path, self.documents, size, digest)

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
