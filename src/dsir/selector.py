"""Orchestration of ``DSIR.select`` with the quality options (method, weighting and
temperature, chunks, several named targets); ``api.DSIR.select`` hands over to
``select_units`` whenever one of them is not the core default.

Steps: fit (one raw model, one target model or classifier per target), score every unit
against every target (``unit_score_task``), split k over the targets (``allocate``),
allocate target by target (``allocate_targets``), write (``selection_write_task``), and
write the manifest last.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from dsir import __version__
from dsir.errors import InputError, UsageError
from dsir.estimate import ImportanceEstimator
from dsir.estimate.classifier import HashedNgramClassifier
from dsir.io.paths import InputFile, expand_paths
from dsir.io.writers import OUTPUT_FORMATS, atomic_file, is_remote, join_path, output_format_of, write_json_atomic
from dsir.pipeline.selection import (
    SampleBucketsTask, SelectionWriteTask, TargetSpec, UnitScoreTask, allocate_targets, concat_csr, group_targets,
    sample_buckets_task, selection_write_task, target_proportions, unit_score_task,
)
from dsir.pipeline.tasks import FitTask, fit_task
from dsir.sample.methods import allocate

if TYPE_CHECKING:
    from dsir.api import DSIR

log = logging.getLogger("dsir")

#: At most this many raw (and target) documents, drawn uniformly, train the classifier.
CLASSIFIER_MAX_DOCUMENTS = 10_000


def _fit_targets(d: DSIR, raw_files: list[InputFile], targets: list[TargetSpec],
                 target_files: list[list[InputFile]]) -> list[np.ndarray]:
    """Fit and return one score vector per target (log-ratio, or classifier coefficients)."""
    # One raw model for all targets: the first target fits it, the others reuse its counts.
    d._fit(raw_files, target_files[0])
    estimators = [d.estimator_]
    for files in target_files[1:]:
        counts = d.engine.map(fit_task, [FitTask(t, d.read, d.featurizer) for t in files], "fit target",
                              [t.size for t in files])
        docs = sum(r.documents for r in counts)
        if docs == 0:
            raise InputError("the target has no documents", path=", ".join(t.path for t in files))
        stats = type(d.estimator_.stats_)(**{**asdict(d.estimator_.stats_), "target_documents": docs})
        estimators.append(ImportanceEstimator(d.featurizer, d.smoothing).fit(
            sum(r.counts for r in counts), d.estimator_.raw_counts_, stats))
    d.estimators_ = estimators
    if d.method == "dsir":
        return [e.log_ratio_ for e in estimators]
    pool = d.estimator_.stats_.raw_pool_documents
    raw = concat_csr(d.engine.map(sample_buckets_task, [
        SampleBucketsTask(r, d.read, d.featurizer, min(1.0, CLASSIFIER_MAX_DOCUMENTS / pool), d.seed)
        for r in raw_files], "classifier raw sample", [r.size for r in raw_files]))
    vectors = []
    d.classifiers_ = []
    for files, est in zip(target_files, estimators):
        rate = min(1.0, CLASSIFIER_MAX_DOCUMENTS / max(1, est.stats_.target_documents))
        target = concat_csr(d.engine.map(sample_buckets_task, [
            SampleBucketsTask(t, d.read, d.featurizer, rate, d.seed) for t in files], "classifier target",
            [t.size for t in files]))
        clf = HashedNgramClassifier(d.featurizer.buckets).fit(target, raw)
        d.classifiers_.append(clf)
        vectors.append(clf.score_vector_)
    return vectors


def select_units(d: DSIR, raw: list[str], output_dir: str, k: int | None, fraction: float | None,
                 target: list[str] | None, output_format: str | None, overwrite: bool, report: bool = True,
                 group_by: str | None = None) -> dict:
    """``DSIR.select`` with the quality options; returns the manifest (written last)."""
    from dsir.api import MANIFEST, WORK_DIR, prepare_output_dir, resolve_k, resolve_k_for

    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise UsageError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    if k is not None and k <= 0 or fraction is not None and not (0 < fraction <= 1):
        resolve_k(k, fraction, 0)
    if is_remote(output_dir):
        raise UsageError(f"{output_dir}: chunks, named targets and --method {d.method} write to a local output "
                         "directory only")
    started = time.time()
    raw_files = expand_paths(raw, "raw")
    targets = group_targets(target or [])
    if not targets:
        if d.method == "classifier":
            raise UsageError("the classifier method fits on a target: give --target")
        if d.method == "dsir":
            d._check_fitted()
        targets = [TargetSpec(())]
    named = targets[0].name is not None
    target_files = [expand_paths(list(t.paths), f"target {t.name}" if t.name else "target") if t.paths else []
                    for t in targets]
    prepare_output_dir(output_dir, overwrite)
    work = join_path(output_dir, WORK_DIR)
    os.makedirs(work, exist_ok=True)
    if d.method == "random":
        vectors = [np.zeros(d.featurizer.buckets) for _ in targets]
    elif target_files[0]:
        vectors = _fit_targets(d, raw_files, targets, target_files)
    else:
        vectors = [d.estimator_.log_ratio_]
    if d.method == "dsir":
        d.estimator_.save(os.path.join(work, "model.npz"))
        for t, e in zip(targets[1:], getattr(d, "estimators_", [])[1:]):
            e.save(os.path.join(work, f"model-{t.name}.npz"))
    score_paths = [os.path.join(work, f"scores-{i:05d}.npz") for i in range(len(raw_files))]
    tasks = [UnitScoreTask(i, f, d.read, d.featurizer, np.stack(vectors), d.key_rule, d.seed, d.min_length,
                           score_paths[i], d.chunk_words, d.emit) for i, f in enumerate(raw_files)]
    summaries = d.engine.map(unit_score_task, tasks, "score", [r.size for r in raw_files])
    eligible = sum(s.eligible for s in summaries)
    want, warnings = resolve_k_for(k, fraction, eligible, d.emit)
    proportions = target_proportions(targets)
    shares = allocate(min(want, eligible), proportions)
    allocation = allocate_targets(score_paths, shares)
    for t, share, got in zip(targets, shares, allocation.selected):
        if got < share:
            msg = f"target {t.name or ''}: {got} of its {share} {d.emit} selected (no more eligible ones left)"
            log.warning(msg)
            warnings.append(msg)
    assigned_paths = []
    for i, a in enumerate(allocation.assigned):
        p = os.path.join(work, f"assigned-{i:05d}.npy")
        with atomic_file(p) as fh:
            np.save(fh, a)
        assigned_paths.append(p)
    writes = []
    if sum(allocation.selected):
        write_tasks = []
        for i, f in enumerate(raw_files):
            fmt = output_format or output_format_of(f.format, f.compression)
            names = [f"part-{t.name}-{i:05d}.{fmt}" if named else f"part-{i:05d}.{fmt}" for t in targets]
            write_tasks.append(SelectionWriteTask(i, f, d.read, score_paths[i], assigned_paths[i],
                                                  tuple(join_path(output_dir, n) for n in names), fmt, d.emit))
        writes = d.engine.map(selection_write_task, write_tasks, "write", [r.size for r in raw_files])
    manifest = _manifest(d, raw_files, targets, target_files, summaries, writes, want, k, fraction, output_format,
                         shares, proportions, warnings)
    write_json_atomic(join_path(work, "run.json"), {"seconds": round(time.time() - started, 3)})
    write_json_atomic(join_path(output_dir, MANIFEST), manifest)
    if len(targets) == 1 and d.emit == "documents" and d.method == "dsir":
        # the scores files then have the core's layout, which the report reads
        d._after_select(output_dir, raw_files, score_paths, allocation.thresholds[0], report, group_by)
    elif report or group_by:
        log.warning("no report for this selection: reports cover dsir selections of whole documents for one "
                    "target (the manifest's per_target has the counts per target)")
    return manifest


def _manifest(d: DSIR, raw_files, targets, target_files, summaries, writes, want, k, fraction, output_format,
              shares, proportions, warnings) -> dict:
    selected_by_unit = {w.unit: sum(w.selected) for w in writes}
    per_target = [sum(w.selected[t] for w in writes) for t in range(len(targets))]
    est = getattr(d, "estimator_", None)
    unit_name = "chunks" if d.emit == "chunks" else "documents"
    eligibility = (f"{unit_name} with at least {max(1, d.min_length)} tokens are eligible; "
                   "shorter (and empty) ones are never selected")
    chunking = None
    if d.chunk_words:
        chunking = {
            "chunk_words": d.chunk_words, "emit": d.emit,
            "rule": ("words are runs of non-whitespace; a document of W words is cut into max(1, round(W / N)) "
                     "chunks of equal word counts (+-1)"),
            "documents": ("a document is scored by its average chunk (mean of its chunks' log-weights)"
                          if d.emit == "documents" else
                          f"each output record is one chunk: its document's fields, the chunk text in "
                          f"{d.read.text_field!r}, and {'chunk_index'!r} (0-based)"),
        }
    return {
        "dsir_version": __version__,
        "method": d.method,
        "parameters": {
            "k": k, "fraction": fraction, "seed": d.seed, "top_k": d.key_rule.top_k,
            "min_length": d.min_length, "text_field": d.read.text_field, "id_field": d.read.id_field,
            "raw_sample": d.raw_sample, "output_format": output_format,
            **d.key_rule.params,
            "chunk_words": d.chunk_words, "emit": d.emit,
            **(est.params if est is not None else {"featurizer": d.featurizer.params}),
        },
        "eligibility": eligibility,
        "chunking": chunking,
        "fit": asdict(est.stats_) if est is not None and d.method != "random" else None,
        "counts": {
            "documents": sum(s.documents for s in summaries),
            "eligible": sum(s.eligible for s in summaries),
            "unit": unit_name,
            "requested": want,
            "selected": sum(selected_by_unit.values()),
            "tokens": sum(s.tokens for s in summaries),
            "text_bytes": sum(s.text_bytes for s in summaries),
        },
        "targets": [{"path": f.path, "bytes": f.size} for files in target_files for f in files],
        "model": getattr(d, "model_path_", None),
        "per_target": [
            {"name": t.name, "paths": [f.path for f in files], "proportion": p, "requested": share,
             "selected": got,
             **({"outputs": f"part-{t.name}-NNNNN.<format>"} if t.name else {})}
            for t, files, p, share, got in zip(targets, target_files, proportions, shares, per_target)
        ],
        "inputs": [
            {"path": f.path, "bytes": f.size, "documents": s.documents, "eligible": s.eligible,
             "selected": selected_by_unit.get(s.unit, 0)}
            for f, s in zip(raw_files, summaries)
        ],
        "outputs": [
            {"path": os.path.basename(sh.path), "documents": sh.documents, "bytes": sh.bytes, "sha256": sh.sha256}
            for w in writes for sh in w.shards if sh is not None
        ],
        "warnings": warnings,
    }
