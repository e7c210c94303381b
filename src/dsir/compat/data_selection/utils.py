"""``data_selection.utils``: the reference's ``parallelize``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def parallelize(fn: Callable, args: Iterable[Any], num_proc: int | None) -> list[Any]:
    """``[fn(a) for a in args]``, on up to ``num_proc`` threads, results in the order of ``args``.

    ``num_proc`` counts as joblib's ``n_jobs`` does (``None`` or 1: in this thread, -1: every
    CPU, -2: all but one). The reference runs joblib processes; threads need no pickling of
    ``fn`` (closures and local classes work), and the heavy work of this package happens in
    dsir's compiled kernels, which release Python's lock.
    """
    args = list(args)
    workers = 1 if num_proc is None else num_proc
    if workers < 0:
        workers = max(1, (os.cpu_count() or 1) + 1 + workers)
    if workers <= 1 or len(args) <= 1:
        return [fn(a) for a in args]
    with ThreadPoolExecutor(max_workers=min(workers, len(args))) as pool:
        return list(pool.map(fn, args))
