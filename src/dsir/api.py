"""The Python API: ``DSIR(...).fit(raw, target)``, ``.score(raw)``, ``.select(raw, output_dir, k)``.

``DSIR`` is a thin facade over ``pipeline.plan``: it stores its parameters as given
(``get_params()`` is the single source for the manifest, the CLI's defaults and every
fingerprint) and keeps what a fit learned in attributes ending in ``_``.
"""

from __future__ import annotations

import inspect
import json
import numbers
import os
import shutil
import tempfile
from dataclasses import fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsir.engines import make_engine
from dsir.errors import UsageError
from dsir.estimate import ImportanceEstimator, ReferenceEstimator
from dsir.estimate.discriminative import DiscriminativeEstimator
from dsir.estimate.methods import METHODS
from dsir.dedup.rule import DEFAULT_BANDS, DEFAULT_PERMUTATIONS, DEFAULT_THRESHOLD, DedupRule
from dsir.filters import FilterOptions
from dsir.sample.balance import Balance
from dsir.sample.mixture import Mixture
from dsir.sample.outside import OutsideOptions, parse_range
from dsir.filters.decontaminate import DEFAULT_WORDS as DEFAULT_DECONTAMINATE_WORDS
from dsir.io.memory import Spooled, give_back, path_or_memory, release, spool
from dsir.io.paths import expand_paths, open_binary
from dsir.io.readers import DEFAULT_BLOCK_BYTES
from dsir.io.storage import is_remote, local_path, score_work_dir, spool_path, upload_file
from dsir.io.writers import ShardLimits, atomic_file, join_path
from dsir.pipeline import plan
from dsir.pipeline.output_dir import MANIFEST, WORK_DIR, OutputDir, is_target_shard
from dsir.io.parts import DEFAULT_UNIT_BYTES
from dsir.pipeline.plan import Run, Settings
from dsir.pipeline.tasks import ReadSpec, load_arrays
from dsir.sample.allocate import Budget
from dsir.sample.methods import DEFAULT_WEIGHTING

DEFAULT_RAW_SAMPLE = 200_000

#: Methods whose fit is a model file (``save``, ``load_model``, ``--model``).
MODEL_METHODS = ("dsir", "reference", "discriminative")

#: Parameters of ``DSIR`` that say where and how a run executes, never what it computes.
EXECUTION_PARAMS = ("workers", "progress", "engine", "block_bytes", "unit_bytes")


