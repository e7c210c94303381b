"""The plan of a run, stage by stage: count → fit → score → allocate → write → manifest → report.

Every configuration (one target or several named ones, whole documents or chunks, any
method) runs this one plan; every per-file stage runs through the same durable units
(``pipeline.units``) on whatever engine the run was given. What each raw file is read for:

=========  ================================================================  ===========
count      documents per file, for the raw sampling rate                     methods that fit on raw
fit        target: bucket counts (+ samples the method and the report need);
           raw: counts or bucket ids of a uniform sample                     methods that fit on raw
score      every unit's score against every target, its key                  always
write      selected units to shards, and the report's samples and
           ``--group-by`` counts from the same pass                          always
=========  ================================================================  ===========
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from dsir.dedup.rule import DedupRule
from dsir.engines import driver_threads
from dsir.engines.local import limit_heap_growth
from dsir.errors import DsirError, InputError, UsageError
from dsir.estimate.discriminative import DiscriminativeEstimator
from dsir.estimate.importance import FitStats, ImportanceEstimator
from dsir.featurize import warmup
from dsir.filters import FilterOptions, Filters
from dsir.filters.decontaminate import NgramSet
from dsir.filters.quality_rules import QualityRules
from dsir.estimate.methods import METHODS, FitData, Method
from dsir.io.parts import DEFAULT_UNIT_BYTES, needs_base, split_files, splittable, with_bases
from dsir.io.paths import InputFile, expand_paths
from dsir.io.rejects import gather_rejects
from dsir.io.storage import write_bytes
from dsir.io.readers import DEFAULT_BLOCK_BYTES
from dsir.io.writers import OUTPUT_FORMATS, ShardLimits, output_format_of, write_json_atomic
from dsir.pipeline.checks import check_apart, targets_in_pool
from dsir.pipeline.manifest import build_manifest, dataset_card
from dsir.pipeline.output_dir import DATASET_CARD, OutputDir, part_path
from dsir.pipeline.settings import Settings
from dsir.pipeline.targets import TargetSpec, group_targets, target_proportions
from dsir.pipeline.tasks import (
    CountTask, FitResult, FitTask, ReadSpec, ScoreSummary, ScoreTask, WriteResult, WriteTask, count_task, fit_task,
    load_arrays, merge_scores, merge_summaries, save_arrays, score_task, write_task, written_shards,
)
from dsir.pipeline.units import RunState, fingerprint, run_phase, task_fingerprint
from dsir.sample.allocate import Allocation, Budget, allocate_targets
from dsir.sample.bottom_k import BottomK
from dsir.sample.methods import allocate
from dsir.sample.balance import Balance, load_balanced_keys
from dsir.sample.mixture import Mixture, allocate_mixture
from dsir.sample.outside import OutsideOptions, OutsideScores, load_outside

log = logging.getLogger("dsir")


@dataclass
class Run:
    """One run: its settings, engine, output directory and unit records."""

    settings: Settings
    engine: object
    out: OutputDir | None
    state: RunState | None = None
    report_samples: bool = True
    block_bytes: int = DEFAULT_BLOCK_BYTES
    warnings: list[str] = field(default_factory=list)  # found before the stages (skipped files)
    unit_bytes: int = DEFAULT_UNIT_BYTES
    raw_parts: RawParts | None = None  # the raw files' parts, once counted (``parts_of``)

    def __post_init__(self) -> None:
        # a cold cache compiles in two processes
        warmup.start_on_first_compile(self.settings.ngrams, self.settings.features)

    @property
    def read(self) -> ReadSpec:
        s = self.settings
        return ReadSpec(s.text_field, s.id_field, self.block_bytes, s.on_error)

    @property
    def target_read(self) -> ReadSpec:
        """How target files are read: their own text field when ``target_text_field`` is set."""
        s = self.settings
        return ReadSpec(s.target_text_field or s.text_field, s.id_field, self.block_bytes, s.on_error)

    def phase(self, name: str, fn, tasks: list, desc: str, files: list[InputFile],
              owned: list[tuple[str, ...]] | None = None, result_files=None) -> list:
        return run_phase(self.engine, self.state, name, fn, tasks, desc, [f.weight for f in files], owned,
                         result_files)

    def rejects_path(self, kind: str, unit: int) -> str | None:
        return self.out.rejects(kind, unit) if self.settings.on_error == "skip" and self.out else None


@dataclass
class RawParts:
    """The raw files cut into parts (``dsir.io.parts``), each with the index of its file."""

    files: list[InputFile]
    parts: list[InputFile]
    owners: list[int]

    def of_file(self, i: int) -> list[int]:
        """The indices of file ``i``'s parts."""
        return [k for k, owner in enumerate(self.owners) if owner == i]


