"""The Python API: ``DSIR(...).fit(raw, target)``, ``.score(raw)``, ``.select(raw, k, output_dir)``.

The class only orchestrates: it expands paths, hands per-file tasks to an engine, and
combines their small results (bucket counts, per-document keys) into a selection.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsir import __version__
from dsir.engines import make_engine
from dsir.errors import DsirError, InputError, UsageError
from dsir.estimate import FitStats, ImportanceEstimator
from dsir.featurize import HashedNgramFeaturizer
from dsir.io.paths import InputFile, expand_paths, open_binary
from dsir.io.rejects import REJECTS_FILE
from dsir.io.storage import (
    local_path, makedirs, open_npz, prepare_remote_output_dir, score_work_dir, spool_path, upload_file,
)
from dsir.io.writers import OUTPUT_FORMATS, atomic_file, is_remote, join_path, output_error, output_format_of, write_json_atomic
from dsir.pipeline.input_report import empty_file_warnings, rejected_mask, report_rejects
from dsir.pipeline.resume import (
    as_output_error, count_fingerprint, fit_fingerprint, map_units, prepare_resume, refuse_earlier_run,
    remove_partial_output, remove_stale_shards, score_fingerprint, write_fingerprint,
)
from dsir.pipeline.state import RunState
from dsir.reports import REPORT_NAMES
from dsir.pipeline.tasks import (
    FitTask, ReadSpec, ScoreTask, WriteTask, count_task, fit_task, load_array, score_task, write_task,
)
from dsir.sample.gumbel import find_threshold
from dsir.sample.methods import DEFAULT_TEMPERATURE, DEFAULT_WEIGHTING, KeyRule

log = logging.getLogger("dsir")

MANIFEST = "manifest.json"
WORK_DIR = "_dsir"
DEFAULT_RAW_SAMPLE = 200_000


def _as_list(paths: str | list[str]) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)


def resolve_k(k: int | None, fraction: float | None, eligible: int) -> int:
    """The number of documents to select from ``k`` or ``fraction`` of the eligible ones."""
    if (k is None) == (fraction is None):
        raise UsageError("give exactly one of k and fraction")
    if k is not None:
        if k <= 0:
            raise UsageError(f"k must be a positive number of documents, got {k}")
        return int(k)
    if not (0 < fraction <= 1):  # type: ignore[operator]
        raise UsageError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, int(fraction * eligible + 0.5))  # type: ignore[operator]


def resolve_k_for(k: int | None, fraction: float | None, eligible: int, what: str = "documents") -> tuple[int, list[str]]:
    """``resolve_k``, plus the warning (logged, and returned for the manifest) when it asks
    for more than the ``eligible`` items (``what``: documents or chunks), which are then all selected."""
    want = resolve_k(k, fraction, eligible)
    if want <= eligible:
        return want, []
    msg = f"k = {want} is more than the {eligible} eligible {what}: selecting all of them"
    log.warning(msg)
    return want, [msg]


class DSIR:
    """Data Selection with Importance Resampling over hashed n-gram features.

    Parameters mirror the CLI: ``ngrams`` and ``buckets`` define the feature space,
    ``smoothing`` the additive smoothing of both bag-of-n-grams models, ``raw_sample`` how
    many raw documents (a uniform random sample) the raw model is fit on, ``seed`` the
    sampling and noise seed, ``min_length`` the fewest tokens an eligible document has,
    ``top_k`` whether to take the top weights instead of resampling. Quality options (see
    ``dsir.selector``): ``method`` (dsir, random, classifier), ``weighting`` ("mean" log-ratio
    per n-gram, or the paper's "sum") and ``temperature`` of the dsir weights, ``chunk_words``
    (score chunks of about that many words) and ``emit`` ("documents" or "chunks").

    After ``fit``: ``estimator_`` (an ``ImportanceEstimator``) holds the learned models.
    """

    def __init__(self, ngrams: int = 2, buckets: int = 10_000, smoothing: float = 1.0,
                 raw_sample: int = DEFAULT_RAW_SAMPLE, seed: int = 0, min_length: int = 0,
                 top_k: bool = False, text_field: str = "text", id_field: str | None = None,
                 workers: int = 1, progress: bool = False, engine: Any = None, on_error: str = "stop",
                 method: str = "dsir", weighting: str = DEFAULT_WEIGHTING,
                 temperature: float = DEFAULT_TEMPERATURE, chunk_words: int | None = None,
                 emit: str = "documents"):
        if raw_sample < 1:
            raise UsageError(f"raw_sample must be at least 1 document, got {raw_sample}")
        if min_length < 0:
            raise UsageError(f"min_length must be >= 0, got {min_length}")
        if not (smoothing > 0 and np.isfinite(smoothing)):
            raise UsageError(f"smoothing must be a positive number, got {smoothing}")
        self.featurizer = HashedNgramFeaturizer(ngrams, buckets)
        self.smoothing = smoothing
        self.raw_sample = raw_sample
        self.seed = seed
        self.min_length = min_length
        self.top_k = top_k
        if on_error not in ("stop", "skip"):
            raise UsageError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
        self.read = ReadSpec(text_field, id_field, on_error=on_error)
        self._state: RunState | None = None  # unit records of the select run in progress
        self.workers = workers
        self.engine = make_engine(engine, workers, progress=progress) if engine is None or isinstance(engine, str) else engine
        try:
            self.key_rule = KeyRule(method, weighting, temperature, top_k)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if chunk_words is not None and chunk_words < 1:
            raise UsageError(f"chunk_words must be at least 1, got {chunk_words}")
        if emit not in ("documents", "chunks") or emit == "chunks" and chunk_words is None:
            raise UsageError(f"emit must be 'documents' or 'chunks' (chunks needs chunk_words), got {emit!r}")
        self.method, self.weighting, self.temperature = method, weighting, temperature
        self.chunk_words, self.emit = chunk_words, emit

    def _uses_quality_options(self, target: str | list[str] | None) -> bool:
        """Whether ``select`` needs ``dsir.selector`` (anything beyond the core's plain DSIR)."""
        from dsir.pipeline.selection import group_targets

        named = any(t.name for t in group_targets(_as_list(target))) if target is not None else False
        # dsir with mean or summed weights of whole documents for one target stays on the core path
        return named or self.chunk_words is not None or self.method != "dsir"

    # -- fitting -----------------------------------------------------------------------

    def fit(self, raw: str | list[str], target: str | list[str]) -> DSIR:
        """Fit the target model on all of ``target`` and the raw model on a sample of ``raw``."""
        return self._fit(expand_paths(_as_list(raw), "raw"), expand_paths(_as_list(target), "target"))

    def _fit(self, raw_files: list[InputFile], target_files: list[InputFile]) -> DSIR:
        engine, f, st = self.engine, self.featurizer, self._state
        fps = (lambda files, rate: [fit_fingerprint(x, self.read, f.params, rate, self.seed) for x in files]) \
            if st else (lambda files, rate: [])
        rejects = [st.rejects_path("target", i) if st and self.read.on_error == "skip" else None
                   for i in range(len(target_files))]
        target = map_units(engine, st, "fit-target", fit_task,
                           [FitTask(t, self.read, f, rejects_path=p) for t, p in zip(target_files, rejects)],
                           fps(target_files, 1.0), "fit target", [t.size for t in target_files],
                           [(p,) if p else () for p in rejects])
        if st:
            st.target_results = target
        target_docs = sum(r.documents for r in target)
        if target_docs == 0:
            raise InputError("the target has no documents", path=", ".join(t.path for t in target_files))
        pool_docs = sum(map_units(engine, st, "count", count_task, [(r, self.read) for r in raw_files],
                                  [count_fingerprint(r) for r in raw_files] if st else [], "count raw",
                                  [r.size for r in raw_files]))
        if pool_docs == 0:
            raise InputError("the raw pool has no documents", path=", ".join(r.path for r in raw_files))
        rate = min(1.0, self.raw_sample / pool_docs)
        raw = map_units(engine, st, "fit-raw", fit_task, [FitTask(r, self.read, f, rate, self.seed) for r in raw_files],
                        fps(raw_files, rate), "fit raw", [r.size for r in raw_files])
        stats = FitStats(target_docs, sum(r.documents for r in raw), pool_docs, rate)
        self.estimator_ = ImportanceEstimator(f, self.smoothing).fit(
            sum(r.counts for r in target), sum(r.counts for r in raw), stats)
        self.model_path_ = None
        return self

    def save(self, path: str) -> None:
        """Save the fitted estimator (see ``ImportanceEstimator.save``)."""
        self._check_fitted()
        self.estimator_.save(path)

    def load_model(self, path: str) -> DSIR:
        """Use a saved estimator; its featurizer and smoothing replace this object's."""
        self.estimator_ = ImportanceEstimator.load(path)
        self.model_path_ = path
        self.featurizer = self.estimator_.featurizer
        self.smoothing = self.estimator_.smoothing
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise UsageError("fit() (or load_model()) must come before this")

    # -- scoring -----------------------------------------------------------------------

    def _score(self, raw_files: list[InputFile], work_dir: str) -> list:
        self._check_fitted()
        tasks = [
            ScoreTask(i, file, self.read, self.featurizer, self.estimator_.log_ratio_, self.seed, self.top_k,
                      self.min_length, join_path(work_dir, f"scores-{i:05d}.npz"),
                      self._state.rejects_path("score", i) if self._state and self.read.on_error == "skip" else None,
                      key_rule=self.key_rule)
            for i, file in enumerate(raw_files)
        ]
        st = self._state
        fps = [score_fingerprint(t.file, self.read, self.featurizer.params, self.estimator_.log_ratio_, self.seed,
                                 self.top_k, self.min_length) for t in tasks] if st else []
        return map_units(self.engine, st, "score", score_task, tasks, fps, "score", [r.size for r in raw_files],
                         [(t.scores_path,) + ((t.rejects_path,) if t.rejects_path else ()) for t in tasks])

    def score(self, raw: str | list[str], output: str | None = None) -> pa.Table:
        """Every document's log importance weight with its locator ``(file, row)``.

        Returns an Arrow table with columns file, row, log_weight, tokens, eligible (and,
        with ``on_error="skip"``, rejected: the bad records, read as empty documents), and
        writes it as parquet to ``output`` (a local path or URL) when given. The per-file work
        arrays live next to ``output`` (so that every worker of a cluster can reach them) and
        are removed afterwards.
        """
        raw_files = expand_paths(_as_list(raw), "raw")
        if self.read.on_error == "skip" and is_remote(output or ""):
            raise UsageError(f"{output}: on_error='skip' in score() needs a local output (for its rejects)")
        with score_work_dir(output) as work:
            self._state = RunState(work) if self.read.on_error == "skip" else None  # to record rejects
            try:
                summaries = self._score(raw_files, work)
            finally:
                state, self._state = self._state, None
            parts = []
            for s, file in zip(summaries, raw_files):
                path = join_path(work, f"scores-{s.unit:05d}.npz")
                with open_npz(path) as z:
                    n = len(z["key"])
                    parts.append(pa.table({
                        "file": pa.array([file.path] * n, pa.string()),
                        "row": pa.array(np.arange(n, dtype=np.int64)),
                        "log_weight": z["log_weight"],
                        "tokens": z["n_tokens"].astype(np.int64),
                        "eligible": np.isfinite(z["key"]),
                    }))
                if state is not None:
                    parts[-1] = parts[-1].append_column("rejected", rejected_mask(state.rejects_path("score", s.unit), n))
        table = pa.concat_tables(parts) if parts else pa.table({})
        if output and is_remote(output):
            spool = spool_path(output)
            try:
                pq.write_table(table, spool)
                upload_file(spool, output)
            finally:
                os.unlink(spool)
        elif output:
            with atomic_file(local_path(output)) as fh:
                pq.write_table(table, fh)
        return table

    # -- selecting ---------------------------------------------------------------------

    def select(self, raw: str | list[str], output_dir: str, k: int | None = None, fraction: float | None = None,
               target: str | list[str] | None = None, output_format: str | None = None,
               overwrite: bool = False, report: bool = True, group_by: str | None = None,
               resume: bool = False) -> dict:
        """Select ``k`` (or ``fraction`` of the eligible) raw documents into ``output_dir``.

        Fits first when ``target`` is given. Writes one shard per input file that has
        selected documents (``part-NNNNN.<format>``), then ``manifest.json``; returns the
        manifest. Then, with ``group_by``, counts the pool and the selection by that field
        (``_dsir/groups-<field>.json``), and unless ``report`` is false writes the report
        (``report.json``, ``report.html``, ``report/*.png``; see ``dsir.reports``). With
        ``resume``, units an earlier (killed) run over the same inputs and parameters
        finished are reused from ``output_dir/_dsir`` (see ``pipeline.state``).
        """
        if resume and overwrite:
            raise UsageError("give --resume (continue the run in the output directory) or --overwrite "
                             "(start it again), not both")
        if self._uses_quality_options(target):
            if resume or self.read.on_error != "stop":
                raise UsageError("--resume and --on-error skip cover dsir selections of whole documents "
                                 "for one target; not --chunk-words, named targets or --method " + self.method)
            from dsir.selector import select_units

            return select_units(self, _as_list(raw), output_dir, k, fraction,
                                _as_list(target) if target is not None else None, output_format, overwrite,
                                report, group_by)
        if output_format is not None and output_format not in OUTPUT_FORMATS:
            raise UsageError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
        if k is not None and k <= 0 or fraction is not None and not (0 < fraction <= 1):
            resolve_k(k, fraction, 0)  # raises the usage error before any work
        started = time.time()
        raw_files = expand_paths(_as_list(raw), "raw")
        target_files = expand_paths(_as_list(target), "target") if target is not None else []
        if not target_files:
            self._check_fitted()
        remote = is_remote(output_dir)
        if not remote:
            output_dir = local_path(output_dir)  # file:// URLs are plain local paths from here on
        work = join_path(output_dir, WORK_DIR)
        if remote and (resume or self.read.on_error == "skip"):
            raise UsageError(f"{output_dir}: --resume and --on-error skip need a local output directory "
                             "(or one on a file system every worker mounts)")
        prepared = False  # until then the directory is not ours to clean up
        try:
            if resume:
                prepare_resume(output_dir, WORK_DIR, MANIFEST, REPORT_NAMES)
            else:
                refuse_earlier_run(output_dir, WORK_DIR, overwrite)
                prepare_output_dir(output_dir, overwrite)
            makedirs(work)
            # Unit records (for --resume) live in the work directory, which must be a local or
            # shared file system; an object-store output is written whole, without them.
            self._state, prepared = (None if remote else RunState(work, resume)), True
            return self._select(raw_files, target_files, output_dir, work, k, fraction, output_format, started,
                                report, group_by)
        except (DsirError, OSError) as exc:
            if remote:
                raise
            # A manifest means the selection is complete (only the report failed): keep it all.
            prepared = prepared and not os.path.exists(join_path(output_dir, MANIFEST))
            if prepared:
                remove_partial_output(output_dir, WORK_DIR)  # finished units stay in _dsir for --resume
            if prepared and os.path.isdir(work):
                log.info("no output was written; the finished work is kept in %s: once the problem is fixed, "
                         "run the same command with --resume to continue", work)
            if isinstance(exc, OSError) and (out_err := as_output_error(exc, output_dir)) is not None:
                raise out_err from exc
            raise
        finally:
            self._state = None

    def _select(self, raw_files, target_files, output_dir, work, k, fraction, output_format, started, report,
                group_by) -> dict:
        if target_files:
            self._fit(raw_files, target_files)
        model_path = join_path(work, "model.npz")
        try:
            self.estimator_.save(model_path)
        except OSError as exc:
            raise output_error(model_path, exc) from exc
        summaries = self._score(raw_files, work)
        eligible = sum(s.eligible for s in summaries)
        want, warnings = resolve_k_for(k, fraction, eligible)
        score_paths = [join_path(work, f"scores-{s.unit:05d}.npz") for s in summaries]
        keys = [load_array(p, "key") for p in score_paths]
        threshold = find_threshold(keys, want, lambda u: load_array(score_paths[u], "hash")) if eligible else None
        del keys
        writes = []
        if threshold is not None:
            tasks = [
                WriteTask(i, file, self.read, score_paths[i], threshold,
                          join_path(output_dir, f"part-{i:05d}.{output_format or output_format_of(file.format, file.compression)}"),
                          output_format or output_format_of(file.format, file.compression))
                for i, file in enumerate(raw_files)
            ]
            score_fps = [score_fingerprint(f, self.read, self.featurizer.params, self.estimator_.log_ratio_,
                                           self.seed, self.top_k, self.min_length) for f in raw_files]
            writes = map_units(self.engine, self._state, "write", write_task, tasks,
                               [write_fingerprint(score_fps[t.unit], threshold, t.unit, t.output_path, t.output_format)
                                for t in tasks], "write", [r.size for r in raw_files],
                               [(t.output_path,) for t in tasks])
        remove_stale_shards(output_dir, {os.path.basename(w.shard.path) for w in writes if w.shard is not None})
        target_results = self._state.target_results if self._state else None
        warnings += empty_file_warnings(raw_files, summaries, target_files, target_results)
        manifest = self._manifest(raw_files, target_files, summaries, writes, want, k, fraction, output_format,
                                  warnings)
        report_rejects(manifest, output_dir, self._state, self.read.on_error, summaries, len(target_files))
        write_json_atomic(join_path(work, "run.json"), {"seconds": round(time.time() - started, 3)})
        write_json_atomic(join_path(output_dir, MANIFEST), manifest)
        self._after_select(output_dir, raw_files, score_paths, threshold, report, group_by)
        return manifest

    def _after_select(self, output_dir, raw_files, score_paths, threshold, report, group_by) -> None:
        """Composition and report: extras over a selection that is already complete."""
        from dsir.errors import DsirError
        from dsir.reports import make_report
        from dsir.reports.groups import compute_groups

        if not (report or group_by):
            return
        if is_remote(output_dir):
            log.warning("no report for an object-store output directory: the report is written locally only")
            return
        try:
            if group_by:
                compute_groups(group_by, raw_files, score_paths, threshold, self.engine,
                               join_path(output_dir, WORK_DIR), self.read.block_bytes)
            if report:
                make_report(output_dir, self.engine)
        except DsirError as exc:
            exc.args = (f"{exc.args[0] if exc.args else exc} (the selection in {output_dir} is complete; "
                        f"run 'dsir report {output_dir}' after fixing this)",) + exc.args[1:]
            raise

    def _manifest(self, raw_files, target_files, summaries, writes, want, k, fraction, output_format, warnings) -> dict:
        selected_by_unit = {w.unit: w.selected for w in writes}
        est = self.estimator_
        return {
            "dsir_version": __version__,
            "method": "dsir",
            "parameters": {
                "k": k, "fraction": fraction, "seed": self.seed, "top_k": self.top_k,
                "weighting": self.weighting, "temperature": self.temperature,
                "min_length": self.min_length, "text_field": self.read.text_field, "id_field": self.read.id_field,
                "raw_sample": self.raw_sample, "output_format": output_format,
                **est.params,
            },
            "eligibility": (f"documents with at least {max(1, self.min_length)} tokens are eligible; "
                            "shorter (and empty) documents are never selected"),
            "fit": asdict(est.stats_),
            "counts": {
                "documents": sum(s.documents for s in summaries),
                "eligible": sum(s.eligible for s in summaries),
                "requested": want,
                "selected": sum(selected_by_unit.values()),
                "tokens": sum(s.tokens for s in summaries),
                "text_bytes": sum(s.text_bytes for s in summaries),
            },
            "targets": [{"path": t.path, "bytes": t.size} for t in target_files],
            "model": self.model_path_,
            "inputs": [
                {"path": f.path, "bytes": f.size, "documents": s.documents, "eligible": s.eligible,
                 "selected": selected_by_unit.get(s.unit, 0)}
                for f, s in zip(raw_files, summaries)
            ],
            "outputs": [
                {"path": os.path.basename(w.shard.path), "documents": w.shard.documents, "bytes": w.shard.bytes,
                 "sha256": w.shard.sha256}
                for w in writes if w.shard is not None
            ],
            "warnings": warnings,
        }


def prepare_output_dir(output_dir: str, overwrite: bool) -> None:
    """Create ``output_dir``; refuse a non-empty one unless ``overwrite``, which clears
    what an earlier dsir run wrote there (and nothing else)."""
    if is_remote(output_dir):
        return prepare_remote_output_dir(output_dir, overwrite, _written_by_dsir)
    output_dir = local_path(output_dir)
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        if not overwrite:
            raise UsageError(f"{output_dir}: output directory is not empty (use --overwrite to replace it)")
        for name in os.listdir(output_dir):
            path = os.path.join(output_dir, name)
            if name == WORK_DIR:
                shutil.rmtree(path)
            elif name in (MANIFEST, REJECTS_FILE) or name.startswith(("part-", ".part-")) or ".tmp-" in name:
                os.unlink(path)
            elif name in REPORT_NAMES:
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    os.makedirs(output_dir, exist_ok=True)


def _written_by_dsir(name: str) -> bool:
    return name in (WORK_DIR, MANIFEST) or name.startswith("part-") or name.startswith(".part-")


def read_manifest(output_dir: str) -> dict:
    with open_binary(join_path(output_dir, MANIFEST)) as fh:  # a local path or URL
        return json.load(fh)
