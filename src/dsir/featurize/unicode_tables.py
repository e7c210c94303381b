"""Per-code-point lookup tables that let the compiled tokenizer reproduce Python exactly.

The featurizer is defined as Python 3.11's ``re.findall(r"\\w+|[^\\w\\s]+", text.lower())``,
whose character classes and case mappings are those of Unicode ``UNICODE_VERSION``
(14.0.0), whatever interpreter runs dsir. Each Python release brings its own Unicode version
(13.0 in 3.10, 15.0 in 3.12, 15.1 in 3.13), under which newly encoded characters tokenize
differently; so the tables are not derived from the running interpreter but were derived
once, from Python 3.11, by ``make_unicode_tables`` and ship with dsir as
``unicode-14.0.0.npz`` (about 9 KB, loaded in a few milliseconds). Nothing at run time
consults ``unicodedata`` or ``str.lower``.

Tables (index = code point, 0..0x10FFFF):

* ``lower``: the code point ``chr(cp).lower()`` maps to, or a negative marker:
  ``LOWER_SIGMA`` for U+03A3 (its lowercase depends on context, the Final_Sigma rule) and
  ``-(2 + i)`` for code points whose lowercase is several code points, spelled out in
  ``expansions[i]``.
* ``flags``: bit ``WORD`` (matches ``\\w``: ``isalnum()`` or ``_``), bit ``SPACE``
  (matches ``\\s``: ``isspace()``), bit ``CASED`` and bit ``CASE_IGNORABLE`` (the two
  Unicode properties the Final_Sigma rule looks at).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The Unicode version of the feature definition (recorded in the featurizer's params).
UNICODE_VERSION = "14.0.0"
TABLES_FILE = Path(__file__).with_name(f"unicode-{UNICODE_VERSION}.npz")
TABLES_FORMAT = 1
N_CODE_POINTS = 0x110000
WORD, SPACE, CASED, CASE_IGNORABLE = 1, 2, 4, 8
LOWER_SIGMA = -1
MAX_EXPANSION = 3


@dataclass(frozen=True)
class UnicodeTables:
    """The arrays the tokenizer kernel reads; see the module docstring."""

    lower: np.ndarray  # int32[N_CODE_POINTS]
    flags: np.ndarray  # uint8[N_CODE_POINTS]
    expansions: np.ndarray  # int32[n_expansions, MAX_EXPANSION + 1]: length, then code points
    unicode_version: str


def load_tables(path: Path = TABLES_FILE) -> UnicodeTables:
    """Decode a tables file (format: ``make_unicode_tables``)."""
    with np.load(path, allow_pickle=False) as z:
        fmt = int(z["format"][0])
        version = z["unicode_version"].tobytes().decode("ascii")
        if fmt != TABLES_FORMAT:
            raise RuntimeError(f"{path}: Unicode tables format {fmt}, expected {TABLES_FORMAT}; reinstall dsir")
        lower = np.arange(N_CODE_POINTS, dtype=np.int32)
        lower[z["lower_cp"]] = z["lower_value"]
        starts = z["flag_starts"]
        lengths = np.diff(starts, append=np.int32(N_CODE_POINTS))
        flags = np.repeat(z["flag_values"], lengths)
        expansions = np.ascontiguousarray(z["expansions"], dtype=np.int32)
    if len(flags) != N_CODE_POINTS:
        raise RuntimeError(f"{path}: damaged Unicode tables (flags cover {len(flags)} code points); reinstall dsir")
    return UnicodeTables(lower, flags, expansions, version)


_TABLES: UnicodeTables | None = None


def unicode_tables() -> UnicodeTables:
    """The featurizer's tables (Unicode ``UNICODE_VERSION``), read from the shipped file once."""
    global _TABLES
    if _TABLES is None:
        tables = load_tables()
        if tables.unicode_version != UNICODE_VERSION:
            raise RuntimeError(f"{TABLES_FILE}: holds Unicode {tables.unicode_version} tables, "
                               f"expected {UNICODE_VERSION}; reinstall dsir")
        _TABLES = tables
    return _TABLES
