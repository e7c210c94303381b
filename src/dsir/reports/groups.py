"""Composition of the pool and of the selection by a metadata field (``--group-by``).

The write pass reads every record anyway: it takes the field's value of each unit (only
that field: one column of a parquet table, or that one key of each jsonl record) and counts
it against the allocation (``GroupCounter``). The merged result is stored in
``OUT/_dsir/groups-<field>.json`` so that ``dsir report`` can show it again later.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import UsageError
from dsir.io.formats import MISSING

OTHER = "(other values)"
#: Distinct values kept per file and in the result; the rest are counted under OTHER, so a
#: field such as an id cannot exhaust memory.
MAX_GROUPS = 1000


def _fold(counts: dict[str, list[int]], limit: int) -> dict[str, list[int]]:
    """Keep the ``limit`` values with most pool units; add the rest up under OTHER."""
    if len(counts) <= limit:
        return counts
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    kept = dict(ranked[: limit - 1])
    width = len(ranked[0][1])
    other = kept.pop(OTHER, [0] * width)
    for _, c in ranked[limit - 1:]:
        other = [a + b for a, b in zip(other, c)]
    kept[OTHER] = other
    return kept


class GroupCounter:
    """``{value: [pool, eligible, selected, selected by target 0, 1, ...]}`` over some units."""

    def __init__(self, field: str, targets: int):
        self.field = field
        self.targets = targets
        self.counts: dict[str, list[int]] = {}

    def add(self, labels: pa.Array, eligible: np.ndarray, assigned: np.ndarray) -> None:
        """Count units with these ``labels`` (their ``eligible`` flags and ``assigned`` target)."""
        masks = [None, eligible, assigned >= 0] + [assigned == t for t in range(self.targets)]
        width = len(masks)
        for index, mask in enumerate(masks):
            if mask is not None and not mask.any():
                continue
            tally = pc.value_counts(labels if mask is None else labels.filter(pa.array(mask)))
            for label, c in zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist()):
                self.counts.setdefault(label, [0] * width)[index] += c
        self.counts = _fold(self.counts, MAX_GROUPS)


def merge_groups(parts: list[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Add per-file counts up (values beyond ``MAX_GROUPS`` go under OTHER)."""
    total: dict[str, list[int]] = {}
    for part in parts:
        for label, c in part.items():
            t = total.setdefault(label, [0] * len(c))
            for i, v in enumerate(c):
                t[i] += v
    return _fold(total, MAX_GROUPS)


def composition(field: str, counts: dict[str, list[int]], target_names: list[str | None]) -> dict:
    """The stored form: one row per value, most pool units first, with shares."""
    if counts and set(counts) == {MISSING}:
        raise UsageError(f"no document of the pool has a field {field!r} to group by")
    pool = sum(c[0] for c in counts.values())
    selected = sum(c[2] for c in counts.values())
    rows = []
    for label, c in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0])):
        row = {"value": label, "pool": c[0], "eligible": c[1], "selected": c[2],
               "pool_share": c[0] / pool if pool else 0.0, "selected_share": c[2] / selected if selected else 0.0,
               "selected_of_group": c[2] / c[0] if c[0] else 0.0}
        if len(target_names) > 1:
            row["selected_by_target"] = {str(n): v for n, v in zip(target_names, c[3:])}
        rows.append(row)
    return {"field": field, "pool_documents": pool, "selected_documents": selected, "groups": rows}
