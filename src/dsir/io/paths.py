"""Turning user paths (files, directories, globs, fsspec URLs) into a sorted list of inputs."""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

from dsir.errors import InputError

JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
PARQUET_EXTENSIONS = (".parquet", ".pq")
ARROW_EXTENSIONS = (".arrow", ".feather")
COMPRESSION_EXTENSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


@dataclass(frozen=True)
class FilePart:
    """The part of a file one unit reads (``dsir.io.parts``): row groups ``start .. stop - 1``
    of a parquet file, or the lines of a jsonl file that begin in bytes ``start .. stop - 1``
    (of the file as stored when plain, decompressed when seekable zstd)."""

    index: int  # its place among the file's parts
    of: int  # how many parts the file has
    start: int
    stop: int
    bytes: int  # its share of the file as stored (progress and scheduling weights)
    first_row: int | None = None  # rows of the file before it (None: not counted yet)
    first_line: int | None = None  # the 1-based line number it begins on (jsonl)


@dataclass(frozen=True)
class InputFile:
    """One input file: where it is, how to read it, and its size in bytes; with ``part``, the
    part of it that one unit reads."""

    path: str  # as the user would write it: a local path or a URL
    format: str  # "jsonl", "parquet" or "arrow"
    compression: str | None  # None, "gzip" or "zstd"
    size: int
    part: FilePart | None = None

    @property
    def weight(self) -> int:
        """Bytes as stored that reading it means: the part's, or the whole file's."""
        return self.part.bytes if self.part is not None else self.size

    @property
    def is_local(self) -> bool:
        return "://" not in self.path or self.path.startswith("file://")


def detect_format(path: str) -> tuple[str, str | None] | None:
    """``(format, compression)`` from the file name, or ``None`` when it is not one we read."""
    name = posixpath.basename(path.rstrip("/")).lower()
    stem, ext = os.path.splitext(name)
    compression = COMPRESSION_EXTENSIONS.get(ext)
    if compression:
        stem, ext = os.path.splitext(stem)
        if ext in JSONL_EXTENSIONS:
            return "jsonl", compression
        return None
    if ext in JSONL_EXTENSIONS:
        return "jsonl", None
    if ext in PARQUET_EXTENSIONS:
        return "parquet", None
    if ext in ARROW_EXTENSIONS:
        return "arrow", None
    return None


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _unstrip(fs, original: str, found: str) -> str:
    """Give a path found by fsspec back the protocol the user wrote."""
    if "://" in original:
        proto = original.split("://", 1)[0]
        return found if "://" in found else f"{proto}://{found}"
    return found


def _hidden(name: str) -> bool:
    """Names dataset tools treat as not data: hidden (``.x``) and private (``_x``) entries."""
    return name.startswith((".", "_"))


def saved_dataset_files(fs, folder: str, role: str) -> list[str] | None:
    """The Arrow files of a folder ``datasets.Dataset.save_to_disk`` wrote (``state.json``
    lists them), or ``None`` when ``folder`` is no such folder. A ``DatasetDict`` folder is
    refused: which of its splits to read is the user's choice."""
    import json

    base = folder.rstrip("/")  # fsspec paths, local ones too, are joined with "/"
    state, splits = f"{base}/state.json", f"{base}/dataset_dict.json"
    if fs.exists(splits):
        try:
            with fs.open(splits, "rb") as fh:
                names = json.load(fh).get("splits", [])
        except (OSError, ValueError, AttributeError):
            names = []
        raise InputError(f"{role} directory holds a saved datasets.DatasetDict; give one split's folder "
                         f"({', '.join(f'{base}/{n}' for n in names) or 'one of its splits'})", path=folder)
    if not fs.exists(state):
        return None
    try:
        with fs.open(state, "rb") as fh:
            files = [f["filename"] for f in json.load(fh)["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{role} directory looks saved by datasets, but its state.json cannot be read ({exc})",
                         path=folder) from None
    return [f"{base}/{name}" for name in files]


def _walk_local(root: str, role: str, skipped: list[str]) -> list[str]:
    """Every input file under the local directory ``root``, following symbolic links to
    directories (each directory once, so a link loop ends).

    A directory that holds a finished dsir selection contributes the shards its manifest
    lists, and one that ``datasets.Dataset.save_to_disk`` wrote its Arrow files. Files of other types, hidden or private entries (``.x``, ``_x``) and anything
    that is not a regular file (a named pipe, a socket, a device) are not read but added to
    ``skipped`` with the reason; a broken link is an error, since it may have been data.
    """
    from dsir.pipeline.output_dir import OutputDir

    found, seen_dirs = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        shards = OutputDir(dirpath).selection_shards(role)
        if shards is not None:
            dirnames[:] = []
            for name in shards:
                _check_regular(os.path.join(dirpath, name), role)
            found += [os.path.join(dirpath, name) for name in shards]
            continue
        saved = saved_dataset_files(fsspec.filesystem("file"), dirpath, role)
        if saved is not None:
            dirnames[:] = []
            for path in saved:
                _check_regular(path, role)
            found += saved
            continue
        skipped += [os.path.join(dirpath, d) + "/ (hidden)" for d in sorted(dirnames) if _hidden(d)]
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if _hidden(name):
                skipped.append(f"{path} (hidden)")
            elif detect_format(name) is None:
                skipped.append(path)
            elif not os.path.exists(path):
                _check_regular(path, role)  # raises: a broken link may have been data
            elif not stat.S_ISREG(os.stat(path).st_mode):
                skipped.append(f"{path} (not a regular file)")
            else:
                found.append(path)
    return sorted(found)  # the order fsspec's find gave: by full path


def _find_remote(fs, pattern: str, root: str, role: str, skipped: list[str]) -> list[str]:
    """``_walk_local``'s rules for a directory of an object store (no links, pipes there)."""
    from dsir.pipeline.output_dir import OutputDir

    shards = OutputDir(pattern).selection_shards(role)
    if shards is not None:
        return [f"{root.rstrip('/')}/{name}" for name in shards]
    saved = saved_dataset_files(fs, root, role)
    if saved is not None:
        return saved
    found = []
    for p in sorted(fs.find(root)):
        parts = p[len(root.rstrip("/")) + 1:].split("/")
        if any(_hidden(part) for part in parts):
            skipped.append(f"{p} (hidden)")
        elif detect_format(p) is None:
            skipped.append(p)
        else:
            found.append(p)
    return found


def _check_regular(path: str, role: str) -> None:
    """A local input must be a regular file: a broken link or a named pipe is an error."""
    if not os.path.exists(path):
        raise InputError(f"{role} file is a broken symbolic link (or a link loop)", path=path)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{role} path is not a regular file (a named pipe or device?): dsir reads files only",
                         path=path)


