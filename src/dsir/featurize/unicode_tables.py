"""Per-code-point lookup tables that let the compiled tokenizer reproduce Python exactly.

The featurizer is defined by Python itself: ``re.findall(r"\\w+|[^\\w\\s]+", text.lower())``.
To match it bit for bit without calling Python per document, the tables below are derived
from the running interpreter's own ``str`` methods (so they follow its Unicode version),
then cached on disk because deriving them takes a couple of seconds.

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

import os
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLES_VERSION = 1
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
    unidata_version: str


def _derive() -> UnicodeTables:
    lower = np.arange(N_CODE_POINTS, dtype=np.int32)
    flags = np.zeros(N_CODE_POINTS, dtype=np.uint8)
    expansions: list[list[int]] = []
    for cp in range(N_CODE_POINTS):
        ch = chr(cp)
        f = 0
        if ch.isalnum() or ch == "_":
            f |= WORD
        if ch.isspace():
            f |= SPACE
        # Python exposes Cased and Case_Ignorable only through the Final_Sigma rule of
        # str.lower(), so read them off it: a sigma right after a cased, non-ignorable
        # character is final; an ignorable character is skipped while looking back.
        after_ch = (ch + "\u03a3").lower()[-1] == "\u03c2"
        after_a_ch = ("A" + ch + "\u03a3").lower()[-1] == "\u03c2"
        if after_ch:
            f |= CASED
        elif after_a_ch:
            f |= CASE_IGNORABLE
        flags[cp] = f
        if cp == 0x03A3:
            lower[cp] = LOWER_SIGMA
            continue
        low = ch.lower()
        if len(low) != 1:
            if len(low) > MAX_EXPANSION:
                raise RuntimeError(f"lowercase of U+{cp:04X} has {len(low)} code points")
            lower[cp] = -(2 + len(expansions))
            expansions.append([len(low)] + [ord(c) for c in low] + [0] * (MAX_EXPANSION - len(low)))
        else:
            lower[cp] = ord(low)
    # Code points that are both cased and case-ignorable (some modifier letters) are
    # skipped by the look-back, exactly like purely ignorable ones; the derivation above
    # already files them under CASE_IGNORABLE because "ch + sigma" does not make it final.
    exp = np.array(expansions, dtype=np.int32).reshape(-1, MAX_EXPANSION + 1)
    return UnicodeTables(lower, flags, exp, unicodedata.unidata_version)


def _cache_dir() -> Path:
    root = os.environ.get("DSIR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "dsir"
    )
    return Path(root)


_TABLES: UnicodeTables | None = None


def unicode_tables() -> UnicodeTables:
    """Return the tables for this interpreter's Unicode version, deriving and caching once."""
    global _TABLES
    if _TABLES is not None:
        return _TABLES
    name = f"unicode-{unicodedata.unidata_version}-v{TABLES_VERSION}.npz"
    path = _cache_dir() / name
    try:
        with np.load(path, allow_pickle=False) as z:
            _TABLES = UnicodeTables(z["lower"], z["flags"], z["expansions"], unicodedata.unidata_version)
            return _TABLES
    except (OSError, KeyError, ValueError):
        pass
    tables = _derive()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, lower=tables.lower, flags=tables.flags, expansions=tables.expansions)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the derivation again next time
    _TABLES = tables
    return tables
