"""``--on-error skip``: bad records are rejected, recorded and counted instead of stopping.

A rejected record keeps its row: it reads as an empty document (no tokens, so never
eligible and never selected) and is marked rejected, so row ``r`` of a file means the
same in every pass (fit, score, write) whether or not records were skipped. Each rejected
record is written, with its file, line (jsonl) or row (parquet), the reason and the record
itself, to ``OUT/rejects.jsonl``; the manifest counts them per file. Nothing is dropped
silently.

Only *records* are skipped. A file that cannot be read at all past some point (truncated
compression, corrupt parquet pages) still stops the run: how many records were lost is
unknown, so it cannot be reported honestly.

The fast path is unchanged: the per-line Python diagnosis runs only for a block that
pyarrow could not parse as a whole, or whose id column holds nulls.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import InputError
from dsir.featurize.kernels import line_spans
from dsir.io import fields as fl
from dsir.io.paths import InputFile

ON_ERROR = ("stop", "skip")
REJECTS_FILE = "rejects.jsonl"


@dataclass(frozen=True)
class Reject:
    """One rejected record: where it is, why, and its bytes (jsonl) or values (parquet)."""

    file: str
    row: int
    reason: str
    line: int | None = None
    record: bytes | None = None

    def to_json(self) -> dict:
        out: dict = {"file": self.file, "line": self.line, "row": self.row, "reason": self.reason}
        if self.record is not None:
            try:
                out["record"] = self.record.decode("utf-8")
            except UnicodeDecodeError:
                # Not text: keep the exact bytes rather than a lossy decoding.
                out["record_base64"] = base64.b64encode(self.record).decode("ascii")
        return out


def record_problem(raw: bytes, text_field: str, id_field: str | None = None) -> str | None:
    """Why this jsonl line is not a usable record (text, and id when one is used), or ``None``."""
    from dsir.io.readers import check_jsonl_line

    why = check_jsonl_line(raw, text_field)
    if why or id_field is None:
        return why
    record = json.loads(raw)  # check_jsonl_line parsed it already
    value, why = fl.json_field(record, id_field, "id field")
    if value is None:
        return why if why and fl.path_of(id_field) else f"id field {id_field!r} is missing or null"
    return None


def _lines(data: bytes) -> list[bytes]:
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends, _, _, _ = line_spans(buf, len(buf), True)
    return [data[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def _parse_alone(line: bytes, fields: list[str]) -> str | None:
    """pyarrow's complaint about a single line, if it has one."""
    from dsir.io.readers import read_json_text

    try:
        read_json_text(line + b"\n", fields[0], infer=True)
    except pa.ArrowException as exc:
        return f"cannot parse: {exc}"
    return None


#: Records of one block rejected one by one for a field that changes type, at most (then the
#: block's error stops the run: so many changes are no longer a few bad records).
MAX_TYPE_CHANGES = 100


def parse_lines_skipping(file: InputFile, fields: list[str], data: bytes, line_numbers: np.ndarray,
                         rows: np.ndarray) -> tuple[pa.Table, list[Reject]]:
    """Parse jsonl ``data`` (lines ``line_numbers``, rows ``rows``) into ``fields``, rejecting bad records.

    The table has one row per line: a rejected line's text is ``""`` and its id ``""``.
    """
    from dsir.io.readers import parse_block

    text_field = fields[0]
    id_field = fields[1] if len(fields) > 1 else None
    block = _DataBlock(data, line_numbers)
    try:
        table = parse_block(file, block, fields, data, line_numbers)  # type: ignore[arg-type]
        if id_field is None or table.column(1).null_count == 0:
            return table, []
    except InputError:
        pass
    lines = _lines(data)
    reasons = [record_problem(line, text_field, id_field) for line in lines]
    good = [i for i, r in enumerate(reasons) if r is None]
    good_data = b"".join(lines[i] + b"\n" for i in good)
    try:
        table = parse_block(file, block, fields, good_data, line_numbers[good]) if good else None
    except InputError as exc:
        # Lines each fine on their own but not together (e.g. a field's type changes): name them.
        for i in good:
            reasons[i] = _parse_alone(lines[i], fields)
        good = [i for i, r in enumerate(reasons) if r is None]
        for _ in range(MAX_TYPE_CHANGES):
            try:
                good_data = b"".join(lines[i] + b"\n" for i in good)
                table = parse_block(file, block, fields, good_data, line_numbers[good]) if good else None
                break
            except InputError as again:
                # the record at which a field changed its type (named by its line) is the bad one
                at = [i for i in good if again.line is not None and int(line_numbers[i]) == again.line]
                if not at:
                    raise again from exc
                reasons[at[0]] = str(again).split(": ", 1)[-1]
                good.remove(at[0])
        else:
            raise exc
    rejects = [Reject(file.path, int(rows[i]), reasons[i], int(line_numbers[i]), lines[i])
               for i in range(len(lines)) if reasons[i] is not None]
    return _spread(table, fields, good, len(lines)), rejects