def _as_list(paths: str | os.PathLike | list, role: str) -> list[str]:
    """Paths as a list of strings (``str``, ``pathlib.Path`` or a non-empty list of either)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    try:
        items = list(paths)
    except TypeError:
        raise UsageError(f"{role}: expected a path or a list of paths, got {type(paths).__name__}") from None
    if not items:
        raise UsageError(f"{role}: no paths given (an empty list)")
    out = []
    for p in items:
        if not isinstance(p, (str, os.PathLike)):
            raise UsageError(f"{role}: expected a path (str or pathlib.Path), got {type(p).__name__}: {p!r}"[:200])
        out.append(os.fspath(p))
    return out


class DSIR:
    """Data Selection with Importance Resampling over hashed n-gram features.

    Parameters mirror the CLI: ``ngrams``, ``buckets`` (None: the method's, ``Method.buckets``)
    and ``features`` (the featurizer: ``"hashed-ngrams"``, or ``"sha256-ngrams"``, the
    reference package's buckets) define the feature space, ``smoothing`` the additive smoothing of both bag-of-n-grams models of
    ``dsir`` (``target_smoothing``: the target model's pseudo-count of ``reference``, whose raw
    model is unsmoothed), ``raw_sample`` how
    many raw documents (a uniform random sample) the raw model is fit on, ``seed`` the
    sampling and noise seed, ``text_field`` the field of the text (``target_text_field``
    that of the targets, when it differs), ``min_length`` the fewest tokens an eligible unit has,
    ``top_k`` whether to take the top weights instead of resampling, ``method`` (dsir,
    reference: the reference package's estimator, discriminative: a classifier's log-odds,
    random, classifier), ``weighting`` ("mean" log-ratio per n-gram, or the paper's "sum")
    and ``temperature`` of the importance weights (None: the method's, ``Method.temperature``), ``chunk_words`` (score chunks of about that
    many words) and ``emit`` ("documents" or "chunks"). ``workers``, ``progress``,
    ``engine``, ``block_bytes`` and ``unit_bytes`` (raw files larger than this are read in
    parts of about that size, ``dsir.io.parts``) say how it runs, never what it selects: ``engine`` is an
    engine object or one of ``dsir.engines.ENGINES`` (default ``"auto"``: ``workers`` threads
    up to ``AUTO_THREADS_UP_TO``, worker processes beyond).

    After ``fit`` (or ``load_model``): ``fit_`` (what the fit learned, one score vector per
    target) and, for the ``MODEL_METHODS``, ``estimator_`` (an ``ImportanceEstimator`` or a
    ``DiscriminativeEstimator``).

    ``DSIR(features="sha256-ngrams", method="reference", weighting="sum", temperature=1.0,
    min_length=100, raw_sample=N)``, with ``N`` at least the pool's size, is the reference
    package ``data-selection`` 1.0.3 with its defaults (README, "Reference-exact mode").
    """

    def __init__(self, ngrams: int = 2, buckets: int | None = None, smoothing: float = 1.0,
                 raw_sample: int = DEFAULT_RAW_SAMPLE, seed: int = 0, min_length: int = 0,
                 top_k: bool = False, text_field: str = "text", target_text_field: str | None = None,
                 id_field: str | None = None,
                 workers: int = 1, progress: bool = False, engine: Any = None, on_error: str = "stop",
                 method: str = "discriminative", weighting: str = DEFAULT_WEIGHTING,
                 temperature: float | None = None, chunk_words: int | None = None,
                 emit: str = "documents", block_bytes: int = DEFAULT_BLOCK_BYTES,
                 features: str = "hashed-ngrams", target_smoothing: float = 0.0,
                 unit_bytes: int = DEFAULT_UNIT_BYTES):
        self.ngrams, self.buckets, self.smoothing, self.raw_sample = ngrams, buckets, smoothing, raw_sample
        self.features, self.target_smoothing = features, target_smoothing
        self.seed, self.min_length, self.top_k = seed, min_length, top_k
        self.text_field, self.target_text_field = text_field, target_text_field
        self.id_field, self.on_error = id_field, on_error
        self.method, self.weighting, self.temperature = method, weighting, temperature
        self.chunk_words, self.emit = chunk_words, emit
        self.workers, self.progress, self.engine, self.block_bytes = workers, progress, engine, block_bytes
        self.unit_bytes = unit_bytes
        if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
            raise UsageError(f"workers must be a positive integer, got {workers!r}")
        if isinstance(unit_bytes, bool) or not isinstance(unit_bytes, numbers.Integral) or unit_bytes < 1:
            raise UsageError(f"unit_bytes must be a positive integer, got {unit_bytes!r}")
        self.settings  # noqa: B018 - refuse bad parameters at once
        if engine is None or isinstance(engine, str):
            self.engine = make_engine(engine, workers, progress=progress)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Every parameter's default (the CLI shows these)."""
        return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to ``__init__``."""
        return {k: getattr(self, k) for k in self.default_params()}

    @property
    def settings(self) -> Settings:
        """The parameters that shape a result."""
        p = self.get_params()
        return Settings(**{f.name: p[f.name] for f in fields(Settings)})

    @property
    def read(self) -> ReadSpec:
        return ReadSpec(self.text_field, self.id_field, self.block_bytes, self.on_error)

    def _run(self, out: OutputDir | None = None) -> Run:
        return Run(self.settings, self.engine, out, block_bytes=self.block_bytes, unit_bytes=self.unit_bytes)

    # -- fitting -----------------------------------------------------------------------

    def fit(self, raw: Any, target: Any) -> DSIR:
        """Fit every target's estimator (the method's), on all of ``target`` and a sample of ``raw``.

        ``raw`` and ``target`` are paths (see ``select``) or in-memory data."""
        with _Inputs(self.text_field, self.target_text_field) as inputs:
            method = METHODS[self.method]
            run = self._run()
            run.report_samples = False
            raw_files = expand_paths(inputs.paths(raw, "raw"), "raw")
            targets = plan.resolve_targets(inputs.paths(target, "target"), method, fitted=False)
            pool = plan.count_stage(run, raw_files) if method.needs.raw_counts or method.needs.raw_ids else None
            self._keep_fit(plan.fit_stage(run, method, raw_files, targets, pool))
        return self

    @property
    def estimator_(self) -> ImportanceEstimator | DiscriminativeEstimator:
        """The estimator of a fit of one target by a ``MODEL_METHODS`` method (derived from ``fit_``)."""
        models = getattr(self, "fit_", None).models if getattr(self, "fit_", None) is not None else []
        if len(models) == 1 and isinstance(models[0], (ImportanceEstimator, DiscriminativeEstimator)):
            return models[0]
        raise AttributeError("estimator_: no fit of one target by a method with a model file (fit() or "
                             "load_model() first)")

    @estimator_.setter
    def estimator_(self, est: ImportanceEstimator | DiscriminativeEstimator) -> None:
        """Use ``est`` as the fit (e.g. one fit shared by several selections)."""
        self.fit_, self.model_path_ = plan.loaded_fit(est), None

    def save(self, path: str) -> None:
        """Save the fitted estimator (see ``ImportanceEstimator.save``, ``DiscriminativeEstimator.save``)."""
        if not hasattr(self, "estimator_"):
            raise UsageError(f"save() needs a fit of one target by method {', '.join(map(repr, MODEL_METHODS))}: "
                             "fit() must come first")
        self.estimator_.save(path)

    def load_model(self, path: str) -> DSIR:
        """Use a saved estimator of this object's method (one of ``MODEL_METHODS``); its
        featurizer and smoothing (``target_smoothing`` for reference) replace this object's."""
        est = ImportanceEstimator.load(path)
        if self.method != est.method:
            raise UsageError(f"the saved model holds a {est.method} fit; method {self.method!r} cannot use it"
                             + (f" (give method {est.method!r})" if self.method in MODEL_METHODS else ""))
        f = est.featurizer
        self.ngrams, self.buckets, self.features = f.ngrams, f.buckets, f.FEATURES
        if isinstance(est, ReferenceEstimator):
            self.target_smoothing = est.target_smoothing
        elif isinstance(est, ImportanceEstimator):
            self.smoothing = est.smoothing
        self.fit_, self.model_path_ = plan.loaded_fit(est), path
        return self

    def _fitted(self) -> plan.Fit | None:
        return getattr(self, "fit_", None)

    # -- scoring -----------------------------------------------------------------------

    def score(self, raw: Any, output: str | None = None, target: Any = None, decontaminate: Any = None,
              decontaminate_words: int = DEFAULT_DECONTAMINATE_WORDS, quality_rules: str = "none") -> pa.Table:
        """Every unit's raw log-weight and selection key, with its locator ``(file, row)``.

        Fits first when ``target`` is given. Columns: file, row (and chunk, start, end for
        ``emit="chunks"``), id (with ``id_field``), log_weight (the summed score over the
        unit's n-grams), weight (what ``select`` ranks on before noise), key (what it ranks
        on: ``-inf`` when ineligible), tokens, eligible, and rejected with ``on_error="skip"``;
        with named targets log_weight, weight and key once per target (``_NAME``). Writes
        it as parquet to ``output`` (a local path or URL) when given. For in-memory ``raw`` the
        rows are those of the input, in its order, and ``file`` is ``"<memory>"``.
        ``decontaminate`` and ``quality_rules`` as in ``select``: the units they exclude are not eligible.
        """
        with _Inputs(self.text_field, self.target_text_field) as inputs:
            raw_paths = inputs.paths(raw, "raw")
            target_paths = inputs.paths(target, "target") if target is not None else None
            filters = FilterOptions(tuple(inputs.paths(decontaminate, "decontaminate"))
                                    if decontaminate is not None else (), decontaminate_words, quality_rules)
            table = self._score(raw_paths, output, target_paths, filters)
            if inputs.spooled and inputs.spooled[0].path == raw_paths[0]:
                table = table.set_column(0, "file", pa.array(["<memory>"] * table.num_rows, pa.string()))
        return table

    def _score(self, raw: list[str], output: str | None, target: list[str] | None,
               filters: FilterOptions = FilterOptions()) -> pa.Table:
        method = METHODS[self.method]
        raw_files = expand_paths(raw, "raw")
        built = plan.filter_stage(self.settings, filters, expand_paths(list(filters.decontaminate), "decontaminate")
                                  if filters.decontaminate else [], self.block_bytes)
        output = None if output is None else os.fspath(output)
        if target is not None:
            self.fit(raw, target)
        fit = self._fitted()
        if fit is None:
            if method.needs_target:
                raise UsageError("score() needs a fit: give a target, or fit() (or load_model()) first")
            fit = plan.fit_stage(self._run(), method, raw_files, [plan.Target(plan.TargetSpec(()), [])], None)
        with score_work_dir(output) as work:
            out = OutputDir(work)
            out.makedirs()
            run = self._run(out)
            summaries, _ = plan.score_stage(run, raw_files, fit, keep_ids=self.id_field is not None, filters=built)
            names = [spec.name for spec in fit.specs] or [None]
            parts = [self._score_table(out, file, x.unit, names, run) for x, file in zip(summaries, raw_files)]
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

    def _score_table(self, out: OutputDir, file, unit: int, names: list, run: Run) -> pa.Table:
        from dsir.io.rejects import rejected_rows

        z = load_arrays(out.scores(unit))
        n = len(z["hash"])
        rows = z["row"] if "row" in z else np.arange(n, dtype=np.int64)
        cols: dict[str, Any] = {"file": pa.array([file.path] * n, pa.string()), "row": pa.array(rows)}
        if "chunk" in z:
            cols.update(chunk=z["chunk"], start=z["start"], end=z["end"])
        if "ids" in z:
            cols["id"] = pa.LargeStringArray.from_buffers(n, pa.py_buffer(z["id_offsets"].astype(np.int64)),
                                                          pa.py_buffer(z["ids"].tobytes())).cast(pa.string())
        rule = self.settings.rule
        for t, name in enumerate(names):
            suffix = f"_{name}" if len(names) > 1 or name else ""
            cols[f"log_weight{suffix}"] = z["scores"][t]
            cols[f"weight{suffix}"] = rule.weights(z["scores"][t], z["n_ngrams"])
            cols[f"key{suffix}"] = z["keys"][t]
        cols["tokens"] = z["n_tokens"].astype(np.int64)
        cols["eligible"] = np.isfinite(z["keys"][0])
        if self.on_error == "skip":
            bad = rejected_rows(out.rejects("score", unit))
            cols["rejected"] = pa.array(np.isin(rows, bad))
        return pa.table(cols)

    # -- selecting ---------------------------------------------------------------------

    def select(self, raw: Any, output_dir: str | None = None, k: int | None = None, fraction: float | None = None,
               target: Any = None, output_format: str | None = None,
               overwrite: bool = False, report: bool = True, group_by: str | None = None,
               resume: bool = False, max_shard_docs: int | None = None,
               max_shard_bytes: int | str | None = None, dry_run: bool = False, tokens: int | None = None,
               target_eval: Any = None, decontaminate: Any = None,
               decontaminate_words: int = DEFAULT_DECONTAMINATE_WORDS, quality_rules: str = "none",
               dedup: str = "none", dedup_threshold: float = DEFAULT_THRESHOLD,
               dedup_permutations: int = DEFAULT_PERMUTATIONS, dedup_bands: int = DEFAULT_BANDS,
               mix: str | None = None, scores: Any = None, score_column: str | None = None,
               score_weight: float | None = None, score_range: Any = None, keep_top: float | None = None,
               balance_field: str | None = None, balance_entries: str | os.PathLike | None = None,
               balance_cap: int | None = None, scorer: str | None = None,
               zstd_frame_size: int | str | None = None,
               scorer_label: str | None = None) -> Any:
        """Select ``k`` (or ``fraction`` of the eligible) raw units into ``output_dir``, or with
        ``tokens`` units until their tokens reach that budget: in the order ``k`` ranks them
        (largest key first), up to and including the first that brings the total to ``tokens``
        or more (tokens as dsir counts them: the word and punctuation tokens of ``min_length``).
        Exactly one of ``k``, ``fraction`` and ``tokens``.

        Fits first when ``target`` is given (else uses this object's fit). Writes one shard
        per input file and target that has selected units (``part-NNNNN.<format>``, or
        ``part-NAME-NNNNN.<format>`` for named targets), then ``manifest.json``; returns the
        manifest. With ``group_by`` it counts the pool and the selection by that field, and
        unless ``report`` is false writes the report (``report.json``, ``report.html``,
        ``report/*.png``); both from the passes the selection makes anyway. With ``resume``,
        units an earlier (killed) run over the same inputs and parameters finished are
        reused from ``output_dir/_dsir``. A shard that would hold more than ``max_shard_docs``
        records or ``max_shard_bytes`` bytes (an integer, or a size such as ``"500MB"`` or
        ``"1GiB"``) is cut, in order, into pieces ``part-NNNNN.MMMMM.<format>``
        (``pipeline.output_dir``). ``zstd_frame_size`` writes jsonl.zst shards in the seekable
        zstd format, a frame per that many bytes of lines, so that a later run can split them
        (``io.seekable_zstd``). ``target_eval`` (a path or a list of them, ``"NAME=PATH"`` for
        named targets; ``reports.target_eval``) are held-out target documents: the report then
        shows the perplexity on them of a bigram model trained on the selection against one
        trained on a uniform sample of the pool; it shapes the report, never the selection.
        ``decontaminate`` (paths, or in-memory data like ``target``: benchmark or held-out texts)
        makes every pool document that shares a run of ``decontaminate_words`` words with any of
        them ineligible (``filters.decontaminate``); the manifest counts them per file.
        ``quality_rules`` (``"gopher"`` or ``"c4"``; ``filters.quality_rules``) makes the documents
        that fail one of the preset's heuristic rules ineligible; the manifest counts them per rule.
        ``dedup`` (``"exact"`` or ``"near"``; ``dedup.rule``) selects no unit that duplicates one
        ranked above it (the same words, or an estimated Jaccard similarity of at least
        ``dedup_threshold`` over 5-word shingles, from MinHash signatures of
        ``dedup_permutations`` values in ``dedup_bands`` LSH bands): the first ``k`` distinct
        units in key order; the manifest counts the candidates dropped.
        ``mix`` (``"FIELD=VALUE:PROPORTION,..."``; ``sample.mixture``) splits the budget over a
        metadata field's values by largest remainder, each part filled with the largest keys
        among its own units; units of other values are not eligible (one target or none).
        ``scores`` (paths of parquet, Arrow or jsonl files with ``file`` and ``row`` columns, as
        ``score`` writes them, or the ``id_field`` column) and ``score_column``
        (``sample.outside``): per-document scores made elsewhere; without ``score_weight`` they
        are the keys (``k`` keeps the best scores; ``keep_top=F`` the best fraction F of the
        eligible units), with it ``score_weight * score`` is added to the importance keys;
        ``score_range`` (``"LO:HI"`` or a pair, either side None) makes the units scored
        outside it ineligible. ``scorer`` (``"fasttext:MODEL.bin"``, with ``scorer_label``; the
        ``fasttext`` extra) makes the scores in the score pass instead of reading them: each
        document's probability of that label under the fastText classifier, used as above.
        ``balance_field`` (a metadata field whose values are the entries) or ``balance_entries``
        (a file of entries, one per line, matched as lowercased substrings of the text), with
        ``balance_cap`` (``sample.balance``): MetaCLIP's balancing, each entry keeping its
        ``min(count, balance_cap)`` best-keyed units (a unit kept when any of its entries keeps
        it), the budget taking units in that balance order; units matching no entry are not
        eligible. With ``balance_cap`` and no budget, every unit the cap keeps (one target or none).

        ``raw`` and ``target`` are paths (a ``str`` or ``pathlib.Path``, or a list of them: files,
        directories, globs, URLs) or in-memory data: a list of texts or of dicts, a pyarrow
        ``Table``, ``RecordBatchReader`` or dataset, a pandas ``DataFrame``, a
        ``datasets.Dataset`` or ``IterableDataset``. Without ``output_dir`` (in-memory ``raw``
        only) nothing is kept on disk and the selected rows come back in ``raw``'s own type,
        in its order (a dict by target name for named targets); with it, the manifest.

        ``dry_run=True`` reads no document and writes nothing: it checks the options, the
        inputs and the output directory as the run would, and returns the plan (the files,
        each pass with the bytes it reads, what becomes of ``output_dir``).
        """
        limits = ShardLimits.of(max_shard_docs, max_shard_bytes, zstd_frame_size)
        rule = DedupRule(dedup, dedup_threshold, dedup_permutations, dedup_bands)
        mixture = Mixture.parse(mix) if mix is not None else None
        balance = Balance.of(balance_field, os.fspath(balance_entries) if balance_entries is not None else None,
                             balance_cap)
        if balance is not None and balance.cap is not None and k is None and fraction is None and tokens is None \
                and keep_top is None:
            fraction = 1.0  # every unit within the cap: MetaCLIP's own size
        low, high = (parse_range(score_range) if isinstance(score_range, str) else
                     tuple(score_range) if score_range is not None else (None, None))
        outside = OutsideOptions(tuple(_as_list(scores, "scores")) if scores is not None else (), score_column,
                                 score_weight, low, high, scorer, scorer_label)
        if keep_top is not None:
            if not outside.ranks_alone:
                raise UsageError("keep_top keeps the best scores: give scores (and no score_weight)")
            if fraction is not None or k is not None or tokens is not None:
                raise UsageError("keep_top is a budget: give it instead of k, fraction and tokens")
            fraction = keep_top
        with _Inputs(self.text_field, self.target_text_field) as inputs:
            raw_paths = inputs.paths(raw, "raw")
            target_paths = inputs.paths(target, "target") if target is not None else None
            filters = FilterOptions(tuple(inputs.paths(decontaminate, "decontaminate"))
                                    if decontaminate is not None else (), decontaminate_words, quality_rules)
            if output_dir is not None:
                return self._select(raw_paths, os.fspath(output_dir), Budget(k, fraction, tokens), target_paths,
                                    output_format, overwrite, report, group_by, resume, limits, dry_run,
                                    _as_list(target_eval, "target_eval") if target_eval is not None else None,
                                    filters, rule, mixture, outside, balance=balance)
            if dry_run:
                raise UsageError("dry_run describes a select into an output_dir: give one")
            if not inputs.spooled or inputs.spooled[0].path != raw_paths[0]:
                raise UsageError("select() of files needs an output_dir (only in-memory raw data can be selected "
                                 "into memory)")
            if output_format is not None or overwrite or resume or group_by is not None or limits \
                    or limits.zstd_frame_bytes:
                raise UsageError("output_format, overwrite, resume, group_by, max_shard_docs, max_shard_bytes and "
                                 "zstd_frame_size need an output_dir")
            if target_eval is not None:
                raise UsageError("target_eval needs an output_dir (for the report it shapes)")
            work = tempfile.mkdtemp(prefix="dsir-select-")
            try:
                manifest = self._select(raw_paths, work, Budget(k, fraction, tokens), target_paths, "parquet", False,
                                        False, None, False, filters=filters, dedup=rule, mix=mixture, balance=balance,
                                        scores=outside)
                return _selected_rows(work, manifest, inputs.spooled[0], self.text_field)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _select(self, raw: list[str], output_dir: str, budget: Budget, target: list[str] | None, output_format,
                overwrite: bool, report: bool, group_by, resume: bool,
                limits: ShardLimits = ShardLimits(), dry_run: bool = False,
                target_eval: list[str] | None = None, filters: FilterOptions = FilterOptions(),
                dedup: DedupRule = DedupRule(), mix: Mixture | None = None,
                scores: OutsideOptions = OutsideOptions(), balance: Balance | None = None) -> dict:
        alone = scores.ranks_alone  # the keys are the scores: no fit is used
        fit = None if target is not None or alone else self._fitted()
        if target is None and fit is None and not alone and METHODS[self.method].needs_target:
            raise UsageError("fit() (or load_model()) must come before this, or give a target")
        return plan.select(self.settings, self.engine, raw, output_dir, budget.k, budget.fraction, target,
                           output_format, overwrite, report, group_by, resume, fit=fit,
                           model_path=getattr(self, "model_path_", None), block_bytes=self.block_bytes,
                           on_fit=self._keep_fit, shard_limits=limits, dry_run=dry_run, tokens=budget.tokens,
                           target_eval=target_eval, filters=filters, dedup=dedup, mix=mix, scores=scores,
                           balance=balance, unit_bytes=self.unit_bytes)

    def _keep_fit(self, fit: plan.Fit) -> None:
        """What a select's own fit learned, kept as if ``fit()`` had run (for a later score or select)."""
        self.fit_, self.model_path_ = fit, None


class _Inputs:
    """The inputs of one call: paths as given, in-memory data spooled (``dsir.io.memory``);
    the spooled files are removed when the call succeeds, kept for a resume if not."""

    def __init__(self, text_field: str, target_text_field: str | None):
        self.text_field, self.target_text_field, self.spooled = text_field, target_text_field or text_field, []

    def paths(self, value: Any, role: str) -> list[str]:
        given = path_or_memory(value, role)
        if given is not None:
            return _as_list(given, role)
        spooled = spool(value, role, self.target_text_field if role in ("target", "decontaminate")
                        else self.text_field)
        self.spooled.append(spooled)
        return [spooled.path]

    def __enter__(self) -> _Inputs:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            release(self.spooled)


def _selected_rows(work: str, manifest: dict, raw: Spooled, text_field: str) -> Any:
    """The selection's shards in ``work``, read back in the type of the in-memory ``raw``."""
    def rows(names: list[str]) -> pa.Table:
        tables = [pq.read_table(os.path.join(work, n)) for n in names]
        if tables:
            return pa.concat_tables(tables)
        with pa.memory_map(raw.path) as source:
            return pa.ipc.open_stream(source).schema.empty_table()

    shards = [o["path"] for o in manifest["outputs"]]
    named = [t["name"] for t in manifest["per_target"] if t["name"]]
    if not named:
        return give_back(rows(shards), raw, text_field)
    return {name: give_back(rows([s for s in shards if is_target_shard(s, name)]), raw, text_field)
            for name in named}


def read_manifest(output_dir: str) -> dict:
    with open_binary(join_path(output_dir, MANIFEST)) as fh:  # a local path or URL
        return json.load(fh)


__all__ = ["DSIR", "DEFAULT_RAW_SAMPLE", "EXECUTION_PARAMS", "WORK_DIR", "read_manifest"]
