"""Durable per-unit results, so that a killed run can resume from its finished units.

A run is split into units: one per input file and phase (count, fit, score, write). When
a unit finishes, its result is written to ``OUT/_dsir/<phase>-NNNNN.json`` (temporary name,
fsync, rename) together with the *fingerprint* of everything it was computed from: the
input file's identity (path, size, modification time or object-store version), the
featurizer and model parameters, the seed, and for later phases the fingerprint of what
they consumed. A resumed run reuses a record only when its fingerprint equals the one the
unit would have now; otherwise the record (and any file it owns) is removed *before* the
unit is computed again, so a stale result can never be paired with a fresh one.

Units run through ``run_unit`` wrapped in a ``DurableUnit``: the record is written by the
worker that computed the unit, as soon as it is done, so a kill loses at most the units
that were in flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsir.errors import OutputError
from dsir.io.paths import InputFile
from dsir.io.writers import atomic_file, output_error

log = logging.getLogger("dsir")

#: Bump when the meaning of a record changes, so records of older versions are never reused.
STATE_VERSION = 1


def file_identity(file: InputFile) -> dict:
    """What identifies the contents of an input file without reading it.

    Path, format and size always; for a local file also its modification time in
    nanoseconds and inode (a file rewritten in place or replaced gets a new one); for a
    remote object the version fields its store reports (ETag, mtime, generation...).
    """
    ident: dict[str, Any] = {"path": file.path, "format": file.format, "compression": file.compression,
                             "size": file.size}
    if file.is_local:
        path = file.path[len("file://"):] if file.path.startswith("file://") else file.path
        st = os.stat(path)
        ident.update(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
    else:
        try:
            from fsspec.core import url_to_fs

            fs, root = url_to_fs(file.path)
            info = fs.info(root)
            for key in ("ETag", "etag", "mtime", "LastModified", "last_modified", "generation", "md5Hash",
                        "version_id", "VersionId", "created"):
                if key in info and info[key] is not None:
                    ident[key] = str(info[key])
        except Exception:  # noqa: BLE001 - size alone still guards against most changes
            pass
    return ident


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (e.g. a model's log-ratios)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(**parts: Any) -> str:
    """A stable hash of JSON-able ``parts`` (sorted keys, exact float reprs)."""
    blob = json.dumps({"state_version": STATE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DurableUnit:
    """One unit of work whose result is recorded at ``record_path`` under ``fingerprint``.

    ``fn(task)`` computes the result; ``encode`` turns it into ``(meta, arrays)`` (JSON-able
    dict, dict of numpy arrays) and ``decode`` back. ``owned`` are files the unit writes
    besides its record (score arrays, an output shard): they are removed before the unit is
    recomputed, and a record whose owned files are missing or changed is not reused.
    """

    fn: Callable[[Any], Any]
    task: Any
    record_path: str
    fingerprint: str
    encode: Callable[[Any], tuple[dict, dict]]
    decode: Callable[[dict, dict], Any]
    owned: tuple[str, ...] = ()
    reuse: bool = True


def _owned_state(paths: tuple[str, ...]) -> dict:
    out = {}
    for p in paths:
        try:
            out[os.path.basename(p)] = os.path.getsize(p)
        except OSError:
            out[os.path.basename(p)] = None
    return out


def load_record(path: str, expected: str, header_only: bool = False) -> tuple[dict, dict] | None:
    """``(header, arrays)`` of the record at ``path`` if its fingerprint is ``expected``."""
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
            if header.get("fingerprint") != expected:
                return None
            arrays = {}
            if header.get("arrays") and not header_only:
                with np.load(fh, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None  # missing, torn or foreign: recompute
    return header, arrays


def save_record(path: str, fp: str, meta: dict, arrays: dict, owned: dict) -> None:
    """Write a record atomically and durably: header (JSON) then the arrays (.npz)."""
    header = json.dumps({"fingerprint": fp, "meta": meta, "owned": owned, "arrays": bool(arrays)}).encode()
    with atomic_file(path, durable=True) as fh:
        fh.write(len(header).to_bytes(8, "little"))
        fh.write(header)
        if arrays:
            np.savez_compressed(fh, **arrays)  # bucket counts: mostly zeros for a small file


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise output_error(path, exc) from exc


def run_unit(unit: DurableUnit) -> Any:
    """The unit's result: from its record when that is valid, else computed and recorded."""
    if unit.reuse:
        found = load_record(unit.record_path, unit.fingerprint)
        if found is not None:
            header, arrays = found
            if header.get("owned", {}) == _owned_state(unit.owned):
                return unit.decode(header["meta"], arrays)
            log.debug("%s: files of this unit changed since it was recorded; computing it again",
                     os.path.basename(unit.record_path))
        elif os.path.exists(unit.record_path):
            log.debug("%s: recorded for other inputs or parameters; computing it again",
                     os.path.basename(unit.record_path))
    # Invalidate first: a crash from here on leaves no record that could vouch for new files.
    _remove(unit.record_path)
    for p in unit.owned:
        _remove(p)
    result = unit.fn(unit.task)
    meta, arrays = unit.encode(result)
    save_record(unit.record_path, unit.fingerprint, meta, arrays, _owned_state(unit.owned))
    return result


@dataclass
class RunState:
    """Where a run keeps its unit records, and whether it may reuse them (``resume``)."""

    work_dir: str
    resume: bool = False
    reused: dict[str, int] = field(default_factory=dict)
    target_results: list | None = None  # FitResults of the target files (for the manifest)

    def rejects_path(self, kind: str, unit: int) -> str:
        """Where unit ``unit`` of ``kind`` ("target" or "score") records its rejected records."""
        return os.path.join(self.work_dir, f"rejects-{kind}-{unit:05d}.jsonl")

    def record_path(self, phase: str, unit: int) -> str:
        return os.path.join(self.work_dir, f"{phase}-{unit:05d}.rec")

    def unit(self, phase: str, index: int, fn, task, fp: str, encode, decode, owned: tuple[str, ...] = ()) -> DurableUnit:
        return DurableUnit(fn, task, self.record_path(phase, index), fp, encode, decode, owned, self.resume)

    def count_reusable(self, units: list[DurableUnit]) -> tuple[int, int]:
        """How many of ``units`` have a valid record, and how many a stale one (for the log)."""
        if not self.resume:
            return 0, 0
        valid = sum(
            1 for u in units
            if (r := load_record(u.record_path, u.fingerprint, header_only=True)) is not None
            and r[0].get("owned", {}) == _owned_state(u.owned)
        )
        return valid, sum(1 for u in units if os.path.exists(u.record_path)) - valid


def check_writable(path: str) -> None:
    """Raise ``OutputError`` unless a file can be created in directory ``path``."""
    probe = os.path.join(path, f".probe-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise output_error(path, exc) from exc


__all__ = ["DurableUnit", "RunState", "run_unit", "fingerprint", "file_identity", "array_digest", "OutputError",
           "check_writable"]
