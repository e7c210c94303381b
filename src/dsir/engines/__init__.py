"""Execution engines: where the per-unit tasks of a run are executed.

Every engine (see ``Engine``) has ``map(fn, tasks, desc, weights) -> [fn(t) for t in tasks]``
(results in task order) and is a context manager that releases its workers. ``make_engine``
builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from dsir.engines.local import LocalEngine, default_workers
from dsir.errors import UsageError

ENGINES = ("auto", "local", "processes", "ray")

#: ``auto`` runs up to this many workers as threads, more as processes. A worker thread holds
#: Python's lock about 5% of its time (``bench/gil_share.py``: 4.4-5.5% in four runs), so N
#: threads keep the lock busy about N/20 of the time: under half up to 8, where waiting for it
#: stays small; beyond, threads would queue for it and a process per worker is worth its
#: interpreter (``bench/README.md``, "Many workers").
AUTO_THREADS_UP_TO = 8

T = TypeVar("T")


@runtime_checkable
class Engine(Protocol):
    """What a run needs of an execution engine: a parallel, ordered ``map`` and a way to stop it.

    ``map(fn, tasks, desc, weights)`` returns ``[fn(t) for t in tasks]``, in task order
    whatever order the tasks finish in, raising the first failed task's own exception;
    ``desc`` names the phase (progress output, and the phase of ``dsir.io.trace``) and
    ``weights`` (e.g. input bytes per task) drive the progress bar. ``close`` releases the
    engine's workers; ``with engine:`` closes it on exit. ``LocalEngine`` (threads or
    processes) and ``dsir.engines.ray.RayEngine`` are engines; ``isinstance(x, Engine)``
    checks that ``x`` has these methods (not their signatures).
    """

    def map(self, fn: Callable[[Any], T], tasks: Sequence[Any], desc: str = "",
            weights: Sequence[int] | None = None) -> list[T]:
        """``[fn(t) for t in tasks]``, run by the engine's workers, in task order."""
        ...

    def __enter__(self) -> Engine:
        """The engine itself."""
        ...

    def __exit__(self, *exc: object) -> None:
        """``close()`` the engine, whether or not the block raised."""
        ...

    def close(self) -> None:
        """Release the engine's workers (threads, processes, a Ray instance it started)."""
        ...


def make_engine(name: str | None = "auto", workers: int | None = None, address: str | None = None,
                progress: bool = False) -> Engine:
    """The engine called ``name``: ``local`` (threads of this process), ``processes`` (worker
    processes on this machine), ``auto`` (threads up to ``AUTO_THREADS_UP_TO`` workers,
    processes beyond) or ``ray`` (a Ray cluster).

    ``workers`` is the number of threads or processes (local) or of CPUs of the Ray instance started
    when ``address`` is None; ``address`` (Ray only) names an existing cluster, e.g.
    ``auto`` or ``ray://head:10001``.
    """
    name = name or "auto"
    if name == "auto":
        name = "local" if (workers or 1) <= AUTO_THREADS_UP_TO else "processes"
    if name in ("local", "processes"):
        if address is not None:
            raise UsageError("--ray-address needs --engine ray")
        return LocalEngine(workers or 1, progress=progress, processes=name == "processes")
    if name == "ray":
        from dsir.engines.ray import RayEngine  # Ray is an optional extra: import it only when asked for

        return RayEngine(workers, address=address, progress=progress)
    raise UsageError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["AUTO_THREADS_UP_TO", "ENGINES", "Engine", "LocalEngine", "make_engine"]


def driver_threads(engine: Engine) -> int:
    """How many threads the run's own process may compute on between two phases (the
    classifier's training), while the engine's workers wait: as many as the engine has
    workers, at most this machine's cores (a Ray cluster's workers are elsewhere)."""
    return max(1, min(getattr(engine, "workers", None) or default_workers(), default_workers()))
