"""Parameter types of the command line that click does not have."""

from __future__ import annotations

import click

from dsir.io.writers import parse_size


class ByteSize(click.ParamType):
    """A number of bytes: ``123``, or a number with a unit (``500MB``, ``1GiB``; see
    ``writers.parse_size``); anything else is click's usage error naming the option."""

    name = "size"

    def convert(self, value, param, ctx) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


BYTE_SIZE = ByteSize()
