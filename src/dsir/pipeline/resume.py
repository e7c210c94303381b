"""The phases of a ``select`` run as durable units (see ``state``), and the output directory
rules of resumable runs.

Fingerprints (what must be equal for a recorded unit to be reused):

=============  ====================================================================
count raw      file identity
fit target     file identity, text field, featurizer, error policy
fit raw        the same, plus the sampling rate and seed
score          file identity, text and id fields, featurizer, sha256 of the model's
               log-ratios (so smoothing and both fits), seed, top-k, min-length,
               error policy
write          the score unit's fingerprint, the selection threshold as it applies to
               this unit, output name and format
=============  ====================================================================
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from dataclasses import asdict
from typing import Any

from dsir.errors import OutputError, UsageError
from dsir.io.paths import InputFile
from dsir.io.rejects import REJECTS_FILE
from dsir.io.writers import WrittenShard, is_remote, output_error
from dsir.pipeline.state import RunState, array_digest, file_identity, fingerprint, run_unit
from dsir.pipeline.tasks import FitResult, ReadSpec, ScoreSummary, WriteResult
from dsir.sample.gumbel import Threshold

log = logging.getLogger("dsir")


# -- codecs: a unit's result <-> (JSON meta, numpy arrays) -------------------------------

def encode_count(n: int) -> tuple[dict, dict]:
    return {"documents": int(n)}, {}


def decode_count(meta: dict, arrays: dict) -> int:
    return int(meta["documents"])


def encode_fit(r: FitResult) -> tuple[dict, dict]:
    meta = {k: v for k, v in vars(r).items() if k != "counts"}
    return meta, {"counts": r.counts}


def decode_fit(meta: dict, arrays: dict) -> FitResult:
    return FitResult(counts=arrays["counts"], **meta)


def encode_score(s: ScoreSummary) -> tuple[dict, dict]:
    return asdict(s), {}


def decode_score(meta: dict, arrays: dict) -> ScoreSummary:
    return ScoreSummary(**meta)


def encode_write(w: WriteResult) -> tuple[dict, dict]:
    return {"unit": w.unit, "selected": w.selected, "shard": asdict(w.shard) if w.shard else None}, {}


def decode_write(meta: dict, arrays: dict) -> WriteResult:
    return WriteResult(meta["unit"], meta["selected"], WrittenShard(**meta["shard"]) if meta["shard"] else None)


# -- fingerprints ----------------------------------------------------------------------

def _read_params(read: ReadSpec) -> dict:
    # block_bytes only changes how a file is cut into batches, never a result.
    return {k: v for k, v in vars(read).items() if k != "block_bytes"}


def count_fingerprint(file: InputFile) -> str:
    return fingerprint(phase="count", file=file_identity(file))


def fit_fingerprint(file: InputFile, read: ReadSpec, featurizer_params: dict, rate: float, seed: int) -> str:
    return fingerprint(phase="fit", file=file_identity(file), read=_read_params(read), featurizer=featurizer_params,
                       rate=repr(float(rate)), seed=seed if rate < 1.0 else None)


def score_fingerprint(file: InputFile, read: ReadSpec, featurizer_params: dict, log_ratio, seed: int,
                      top_k: bool, min_length: int) -> str:
    return fingerprint(phase="score", file=file_identity(file), read=_read_params(read),
                       featurizer=featurizer_params, model=array_digest(log_ratio), seed=seed, top_k=top_k,
                       min_length=min_length)


def write_fingerprint(score_fp: str, threshold: Threshold, unit: int, output_path: str, output_format: str) -> str:
    return fingerprint(phase="write", score=score_fp, threshold=repr(float(threshold.value)),
                       select_all=threshold.select_all, ties=threshold.ties.get(unit, []),
                       output=os.path.basename(output_path), format=output_format)


# -- running phases --------------------------------------------------------------------

CODECS = {
    "count": (encode_count, decode_count),
    "fit-target": (encode_fit, decode_fit),
    "fit-raw": (encode_fit, decode_fit),
    "score": (encode_score, decode_score),
    "write": (encode_write, decode_write),
}


def map_units(engine, state: RunState | None, phase: str, fn, tasks: list, fingerprints: list[str], desc: str,
              weights: list[int], owned: list[tuple[str, ...]] | None = None) -> list:
    """``engine.map(fn, tasks)``; with a ``state``, each task is a durable unit of ``phase``."""
    if state is None:
        return engine.map(fn, tasks, desc, weights)
    encode, decode = CODECS[phase]
    units = [state.unit(phase, i, fn, t, fp, encode, decode, owned[i] if owned else ())
             for i, (t, fp) in enumerate(zip(tasks, fingerprints))]
    reusable, stale = state.count_reusable(units)
    if reusable:
        log.info("resume: %s: %d of %d units already done", desc, reusable, len(units))
    if stale:
        log.info("resume: %s: %d units were recorded for other inputs or parameters: computing them again",
                 desc, stale)
    state.reused[phase] = reusable
    return engine.map(run_unit, units, desc, weights)


# -- the output directory --------------------------------------------------------------

def _is_temporary(name: str) -> bool:
    """Names of files a killed writer leaves: ``.NAME.tmp-PID`` and ``tmpXXXX.tmp`` (mkstemp)."""
    return ".tmp-" in name or name.endswith(".tmp")


def prepare_resume(output_dir: str, work_dir_name: str, manifest_name: str, derived: tuple = ()) -> bool:
    """Get ``output_dir`` ready to resume; return whether there was a run to resume.

    The directory must be empty, missing, or hold an earlier dsir run (its work directory).
    The manifest is removed first (it certifies a complete output, which this run has not
    produced yet), and so are files ``derived`` from a complete output (the report), and
    temporary files of killed writers.
    """
    if is_remote(output_dir):
        raise UsageError(f"{output_dir}: --resume needs a local output directory")
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        os.makedirs(output_dir, exist_ok=True)
        return False
    work = os.path.join(output_dir, work_dir_name)
    if not os.path.isdir(work):
        raise UsageError(f"{output_dir}: cannot resume: the directory is not empty and holds no dsir run "
                         f"(no {work_dir_name}/ inside); use another directory or --overwrite")
    for name in (manifest_name, REJECTS_FILE, *os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if (name in (manifest_name, REJECTS_FILE) or _is_temporary(name)) and os.path.isfile(path):
            os.unlink(path)
        elif name in derived and os.path.lexists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    for name in os.listdir(work):
        if _is_temporary(name):
            path = os.path.join(work, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    return True


def remove_partial_output(output_dir: str, work_dir_name: str) -> None:
    """After a failed run: remove its shards and temporary files (never half-written files,
    and no output without a manifest); the unit records stay for ``--resume``."""
    if is_remote(output_dir) or not os.path.isdir(output_dir):
        return
    remove_stale_shards(output_dir, set())
    for directory in (output_dir, os.path.join(output_dir, work_dir_name)):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if _is_temporary(name):
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def as_output_error(exc: OSError, output_dir: str) -> OutputError | None:
    """The ``OutputError`` an ``OSError`` stands for when it concerns the output (a path
    under ``output_dir``, or an error only writing can cause); ``None`` otherwise."""
    root = os.path.abspath(output_dir)
    named = [p for p in (exc.filename, exc.filename2) if isinstance(p, str)]
    named += re.findall(r"'([^']+)'", str(exc))  # pyarrow puts the path in its message
    for p in named:
        if os.path.abspath(p).startswith(root + os.sep) or os.path.abspath(p) == root:
            return output_error(p, exc)
    if exc.errno in _WRITE_ERRNOS or not os.path.isdir(root):
        return output_error(output_dir, exc)
    return None


def refuse_earlier_run(output_dir: str, work_dir_name: str, overwrite: bool) -> None:
    """Without ``--overwrite``, refuse a directory that holds an earlier (perhaps unfinished)
    dsir run, with a message that offers both ways on."""
    if overwrite or is_remote(output_dir):
        return
    if os.path.isdir(os.path.join(output_dir, work_dir_name)):
        raise UsageError(f"{output_dir}: output directory is not empty: it holds an earlier dsir run; "
                         "add --resume to continue it (same inputs and options) or --overwrite to start again")


def remove_stale_shards(output_dir: str, keep: set[str]) -> list[str]:
    """Remove ``part-*`` shards that this run did not write (left by a run over other inputs)."""
    if is_remote(output_dir) or not os.path.isdir(output_dir):
        return []
    removed = []
    for name in sorted(os.listdir(output_dir)):
        if name.startswith("part-") and name not in keep:
            os.unlink(os.path.join(output_dir, name))
            removed.append(name)
    return removed


__all__: list[Any] = ["map_units", "prepare_resume", "remove_stale_shards", "count_fingerprint", "fit_fingerprint",
                      "score_fingerprint", "write_fingerprint"]
