"""Composition of the pool and of the selection by a metadata field (``--group-by``).

Every pool document's value of the field is read (only that field: one column of a
parquet file, or that one key of each jsonl record), per file in a task over the engine,
and counted against the selection mask. The result is stored in
``OUT/_dsir/groups-<field>.json`` so that ``dsir report`` can be run again later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from dsir.errors import InputError, UsageError
from dsir.io.paths import InputFile
from dsir.io.readers import DEFAULT_BLOCK_BYTES, _open_parquet, iter_line_blocks
from dsir.io.writers import write_json_atomic
from dsir.pipeline.tasks import load_array
from dsir.sample.gumbel import Threshold

MISSING = "(missing)"
OTHER = "(other values)"
#: Distinct values kept per file and in the result; the rest are counted under OTHER, so a
#: field such as an id cannot exhaust memory.
MAX_GROUPS = 1000


def groups_path(work_dir: str, field: str) -> str:
    """Where the composition by ``field`` is stored (the field name made file-safe)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in field)
    return os.path.join(work_dir, f"groups-{safe}.json")


REJECTED = "(rejected record)"  # a record --on-error skip rejected: never selected


def _as_label(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _jsonl_field_values(file: InputFile, field: str, block_bytes: int) -> Iterator[list]:
    """The field's value in every record of a jsonl file, a block at a time (None when absent)."""
    schema = pa.schema([(field, pa.string())])
    opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    for block in iter_line_blocks(file, block_bytes):
        data = block.buf[: block.ends[-1]].tobytes()
        try:
            table = pj.read_json(pa.BufferReader(data), parse_options=opts,
                                 read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1))
            yield table.column(0).combine_chunks()
            continue
        except pa.ArrowException:
            pass  # a non-string value (or a bad line): read this block record by record
        values = []
        for i in range(len(block)):
            try:
                record = json.loads(block.line(i))
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            if not isinstance(record, dict):
                # The selection read this file, so this is a record it rejected (--on-error skip).
                values.append(REJECTED)
                continue
            values.append(_as_label(record.get(field)))
        yield pa.array(values, pa.string())


def _parquet_field_values(file: InputFile, field: str) -> Iterator[list]:
    pf = _open_parquet(file)
    if field not in pf.schema_arrow.names:  # like a jsonl record without the key: every value is missing
        for rg in range(pf.metadata.num_row_groups):
            yield pa.nulls(pf.metadata.row_group(rg).num_rows, pa.string())
        return
    for rb in pf.iter_batches(columns=[field], use_threads=False):
        column = rb.column(0)
        try:
            yield column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values: label them as JSON
            yield pa.array([_as_label(v) for v in column.to_pylist()], pa.string())


@dataclass(frozen=True)
class GroupTask:
    """Count one file's documents per value of ``field``: in the pool, eligible, selected."""

    unit: int
    file: InputFile
    field: str
    scores_path: str
    threshold: Threshold | None
    block_bytes: int = DEFAULT_BLOCK_BYTES


def _fold(counts: dict[str, list[int]], limit: int) -> dict[str, list[int]]:
    """Keep the ``limit`` values with most pool documents; add the rest up under OTHER."""
    if len(counts) <= limit:
        return counts
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    kept = dict(ranked[: limit - 1])
    other = kept.pop(OTHER, [0, 0, 0])
    for label, c in ranked[limit - 1:]:
        other = [a + b for a, b in zip(other, c)]
    kept[OTHER] = other
    return kept


def group_task(task: GroupTask) -> dict[str, list[int]]:
    """``{value: [pool, eligible, selected]}`` for one file."""
    keys = load_array(task.scores_path, "key")
    eligible = np.isfinite(keys)
    selected = task.threshold.mask(task.unit, keys) if task.threshold is not None else np.zeros(len(keys), bool)
    values = (_parquet_field_values(task.file, task.field) if task.file.format == "parquet"
              else _jsonl_field_values(task.file, task.field, task.block_bytes))
    counts: dict[str, list[int]] = {}
    row = 0
    for chunk in values:
        rows = slice(row, row + len(chunk))
        if rows.stop > len(keys):
            raise InputError(f"file changed since it was scored: more than {len(keys)} documents", path=task.file.path)
        labels = chunk.fill_null(MISSING)
        for index, mask in enumerate((None, eligible[rows], selected[rows])):
            tally = pc.value_counts(labels if mask is None else labels.filter(pa.array(mask)))
            for label, c in zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist()):
                counts.setdefault(label, [0, 0, 0])[index] += c
        counts = _fold(counts, MAX_GROUPS)
        row = rows.stop
    if row != len(keys):
        raise InputError(f"file changed since it was scored: {row} documents, expected {len(keys)}", path=task.file.path)
    return counts


def merge_groups(parts: list[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Add per-file counts up (values beyond ``MAX_GROUPS`` go under OTHER)."""
    total: dict[str, list[int]] = {}
    for part in parts:
        for label, c in part.items():
            t = total.setdefault(label, [0, 0, 0])
            for i in range(3):
                t[i] += c[i]
    return _fold(total, MAX_GROUPS)


def composition(field: str, counts: dict[str, list[int]]) -> dict:
    """The stored form: one row per value, most pool documents first, with shares."""
    pool = sum(c[0] for c in counts.values())
    selected = sum(c[2] for c in counts.values())
    rows = [
        {"value": label, "pool": c[0], "eligible": c[1], "selected": c[2],
         "pool_share": c[0] / pool if pool else 0.0, "selected_share": c[2] / selected if selected else 0.0,
         "selected_of_group": c[2] / c[0] if c[0] else 0.0}
        for label, c in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    return {"field": field, "pool_documents": pool, "selected_documents": selected, "groups": rows}


def compute_groups(field: str, raw_files: list[InputFile], score_paths: list[str], threshold: Threshold | None,
                   engine, work_dir: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> dict:
    """Count the pool and the selection by ``field`` and store it under ``work_dir``."""
    if not field:
        raise UsageError("--group-by needs a field name")
    tasks = [GroupTask(i, f, field, p, threshold, block_bytes) for i, (f, p) in enumerate(zip(raw_files, score_paths))]
    counts = merge_groups(engine.map(group_task, tasks, f"group by {field}", [f.size for f in raw_files]))
    if counts and set(counts) == {MISSING}:
        raise UsageError(f"no document of the pool has a field {field!r} to group by")
    result = composition(field, counts)
    write_json_atomic(groups_path(work_dir, field), result)
    return result


def compute_groups_for(output_dir: str, field: str, engine) -> dict:
    """``compute_groups`` for the finished selection in ``output_dir`` (inputs and selection
    read back from its manifest and scores)."""
    from dsir.io.paths import expand_paths
    from dsir.reports.collect import WORK_DIR, read_manifest, selection_masks

    manifest = read_manifest(output_dir)
    work = os.path.join(output_dir, WORK_DIR)
    _, threshold, _ = selection_masks(work, manifest)
    raw_files = expand_paths([e["path"] for e in manifest["inputs"]], "raw")
    score_paths = [os.path.join(work, f"scores-{i:05d}.npz") for i in range(len(raw_files))]
    return compute_groups(field, raw_files, score_paths, threshold, engine, work)
