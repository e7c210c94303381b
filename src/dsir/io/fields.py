"""Field names, flat (``text``) or dotted (``meta.text``): which value of a record a name picks.

One rule for every format, applied record by record: a name with dots picks the record's
top-level field of exactly that name when the record has one that is not null, and otherwise
the path of nested fields it spells (``meta.text``: field ``text`` of the object, or struct,
``meta``). A name without dots, or with an empty part (``a..b``, ``.a``), is only ever a
top-level name. Per record rather than per file because Arrow (and pyarrow's JSON reader)
make no difference between a missing field and a null one: so a jsonl file and the parquet
file converted from it pick the same values.

Here are the three forms of that rule: on a decoded JSON record (the error path of jsonl),
on an Arrow table (parquet, Arrow IPC and parsed jsonl blocks, no loop over rows) and the
explicit schema pyarrow's JSON reader needs to read both candidates. The compiled jsonl
reader (``dsir.io.json_text``) follows the same rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ABSENT = object()


def path_of(name: str) -> tuple[str, ...] | None:
    """The nested path a dotted ``name`` spells, or ``None`` when it is a top-level name only."""
    parts = tuple(name.split("."))
    return parts if len(parts) > 1 and all(parts) else None


def is_text_type(t: pa.DataType) -> bool:
    """Whether ``t`` holds strings: ``string``, ``large_string``, ``string_view``, dictionary-encoded."""
    if pa.types.is_dictionary(t):
        return is_text_type(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def describe(value: object) -> str:
    """A JSON value's kind in words, for messages ("a number", "null")."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def json_field(record: dict, name: str, label: str) -> tuple[Any, str | None]:
    """The value ``name`` picks in a decoded JSON object, as ``(value, None)``, or ``(None, why)``
    when it picks none: ``why`` says so with ``label`` ("text field"), naming where the path
    stops ("missing text field 'meta.text' (no field 'text' in 'meta')") or the part of it that
    is no object. A null value is ``(None, None)``.
    """
    path = path_of(name)
    value = record.get(name, _ABSENT)
    if path is None or value is not None and value is not _ABSENT:
        return (None, f"missing {label} {name!r}") if value is _ABSENT else (value, None)
    if path[0] not in record and name in record:
        return None, None  # no path, and null at the exact key: say that it is null
    value = record
    for depth, part in enumerate(path):
        where = ".".join(path[:depth])
        if not isinstance(value, dict):
            return None, f"{label} {name!r}: {where!r} is {describe(value)}, expected an object"
        if part not in value:
            inside = f" in {where!r}" if depth else ""
            return None, f"missing {label} {name!r} (no field {part!r}{inside})"
        value = value[part]
    return value, None


def set_json_field(record: dict, name: str, value: Any) -> None:
    """Set, in a decoded JSON object, the value ``name`` picks (see ``json_field``) to ``value``."""
    path = path_of(name)
    if path is None or record.get(name) is not None:
        record[name] = value
        return
    for part in path[:-1]:
        record = record[part]
    record[path[-1]] = value


def json_schema(name: str) -> pa.Schema:
    """The explicit schema with which pyarrow's JSON reader reads both candidates for ``name``
    as strings: the top-level field and, for a dotted name, the struct path."""
    fields = [pa.field(name, pa.string())]
    path = path_of(name)
    if path is not None:
        leaf: pa.DataType = pa.string()
        for part in reversed(path[1:]):
            leaf = pa.struct([(part, leaf)])
        fields.append(pa.field(path[0], leaf))
    return pa.schema(fields)


def struct_path(schema: pa.Schema, name: str) -> tuple[tuple[str, ...] | None, str | None]:
    """``(path, None)`` when ``schema`` holds the struct path a dotted ``name`` spells, else
    ``(None, why)`` (``why`` is ``None`` for a top-level name, or one whose first part is no column)."""
    path = path_of(name)
    if path is None or path[0] not in schema.names:
        return None, None
    t = schema.field(path[0]).type
    for depth, part in enumerate(path[1:], 1):
        where = ".".join(path[:depth])
        if not pa.types.is_struct(t):
            return None, f"column {where!r} has type {t}, not a struct with a field {part!r}"
        if t.get_field_index(part) < 0:
            children = ", ".join(t.field(i).name for i in range(t.num_fields))
            return None, f"struct column {where!r} has no field {part!r} (its fields: {children})"
        t = t.field(part).type
    return path, None


def schema_problem(schema: pa.Schema, name: str) -> str | None:
    """Why ``schema`` has no column for field ``name`` (neither top-level nor a struct path), or ``None``."""
    if name in schema.names:
        return None
    path, why = struct_path(schema, name)
    if path is not None:
        return None
    return f"no column named {name!r} (columns: {', '.join(schema.names)})" + (f", and {why}" if why else "")