@dataclass
class Target:
    """A target with its files (none for a method that needs no target and got none)."""

    spec: TargetSpec
    files: list[InputFile]

    @property
    def name(self) -> str | None:
        return self.spec.name


@dataclass
class Fit:
    """What the fit learned: one score vector per target, and what the report shows of it."""

    score_vectors: np.ndarray  # float64[targets, buckets]
    target_counts: np.ndarray  # int64[targets, buckets] (zeros when there is no target)
    raw_counts: np.ndarray  # int64[buckets] (zeros when the method does not fit raw counts)
    stats: list[FitStats]
    target_results: list[list[FitResult]] = field(default_factory=list)
    lengths: list[BottomK] = field(default_factory=list)
    names_texts: list[BottomK] = field(default_factory=list)
    models: list = field(default_factory=list)  # per target: its estimator's model (dsir, reference, discriminative)
    specs: list[TargetSpec] = field(default_factory=list)  # the targets it was fit on

    def save(self, path: str) -> None:
        """Save what the report reads (``reports.collect.load_run``); the fit statistics are in
        the manifest."""
        arrays = {"score_vectors": self.score_vectors, "target_counts": self.target_counts,
                  "raw_counts": self.raw_counts}
        for t, (lengths, texts) in enumerate(zip(self.lengths, self.names_texts)):
            arrays.update({f"lengths_{t}": lengths.values, f"names_{t}": texts.values,
                           f"names_offsets_{t}": texts.offsets})
        save_arrays(path, arrays)


REPORT_TARGET_LENGTHS = 20_000
REPORT_NAMES_DOCUMENTS = 500


# -- the stages -------------------------------------------------------------------------


def resolve_targets(specs: list[str] | None, method: Method, fitted: bool,
                    warnings: list[str] | None = None) -> list[Target]:
    """Targets from ``--target`` values; a method that needs none gets one without files."""
    targets = group_targets(specs or [])
    if not targets:
        if method.needs_target and not fitted:
            raise UsageError(f"--method {method.name} fits on a target: give --target (or a saved --model)")
        return [Target(TargetSpec(()), [])]
    return [Target(t, expand_paths(list(t.paths), f"target {t.name}" if t.name else "target", warnings))
            for t in targets]


def count_stage(run: Run, raw_files: list[InputFile]) -> int:
    """Documents in the pool (parquet from metadata; jsonl by a newline scan), counted part by
    part; the counts also give every jsonl part the rows and lines before it."""
    parts = _count_parts(run, raw_files, pool=True)
    pool = sum(parts.values())
    if pool == 0:
        raise InputError("the raw pool has no documents", path=", ".join(f.path for f in raw_files))
    return pool


def parts_of(run: Run, raw_files: list[InputFile]) -> RawParts:
    """The raw files' parts, each knowing the rows before it: counted by ``count_stage``, or
    now (the jsonl files that are cut into parts only) when the run has no count pass."""
    if run.raw_parts is None or run.raw_parts.files != raw_files:
        _count_parts(run, raw_files, pool=False)
    return run.raw_parts


def _count_parts(run: Run, raw_files: list[InputFile], pool: bool) -> dict[int, int]:
    """Count every part (``pool``) or those whose counts a later part's base needs; keep the
    parts, with their bases, in ``run.raw_parts``; return ``{part: rows}`` of those counted."""
    parts, owners = split_files(raw_files, run.unit_bytes)
    based = {owners[k] for k, p in enumerate(parts) if needs_base(p)}
    todo = [k for k, p in enumerate(parts)
            if pool or (owners[k] in based and p.part is not None and p.part.index < p.part.of - 1)]
    counted: dict[int, tuple[int, int]] = {}
    if todo:
        tasks = [CountTask(parts[k], run.block_bytes) for k in todo]
        results = run.phase("count", count_task, tasks, "count raw", [parts[k] for k in todo])
        counted = {k: (r.rows, r.newlines) for k, r in zip(todo, results)}
    run.raw_parts = RawParts(raw_files, with_bases(parts, counted), owners)
    return {k: rows for k, (rows, _) in counted.items()}


