"""Turning user paths (files, directories, globs, fsspec URLs) into a sorted list of inputs."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

from dsir.errors import InputError

JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
PARQUET_EXTENSIONS = (".parquet", ".pq")
COMPRESSION_EXTENSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


@dataclass(frozen=True)
class InputFile:
    """One input file: where it is, how to read it, and its size in bytes."""

    path: str  # as the user would write it: a local path or a URL
    format: str  # "jsonl" or "parquet"
    compression: str | None  # None, "gzip" or "zstd"
    size: int

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
    return None


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _unstrip(fs, original: str, found: str) -> str:
    """Give a path found by fsspec back the protocol the user wrote."""
    if "://" in original:
        proto = original.split("://", 1)[0]
        return found if "://" in found else f"{proto}://{found}"
    return found


def expand_paths(patterns: list[str], role: str = "input") -> list[InputFile]:
    """Expand files, directories and globs into ``InputFile`` s, sorted within each pattern.

    Raises ``InputError`` for a pattern that matches nothing, an explicit file with an
    extension we cannot read, or a file that appears twice.
    """
    files: list[InputFile] = []
    seen: dict[str, str] = {}
    for pattern in patterns:
        fs, root = url_to_fs(pattern)
        # An existing path is taken literally, even with glob characters in its name
        # ('a[1].jsonl' must not read 'a1.jsonl'); only a path that does not exist is a glob.
        if _has_magic(pattern) and not fs.exists(root):
            matches = sorted(p for p in fs.glob(root) if not fs.isdir(p))
            found = [m for m in matches if detect_format(m)]
            if not found:
                extra = f" ({len(matches)} files matched but none is jsonl[.gz|.zst] or parquet)" if matches else ""
                raise InputError(f"{role} glob matches no readable file{extra}", path=pattern)
        elif fs.isdir(root):
            found = sorted(p for p in fs.find(root) if detect_format(p))
            if not found:
                raise InputError(f"{role} directory holds no jsonl[.gz|.zst] or parquet file", path=pattern)
        elif fs.exists(root):
            if not detect_format(root):
                raise InputError(
                    "unsupported file type: expected .jsonl, .jsonl.gz, .jsonl.zst or .parquet", path=pattern
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
    return files


def open_binary(path: str, mode: str = "rb"):
    """Open a local path or URL as a binary file object (fsspec picks the backend)."""
    return fsspec.open(path, mode).open()
