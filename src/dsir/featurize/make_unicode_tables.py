"""Generate the shipped Unicode tables (``unicode-<version>.npz``) from this interpreter.

The featurizer is pinned to one Unicode version (``unicode_tables.UNICODE_VERSION``): its
tables were derived once, by this script, from the ``str`` methods of the Python whose
``unicodedata.unidata_version`` is that version (Python 3.11 for 14.0.0), and ship with dsir,
so that no run ever derives them from the interpreter that happens to run it. To regenerate
(the output is byte for byte the same every time)::

    python -m dsir.featurize.make_unicode_tables          # writes src/dsir/featurize/unicode-14.0.0.npz
    python -m dsir.featurize.make_unicode_tables --check  # exit 1 unless the shipped file is what it would write

It refuses to run on a Python of another Unicode version. Moving the featurizer to another
version changes buckets: generate the new file with that Python, set ``UNICODE_VERSION``
and bump ``FEATURIZER_NAME``.

File format (a ``.npz``, deflated, read by ``unicode_tables.load_tables``; the
tables themselves are described in ``unicode_tables``):

* ``format``: int32[1], ``TABLES_FORMAT``; ``unicode_version``: uint8, the version as ASCII;
* ``lower_cp``, ``lower_value``: int32, the code points whose ``lower`` entry is not the code
  point itself, and that entry (negative markers included);
* ``flag_starts``, ``flag_values``: int32 and uint8, the run-length encoding of ``flags``
  (``flags[flag_starts[i]:flag_starts[i + 1]] == flag_values[i]``, the last run ends at
  ``N_CODE_POINTS``);
* ``expansions``: int32[n, MAX_EXPANSION + 1], as in the tables.
"""

from __future__ import annotations

import argparse
import io
import sys
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

from dsir.featurize.unicode_tables import (
    CASE_IGNORABLE,
    CASED,
    LOWER_SIGMA,
    MAX_EXPANSION,
    N_CODE_POINTS,
    SPACE,
    TABLES_FILE,
    TABLES_FORMAT,
    UNICODE_VERSION,
    WORD,
    UnicodeTables,
)


def derive() -> UnicodeTables:
    """The tables of this interpreter's ``str`` methods (its Unicode version), about a second."""
    lower = np.arange(N_CODE_POINTS, dtype=np.int32)
    flags = np.zeros(N_CODE_POINTS, dtype=np.uint8)
    expansions: list[list[int]] = []
    for cp in range(N_CODE_POINTS):
        ch = chr(cp)
        f = 0
        if ch.isalnum() or ch == "_":  # what re's \w matches in a str pattern
            f |= WORD
        if ch.isspace():  # what re's \s matches
            f |= SPACE
        # Python exposes Cased and Case_Ignorable only through the Final_Sigma rule of
        # str.lower(), so read them off it: a sigma right after a cased, non-ignorable
        # character is final; an ignorable character is skipped while looking back.
        # Code points that are both cased and case-ignorable (some modifier letters) are
        # skipped by the look-back exactly like purely ignorable ones, and "ch + sigma"
        # does not make the sigma final, so they are filed under CASE_IGNORABLE only.
        if (ch + "\u03a3").lower()[-1] == "\u03c2":
            f |= CASED
        elif ("A" + ch + "\u03a3").lower()[-1] == "\u03c2":
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
    exp = np.array(expansions, dtype=np.int32).reshape(-1, MAX_EXPANSION + 1)
    return UnicodeTables(lower, flags, exp, unicodedata.unidata_version)


def encode(tables: UnicodeTables) -> dict[str, np.ndarray]:
    """The arrays of the file format (module docstring) for ``tables``."""
    changed = np.flatnonzero(tables.lower != np.arange(N_CODE_POINTS, dtype=np.int32)).astype(np.int32)
    starts = np.concatenate([[0], np.flatnonzero(tables.flags[1:] != tables.flags[:-1]) + 1]).astype(np.int32)
    return {
        "format": np.array([TABLES_FORMAT], dtype=np.int32),
        "unicode_version": np.frombuffer(tables.unicode_version.encode("ascii"), dtype=np.uint8),
        "lower_cp": changed,
        "lower_value": tables.lower[changed].astype(np.int32),
        "flag_starts": starts,
        "flag_values": tables.flags[starts].astype(np.uint8),
        "expansions": np.ascontiguousarray(tables.expansions, dtype=np.int32),
    }


def file_bytes(tables: UnicodeTables) -> bytes:
    """The ``.npz`` file of ``tables``: members in a fixed order with a fixed date, so the
    same tables always give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in encode(tables).items():
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare with the shipped file")
    parser.add_argument("--output", type=Path, default=TABLES_FILE, help=f"default: {TABLES_FILE}")
    args = parser.parse_args(argv)
    if unicodedata.unidata_version != UNICODE_VERSION:
        print(f"this Python ({sys.version.split()[0]}) has Unicode {unicodedata.unidata_version}; the featurizer "
              f"is pinned to Unicode {UNICODE_VERSION}: run this with a Python of that version (3.11 for 14.0.0)",
              file=sys.stderr)
        return 2
    data = file_bytes(derive())
    if args.check:
        same = args.output.is_file() and args.output.read_bytes() == data
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from this derivation'}")
        return 0 if same else 1
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data):,} bytes, Unicode {UNICODE_VERSION})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
