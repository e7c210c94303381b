"""The output directory of a run: every name under ``OUT`` and the rules for preparing,
overwriting, resuming and cleaning it up, for a local path or an object-store URL.

Layout::

    OUT/part-NNNNN.<format>         selected records of input file NNNNN (one target)
    OUT/part-NAME-NNNNN.<format>    ... of named target NAME
    OUT/part-NNNNN.MMMMM.<format>   piece MMMMM (from 00000) of a shard cut by --max-shard-docs
    OUT/part-NAME-NNNNN.MMMMM.<format>  or --max-shard-bytes (``writers.piece_path``)
    OUT/manifest.json               written last: the selection is complete
    OUT/rejects.jsonl               --on-error skip: every skipped record
    OUT/report.json, report.html, report/*.png
    OUT/_dsir/                      work directory: unit records, scores, fit, samples, groups

A shard that fits its limits (or has none) keeps its own name; one that does not is written
as pieces 00000, 00001, ... instead, each holding the next records in order, so the pieces
concatenated are the shard. A shard name ends in ``-NNNNN.<format>`` and a piece name in
``-NNNNN.MMMMM.<format>``: target names may hold ``-`` and digits, and still no piece takes
another shard's name. The manifest lists every shard and piece, in order; the write unit's
record owns them (``--resume`` checks them, ``--overwrite`` and ``remove_stale_shards`` know
them by that record or the manifest, like any shard).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator

from dsir.errors import OutputError, UsageError
from dsir.io.rejects import REJECTS_FILE
from dsir.io.storage import is_remote, local_path
from dsir.io.writers import output_error

log = logging.getLogger("dsir")

MANIFEST = "manifest.json"
#: A dataset card naming the shards, so ``datasets.load_dataset(OUT)`` reads the selection only.
DATASET_CARD = "README.md"
WORK_DIR = "_dsir"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PLOTS_DIR = "report"
REPORT_NAMES = (REPORT_JSON, REPORT_HTML, PLOTS_DIR)
SHARD_PREFIX = "part-"
#: Held by the run that writes ``OUT`` (local directories; see ``OutputDir.locked``).
LOCK_FILE = ".dsir.lock"
_HELD: set[str] = set()  # output directories this process holds the lock of (re-entrant)

_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def part_path(path: str, part: int) -> str:
    """Where part ``part`` of a unit whose file is ``path`` keeps its own (``scores-00003.npz``:
    ``scores-00003.part-00001.npz``), until the parts are merged into ``path``."""
    stem, dot, ext = path.rpartition(".")
    return f"{stem}.part-{part:05d}.{ext}" if dot else f"{path}.part-{part:05d}"


def is_target_shard(name: str, target: str) -> bool:
    """Whether the shard or piece ``name`` holds records of the named target ``target``
    (``part-a-00001.00002.jsonl`` is target ``a``'s; ``part-a-1-00000.jsonl`` is not: it is
    target ``a-1``'s)."""
    return re.fullmatch(rf"{SHARD_PREFIX}{re.escape(target)}-\d+(\.\d+)?\.[a-z.]+", name) is not None


def _is_temporary(name: str) -> bool:
    """Names of files a killed writer leaves: ``.NAME.tmp-PID`` and ``.NAME.XXXX.tmp`` (mkstemp)."""
    return ".tmp-" in name or name.endswith(".tmp")


class OutputDir:
    """The output directory ``root`` (a local path, ``file://`` URL or object-store URL)."""

    def __init__(self, root: str):
        self.remote = is_remote(root)
        self.root = root.rstrip("/") if self.remote else local_path(root)

    # -- names -------------------------------------------------------------------------

    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.remote else os.path.join(self.root, name)

    @property
    def work(self) -> str:
        return self.path(WORK_DIR)

    def work_path(self, name: str) -> str:
        return f"{self.work}/{name}"

    @staticmethod
    def shard_name(unit: int, output_format: str, target: str | None = None) -> str:
        return f"{SHARD_PREFIX}{target}-{unit:05d}.{output_format}" if target else \
            f"{SHARD_PREFIX}{unit:05d}.{output_format}"

    def scores(self, unit: int) -> str:
        return self.work_path(f"scores-{unit:05d}.npz")

    def rejects(self, kind: str, unit: int) -> str:
        """Where unit ``unit`` of ``kind`` (``target-T`` or ``score``) records its rejected records."""
        return self.work_path(f"rejects-{kind}-{unit:05d}.jsonl")

    def groups(self, field: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in field)
        return self.work_path(f"groups-{safe}.json")

    @property
    def fit(self) -> str:
        """Every target's score vector and bucket counts (``pipeline.stages.save_fit``)."""
        return self.work_path("fit.npz")

    def model(self, target: str | None = None) -> str:
        """The dsir estimator of a target, reusable as ``--model``."""
        return self.work_path(f"model-{target}.npz" if target else "model.npz")

    @property
    def samples(self) -> str:
        """The report's samples, taken by the write pass (``reports.samples``)."""
        return self.work_path("report-samples.npz")

    @property
    def manifest(self) -> str:
        return self.path(MANIFEST)

    # -- listing (local or remote) -------------------------------------------------------

    def _fs(self):
        from fsspec.core import url_to_fs

        return url_to_fs(self.root)

    def names(self, sub: str | None = None) -> list[str]:
        """Names directly under ``OUT`` (or ``OUT/sub``); empty when it does not exist."""
        if not self.remote:
            d = os.path.join(self.root, sub) if sub else self.root
            return sorted(n for n in os.listdir(d) if n != LOCK_FILE) if os.path.isdir(d) else []
        fs, root = self._fs()
        d = f"{root}/{sub}" if sub else root
        try:
            fs.invalidate_cache(d)
            listed = fs.ls(d, detail=False) if fs.isdir(d) else []
        except FileNotFoundError:
            listed = []
        return sorted(n for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in listed) if n and n != LOCK_FILE)

    def exists(self, name: str) -> bool:
        if not self.remote:
            return os.path.lexists(self.path(name))
        fs, root = self._fs()
        return fs.exists(f"{root}/{name}")

    def remove(self, name: str) -> None:
        """Remove ``OUT/name`` (a file or directory), if present."""
        if not self.remote:
            p = self.path(name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
            return
        fs, root = self._fs()
        if fs.exists(f"{root}/{name}"):
            fs.rm(f"{root}/{name}", recursive=True)

    def makedirs(self) -> None:
        if not self.remote:
            os.makedirs(self.work, exist_ok=True)

    # -- one run at a time ------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold ``OUT/.dsir.lock`` (created exclusively, with this process's pid and host)
        while the block runs, so that two runs never write one output directory at once.

        A lock whose holder is a dead process on this host is stale and taken over (with a
        warning); any other is refused with who holds it. Object stores have no exclusive
        create that every fsspec backend offers: there, keep one run per prefix yourself.
        """
        key = self.root if self.remote else os.path.realpath(self.root)
        if self.remote or key in _HELD:
            yield
            return
        path = os.path.join(self.root, LOCK_FILE)
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise UsageError(f"{self.root}: the output path exists and is not a directory; give a directory "
                             "(new or empty) for the selection")
        try:
            os.makedirs(self.root, exist_ok=True)
            self._take_lock(path)
        except OSError as exc:
            raise output_error(self.root, exc) from exc
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _take_lock(self, path: str) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(path)
                if holder is not None and holder.get("host") == me["host"] and not _alive(holder.get("pid")):
                    log.warning("%s: taking over the lock of dsir run %s, which is no longer running",
                                self.root, holder.get("pid"))
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                    continue
                who = (f"pid {holder.get('pid')} on {holder.get('host')}"
                       + (f", since {holder['started']}" if holder.get("started") else "")
                       if holder else "a run that is starting")
                raise UsageError(f"{self.root}: another dsir run ({who}) is writing this output directory; wait "
                                 f"for it to end (or, if it is gone, remove {path})") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            return
        raise UsageError(f"{self.root}: could not take the lock {path}")

    # -- rules -----------------------------------------------------------------------------

    def has_run(self) -> bool:
        """Whether ``OUT`` holds an earlier dsir run (its work directory)."""
        return WORK_DIR in self.names()

    def selection_shards(self, role: str = "input") -> list[str] | None:
        """The shards of the finished selection in ``OUT``, as its manifest lists them, or
        ``None`` when ``OUT`` holds no dsir run; a run without a manifest is an error.

        Lets a selection be read as a pool or target without its manifest, report and
        work files being read as data."""
        import json

        from dsir.errors import InputError
        from dsir.io.paths import open_binary

        names = self.names()
        if MANIFEST not in names and WORK_DIR not in names:
            return None
        try:
            with open_binary(self.manifest) as fh:
                manifest = json.load(fh)
            if "dsir_version" not in manifest:
                return None  # a manifest.json of some other tool: the folder is plain data
            return [o["path"] for o in manifest["outputs"]]
        except FileNotFoundError:
            raise InputError(f"{role} directory holds an unfinished dsir run (no {MANIFEST}): resume or "
                             "finish it before reading it", path=self.root) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{role} directory holds a dsir run whose {MANIFEST} cannot be read ({exc})",
                             path=self.root) from None

    def dsir_shards(self) -> set[str]:
        """The shards under ``OUT`` that dsir wrote: listed by the manifest or owned by a
        write unit's record. A ``part-*`` file that neither names is not dsir's to delete."""
        import json

        from dsir.io.paths import open_binary

        names: set[str] = set()
        try:
            with open_binary(self.manifest) as fh:
                names.update(o["path"] for o in json.load(fh).get("outputs", []))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        for name in self.names(WORK_DIR):
            if name.startswith("write-") and name.endswith(".rec"):
                try:
                    with open_binary(self.work_path(name)) as fh:
                        data = fh.read()
                    header = json.loads(data[8: 8 + int.from_bytes(data[:8], "little")])
                    names.update(n for n in header.get("owned", {}) if n.startswith(SHARD_PREFIX))
                except (OSError, ValueError):
                    continue
        return names

    def _written_by_dsir(self, name: str, shards: set[str]) -> bool:
        return (name in (WORK_DIR, MANIFEST, DATASET_CARD, REJECTS_FILE, *REPORT_NAMES) or name in shards
                or (name.startswith("." + SHARD_PREFIX) and _is_temporary(name)))

    def check_prepare(self, overwrite: bool = False, resume: bool = False) -> str:
        """What ``prepare`` would do, in words, without changing anything; raises the
        ``UsageError`` it would raise."""
        if resume and overwrite:
            raise UsageError("give --resume (continue the run in the output directory) or --overwrite "
                             "(start it again), not both")
        names = self.names()
        if resume:
            if names and WORK_DIR not in names:
                raise UsageError(f"{self.root}: cannot resume: the directory is not empty and holds no dsir run "
                                 f"(no {WORK_DIR}/ inside); use another directory or --overwrite")
            return ("resume the earlier run: units whose inputs and parameters are unchanged are reused"
                    if WORK_DIR in names else "start a new run (there is no earlier run to resume)")
        if names:
            if WORK_DIR not in names and MANIFEST not in names:
                raise UsageError(f"{self.root}: output directory is not empty and holds no dsir run: nothing in it "
                                 "is dsir's to replace; use an empty or new directory")
            if not overwrite:
                raise UsageError(f"{self.root}: output directory is not empty: it holds an earlier dsir run; "
                                 "add --resume to continue it (same inputs and options) or --overwrite to "
                                 "start again")
            return "replace the earlier run's output (what dsir wrote there, nothing else)"
        return "write a new selection (the directory is empty or does not exist)"

    def prepare(self, overwrite: bool = False, resume: bool = False) -> bool:
        """Get ``OUT`` ready for a run; return whether an earlier run is being resumed.

        A new run needs an empty or missing directory: one that holds an earlier dsir run
        is refused with both ways on (``--resume``, ``--overwrite``), and one that holds no
        dsir run is refused even with ``overwrite`` (nothing in it is dsir's to replace).
        ``overwrite`` clears what dsir wrote (the shards its manifest or records name, its
        work directory, manifest, rejects and report) and nothing else. ``resume`` keeps the
        unit records and removes what certifies or derives from a complete output (manifest,
        rejects, report) and temporary files of killed writers.
        """
        self.check_prepare(overwrite, resume)
        names = self.names()
        self.earlier_shards = self.dsir_shards() if WORK_DIR in names or MANIFEST in names else set()
        if resume:
            for name in names:
                if name in (MANIFEST, DATASET_CARD, REJECTS_FILE, *REPORT_NAMES) or _is_temporary(name):
                    self.remove(name)
            for name in self.names(WORK_DIR):
                if _is_temporary(name):
                    self.remove(f"{WORK_DIR}/{name}")
            self.makedirs()
            return WORK_DIR in names
        if names:
            for name in names:
                if self._written_by_dsir(name, self.earlier_shards):
                    self.remove(name)
        self.makedirs()
        return False

    def remove_stale_shards(self, keep: set[str]) -> list[str]:
        """Remove the shards dsir wrote that this run did not (left by a run over other inputs)."""
        ours = getattr(self, "earlier_shards", set()) | self.dsir_shards()
        stale = [n for n in self.names() if n in ours and n not in keep]
        for name in reversed(stale):  # a shard's last piece first: an interruption leaves pieces 0..m
            self.remove(name)
        return stale

    def clean_after_failure(self) -> None:
        """After a failed run: no output without a manifest (shards and temporary files go);
        the unit records stay in the work directory for ``--resume``."""
        if self.exists(MANIFEST):
            return  # the selection is complete; only something after it (the report) failed
        try:
            self.remove_stale_shards(set())
            for name in self.names():
                if _is_temporary(name):
                    self.remove(name)
            for name in self.names(WORK_DIR):
                if _is_temporary(name):
                    self.remove(f"{WORK_DIR}/{name}")
        except OSError:
            pass
        if self.exists(WORK_DIR) and not self.remote:
            log.info("no output was written; the finished work is kept in %s: once the problem is fixed, run the "
                     "same command with --resume to continue", self.work)

    def as_output_error(self, exc: OSError) -> OutputError | None:
        """The ``OutputError`` an ``OSError`` stands for when it concerns the output (a path
        under ``OUT``, or an error only writing can cause); ``None`` otherwise."""
        if self.remote:
            return None
        root = os.path.abspath(self.root)
        named = [p for p in (exc.filename, exc.filename2) if isinstance(p, str)]
        named += re.findall(r"'([^']+)'", str(exc))  # pyarrow puts the path in its message
        for p in named:
            if os.path.abspath(p).startswith(root + os.sep) or os.path.abspath(p) == root:
                return output_error(p, exc)
        if exc.errno in _WRITE_ERRNOS or not os.path.isdir(root):
            return output_error(self.root, exc)
        return None


def _read_lock(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None  # being written this instant, or torn: treat as held


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
