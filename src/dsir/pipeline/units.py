"""Durable units: the per-file tasks of a run, each recorded when done, so that a killed run
resumes from its finished units and never pairs a stale result with a fresh one.

A run is split into units, one per input file and phase. A unit's *fingerprint* is derived
from every field of its task (``task_fingerprint``): input files by their identity (path,
size, modification time or object-store version), arrays by their sha256, nested task
fields recursively. Fields that only say *where* a unit writes its files, or how a file is
cut into batches, are marked with ``NOT_FINGERPRINTED`` in their dataclass; the complete
list is pinned by a test, so a new option is part of the fingerprint unless someone decides
otherwise on purpose.

When a unit finishes, the worker that computed it writes its result to
``_dsir/<phase>-NNNNN.rec`` (temporary name, then rename; one upload on an object store)
with the fingerprint. A resumed run reuses a record only under the fingerprint the unit has
now and when the files it owns are as recorded; otherwise the record and those files are
removed *before* the unit is computed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

from dsir.io.paths import InputFile, open_binary
from dsir.io.storage import is_remote, write_bytes
from dsir.io.writers import output_error

log = logging.getLogger("dsir")

#: Bump when the meaning of a record changes, so records of older versions are never reused.
STATE_VERSION = 3

#: Dataclass field metadata: this field says where a unit writes (a path in the work
#: directory) or how a file is batched, never what the unit computes.
NOT_FINGERPRINTED = {"fingerprint": False}
#: How a record stores its arrays: an .npz compressed by zstd as a whole.
RECORD_ARRAYS = "npz.zst"


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
    if file.part is not None:
        ident["part"] = dataclasses.asdict(file.part)
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


def describe(value: Any) -> Any:
    """A JSON-able description of ``value`` that changes whenever the value does (see module doc)."""
    if isinstance(value, InputFile):
        return {"input_file": file_identity(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                **{f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)
                   if f.metadata.get("fingerprint", True)}}
    if isinstance(value, np.ndarray):
        return {"array": array_digest(value)}
    if isinstance(value, (float, np.floating)):
        return {"float": repr(float(value))}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot fingerprint a {type(value).__name__}: give it a dataclass or mark the field "
                    "NOT_FINGERPRINTED")


def task_fingerprint(phase: str, task: Any) -> str:
    """The fingerprint of a unit of ``phase`` computing ``task`` (every field; see module doc)."""
    return fingerprint(phase=phase, task=describe(task))


def excluded_fields(cls: type) -> list[str]:
    """The fields of dataclass ``cls`` that are not part of a fingerprint."""
    return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("fingerprint", True)]


# -- results <-> records ---------------------------------------------------------------


def encode_result(result: Any) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a result: its numpy arrays apart, every other field as JSON."""
    if not dataclasses.is_dataclass(result):
        return {"value": result}, {}
    meta, arrays = {}, {}
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, np.ndarray):
            arrays[f.name] = v
        else:
            meta[f.name] = v
    return meta, arrays


def decode_result(cls: type | None, meta: dict, arrays: dict) -> Any:
    """The inverse of ``encode_result`` for a result of type ``cls`` (None: a plain value)."""
    if cls is None:
        return meta["value"]
    return cls(**meta, **arrays)


# -- storage of records (a local directory or an object-store prefix) -------------------


def _size(path: str) -> int | None:
    try:
        if is_remote(path):
            from fsspec.core import url_to_fs

            fs, root = url_to_fs(path)
            return int(fs.info(root)["size"])
        return os.path.getsize(path)
    except (OSError, KeyError):
        return None


def remove_file(path: str) -> None:
    """Remove ``path`` if it exists (an ``OutputError`` if it cannot be removed)."""
    try:
        if is_remote(path):
            from fsspec.core import url_to_fs

            fs, root = url_to_fs(path)
            if fs.exists(root):
                fs.rm(root)
            return
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise output_error(path, exc) from exc


def load_record(path: str, expected: str, header_only: bool = False) -> tuple[dict, dict] | None:
    """``(header, arrays)`` of the record at ``path`` if its fingerprint is ``expected``."""
    try:
        with open_binary(path) as fh:
            data = fh.read()
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8: 8 + header_len])
        if header.get("fingerprint") != expected:
            return None
        arrays = {}
        if header.get("arrays") and not header_only:
            payload = data[8 + header_len:]
            if header["arrays"] == RECORD_ARRAYS:
                payload = zstandard.ZstdDecompressor().decompress(payload)
            with np.load(io.BytesIO(payload), allow_pickle=False) as z:  # (older records: a zlib .npz)
                arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zstandard.ZstdError):
        return None  # missing, torn or foreign: recompute
    return header, arrays


def save_record(path: str, fp: str, meta: dict, arrays: dict, owned: dict) -> None:
    """Write a record all at once: header (JSON) then the arrays (a zstd-compressed .npz)."""
    header = json.dumps({"fingerprint": fp, "meta": meta, "owned": owned,
                         "arrays": RECORD_ARRAYS if arrays else False}).encode()
    buf = io.BytesIO()
    buf.write(len(header).to_bytes(8, "little"))
    buf.write(header)
    if arrays:
        npz = io.BytesIO()
        np.savez(npz, **arrays)
        # Compressed (bucket counts are mostly zeros), by zstd: np.savez_compressed's zlib took
        # 2.8 s of a 1 GB select's fit pass on the raw sample's bucket ids, zstd 0.3 s.
        buf.write(zstandard.ZstdCompressor(level=3).compress(npz.getvalue()))
    write_bytes(path, buf.getvalue(), durable=True)


