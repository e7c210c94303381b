"""Targets: ``--target PATH`` (one unnamed target) or ``NAME=PATH[:PROPORTION]`` (named
targets, each with its share of k)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from dsir.errors import UsageError

TARGET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TargetSpec:
    """A target: its paths, and for named targets its name and share of k."""

    paths: tuple[str, ...]
    name: str | None = None
    proportion: float | None = None


def parse_target(spec: str) -> TargetSpec:
    """``PATH`` or ``NAME=PATH[:PROPORTION]``.

    A spec is named when the part before the first ``=`` is a name (letters, digits, ``_``,
    ``.``, ``-``) and the whole spec is not an existing path; the proportion is the part after
    the last ``:`` when it reads as a number.
    """
    if "=" in spec and not os.path.exists(spec):
        name, rest = spec.split("=", 1)
        if TARGET_NAME.match(name):
            proportion = None
            if ":" in rest:
                head, tail = rest.rsplit(":", 1)
                try:
                    proportion = float(tail)
                except ValueError:
                    head = rest
                else:
                    if not (proportion > 0 and np.isfinite(proportion)):
                        raise UsageError(f"--target {spec}: the proportion must be a positive number, got {tail}")
                rest = head
            if not rest:
                raise UsageError(f"--target {spec}: no path after '{name}='")
            return TargetSpec((rest,), name, proportion)
    return TargetSpec((spec,))


def group_targets(specs: list[str]) -> list[TargetSpec]:
    """Parse ``--target`` values: all plain paths form one unnamed target; named specs with
    the same name form one target (their paths joined). Mixing the two is an error."""
    parsed = [parse_target(s) for s in specs]
    named = [p for p in parsed if p.name is not None]
    if not named:
        return [TargetSpec(tuple(p for t in parsed for p in t.paths))] if parsed else []
    if len(named) != len(parsed):
        plain = next(p for p in parsed if p.name is None)
        raise UsageError(f"--target {plain.paths[0]}: give every target a name (NAME=PATH) when any has one")
    groups: dict[str, TargetSpec] = {}
    for t in named:
        prev = groups.get(t.name)
        if prev is None:
            groups[t.name] = t
            continue
        if prev.proportion is not None and t.proportion is not None and prev.proportion != t.proportion:
            raise UsageError(f"--target {t.name}: two different proportions ({prev.proportion}, {t.proportion})")
        groups[t.name] = TargetSpec(prev.paths + t.paths, t.name, prev.proportion or t.proportion)
    targets = list(groups.values())
    given = [t.proportion is not None for t in targets]
    if any(given) and not all(given):
        missing = next(t.name for t in targets if t.proportion is None)
        raise UsageError(f"--target {missing}: give a proportion (NAME=PATH:PROPORTION) to every target or to none")
    return targets


def target_proportions(targets: list[TargetSpec]) -> list[float]:
    """Shares of k, normalized to sum to 1 (equal shares when none are given)."""
    raw = [t.proportion if t.proportion is not None else 1.0 for t in targets]
    total = sum(raw)
    return [p / total for p in raw]