def _spread(table: pa.Table | None, fields: list[str], good: list[int], n: int) -> pa.Table:
    """A table of ``n`` rows with ``table``'s rows at positions ``good`` and ``""`` elsewhere."""
    index = np.full(n, -1, dtype=np.int64)
    index[good] = np.arange(len(good))
    take = pa.array(index, mask=index < 0)
    columns = {}
    for j, name in enumerate(fields):
        if table is None:
            col = pa.nulls(n, pa.string())
        else:
            col = pc.take(table.column(j).combine_chunks(), take)
            if j > 0:
                col = col.cast(pa.string())  # ids are hashed as strings anyway
        columns[name] = pc.fill_null(col, "")
    return pa.table(columns)


@dataclass
class _DataBlock:
    """Just enough of a ``LineBlock`` for ``parse_block`` when ``data`` is given."""

    data: bytes
    line_numbers: np.ndarray

    def __len__(self) -> int:
        return len(self.line_numbers)


def reject_null_texts(file: InputFile, texts: pa.Array, first_row: int, text_field: str,
                      ids: pa.Array | None = None, detail: Callable[[int], str] = lambda row: ""
                      ) -> tuple[pa.Array, pa.Array | None, list[Reject]]:
    """Parquet: reject rows whose text (or id) is null; they read as ``""``. ``detail(row)``
    (block-relative) completes the reason of a null text (which struct of its path is null)."""
    bad = texts.is_null()
    if ids is not None:
        bad = pc.or_(bad, ids.is_null())
    rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    if not len(rows):
        return texts, ids, []
    rejects = []
    for r in rows.tolist():
        why = f"text column {text_field!r} is null{detail(r)}" if not texts[r].is_valid else "id column is null"
        values = {text_field: texts[r].as_py()}
        if ids is not None:
            values["id"] = ids[r].as_py()
        rejects.append(Reject(file.path, first_row + r, why, None,
                              json.dumps(values, ensure_ascii=False, default=str).encode()))
    texts = pc.fill_null(texts, "")
    if ids is not None:
        ids = pc.fill_null(ids.cast(pa.string()), "")
    return texts, ids, rejects


def write_rejects(path: str, rejects: list[Reject]) -> None:
    """A unit's rejects as JSON lines, all at once (a local path or an object-store URL)."""
    from dsir.io.storage import write_bytes

    write_bytes(path, b"".join(json.dumps(r.to_json(), ensure_ascii=False).encode("utf-8") + b"\n"
                               for r in rejects))


def gather_rejects(unit_paths: list[str], output_path: str) -> int:
    """Concatenate the units' rejects files (in unit order) into ``output_path``; return the count."""
    from dsir.io.paths import open_binary
    from dsir.io.storage import write_bytes

    lines = []
    for p in unit_paths:
        try:
            with open_binary(p) as fh:
                lines.extend(line for line in fh.read().splitlines(keepends=True) if line.strip())
        except FileNotFoundError:
            continue
    write_bytes(output_path, b"".join(lines))
    return len(lines)


def rejected_rows(rejects_path: str) -> np.ndarray:
    """The rows a unit's rejects file lists (none when it has no such file)."""
    from dsir.io.paths import open_binary

    try:
        with open_binary(rejects_path) as fh:
            return np.array([json.loads(line)["row"] for line in fh.read().splitlines() if line.strip()], np.int64)
    except FileNotFoundError:
        return np.empty(0, np.int64)