def expand_paths(patterns: list[str], role: str = "input", warnings: list[str] | None = None) -> list[InputFile]:
    """Expand files, directories and globs into ``InputFile`` s, sorted within each pattern.

    Raises ``InputError`` for a pattern that matches nothing, an explicit file with an
    extension we cannot read, a broken link or a path that is no regular file, or a file
    that appears twice. Files of a directory that are not inputs (other extensions) are
    named in one warning, logged and appended to ``warnings``.
    """
    import logging

    files: list[InputFile] = []
    seen: dict[str, str] = {}
    skipped: list[str] = []
    for pattern in patterns:
        fs, root = url_to_fs(pattern)
        local = fs.protocol in ("file", "local") or fs.protocol == ("file", "local")
        if local and os.path.lexists(root) and not os.path.isdir(root):
            _check_regular(root, role)
        # An existing path is taken literally, even with glob characters in its name
        # ('a[1].jsonl' must not read 'a1.jsonl'); only a path that does not exist is a glob.
        if _has_magic(pattern) and not fs.exists(root):
            matches = sorted(p for p in fs.glob(root) if not fs.isdir(p))
            found = [m for m in matches if detect_format(m)]
            for m in found if local else ():
                _check_regular(m, role)
            if not found:
                extra = f" ({len(matches)} files matched but none is jsonl[.gz|.zst], parquet or arrow)" if matches else ""
                raise InputError(f"{role} glob matches no readable file{extra}", path=pattern)
        elif local and os.path.isdir(root):
            found = _walk_local(root, role, skipped)
            if not found:
                raise InputError(f"{role} directory holds no jsonl[.gz|.zst], parquet or arrow file", path=pattern)
        elif fs.isdir(root):
            found = _find_remote(fs, pattern, root, role, skipped)
            if not found:
                raise InputError(f"{role} directory holds no jsonl[.gz|.zst], parquet or arrow file", path=pattern)
        elif fs.exists(root):
            if not detect_format(root):
                raise InputError(
                    "unsupported file type: expected .jsonl, .jsonl.gz, .jsonl.zst, .parquet or .arrow", path=pattern
                )
            found = [root]
        else:
            raise InputError(f"{role} path does not exist", path=pattern)
        for p in found:
            shown = _unstrip(fs, pattern, p)
            key = fs.unstrip_protocol(p) if hasattr(fs, "unstrip_protocol") else p
            if fs.protocol in ("file", "local") or fs.protocol == ("file", "local"):
                key = os.path.realpath(p)
            if key in seen:
                raise InputError(f"the same file is given twice (also as {seen[key]})", path=shown)
            seen[key] = shown
            fmt, comp = detect_format(p)  # type: ignore[misc]
            files.append(InputFile(path=shown, format=fmt, compression=comp, size=int(fs.size(p) or 0)))
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        msg = (f"{len(skipped)} {role} file{'s' if len(skipped) > 1 else ''} in the given directories "
               f"{'are' if len(skipped) > 1 else 'is'} not read (not jsonl[.gz|.zst], parquet or arrow, hidden, or not "
               f"a regular file): {shown}")
        logging.getLogger("dsir").warning(msg)
        if warnings is not None:
            warnings.append(msg)
    return files


def open_binary(path: str, mode: str = "rb"):
    """Open a local path or URL as a binary file object (fsspec picks the backend)."""
    return fsspec.open(path, mode).open()
