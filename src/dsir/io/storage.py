"""Small files of a run (model, score arrays, JSON) and output directories, local or on an object store.

Every function takes a local path or an fsspec URL (``s3://``, ``gs://``, ``hf://``,
``file://``). Local paths keep the temporary-name-then-rename discipline; on an object
store an object becomes visible only once its upload completes, so it is written under
its final name in one request. Credentials are never passed here: each store's fsspec
backend finds them in its usual environment variables and configuration files.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec
import numpy as np
from fsspec.core import url_to_fs

from dsir.errors import OutputError


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL of a store other than the local file system."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """``path`` without a ``file://`` prefix."""
    return path[len("file://"):] if path.startswith("file://") else path


def write_bytes(path: str, data: bytes, durable: bool = False) -> None:
    """Publish ``data`` at ``path`` all at once: temporary name and rename locally (after an
    fsync when ``durable``), one upload remotely."""
    if is_remote(path):
        fs, root = url_to_fs(path)
        try:
            fs.pipe_file(root, data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write output: {exc}") from exc
        return
    target = local_path(path)
    # open() rather than mkstemp: the file gets the permissions of the user's umask (0600 for
    # a report or rejects file that others should read would be a surprise)
    tmp = os.path.join(os.path.dirname(os.path.abspath(target)), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = target  # a failed write() names no file; the error must name it
        raise


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path`` (local or URL), atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def open_npz(path: str):
    """The ``.npz`` at ``path`` (local or URL), opened lazily: only the members read are fetched.

    Use as a context manager; ``allow_pickle`` is off.
    """
    if not is_remote(path):
        return np.load(local_path(path), allow_pickle=False)
    return _RemoteNpz(path)


class _RemoteNpz:
    """``np.load`` over a seekable fsspec file, closing both together."""

    def __init__(self, path: str):
        self._fh = fsspec.open(path, "rb").open()
        try:
            self._npz = np.load(self._fh, allow_pickle=False)
        except BaseException:
            self._fh.close()
            raise

    def __enter__(self):
        return self._npz

    def __exit__(self, *exc: object) -> None:
        self._npz.close()
        self._fh.close()


def makedirs(path: str) -> None:
    """Create a local directory (and its parents); object stores have no directories to create."""
    if not is_remote(path):
        os.makedirs(local_path(path), exist_ok=True)


def spool_path(url: str) -> str:
    """A fresh local temporary file name for staging the object ``url`` before its upload
    (in ``$TMPDIR``; one shard per running task lives there at a time)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    fd, tmp = tempfile.mkstemp(prefix=f"dsir-{name}.", suffix=".tmp")
    os.close(fd)
    return tmp


def upload_file(local: str, url: str) -> None:
    """Copy the local file ``local`` to ``url`` (multipart when large; visible once complete)."""
    fs, root = url_to_fs(url)
    fs.put_file(local, root)


@contextmanager
def score_work_dir(output: str | None) -> Iterator[str]:
    """A fresh work directory for the score arrays of ``dsir score``, removed on exit.

    It sits next to ``output`` (on the same store, so that every worker of a cluster that can
    write the output can reach it), or in ``$TMPDIR`` when there is no output.
    """
    if output and is_remote(output):
        work = f"{output.rstrip('/')}.dsir-work-{uuid.uuid4().hex[:12]}"
        try:
            yield work
        finally:
            fs, root = url_to_fs(work)
            if fs.exists(root):
                fs.rm(root, recursive=True)
        return
    parent = os.path.dirname(os.path.abspath(local_path(output))) if output else None
    with tempfile.TemporaryDirectory(prefix=".dsir-score-", dir=parent) as work:
        yield work
