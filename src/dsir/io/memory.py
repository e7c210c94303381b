"""In-memory inputs: Python lists, pyarrow tables, readers and datasets, pandas DataFrames and
Hugging Face datasets.

A run reads its raw data several times (count, fit, score, write), and a stream can be read
once; so an in-memory input is spooled, batch by batch through Arrow (no Python loop per
document, except to convert Python objects), to an Arrow IPC file named by the sha256 of its
content. Every pass then reads it as it reads any file, with the same selection rules: the
same documents give the same selection from a parquet file or from memory. The file is reused
by a later call over the same content (so ``resume`` after a failed call finds its inputs
unchanged), and removed once a call that used it succeeds.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dsir.errors import UsageError
from dsir.io.paths import detect_format

_BATCH = 10_000  # Python objects converted per batch


class Paths(list):
    """A list of strings that are paths, never documents (what the command line passes)."""


@dataclass
class Spooled:
    """An in-memory input written to ``path``; ``kind`` says what to give back."""

    path: str
    kind: str
    like: Any = None  # the input itself, to give the selection back in its type


def _looks_like_path(item: str) -> bool:
    named = re.match(r"^[A-Za-z0-9_.-]+=(.+?)(:[0-9.eE+-]+)?$", item)  # a named target, NAME=PATH[:P]
    if named and _looks_like_path(named.group(1)):
        return True
    if "://" in item or os.path.exists(item):
        return True
    if any(c.isspace() for c in item):
        return False
    return detect_format(item) is not None or "/" in item or any(c in item for c in "*?[")


def path_or_memory(value: Any, role: str) -> list[str] | None:
    """The paths ``value`` names, or ``None`` when it is in-memory data.

    A ``str`` or ``os.PathLike`` is a path, and so is every item of ``Paths``. A list of
    strings is a list of paths when every
    string looks like one (an existing path, a URL, or a word without spaces that ends in an
    input extension, holds a ``/`` or a glob character), and a list of documents when none
    does; a list that mixes both is refused rather than guessed.
    """
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Paths):
        return list(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, os.PathLike) for v in value):
        bad = next((v for v in value if not isinstance(v, (str, os.PathLike))), None)
        if bad is not None:
            raise UsageError(f"{role}: expected a path (str or pathlib.Path), got {type(bad).__name__}: {bad!r}"[:200])
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, os.PathLike)) for v in value):
        strings = [v for v in value if isinstance(v, str)]
        paths = [_looks_like_path(v) for v in strings]
        if all(paths):
            return [os.fspath(v) for v in value]
        if not any(paths) and len(strings) == len(value):
            return None
        doc = next(v for v, p in zip(strings, paths) if not p)
        path = next(v for v in value if not isinstance(v, str) or _looks_like_path(v))
        raise UsageError(f"{role}: a list of paths or a list of documents, not both: {str(path)[:60]!r} looks like a "
                         f"path and {doc[:60]!r} like a document")
    if isinstance(value, (list, tuple)) and not value:
        raise UsageError(f"{role}: no paths given (an empty list)")
    return None


def _batches(value: Any, text_field: str, role: str) -> tuple[str, Iterator[pa.RecordBatch]]:
    """``(kind, record batches)`` of an in-memory input."""
    if isinstance(value, pa.Table):
        return "arrow-table", iter(value.to_batches())
    if isinstance(value, pa.RecordBatch):
        return "arrow-table", iter([value])
    if isinstance(value, pa.RecordBatchReader):
        return "arrow-reader", iter(value)
    module = type(value).__module__.split(".")[0]
    if module == "pyarrow" and hasattr(value, "to_batches") and hasattr(value, "schema"):
        return "arrow-dataset", iter(value.to_batches())
    if module == "pandas" and hasattr(value, "columns"):
        return "pandas", iter(pa.Table.from_pandas(value, preserve_index=False).to_batches())
    if module == "datasets":
        name = type(value).__name__
        if name in ("Dataset", "IterableDataset"):
            tables = value.with_format("arrow").iter(batch_size=_BATCH)
            kind = "hf-dataset" if name == "Dataset" else "hf-iterable"
            return kind, (b for t in tables for b in t.to_batches())
        if name in ("DatasetDict", "IterableDatasetDict"):
            raise UsageError(f"{role}: a datasets.{name} holds several splits; give one (for example ds['train'])")
        # anything else (a Column of texts): a Python iterable, below
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise UsageError(f"{role}: expected paths or in-memory data (a list of texts or of dicts, a pyarrow "
                         f"Table, a pandas DataFrame, a datasets.Dataset), got {type(value).__name__}")
    return _python_batches(iter(value), text_field, role)


def _python_batches(items: Iterator, text_field: str, role: str) -> tuple[str, Iterator[pa.RecordBatch]]:
    first = next(items, None)
    if first is None:
        raise UsageError(f"{role}: no documents (an empty iterable)")
    if isinstance(first, str):
        kind = "texts"
    elif isinstance(first, dict):
        kind = "records"
    else:
        raise UsageError(f"{role}: expected texts (str) or records (dict), got {type(first).__name__} at item 0")

    def chunks() -> Iterator[pa.RecordBatch]:
        start, pending = 0, [first]
        for item in items:
            pending.append(item)
            if len(pending) == _BATCH:
                yield convert(pending, start)
                start, pending = start + len(pending), []
        if pending:
            yield convert(pending, start)

    def convert(pending: list, start: int) -> pa.RecordBatch:
        wanted = str if kind == "texts" else dict
        bad = next((i for i, x in enumerate(pending) if not isinstance(x, wanted)), None)
        if bad is not None:
            raise UsageError(f"{role}: item {start + bad} is a {type(pending[bad]).__name__}; every item must be a "
                             f"{wanted.__name__}, like item 0")
        try:
            if kind == "texts":
                return pa.RecordBatch.from_arrays([pa.array(pending, pa.large_string())], names=[text_field])
            # a struct array infers its fields from every record (from_pylist: the first only)
            return pa.RecordBatch.from_struct_array(pa.array(pending))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise UsageError(f"{role}: items {start}-{start + len(pending) - 1} do not convert to one Arrow "
                             f"schema ({exc}); give records whose fields keep their types") from None

    return kind, chunks()


def spool_folder() -> str:
    """Where in-memory inputs are spooled: a private folder of the temporary directory."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = os.path.join(tempfile.gettempdir(), f"dsir-inputs-{uid}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def spool(value: Any, role: str, text_field: str) -> Spooled:
    """Write an in-memory input to an Arrow IPC file named by its content's sha256."""
    kind, batches = _batches(value, text_field, role)
    folder = spool_folder()
    fd, tmp = tempfile.mkstemp(prefix=f".{role}-", suffix=".arrow.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer, schema, rows = None, None, 0
            for batch in batches:
                if writer is None:
                    schema = batch.schema
                    writer = pa.ipc.new_stream(pa.PythonFile(fh, mode="w"), schema)
                elif batch.schema != schema:
                    batch = _conform(batch, schema, role, rows)
                writer.write_batch(batch)
                rows += batch.num_rows
            if writer is None:
                raise UsageError(f"{role}: no documents (the input has no rows)")
            writer.close()
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        path = os.path.join(folder, f"{role}-{digest.hexdigest()[:32]}.arrow")
        if os.path.exists(path):  # the same content, spooled before: reuse it (and its fingerprint)
            os.unlink(tmp)
            return Spooled(path, kind, like=value)
        os.replace(tmp, path)
        return Spooled(path, kind, like=value)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _conform(batch: pa.RecordBatch, schema: pa.Schema, role: str, start: int) -> pa.RecordBatch:
    try:
        return batch.select(schema.names).cast(schema) if set(batch.schema.names) == set(schema.names) \
            else batch.cast(schema)
    except (pa.ArrowException, ValueError, KeyError) as exc:
        raise UsageError(f"{role}: rows from {start} on have another schema than the first rows "
                         f"({batch.schema} against {schema}): {exc}") from None


def release(spooled: list[Spooled]) -> None:
    """Remove the spooled files a call used, once it succeeded (a failed call keeps them, so
    that the same call again, with ``resume``, finds its inputs unchanged)."""
    for s in spooled:
        if os.path.exists(s.path):
            os.unlink(s.path)


def give_back(table: pa.Table, like: Spooled, text_field: str) -> Any:
    """``table`` (selected rows) in the type of the input it was selected from."""
    kind = like.kind
    if kind == "texts":
        return table.column(text_field).to_pylist()
    if kind == "records":
        return table.to_pylist()
    if kind == "arrow-reader":
        return table.to_reader()
    if kind == "arrow-dataset":
        import pyarrow.dataset as ds

        return ds.dataset(table)
    if kind == "pandas":
        return table.to_pandas()
    if kind in ("hf-dataset", "hf-iterable"):
        import datasets

        features = getattr(like.like, "features", None)
        out = datasets.Dataset(datasets.table.InMemoryTable(table),
                               info=datasets.DatasetInfo(features=features) if features is not None else None)
        return out if kind == "hf-dataset" else out.to_iterable_dataset()
    return table
