"""Tracing input opens: which input file is opened how often, in which phase of a run.

A benchmark or a test sets the environment variable ``DSIR_TRACE_OPENS`` to a file path;
every open of an input file by ``dsir.io.readers`` then appends one JSON line
``{"phase": ..., "path": ...}`` to that file, and ``read_trace`` counts them per phase.
The phase is the ``desc`` of the engine ``map`` that runs the task (``None`` for opens
outside any map, e.g. in the driver). Unset, ``record_open`` returns at once and the
engines run their functions unwrapped, so nothing changes.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from fractions import Fraction
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: The environment variable naming the trace file.
TRACE_ENV = "DSIR_TRACE_OPENS"

# Context variables rather than globals: each worker thread of a LocalEngine runs in its own
# context, so sibling threads running tasks of different maps never see each other's phase.
_PHASE: ContextVar[str | None] = ContextVar("dsir_trace_phase", default=None)
# The trace file the driver named, carried to workers by ``_InPhase``: a worker process or a
# Ray worker may have been started before the variable was set in the driver's environment.
_TARGET: ContextVar[str | None] = ContextVar("dsir_trace_target", default=None)


def trace_target() -> str | None:
    """The trace file that opens are appended to now, or ``None`` when tracing is off."""
    return _TARGET.get() or os.environ.get(TRACE_ENV) or None


def current_phase() -> str | None:
    """The phase (an engine map's ``desc``) of the task running in this context, if any."""
    return _PHASE.get()


def record_open(path: str, part: Any = None) -> None:
    """Append ``{"phase": <current phase>, "path": path}`` to the trace file, if tracing is on;
    an open of a part of the file (``dsir.io.parts``) adds ``"part": [index, parts]``."""
    target = trace_target()
    if target is None:
        return
    entry = {"phase": _PHASE.get(), "path": path, **({"part": [part.index, part.of]} if part is not None else {})}
    line = (json.dumps(entry) + "\n").encode()
    # O_APPEND and a single write() per line: lines from threads and processes sharing the
    # file never interleave (a local file system appends each write atomically).
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class _InPhase(Generic[T]):
    """``fn`` run with the trace phase set to ``phase`` and the trace file to ``target``.

    A module-level class, so that it pickles (to spawned worker processes and Ray workers)
    whenever ``fn`` does.
    """

    def __init__(self, fn: Callable[[Any], T], phase: str, target: str):
        self.fn = fn
        self.phase = phase
        self.target = target

    def __call__(self, task: Any) -> T:
        phase, target = _PHASE.set(self.phase), _TARGET.set(self.target)
        try:
            return self.fn(task)
        finally:
            _TARGET.reset(target)
            _PHASE.reset(phase)


def in_phase(fn: Callable[[Any], T], phase: str) -> Callable[[Any], T]:
    """``fn`` wrapped to run in trace phase ``phase`` when tracing is on; ``fn`` itself otherwise."""
    target = trace_target()
    if target is None:
        return fn
    return _InPhase(fn, phase, target)


def read_trace(path: str) -> dict[str | None, dict[str, int]]:
    """How often each input file was read in each phase: ``{phase: {path: reads}}``.

    An open of the whole file is one read; the opens of a file's parts count one read when
    every part was opened once (an ``int`` whenever the parts were opened alike, else a
    ``float``). A trace file that does not exist is an empty trace: it is created by the
    first open.
    """
    counts: dict[str | None, dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                entry = json.loads(line)
                share = Fraction(1, entry["part"][1]) if "part" in entry else Fraction(1)
                counts[entry["phase"]][entry["path"]] += share
    return {phase: {p: int(n) if n.denominator == 1 else float(n) for p, n in paths.items()}
            for phase, paths in counts.items()}


__all__ = ["TRACE_ENV", "current_phase", "in_phase", "read_trace", "record_open", "trace_target"]
