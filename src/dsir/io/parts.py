"""Parts of an input file: units smaller than a file, so that one large file keeps every
worker busy.

A file larger than the unit size is cut into parts: a parquet file at row-group boundaries
(its footer says how many rows each group holds), a plain jsonl file into byte ranges that
each own the lines beginning in them, and a jsonl.zst file in the zstd seekable format
(``dsir.io.seekable_zstd``) at frame boundaries, in the same way over its decompressed bytes.
gzip, single-frame zstd and Arrow IPC files cannot be entered in the middle and stay whole.
A part knows the rows and lines of its file
that come before it, so that row numbers, line numbers, rejects and messages stay the
file's own; a plain jsonl part learns them from the count pass (``with_bases``).

A part is carried by its ``InputFile`` (``InputFile.part``), so every reader reads a part as
it reads a file, and a unit's fingerprint names the part it read.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from dsir.io.paths import FilePart, InputFile

log = logging.getLogger("dsir")

#: Files larger than this are cut into parts of about this size (``--unit-size``).
DEFAULT_UNIT_BYTES = 256 << 20


def splittable(file: InputFile) -> bool:
    """Whether ``file`` can be read from the middle: parquet (by row group), plain jsonl, and
    jsonl.zst in the seekable format (by frame; this reads its seek table)."""
    if file.format == "parquet" or (file.format == "jsonl" and file.compression is None):
        return True
    return file.format == "jsonl" and file.compression == "zstd" and _seek_table(file) is not None


def _whole_because(file: InputFile) -> str:
    """Why a file larger than the unit was read whole."""
    if file.format == "parquet":
        return "parquet of one row group"
    return {"gzip": "gzip", "zstd": "zstd without a seek table"}.get(file.compression, "Arrow IPC")


def _seek_table(file: InputFile):
    from dsir.io.readers import _open_raw
    from dsir.io.seekable_zstd import read_seek_table

    raw = _open_raw(file, traced=False)
    try:
        return read_seek_table(raw, file.size)
    finally:
        raw.close()


def split_file(file: InputFile, unit_bytes: int) -> list[InputFile]:
    """``file`` as parts of about ``unit_bytes`` stored bytes each (itself when it is smaller,
    or cannot be split)."""
    if file.part is not None or file.size <= unit_bytes or file.format == "arrow" or file.compression == "gzip":
        return [file]
    wanted = math.ceil(file.size / unit_bytes)
    if file.format == "jsonl" and file.compression is None:
        bounds = [file.size * k // wanted for k in range(wanted + 1)]
        return [_with_part(file, FilePart(k, wanted, bounds[k], bounds[k + 1], bounds[k + 1] - bounds[k],
                                          0 if k == 0 else None, 1 if k == 0 else None))
                for k in range(wanted)]
    if file.format == "jsonl":  # zstd: whole frames, in decompressed offsets, if it is seekable
        table = _seek_table(file)
        if table is None or table.frames < 2:
            return [file]
        cuts = _cuts(list(np.diff(table.compressed)), wanted)
        return [_with_part(file, FilePart(k, len(cuts) - 1, int(table.decompressed[a]), int(table.decompressed[b]),
                                          int(table.compressed[b] - table.compressed[a]),
                                          0 if k == 0 else None, 1 if k == 0 else None))
                for k, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    from dsir.io.readers import _open_parquet

    md = _open_parquet(file, traced=False).metadata
    groups = md.num_row_groups
    if groups < 2:
        return [file]
    sizes = [max(1, md.row_group(g).total_byte_size) for g in range(groups)]
    total = sum(sizes)
    cuts = _cuts(sizes, wanted)
    rows = [md.row_group(g).num_rows for g in range(groups)]
    parts, first_row = [], 0
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        share = file.size * sum(sizes[a:b]) // total
        parts.append(_with_part(file, FilePart(k, len(cuts) - 1, a, b, share, first_row)))
        first_row += sum(rows[a:b])
    return parts


def _cuts(sizes: list[int], wanted: int) -> list[int]:
    """Boundaries that cut items of these ``sizes`` into about ``wanted`` runs of equal size
    (``[0, ..., len(sizes)]``; no run is empty)."""
    total = max(1, sum(int(x) for x in sizes))
    cuts, acc = [0], 0
    for i, size in enumerate(sizes[:-1]):  # a cut after item i when the next share is reached
        acc += int(size)
        if acc * wanted >= total * len(cuts):
            cuts.append(i + 1)
    cuts.append(len(sizes))
    return cuts


def split_files(files: list[InputFile], unit_bytes: int) -> tuple[list[InputFile], list[int]]:
    """Every file's parts, in order, and the index of the file each part belongs to."""
    parts, owners = [], []
    for i, file in enumerate(files):
        pieces = split_file(file, unit_bytes)
        parts += pieces
        owners += [i] * len(pieces)
    sizes = sorted(f.size for f in files)
    big = 8 * max(1, sizes[len(sizes) // 2]) if files else 0
    whole = [f for f, n in zip(files, np.bincount(owners, minlength=len(files)))
             if n == 1 and len(files) > 1 and f.size > max(big, unit_bytes)]
    if whole:
        log.info("%s is much larger than the other input files and cannot be split (%s): one worker reads it "
                 "alone; plain jsonl, seekable zstd (--zstd-frame-size writes it) or parquet can be split",
                 whole[0].path, _whole_because(whole[0]))
    return parts, owners


def needs_base(file: InputFile) -> bool:
    """Whether a part does not yet know the rows and lines before it (a jsonl part before its count)."""
    return file.part is not None and file.part.first_row is None


def with_bases(parts: list[InputFile], counts: dict[int, tuple[int, int]]) -> list[InputFile]:
    """``parts`` (one file's, in order, or several files' one after the other) with the rows and
    lines before each, from ``counts``: ``{index in parts: (rows, newlines)}`` for every part
    of a file whose later parts need a base."""
    out: list[InputFile] = []
    row, line = 0, 1
    for i, f in enumerate(parts):
        p = f.part
        if p is None:
            out.append(f)
            continue
        if p.index == 0:
            row, line = 0, 1
        if p.first_row is None:
            p = dataclasses.replace(p, first_row=row, first_line=line)
            f = _with_part(f, p)
        out.append(f)
        if i in counts:
            rows, newlines = counts[i]
            row, line = p.first_row + rows, (p.first_line or 1) + newlines
    return out


def _with_part(file: InputFile, part: FilePart) -> InputFile:
    return dataclasses.replace(file, part=part)


__all__ = ["DEFAULT_UNIT_BYTES", "FilePart", "needs_base", "split_file", "split_files", "splittable", "with_bases"]

