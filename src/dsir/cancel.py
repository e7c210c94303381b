"""Stopping the tasks of a run early, between blocks.

Worker threads cannot be killed. When one task fails (or the user interrupts the run), the
local engine sets ``CANCELLED``; every reader checks it before each block, so the other
tasks of the run stop within one block instead of finishing their files.
"""

from __future__ import annotations

import threading

CANCELLED = threading.Event()


class Cancelled(Exception):
    """Raised inside a task when its run has been cancelled."""


def check() -> None:
    """Raise ``Cancelled`` if the run was cancelled."""
    if CANCELLED.is_set():
        raise Cancelled("the run was cancelled")