def field_type(schema: pa.Schema, name: str) -> list[pa.DataType]:
    """The types of the columns that ``name`` may pick from in ``schema`` (top-level first)."""
    types = [schema.field(name).type] if name in schema.names else []
    path, _ = struct_path(schema, name)
    if path is not None:
        t = schema.field(path[0]).type
        for part in path[1:]:
            t = t.field(part).type
        types.append(t)
    return types


def read_columns(schema: pa.Schema, names: list[str], dotted: bool) -> list[str]:
    """The columns to read for ``names``: top-level names, and for a struct path its first part,
    or (``dotted``, as parquet takes them) the dotted path itself, which reads only that leaf."""
    out: list[str] = []
    for name in names:
        path, _ = struct_path(schema, name)
        wanted = [name] if name in schema.names else []
        if path is not None:
            wanted.append(name if dotted else path[0])
        out += [c for c in wanted if c not in out]
    return out


def column(table: pa.Table | pa.RecordBatch, name: str, text: bool = False) -> pa.Array | None:
    """The value ``name`` picks in every row of ``table`` (a null where it picks none), or
    ``None`` when ``table`` has neither a column ``name`` nor its struct path. With ``text``,
    a struct path to no strings is ignored next to a top-level column (which then picks alone:
    a record of the path would be no text anyway)."""
    exact = table.column(name) if name in table.schema.names else None
    path, _ = struct_path(table.schema, name)
    nested = pc.struct_field(table.column(path[0]), list(path[1:])) if path is not None else None
    if text and exact is not None and nested is not None and not is_text_type(nested.type):
        nested = None
    found = [_combined(c) for c in (exact, nested) if c is not None]
    if len(found) < 2:
        return found[0] if found else None
    exact, nested = found
    if exact.null_count == 0:
        return exact
    if exact.type != nested.type:  # e.g. a dictionary-encoded column and a plain one
        exact, nested = exact.cast(pa.large_string()), nested.cast(pa.large_string())
    return pc.coalesce(exact, nested)


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def null_detail(table: pa.Table | pa.RecordBatch, name: str, row: int) -> str:
    """Why ``name`` is null in ``row`` when a struct on its path is null there (" (struct 'meta'
    is null)"), else ``""``; for messages only, so it looks at that one row."""
    path, _ = struct_path(table.schema, name)
    for depth in range(1, len(path) if path else 0):
        values = table.column(path[0]).slice(row, 1)
        if depth > 1:
            values = pc.struct_field(values, list(path[1:depth]))
        if not values.is_valid().to_pylist()[0]:
            return f" (struct {'.'.join(path[:depth])!r} is null)"
    return ""


def null_rows(values: pa.Array) -> np.ndarray:
    """The rows where ``values`` is null."""
    return np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))


def replace_column(table: pa.Table, name: str, texts: list[str]) -> pa.Table:
    """``table`` with the value ``name`` picks in each row replaced by ``texts``, in the column
    it was picked from (the top-level one or the struct path) and with that column's type;
    every other value is unchanged."""
    exact = _combined(table.column(name)) if name in table.schema.names else None
    path, _ = struct_path(table.schema, name)
    if exact is not None and path is not None and not is_text_type(field_type(table.schema, name)[-1]):
        path = None  # ignored by ``column(..., text=True)``
    top = exact.is_valid().to_numpy(zero_copy_only=False) if exact is not None else np.zeros(len(texts), bool)
    if exact is not None:
        kept = exact.to_pylist()
        new = pa.array([t if p else k for t, p, k in zip(texts, top, kept)], exact.type)
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), new)
    if path is None or top.all():
        return table
    at = table.schema.get_field_index(path[0])
    struct = _combined(table.column(at))
    kept = pc.struct_field(struct, list(path[1:])).to_pylist()
    leaf = field_type(table.schema, name)[-1]
    new = _with_leaf(struct, path[1:], pa.array([k if p else t for t, p, k in zip(texts, top, kept)], leaf))
    return table.set_column(at, table.schema.field(at), new)


def _with_leaf(struct: pa.StructArray, path: tuple[str, ...], values: pa.Array) -> pa.StructArray:
    """``struct`` with its field at ``path`` replaced by ``values`` (its nulls and types kept)."""
    t = struct.type
    children = [struct.field(i) for i in range(t.num_fields)]
    i = t.get_field_index(path[0])
    children[i] = values if len(path) == 1 else _with_leaf(children[i], path[1:], values)
    mask = struct.is_null() if struct.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
