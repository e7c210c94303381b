"""Mixtures: a selection whose composition over a metadata field is given.

``--mix FIELD=VALUE:PROPORTION,...`` splits the budget (``k``, a fraction of the eligible
units, or ``--tokens``) over the values by largest remainder (``sample.methods.allocate``),
and each part takes its share of the largest keys among the units whose field has that
value: the importance weights of the target decide which units of a part are selected (with
no target, method ``random``: a uniform sample of the part). Units whose value is not in the
mixture are not eligible. A unit has one value, so the parts never share a unit; the
allocation is the several-targets one (``sample.allocate``) with one key row per part, so it
is deterministic and independent of the split, and composes with ``--dedup`` (no part takes a
duplicate of a unit another part took).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsir.errors import UsageError
from dsir.sample.allocate import Allocation, allocate_targets
from dsir.sample.methods import allocate


@dataclass(frozen=True)
class PartSpec:
    """What the score pass records for a mixture: the index of each unit's ``field`` value
    among ``values`` (-1: none of them; the unit is not eligible)."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Mixture:
    """``--mix`` as given: the ``field``, its ``values`` and their ``proportions`` (positive;
    normalized when the budget is split)."""

    field: str
    values: tuple[str, ...]
    proportions: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.field:
            raise UsageError("--mix needs a field: FIELD=VALUE:PROPORTION,...")
        if not self.values:
            raise UsageError(f"--mix {self.field}= names no value: FIELD=VALUE:PROPORTION,...")
        if len(set(self.values)) != len(self.values):
            twice = sorted({v for v in self.values if self.values.count(v) > 1})
            raise UsageError(f"--mix names {', '.join(map(repr, twice))} more than once")
        for v, p in zip(self.values, self.proportions):
            if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
                raise UsageError(f"--mix {self.field}={v}: the proportion must be a positive number, got {p!r}")

    @classmethod
    def parse(cls, spec: str) -> Mixture:
        """``FIELD=VALUE:PROPORTION,VALUE:PROPORTION,...`` (a value may hold ``:``; the last one
        separates the proportion)."""
        field, eq, rest = spec.partition("=")
        if not eq:
            raise UsageError(f"--mix must be FIELD=VALUE:PROPORTION,..., got {spec!r}")
        values, proportions = [], []
        for part in (p for p in rest.split(",") if p.strip()):
            value, colon, number = part.rpartition(":")
            if not colon or not value:
                raise UsageError(f"--mix part {part!r} must be VALUE:PROPORTION")
            try:
                proportions.append(float(number))
            except ValueError:
                raise UsageError(f"--mix {field}={value}: the proportion must be a number, got {number!r}") from None
            values.append(value)
        return cls(field.strip(), tuple(values), tuple(proportions))

    def __str__(self) -> str:
        return f"{self.field}=" + ",".join(f"{v}:{p:g}" for v, p in zip(self.values, self.proportions))

    @property
    def parts(self) -> PartSpec:
        return PartSpec(self.field, self.values)

    @property
    def shares_of_one(self) -> list[float]:
        total = sum(self.proportions)
        return [p / total for p in self.proportions]

    def shares(self, total: int) -> list[int]:
        """``total`` (units or tokens) split over the values by largest remainder."""
        return allocate(total, list(self.proportions))


def part_indices(labels, values: tuple[str, ...]) -> np.ndarray:
    """int16 per label: the index of its value in ``values`` (-1 for any other)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    index = pc.index_in(labels, value_set=pa.array(list(values), pa.string()))
    return np.asarray(index.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int16)


def allocate_mixture(keys: list[np.ndarray], parts: list[np.ndarray], unit_hashes, shares: list[int],
                     sizes: list[np.ndarray] | None = None, by_tokens: bool = False, dedup=None,
                     signatures=None) -> tuple[Allocation, Allocation]:
    """Each part's share of the largest keys (``keys[f][0]``) among its units (``parts[f] ==
    p``): ``(allocation, by_part)``, the first with every selected unit assigned to the one
    target (what the write pass and the report read), the second with the part each went to."""
    rows = [np.stack([np.where(p == i, k[0], -np.inf) for i in range(len(shares))]) for k, p in zip(keys, parts)]
    by_part = allocate_targets(rows, unit_hashes, shares, sizes, by_tokens=by_tokens, dedup=dedup,
                               signatures=signatures)
    assigned = [np.where(a >= 0, 0, -1).astype(np.int16) for a in by_part.assigned]
    return Allocation(assigned, [sum(by_part.selected)], [sum(by_part.selected_tokens)], [None],
                      _merged_duplicates(by_part.duplicates)), by_part


def _merged_duplicates(parts: list) -> list:
    if not parts:
        return []
    from dsir.sample.allocate import DUPLICATE_EXAMPLES, Duplicates

    return [Duplicates(sum(d.examined for d in parts), sum(d.dropped for d in parts),
                       sum(d.dropped_tokens for d in parts),
                       [e for d in parts for e in d.examples][:DUPLICATE_EXAMPLES])]
