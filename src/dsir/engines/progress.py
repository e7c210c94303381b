"""Progress of long phases: a tqdm bar (rate, ETA) on a terminal, plain log lines elsewhere.

Logs and CI captures cannot show carriage-return bars, so when stderr is not a terminal a
phase prints one plain line every ``interval`` seconds and one when it ends.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from tqdm import tqdm


def format_bytes(n: float) -> str:
    """``654.1 kB``: bytes in powers of 1000, one decimal."""
    return _amount(n, True)


def _amount(n: float, bytes_: bool) -> str:
    if not bytes_:
        return f"{n:,.0f}"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class LogProgress:
    """Progress as plain lines: ``dsir: score: 12.0 MB of 61.5 MB (20%), 4.1 MB/s, ETA 0:00:10``.

    Same ``update``/``close`` interface as tqdm; ``clock`` is injectable for tests.
    """

    def __init__(self, total: float, desc: str, bytes_: bool, interval: float = 10.0, file: TextIO | None = None,
                 clock=time.monotonic):
        self.total, self.desc, self.bytes_, self.interval = total, desc, bytes_, interval
        self.file = file or sys.stderr
        self.clock = clock
        self.n = 0.0
        self.started = self.last = clock()

    def _line(self, final: bool) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.n / elapsed
        done = f"{_amount(self.n, self.bytes_)} of {_amount(self.total, self.bytes_)}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        speed = f"{_amount(rate, self.bytes_)}/s" if self.bytes_ else f"{rate:,.1f}/s"
        if final:
            return f"dsir: {self.desc}: done, {done} in {_clock(elapsed)} ({speed})"
        eta = _clock((self.total - self.n) / rate) if rate > 0 else "?"
        return f"dsir: {self.desc}: {done}{pct}, {speed}, ETA {eta}"

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval and self.n < self.total:
            self.last = now
            print(self._line(False), file=self.file, flush=True)

    def close(self) -> None:
        print(self._line(True), file=self.file, flush=True)


def progress_bar(total: float, desc: str, bytes_: bool, enabled: bool, interval: float = 10.0):
    """A tqdm bar when stderr is a terminal, ``LogProgress`` otherwise; ``enabled=False``: silent."""
    if enabled and not sys.stderr.isatty():
        return LogProgress(total, desc, bytes_, interval)
    return tqdm(total=total, desc=desc, unit="B" if bytes_ else "it", unit_scale=True, disable=not enabled,
                file=sys.stderr, mininterval=0.5, dynamic_ncols=True)


_task = threading.local()


class TaskProgress:
    """The share of a progress bar one task advances as it reads: at most its ``weight``
    (its input's bytes), the rest when it ends, so the bar's total stays exact."""

    def __init__(self, bar, weight: int, lock: threading.Lock):
        self.bar, self.weight, self.lock = bar, weight, lock
        self.done = 0

    def advance(self, n: int) -> None:
        n = min(n, self.weight - self.done)
        if n > 0:
            self.done += n
            with self.lock:
                self.bar.update(n)

    def finish(self) -> None:
        self.advance(self.weight - self.done)

    def __call__(self, fn, task):
        """``fn(task)`` with this object as the running thread's progress (see ``advance``)."""
        previous = getattr(_task, "progress", None)
        _task.progress = self
        try:
            return fn(task)
        finally:
            _task.progress = previous


def advance(n: int) -> None:
    """Move the progress bar of the task this thread runs on by ``n`` bytes read (no-op
    outside an engine's task, and in worker processes, whose bars advance a file at a time)."""
    progress = getattr(_task, "progress", None)
    if progress is not None:
        progress.advance(n)
