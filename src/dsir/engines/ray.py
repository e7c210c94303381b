"""The Ray engine: runs the per-unit tasks of a run as Ray tasks, on one machine or a cluster.

Ray is an optional extra (``pip install 'dsir[ray]'``). Only the tasks (paths, parameters and
small arrays) and their results (counts, summaries) travel between the driver and the
workers; documents are read and written by the workers themselves, so every input and
output path must be reachable from every node: an object-store URL, or a local path on a
file system that all nodes mount at the same place.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from dsir.engines.progress import progress_bar
from dsir.errors import UsageError
from dsir.io.trace import in_phase

T = TypeVar("T")
log = logging.getLogger("dsir")

#: Arrays at least this large that several tasks share (the log-ratio table of a fit) are
#: put into Ray's object store once and handed to every task by reference.
SHARED_ARRAY_BYTES = 64 << 10

#: A task is retried this many times when its worker process or node dies.
DEFAULT_MAX_RETRIES = 3

#: Exceptions of a task that are worth retrying: a dropped connection to an object store.
TRANSIENT_ERRORS = (ConnectionError, TimeoutError)


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise UsageError("the ray engine needs Ray: pip install 'dsir[ray]'") from exc
    return ray


def dsir_runtime_env(extra: dict | None = None) -> dict:
    """A Ray ``runtime_env`` that ships this process's ``dsir`` package to the workers.

    On an existing cluster the workers then run exactly the driver's dsir (its dependencies,
    numpy, numba, pyarrow, fsspec and the store backends, must be installed on the nodes).
    ``extra`` entries are added, e.g. ``{"env_vars": {...}}``.
    """
    import dsir

    env: dict = {"py_modules": [os.path.dirname(os.path.abspath(dsir.__file__))],
                 "excludes": ["__pycache__", "*.pyc", "*.nbi", "*.nbc"]}
    env.update(extra or {})
    return env


_worker_ready = False


#: Where a task's shared arrays go back: ``(field path, index of the array among the task's
#: arrays)``, e.g. ``(("task", "log_ratios"), 0)`` for ``task.task.log_ratios``.
Places = tuple[tuple[tuple[str, ...], int], ...]


def _run_task(fn: Callable[[Any], T], task: Any, places: Places = (), *arrays: np.ndarray) -> T:
    """Body of every Ray task: ``fn(task)``, with the shared arrays put back into the task.

    ``arrays`` are the task's distinct shared arrays (Ray resolves these top-level object
    references before the call) and ``places`` says which field of the task tree each fills.
    """
    global _worker_ready
    if not _worker_ready:
        # One task is one core: keep pyarrow's own thread pools from competing with siblings.
        import pyarrow as pa

        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
        _worker_ready = True
    if places:
        # Arrays from the object store are read-only views; the kernels get ordinary arrays
        # (one copy per distinct array, so fields that shared an array on the driver still do).
        task = _put_back(task, places, [np.array(v) for v in arrays])
    return fn(task)


def _put_back(obj: Any, places: Places, arrays: list[np.ndarray]) -> Any:
    """``obj`` with the field at each place's path (relative to ``obj``) set to its array."""
    here: dict[str, Any] = {}
    deeper: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for path, i in places:
        if len(path) == 1:
            here[path[0]] = arrays[i]
        else:
            deeper.setdefault(path[0], []).append((path[1:], i))
    for name, rest in deeper.items():
        here[name] = _put_back(getattr(obj, name), tuple(rest), arrays)
    return dataclasses.replace(obj, **here)