def fit_stage(run: Run, method: Method, raw_files: list[InputFile], targets: list[Target],
              pool: int | None) -> Fit:
    """One pass over every target file and (when the method fits on raw data) one over every
    raw file; then each target's estimator learns its score vector."""
    s, needs = run.settings, method.needs
    f = s.featurizer
    target_tasks, owners = [], []
    for t, target in enumerate(targets):
        for file in target.files:
            target_tasks.append(FitTask(file, run.target_read, f, counts=True, id_sample=needs.target_ids,
                                        report_sample=REPORT_TARGET_LENGTHS if run.report_samples else 0,
                                        names_sample=REPORT_NAMES_DOCUMENTS if run.report_samples else 0,
                                        rejects_path=run.rejects_path("target", len(owners))))
            owners.append(t)
    all_target_files = [x.file for x in target_tasks]
    results = run.phase("fit-target", fit_task, target_tasks, "fit target", all_target_files,
                        [(p,) if (p := x.rejects_path) else () for x in target_tasks])
    per_target: list[list[FitResult]] = [[] for _ in targets]
    for owner, r in zip(owners, results):
        per_target[owner].append(r)
    for target, rs in zip(targets, per_target):
        if target.files and sum(r.documents for r in rs) == 0:
            rejected = sum(r.rejected for r in rs)
            why = (f": all its {rejected} records were rejected (--on-error skip; the first reason: "
                   f"{_first_reject(run, owners, targets.index(target))})" if rejected else "")
            raise InputError(f"the target has no documents{why}", path=", ".join(x.path for x in target.files))

    raw = FitData(0)
    rate = 1.0
    if needs.raw_counts or needs.raw_ids:
        rate = min(1.0, (s.raw_sample if needs.raw_counts else needs.raw_ids) / pool)
        # the seed only matters to a sample: a task that reads every record does not depend on it
        seed = s.seed if rate < 1.0 or needs.raw_ids else 0
        parts = parts_of(run, raw_files).parts
        raw_tasks = [FitTask(file, run.read, f, rate, seed, counts=needs.raw_counts,
                             id_sample=pool if needs.raw_ids else 0) for file in parts]
        raw_results = run.phase("fit-raw", fit_task, raw_tasks, "fit raw", parts)
        raw = FitData(sum(r.documents for r in raw_results),
                      sum((r.counts for r in raw_results), np.zeros(f.buckets, np.int64)) if needs.raw_counts else None,
                      _merged(raw_results, "ids", pool) if needs.raw_ids else None)
        if raw.ids is not None and len(raw.ids.values) == 0:
            raise InputError(f"the raw sample has no n-grams: each of its {raw.documents} documents has no tokens, "
                             "so the classifier has no raw text to learn from",
                             path=", ".join(f.path for f in raw_files))

    vectors, models, stats = [], [], []
    target_counts = np.stack([sum((r.counts for r in rs), np.zeros(f.buckets, np.int64)) for rs in per_target])
    for target, rs, counts in zip(targets, per_target, target_counts):
        st = FitStats(sum(r.documents for r in rs), raw.documents, pool or 0, rate)
        stats.append(st)
        if method.estimator is None:
            vectors.append(np.zeros(f.buckets))
            continue
        data = FitData(st.target_documents, counts, _merged(rs, "ids", needs.target_ids) if needs.target_ids else None)
        try:
            est = method.estimator(f, getattr(s, method.smoothing_param), threads=driver_threads(run.engine))
            est = est.fit(data, raw, st)
        except ValueError as exc:
            raise InputError(str(exc), path=", ".join(x.path for x in target.files)) from exc
        vectors.append(est.score_vector_)
        models.append(getattr(est, "model_", None))
    return Fit(np.stack(vectors), target_counts,
               raw.counts if raw.counts is not None else np.zeros(f.buckets, np.int64), stats, per_target,
               [_merged(rs, "lengths", REPORT_TARGET_LENGTHS) for rs in per_target],
               [_merged(rs, "texts", REPORT_NAMES_DOCUMENTS) for rs in per_target], models,
               [t.spec for t in targets])


