"""The local execution engine: runs independent tasks on this machine, in threads or processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from dsir.cancel import CANCELLED, Cancelled
from dsir.engines.progress import TaskProgress, progress_bar
from dsir.io.trace import in_phase

T = TypeVar("T")

#: Blocks at least this large get their own mapping from glibc's malloc, returned to the
#: system when freed (see ``limit_heap_growth``).
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_heap_limited = False


def limit_heap_growth() -> None:
    """Fix glibc malloc's mmap threshold at ``MMAP_THRESHOLD`` in this process (once; not
    where ``MALLOC_MMAP_THRESHOLD_`` is set, nor off glibc).

    glibc raises the threshold to the size of each large block freed (up to 32 MiB), so the
    arrays a pass allocates and frees in the tens of MB (bucket ids, score arrays, decoded
    text) then come from the heaps, which keep the memory after they are freed: a select's
    peak RSS with 2 workers was 582-585 MB against 500-507 MB with the threshold fixed at
    4 MiB, at about the same speed (bench/heap_threshold.py; bench/README.md, "Under today's
    default method").
    """
    global _heap_limited
    if _heap_limited or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    _heap_limited = True
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (AttributeError, OSError):  # not glibc (macOS, musl, Windows): its allocator as it is
        pass


def _init_worker(parent: int | None = None) -> None:
    """Set up a worker process: it dies with its parent, leaves Ctrl-C to it, and runs
    pyarrow on one core."""
    import signal

    # Ctrl-C goes to the whole process group: the parent stops the run and says so once;
    # workers printing their own KeyboardInterrupt tracebacks would only bury that line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    limit_heap_growth()
    # One worker is one core: keep pyarrow's own thread pools from competing with siblings.
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _noop() -> None:
    return None


def _started_process_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose ``workers`` processes are started now, with SIGINT ignored.

    A spawned worker spends a second or more importing dsir before ``_init_worker`` runs; a
    Ctrl-C in that time would print its KeyboardInterrupt traceback. A signal ignored at
    ``exec`` stays ignored in the new interpreter, so the workers are started (one no-op task
    each) while the parent ignores SIGINT for the few milliseconds that takes.
    """
    import signal

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(os.getpid(),))
    if threading.current_thread() is not threading.main_thread():
        return pool  # only the main thread may change a signal's handler
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for _ in range(workers):
            pool.submit(_noop)
    finally:
        signal.signal(signal.SIGINT, previous)
    return pool


def _die_with_parent(parent: int | None) -> None:
    """Ask the kernel to kill this worker when its parent dies (SIGKILL by the OOM killer
    too), so no worker outlives a run; where that is not available, a watcher thread ends
    the worker once the parent is gone."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
            if parent is not None and os.getppid() != parent:  # the parent died before the call
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass
    if parent is None:
        return
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="dsir-parent-watch", daemon=True).start()


class LocalEngine:
    """Map a function over tasks with ``workers`` threads, or processes (in-line when ``workers == 1``).

    Threads are the default: the work of a task happens in compiled kernels and in pyarrow,
    which release the interpreter lock, so threads scale like processes while the run keeps
    one interpreter, one copy of pyarrow and of the compiled kernels, and no start-up per
    worker. ``processes=True`` isolates tasks in worker processes instead, started with
    ``spawn`` (forking a process that already runs pyarrow threads is not safe).

    Results come back in task order, so anything computed from them is independent of
    scheduling.
    """

    name = "local"

    def __init__(self, workers: int = 1, progress: bool = True, processes: bool = False):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.progress = progress
        self.processes = processes
        self.log_interval = 10.0  # seconds between plain progress lines when stderr is not a terminal
        self._pool: Executor | None = None

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker pool down (it is started again by the next ``map``)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _executor(self) -> Executor:
        if self._pool is None:
            if self.processes:
                self._pool = _started_process_pool(self.workers)
            else:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dsir-worker")
        return self._pool

    def map(self, fn: Callable[[Any], T], tasks: Sequence[Any], desc: str = "", weights: Sequence[int] | None = None) -> list[T]:
        """``[fn(t) for t in tasks]``, in parallel; ``weights`` (e.g. bytes) drive the progress bar.

        Each task runs in the trace phase ``desc`` when input opens are traced (``dsir.io.trace``).
        """
        fn = in_phase(fn, desc)
        weights = list(weights) if weights is not None else [1] * len(tasks)
        bar = progress_bar(sum(weights), desc, bool(weights) and max(weights) > 1, self.progress and bool(tasks),
                           self.log_interval)
        lock = threading.Lock()
        shares = [TaskProgress(bar, w, lock) for w in weights]
        try:
            if self.workers == 1 or len(tasks) <= 1:
                out = []
                for t, share in zip(tasks, shares):
                    out.append(share(fn, t))
                    share.finish()
                return out
            pool = self._executor()
            # threads advance the bar as they read; worker processes cannot reach it
            futures = {pool.submit(fn, t) if self.processes else pool.submit(share, fn, t): i
                       for i, (t, share) in enumerate(zip(tasks, shares))}
            results: list[Any] = [None] * len(tasks)
            pending = set(futures)
            try:
                while pending:
                    # a timeout, so that the main thread runs Python now and then and sees Ctrl-C
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                    failed = [f for f in done if f.exception() is not None]
                    if failed:  # the task's own error, not a Cancelled it caused in a sibling
                        next((f for f in failed if not isinstance(f.exception(), Cancelled)), failed[0]).result()
                    for f in done:
                        i = futures[f]
                        results[i] = f.result()
                        shares[i].finish()
            except BaseException:
                if not self.processes:
                    _stop_threads(list(futures))
                raise
            return results
        finally:
            bar.close()


def _stop_threads(futures: list) -> None:
    """Cancel what has not started and make running tasks stop at their next block."""
    CANCELLED.set()
    try:
        for f in futures:
            f.cancel()
        wait(futures)
    finally:
        CANCELLED.clear()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
