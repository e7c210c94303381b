"""Execution engines: where the per-unit tasks of a run are executed.

Every engine has ``map(fn, tasks, desc, weights) -> [fn(t) for t in tasks]`` (results in task
order) and is a context manager that releases its workers. ``make_engine`` builds one by name.
"""

from __future__ import annotations

from typing import Any

from dsir.engines.local import LocalEngine
from dsir.errors import UsageError

ENGINES = ("local", "processes", "ray")


def make_engine(name: str | None = "local", workers: int | None = None, address: str | None = None,
                progress: bool = False) -> Any:
    """The engine called ``name``: ``local`` (threads of this process), ``processes`` (worker
    processes on this machine) or ``ray`` (a Ray cluster).

    ``workers`` is the number of threads or processes (local) or of CPUs of the Ray instance started
    when ``address`` is None; ``address`` (Ray only) names an existing cluster, e.g.
    ``auto`` or ``ray://head:10001``.
    """
    name = name or "local"
    if name in ("local", "processes"):
        if address is not None:
            raise UsageError("--ray-address needs --engine ray")
        return LocalEngine(workers or 1, progress=progress, processes=name == "processes")
    if name == "ray":
        from dsir.engines.ray import RayEngine  # Ray is an optional extra: import it only when asked for

        return RayEngine(workers, address=address, progress=progress)
    raise UsageError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "LocalEngine", "make_engine"]