def _first_reject(run: Run, owners: list[int], target: int) -> str:
    """The reason of the first rejected record of a target (from its units' rejects files)."""
    from dsir.io.paths import open_binary

    for unit, owner in enumerate(owners):
        path = run.rejects_path("target", unit)
        if owner != target or path is None:
            continue
        try:
            with open_binary(path) as fh:
                first = fh.readline()
        except FileNotFoundError:
            continue
        if first.strip():
            r = json.loads(first)
            return f"{r['file']}:{r['line']}: {r['reason']}" if r.get("line") else f"{r['file']}: {r['reason']}"
    return "see the rejects files in OUT/_dsir"


def _merged(results: list[FitResult], what: str, k: int) -> BottomK:
    return BottomK.union(max(1, k), [r.sample(what, max(1, k)) for r in results],
                         np.uint8 if what == "texts" else np.int32)


def loaded_fit(model) -> Fit:
    """A ``Fit`` of a saved estimator (``--model``): an ``ImportanceEstimator`` or a
    ``DiscriminativeEstimator``."""
    return Fit(model.log_ratio_[None, :], model.target_counts_[None, :], model.raw_counts_, [model.stats_],
               [[]], [BottomK.empty(1, np.int32)], [BottomK.empty(1, np.uint8)], [model], [TargetSpec(())])