def _owned_state(paths: tuple[str, ...]) -> dict:
    return {os.path.basename(p): _size(p) for p in paths}


@dataclass(frozen=True)
class DurableUnit:
    """One unit of work whose result is recorded at ``record_path`` under ``fingerprint``.

    ``fn(task)`` computes the result, of dataclass type ``result_type`` (None: a JSON value).
    ``owned`` are files the unit writes besides its record (score arrays, output shards):
    they are removed before the unit is recomputed, and a record whose owned files are
    missing or changed is not reused. ``result_files(meta)`` names more owned files from the
    JSON part of a result (the pieces of a shard cut by a limit, known only once written):
    they are recorded and checked as ``owned`` are, so the record lists them to
    ``--overwrite``; the unit itself removes those an earlier attempt left before it writes
    again (``writers.remove_pieces``), since no record may name them.
    """

    fn: Callable[[Any], Any]
    task: Any
    record_path: str
    fingerprint: str
    result_type: type | None = None
    owned: tuple[str, ...] = ()
    reuse: bool = True
    result_files: Callable[[dict], tuple[str, ...]] | None = None

    def owned_with(self, meta: dict | None) -> tuple[str, ...]:
        """``owned`` and the files the result ``meta`` names."""
        extra = tuple(self.result_files(meta)) if self.result_files is not None and meta is not None else ()
        return self.owned + extra


def run_unit(unit: DurableUnit) -> Any:
    """The unit's result: from its record when that is valid, else computed and recorded."""
    if unit.reuse:
        found = load_record(unit.record_path, unit.fingerprint)
        if found is not None:
            header, arrays = found
            if header.get("owned", {}) == _owned_state(unit.owned_with(header.get("meta"))):
                return decode_result(unit.result_type, header["meta"], arrays)
            log.debug("%s: files of this unit changed since it was recorded; computing it again",
                      os.path.basename(unit.record_path))
    # Invalidate first: a crash from here on leaves no record that could vouch for new files.
    remove_file(unit.record_path)
    for p in unit.owned:
        remove_file(p)
    result = unit.fn(unit.task)
    meta, arrays = encode_result(result)
    save_record(unit.record_path, unit.fingerprint, meta, arrays, _owned_state(unit.owned_with(meta)))
    return result


def _result_type(fn: Callable) -> type | None:
    hint = typing.get_type_hints(fn).get("return")
    return hint if dataclasses.is_dataclass(hint) else None


@dataclass
class RunState:
    """Where a run keeps its unit records (``work_dir``), and whether it may reuse them."""

    work_dir: str
    resume: bool = False
    reused: dict[str, int] = field(default_factory=dict)

    def record_path(self, phase: str, unit: int) -> str:
        return f"{self.work_dir.rstrip('/')}/{phase}-{unit:05d}.rec"

    def map(self, engine, phase: str, fn: Callable, tasks: list, desc: str, weights: list[int],
            owned: list[tuple[str, ...]] | None = None,
            result_files: Callable[[dict], tuple[str, ...]] | None = None) -> list:
        """``engine.map(fn, tasks)`` where each task is a durable unit of ``phase``."""
        result_type = _result_type(fn)
        units = [DurableUnit(fn, t, self.record_path(phase, i), task_fingerprint(phase, t), result_type,
                             owned[i] if owned else (), self.resume, result_files)
                 for i, t in enumerate(tasks)]
        if self.resume:
            valid = sum(1 for u in units if (r := load_record(u.record_path, u.fingerprint, header_only=True))
                        is not None and r[0].get("owned", {}) == _owned_state(u.owned_with(r[0].get("meta"))))
            recorded = sum(1 for u in units if _size(u.record_path) is not None)
            if valid:
                log.info("resume: %s: %d of %d units already done", desc, valid, len(units))
            if recorded > valid:
                log.info("resume: %s: %d units were recorded for other inputs or parameters: computing them again",
                         desc, recorded - valid)
            self.reused[phase] = valid
        return engine.map(run_unit, units, desc, weights)


def run_phase(engine, state: RunState | None, phase: str, fn: Callable, tasks: list, desc: str,
              weights: list[int], owned: list[tuple[str, ...]] | None = None,
              result_files: Callable[[dict], tuple[str, ...]] | None = None) -> list:
    """Run one phase: durable units when the run keeps a ``state``, plain tasks otherwise."""
    log.debug("%s: %d units, %d bytes of input, on %s", desc, len(tasks), sum(weights), type(engine).__name__)
    if state is None:
        return engine.map(fn, tasks, desc, weights)
    return state.map(engine, phase, fn, tasks, desc, weights, owned, result_files)


__all__ = ["DurableUnit", "NOT_FINGERPRINTED", "RunState", "array_digest", "describe", "excluded_fields",
           "file_identity", "fingerprint", "load_record", "run_phase", "run_unit", "save_record", "task_fingerprint"]
