"""Parameter types of the command line that click does not have."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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


class TokenCount(click.ParamType):
    """A number of tokens: ``2000000``, or with a decimal suffix (``500k``, ``2M``, ``1.5B``,
    ``1T``; ``G`` is ``B``); anything else is click's usage error naming the option."""

    name = "count"
    _POWERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            text = str(value).strip().replace("_", "").replace(",", "")
            unit = text[-1:].lower() if text[-1:].isalpha() else ""
            try:
                number = Decimal(text[: len(text) - len(unit)])
                n = int(number * self._POWERS[unit])
                exact = number * self._POWERS[unit] == n
            except (InvalidOperation, KeyError):
                self.fail(f"{value!r} is not a number of tokens: give 2000000, 500k, 2M, 1.5B or 1T", param, ctx)
            if not exact:
                self.fail(f"{value!r} is not a whole number of tokens", param, ctx)
        if n < 1:
            self.fail(f"{value!r} is not a positive number of tokens", param, ctx)
        return n


TOKEN_COUNT = TokenCount()