def filter_stage(settings: Settings, options: FilterOptions, files: list[InputFile],
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> Filters:
    """The filters every score unit applies, made from ``options`` (decontamination: one read
    of each of its ``files``, the target's text field and the run's ``on_error``), before the
    output directory is touched, so that a bad file is refused before any work."""
    if not options.active:
        return Filters()
    ngrams = (NgramSet.from_files(files, options.decontaminate_words, settings.target_text_field or settings.text_field,
                                  settings.on_error, block_bytes) if options.decontaminate else None)
    rules = QualityRules(options.quality_rules) if options.quality_rules != "none" else None
    return Filters(decontaminate=ngrams, quality_rules=rules)


def score_stage(run: Run, raw_files: list[InputFile], fit: Fit, keep_ids: bool = False,
                filters: Filters = Filters(), dedup: DedupRule = DedupRule(),
                mix: Mixture | None = None, outside: OutsideScores | None = None,
                balance: Balance | None = None) -> tuple[list[ScoreSummary], list[str]]:
    """Score every unit of every raw file against every target (documents the ``filters``
    exclude are not eligible; with ``dedup``, each unit's signature too); return the
    summaries and the score units' fingerprints (the write pass depends on them)."""
    s = run.settings
    raw = parts_of(run, raw_files)
    tasks = []
    for file, i in zip(raw.parts, raw.owners):
        scores, rejects = run.out.scores(i), run.rejects_path("score", i)
        if file.part is not None:  # a file read in parts: each part's files, merged below
            scores, rejects = part_path(scores, file.part.index), rejects and part_path(rejects, file.part.index)
        tasks.append(ScoreTask(i, file, run.read, s.featurizer, fit.score_vectors, s.rule, s.seed, s.min_length,
                               s.chunk_words, s.emit, keep_ids, filters, dedup.signatures,
                               mix.parts if mix else None, outside.for_file(i) if outside else None,
                               balance.spec if balance else None, scores, rejects))
    owned = [(t.scores_path,) + ((t.rejects_path,) if t.rejects_path else ()) for t in tasks]
    results = run.phase("score", score_task, tasks, "score", raw.parts, owned)
    summaries, fingerprints = [], []
    for i in range(len(raw_files)):
        mine = raw.of_file(i)
        if len(mine) == 1 and raw.parts[mine[0]].part is None:
            summaries.append(results[mine[0]])
            fingerprints.append(task_fingerprint("score", tasks[mine[0]]))
            continue
        merge_scores([tasks[k].scores_path for k in mine], run.out.scores(i))
        if run.rejects_path("score", i):
            gather_rejects([tasks[k].rejects_path for k in mine], run.rejects_path("score", i))
        summaries.append(merge_summaries(i, [results[k] for k in mine]))
        fingerprints.append(fingerprint(parts=[task_fingerprint("score", tasks[k]) for k in mine]))
    return summaries, fingerprints


def allocate_stage(run: Run, summaries: list[ScoreSummary], targets: list[Target], budget: Budget,
                   dedup: DedupRule = DedupRule(), mix: Mixture | None = None,
                   balance: Balance | None = None) -> tuple[int, list[int], Allocation, list[str]]:
    """The budget over the targets (or the parts of the ``mix``), then each one's units (with
    ``dedup``, the first distinct ones in key order; with a ``balance``, in balance order):
    ``(requested, shares, allocation, warnings)``; ``requested`` and ``shares`` count units,
    or tokens for a token budget; with a mixture, ``allocation.parts`` is the allocation by
    part, with a balance ``allocation.balance`` the balance ranks (``sample.balance``)."""
    eligible = sum(x.eligible for x in summaries)
    warnings = []
    unit = run.settings.unit_name
    if eligible == 0:  # an empty selection is never what was asked for
        why = ("has no tokens" if run.settings.min_length <= 1 else
               f"has fewer than {run.settings.min_length} tokens")
        why += " or matches no balance entry" if balance is not None else ""
        raise InputError(f"none of the {sum(x.units for x in summaries)} {unit} of the raw pool is eligible "
                         f"(each {why}): nothing to select")
    names = ("keys", "n_tokens") + (("hash", "entry_ids", "entry_offsets", "entry_names", "entry_name_offsets")
                                    if balance is not None else ())
    scores = [load_arrays(run.out.scores(x.unit), names) for x in summaries]
    keys = [z["keys"] for z in scores]
    balanced = None
    if balance is not None:
        balanced = load_balanced_keys(scores, balance.cap, None if balance.field else list(balance.entries))
        keys = [k[None, :] for k in balanced.keys]
        eligible = sum(int(np.isfinite(k).sum()) for k in balanced.keys)
    sizes = [z["n_tokens"].astype(np.int64) for z in scores]
    want = budget.requested(eligible)
    if budget.in_tokens:
        available = sum(int(n[np.isfinite(k[0])].sum()) for k, n in zip(keys, sizes))
        if want > available:
            warnings.append(f"tokens = {want} is more than the {available} tokens of the {eligible} eligible {unit}: "
                            "selecting all of them")
        shares = allocate(min(want, available), target_proportions([t.spec for t in targets]))
    else:
        available = eligible
        if want > eligible:
            warnings.append(f"k = {want} is more than the {eligible} eligible {unit}: selecting all of them")
        shares = allocate(min(want, eligible), target_proportions([t.spec for t in targets]))
    hashes = lambda u: load_arrays(run.out.scores(u), ("hash",))["hash"]  # noqa: E731
    what = "tokens" if budget.in_tokens else unit
    more = " that are not duplicates" if dedup.active else ""
    if mix is not None:
        parts = [load_arrays(run.out.scores(x.unit), ("part",))["part"] for x in summaries]
        part_shares = mix.shares(shares[0])
        allocation, by_part = allocate_mixture(keys, parts, hashes, part_shares, sizes, budget.in_tokens, dedup,
                                               signature_loader(run.out, dedup))
        allocation.parts = by_part
        got = by_part.selected_tokens if budget.in_tokens else by_part.selected
        for value, share, n in zip(mix.values, part_shares, got):
            if n < share:
                warnings.append(f"part {mix.field}={value}: {n} of its {share} {what} selected (no more eligible "
                                f"{unit}{more} of that value left)")
    else:
        allocation = allocate_targets(keys, hashes, shares, sizes, by_tokens=budget.in_tokens, dedup=dedup,
                                      signatures=signature_loader(run.out, dedup))
        allocation.balance = balanced
    got = allocation.selected_tokens if budget.in_tokens else allocation.selected
    for t, share, n in zip(targets, shares, got):
        if n < share and mix is None:
            who = f"target {t.name}: {n} of its" if t.name else f"{n} of the"
            warnings.append(f"{who} {share} {what} selected (no more eligible {unit}{more} left)")
    for w in warnings:
        log.warning(w)
    return want, shares, allocation, warnings


def signature_loader(out: OutputDir, dedup: DedupRule):
    """``file -> signatures`` of a run's scored units for ``dedup`` (None without one)."""
    if not dedup.active:
        return None
    name = "exact" if dedup.mode == "exact" else "minhash"
    return lambda u: load_arrays(out.scores(u), (name,))[name]


def write_stage(run: Run, raw_files: list[InputFile], targets: list[Target], score_fps: list[str],
                allocation: Allocation, output_format: str | None, samples: list | None,
                group_by: str | None, limits: ShardLimits = ShardLimits()) -> list[WriteResult]:
    """Write each file's selected units, cut into pieces by ``limits`` (and take the report's
    samples and group counts)."""
    s = run.settings
    named = targets[0].name is not None
    tasks = []
    for i, file in enumerate(raw_files):
        fmt = output_format or output_format_of(file.format, file.compression)
        outputs = tuple(run.out.path(run.out.shard_name(i, fmt, t.name if named else None)) for t in targets)
        tasks.append(WriteTask(i, file, run.read, s.featurizer, score_fps[i], allocation.assigned[i], outputs, fmt,
                               s.emit, samples[i] if samples else None, group_by, run.out.scores(i), limits))
    return run.phase("write", write_task, tasks, "write", raw_files, [t.outputs for t in tasks], written_shards)


# -- the whole run ------------------------------------------------------------------------


def select(settings: Settings, engine, raw: list[str], output_dir: str, k: int | None = None,
           fraction: float | None = None, target: list[str] | None = None, output_format: str | None = None,
           overwrite: bool = False, report: bool = True, group_by: str | None = None, resume: bool = False,
           fit: Fit | None = None, model_path: str | None = None, block_bytes: int = DEFAULT_BLOCK_BYTES,
           on_fit=None, shard_limits: ShardLimits = ShardLimits(), dry_run: bool = False,
           tokens: int | None = None, target_eval: list[str] | None = None,
           filters: FilterOptions = FilterOptions(), dedup: DedupRule = DedupRule(),
           mix: Mixture | None = None, scores: OutsideOptions = OutsideOptions(),
           balance: Balance | None = None, unit_bytes: int = DEFAULT_UNIT_BYTES) -> dict:
    """Select ``k`` units (or ``fraction`` of the eligible ones, or units until their ``tokens``
    reach that budget) of ``raw`` into ``output_dir``; return the manifest (written last,
    after the shards). See ``DSIR.select``. ``on_fit(fit)`` is
    called with what the fit learned (so the API can keep it); ``shard_limits`` cut shards
    that would exceed them into pieces. ``dry_run``: check everything that can be checked
    without reading a document, and return ``describe_plan``'s plan; nothing is written.
    ``target_eval``: held-out target documents for the report (``reports.target_eval``),
    checked before any work and kept for every later report. ``filters``: documents they
    exclude (``dsir.filters``) are not eligible. ``dedup``: no unit that duplicates a
    better-keyed selected one is selected (``dedup.rule``). ``mix``: the budget is split over a
    metadata field's values, each part filled from its own units (``sample.mixture``).
    ``scores``: outside scores as the keys or a term of them (``sample.outside``). ``balance``:
    units are taken in MetaCLIP's balance order over metadata entries (``sample.balance``).
    ``unit_bytes``: raw files larger than this are read in parts of about that size
    (``io.parts``); the selection is the same whatever it is."""
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise UsageError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    limit_heap_growth()
    budget = Budget(k, fraction, tokens)  # a bad budget is refused before any work
    if scores.ranks_alone:
        if target or fit is not None:
            raise UsageError("--scores without --score-weight ranks by the scores alone, so a target or a model "
                             "would not be used: give --score-weight to add the scores to its weights")
        settings = dataclasses.replace(settings, method="random")  # no importance weights: the keys are scores
    if group_by == "":
        raise UsageError("--group-by needs a field name")
    started = time.time()
    method, raw_files, targets, out, path_warnings = _resolve(settings, raw, output_dir, target, fit)
    if shard_limits.zstd_frame_bytes:
        formats = {output_format or output_format_of(f.format, f.compression) for f in raw_files} - {"jsonl.zst"}
        if formats:
            raise UsageError(f"--zstd-frame-size writes seekable jsonl.zst shards, and these would be "
                             f"{', '.join(sorted(formats))}: give --output-format jsonl.zst")
    if mix is not None and len(targets) > 1:
        raise UsageError("--mix splits one target's selection over a field's values: give one target (or none), "
                         "not several")
    if balance is not None and len(targets) > 1:
        raise UsageError("a balance orders one target's selection by its entries: give one target (or none), "
                         "not several")
    if balance is not None and mix is not None:
        raise UsageError("--mix and a balance both set the selection's composition: give one of them")
    filter_files = expand_paths(list(filters.decontaminate), "decontaminate") if filters.decontaminate else []
    check_apart(out, list(filters.decontaminate), filter_files)
    if target_eval:
        from dsir.reports.target_eval import check_target_eval, resolve_target_eval

        target_eval = resolve_target_eval(target_eval, [t.name for t in targets])
    log.debug("plan: %s; raw: %d files, %d bytes", ", ".join(p for p, _ in passes(method, fit is not None)),
              len(raw_files), sum(f.size for f in raw_files))
    if dry_run:
        return describe_plan(method, raw_files, targets, out, fit is not None, overwrite, resume, report, group_by,
                             budget, filter_files, unit_bytes)
    if target_eval:
        check_target_eval(target_eval, settings.target_text_field or settings.text_field, settings.on_error)
    built = filter_stage(settings, filters, filter_files, block_bytes)
    outside = load_outside(scores, raw_files, settings.id_field)
    run = Run(settings, engine, out, report_samples=report, block_bytes=block_bytes, warnings=path_warnings,
              unit_bytes=unit_bytes)
    with out.locked():
        return _select_locked(run, method, raw_files, targets, fit, budget, output_format, overwrite, resume,
                              report, group_by, model_path, started, on_fit, shard_limits, target_eval, built,
                              dedup, mix, outside, balance)


def _resolve(settings: Settings, raw: list[str], output_dir: str, target: list[str] | None, fit: Fit | None):
    """The method, input files, targets and output directory of a select, checked."""
    method = METHODS[settings.method]
    if fit is not None and target:
        raise UsageError("give a target (to fit) or a fitted model, not both")
    path_warnings: list[str] = []
    raw_files = expand_paths(raw, "raw", path_warnings)
    targets = resolve_targets(target, method, fitted=fit is not None, warnings=path_warnings)
    if fit is not None:  # fitted before: its targets, without files to read
        targets = [Target(TargetSpec((), spec.name, spec.proportion), []) for spec in fit.specs]
    out = OutputDir(output_dir)
    check_apart(out, raw + list(target or []), raw_files + [f for t in targets for f in t.files])
    path_warnings += targets_in_pool(raw_files, targets)
    return method, raw_files, targets, out, path_warnings


def passes(method: Method, fitted: bool) -> list[tuple[str, str]]:
    """The passes a select makes over its inputs, in order, as ``(phase, role)``: the phases
    ``_select_locked`` runs, named as ``dsir.io.trace`` records them."""
    needs_raw = (method.needs.raw_counts or method.needs.raw_ids) and not fitted
    return ([("count raw", "raw")] if needs_raw else []) + ([("fit target", "target")] if not fitted else []) + (
        [("fit raw", "raw")] if needs_raw else []) + [("score", "raw"), ("write", "raw")]


def describe_plan(method: Method, raw_files: list[InputFile], targets: list[Target], out: OutputDir, fitted: bool,
                  overwrite: bool, resume: bool, report: bool, group_by: str | None,
                  budget: Budget | None = None, filter_files: list[InputFile] | None = None,
                  unit_bytes: int = DEFAULT_UNIT_BYTES) -> dict:
    """What a select would do, from file sizes alone: the files, each pass and what it reads,
    and what becomes of the output directory. Refuses what the run would refuse up front."""
    output = out.check_prepare(overwrite=overwrite, resume=resume)
    target_files = [f for t in targets for f in t.files]

    def files(fs: list[InputFile]) -> list[dict]:
        return [{"path": f.path, "format": f.format + (f".{f.compression}" if f.compression else ""),
                 "bytes": f.size} for f in fs]

    steps = []
    if filter_files:
        steps.append({"phase": "decontaminate", "reads": "decontaminate", "files": len(filter_files),
                      "bytes": sum(f.size for f in filter_files)})
    plan = passes(method, fitted)
    if ("count raw", "raw") not in plan:  # the jsonl files read in parts are counted first
        counted = [f for f in raw_files if f.format == "jsonl" and f.size > unit_bytes and splittable(f)]
        if counted:
            steps.append({"phase": "count raw", "reads": "raw", "files": len(counted),
                          "bytes": sum(f.size for f in counted),
                          "note": "the rows before each part of the jsonl files read in parts (--unit-size)"})
    for phase, role in plan:
        fs = raw_files if role == "raw" else target_files
        if not fs:
            continue
        step = {"phase": phase, "reads": role, "files": len(fs), "bytes": sum(f.size for f in fs)}
        if phase == "count raw" and all(f.format != "jsonl" for f in fs):
            step["note"] = "row counts from the files' metadata, not their data"
        steps.append(step)
    extras = [("report", "from samples the fit and write passes take")] if report else []
    extras += [("group-by " + group_by, "counted in the fit and write passes")] if group_by else []
    return {"dry_run": True, "method": method.name, **({"select": budget.describe()} if budget else {}),
            "raw": files(raw_files),
            "targets": [{"name": t.name, "files": files(t.files)} for t in targets if t.files],
            "output": {"path": out.root, "action": output}, "passes": steps,
            "no_extra_reads": [{"what": what, "how": how} for what, how in extras],
            "bytes_read": sum(step["bytes"] for step in steps)}


def _select_locked(run: Run, method: Method, raw_files, targets, fit, budget: Budget, output_format, overwrite,
                   resume, report, group_by, model_path, started, on_fit=None,
                   shard_limits: ShardLimits = ShardLimits(), target_eval=None,
                   filters: Filters = Filters(), dedup: DedupRule = DedupRule(),
                   mix: Mixture | None = None, outside: OutsideScores | None = None,
                   balance: Balance | None = None) -> dict:
    """``select`` once it holds the output directory's lock."""
    from dsir.reports import make_report, plan_samples

    out, engine = run.out, run.engine
    prepared = False
    try:
        out.prepare(overwrite=overwrite, resume=resume)
        prepared = True
        run.state = RunState(out.work, resume)
        if fit is None:
            counts_raw = ("count raw", "raw") in passes(method, fitted=False)  # the dry run's plan, too
            pool = count_stage(run, raw_files) if counts_raw else None
            fit = fit_stage(run, method, raw_files, targets, pool)
            if on_fit is not None:
                on_fit(fit)
        fit.save(out.fit)
        for t, m in zip(targets, fit.models):
            if isinstance(m, (ImportanceEstimator, DiscriminativeEstimator)):  # reusable as --model
                m.save(out.model(t.name))
        summaries, score_fps = score_stage(run, raw_files, fit, filters=filters, dedup=dedup, mix=mix,
                                           outside=outside, balance=balance)
        want, shares, allocation, warnings = allocate_stage(run, summaries, targets, budget, dedup, mix, balance)
        samples = plan_samples(run, fit, summaries, allocation) if report else None
        writes = write_stage(run, raw_files, targets, score_fps, allocation, output_format, samples, group_by,
                             shard_limits)
        out.remove_stale_shards({o.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] for w in writes
                                 for o in written_shards(vars(w))})
        manifest = build_manifest(run, raw_files, targets, fit, summaries, writes, want, shares, budget, allocation,
                                  output_format, warnings, model_path, shard_limits, group_by, report,
                                  target_eval, filters, dedup, mix, outside, balance)
        if filters.active:  # the report's examples of what the filters excluded
            from dsir.filters import FILTERED, merge_tallies

            write_json_atomic(out.work_path(FILTERED), merge_tallies([x.filtered for x in summaries]))
        if samples:
            from dsir.reports.collect import save_samples

            save_samples(out, samples, writes)
        write_json_atomic(out.work_path("run.json"), {"seconds": round(time.time() - started, 3)})
        write_bytes(out.path(DATASET_CARD), dataset_card(manifest).encode("utf-8"), durable=True)
        write_json_atomic(out.manifest, manifest)
    except (DsirError, OSError) as exc:
        if prepared:
            out.clean_after_failure()
        if isinstance(exc, OSError) and (out_err := out.as_output_error(exc)) is not None:
            raise out_err from exc
        raise
    try:
        if target_eval:
            from dsir.reports.target_eval import STORED, save_target_eval

            save_target_eval(out.work_path(STORED), target_eval)
        if group_by:
            from dsir.reports.collect import save_groups

            save_groups(out, group_by, writes, [t.name for t in targets])
        if report:
            make_report(out.root, engine, allocation=allocation)
    except DsirError as exc:
        exc.args = (f"{exc.args[0] if exc.args else exc} (the selection in {out.root} is complete; "
                    f"run 'dsir report {out.root}' after fixing this)",) + exc.args[1:]
        raise
    return manifest


