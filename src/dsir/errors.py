"""Errors a user can act on: each names the file, and the line or row where there is one."""

from __future__ import annotations


class DsirError(Exception):
    """Base class of every error dsir reports to a user without a traceback."""


class InputError(DsirError):
    """Bad input: a path, a file or a record that cannot be used as given."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, row: int | None = None):
        where = ""
        if path is not None:
            where = path
            if line is not None:
                where += f":{line}"
            elif row is not None:
                where += f" (row {row})"
            where += ": "
        super().__init__(where + message)
        self.path, self.line, self.row = path, line, row


class UsageError(DsirError):
    """Options that do not fit together or are out of range."""


class OutputError(DsirError):
    """The output could not be written (disk full, permission denied, vanished directory)."""