class RayEngine:
    """Map a function over tasks as Ray tasks; results come back in task order.

    ``address`` None (and no ``RAY_ADDRESS`` in the environment) starts a Ray instance on
    this machine with ``workers`` CPUs (all of them when None) and stops it on ``close``; if
    Ray is already initialized in this process that instance is used as it is. Any other
    ``address`` (``auto``, ``HOST:PORT``,
    ``ray://HOST:10001``) connects to an existing cluster, ships this dsir to it (see
    ``dsir_runtime_env``; pass ``runtime_env`` to replace that), and only disconnects on close.

    Each task asks for one CPU. A task whose worker or node dies is retried up to
    ``max_retries`` times, as is one that fails with a dropped connection: every task
    writes its outputs whole under their final names, so a rerun gives the same result.
    Any other error of a task is raised here as the task raised it (an ``InputError``
    naming the file and line stays one).
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, progress: bool = True,
                 max_retries: int = DEFAULT_MAX_RETRIES, runtime_env: dict | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.workers = workers
        self.address = address
        self.progress = progress
        self.max_retries = max_retries
        self.runtime_env = runtime_env
        self._started = False
        self._remote = None

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the Ray instance this engine started (or disconnect from the cluster)."""
        if self._started:
            _import_ray().shutdown()
            self._started = False
        self._remote = None

    def _connect(self):
        ray = _import_ray()
        if not ray.is_initialized():
            common = {"include_dashboard": False, "logging_level": logging.WARNING}
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            if address is None:
                # "local" always starts a fresh instance: never a stray `ray start` cluster by accident.
                # Its notice that token authentication is on concerns clusters others can reach;
                # this one lives and dies with the run, so the notice would only be noise.
                logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
                ray.init(address="local", num_cpus=self.workers, runtime_env=self.runtime_env, **common)
            else:
                env = self.runtime_env if self.runtime_env is not None else dsir_runtime_env()
                try:
                    ray.init(address=address, runtime_env=env, **common)
                except ConnectionError as exc:  # a wrong address, or a cluster that is down
                    raise UsageError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
                nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
                if nodes > 1:
                    log.warning("the Ray cluster has %d nodes: local input and output paths must be on a file "
                                "system that every node mounts at the same path (object-store URLs always work)",
                                nodes)
            self._started = True
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries,
                                      retry_exceptions=list(TRANSIENT_ERRORS))(_run_task)
        return ray

    def map(self, fn: Callable[[Any], T], tasks: Sequence[Any], desc: str = "",
            weights: Sequence[int] | None = None) -> list[T]:
        """``[fn(t) for t in tasks]`` as Ray tasks; ``weights`` (e.g. bytes) drive the progress bar.

        Large arrays anywhere in the (dataclass) tasks go through the object store once (see
        ``_split_shared_arrays``); each task runs in the trace phase ``desc`` when input opens
        are traced (``dsir.io.trace``).
        """
        tasks = list(tasks)
        if not tasks:
            return []
        weights = list(weights) if weights is not None else [1] * len(tasks)
        ray = self._connect()
        shared: dict[int, Any] = {}  # id(array) -> ObjectRef, so a shared array is put once
        refs = []
        fn = in_phase(fn, desc)
        for task in tasks:
            task, places, arrays = _split_shared_arrays(task, shared, ray)
            refs.append(self._remote.remote(fn, task, places, *arrays))
        index = {ref: i for i, ref in enumerate(refs)}
        bar = progress_bar(sum(weights), desc, max(weights) > 1, self.progress)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5, fetch_local=False)
                for ref in done:
                    _get(ray, ref)  # fail fast: the first failed task stops the run
                    bar.update(weights[index[ref]])
            return [_get(ray, ref) for ref in refs]
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
        finally:
            bar.close()


def _split_shared_arrays(task: Any, shared: dict[int, Any], ray) -> tuple[Any, Places, list[Any]]:
    """``(task without its large arrays, their places, their object references)``.

    Every numpy array of at least ``SHARED_ARRAY_BYTES`` in a field of the dataclass
    ``task``, or of a dataclass in one of its fields, at any depth, is replaced by ``None``
    (``dataclasses.replace``, so frozen dataclasses are copied, never changed); ``_run_task``
    puts it back. Each array is ``ray.put`` once per ``shared`` (one ``map``), by identity,
    however many tasks and fields hold it. Arrays inside tuples, lists or dicts, and fields
    that ``__init__`` does not take, travel inside the task as before.
    """
    refs: list[Any] = []
    places: list[tuple[tuple[str, ...], int]] = []
    index: dict[int, int] = {}  # id(array) -> its position in refs, so a task lists an array once

    def strip(obj: Any, path: tuple[str, ...], active: frozenset[int]) -> Any:
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(obj):
            if not field.init:  # dataclasses.replace cannot set it
                continue
            value = getattr(obj, field.name)
            where = path + (field.name,)
            if isinstance(value, np.ndarray) and value.nbytes >= SHARED_ARRAY_BYTES:
                key = id(value)
                if key not in shared:
                    shared[key] = (ray.put(value), value)  # keep value alive so its id stays unique
                if key not in index:
                    index[key] = len(refs)
                    refs.append(shared[key][0])
                places.append((where, index[key]))
                changes[field.name] = None
            elif _is_dataclass_instance(value) and id(value) not in active:  # `active`: no cycles
                inner = strip(value, where, active | {id(value)})
                if inner is not value:
                    changes[field.name] = inner
        return dataclasses.replace(obj, **changes) if changes else obj

    if not _is_dataclass_instance(task):
        return task, (), []
    return strip(task, (), frozenset({id(task)})), tuple(places), refs


def _is_dataclass_instance(value: Any) -> bool:
    """Whether ``value`` is an instance of a dataclass (not a dataclass type)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _get(ray, ref):
    """The result of one task, with the task's own exception raised as it was raised."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
