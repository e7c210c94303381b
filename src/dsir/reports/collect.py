"""Collect every number of a report into ``report.json``, from what the run itself used.

Inputs, all under ``OUT``: ``manifest.json`` (parameters, counts), ``_dsir/fit.npz`` (each
target's score vector and bucket counts, the target samples), ``_dsir/scores-NNNNN.npz``
(each unit's scores and keys), ``_dsir/report-samples.*`` (the pool and selection samples
the write pass took, the equal texts' word ids among them), ``_dsir/groups-*.json``
(``--group-by``) and ``_dsir/target-eval.json`` (``--target-eval``, whose files are read
again for every report). The allocation is
recomputed from the keys exactly as ``select`` did it and checked against the manifest, so
the weights, cut, histogram and effective sample size shown are those of the keys the
selection was made with, whatever the method, weighting, temperature, chunks or targets.

``dsir report OUT`` reads the raw files again only when it needs other samples than the
run took (another ``--sample-documents``, a new ``--group-by`` field).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dsir import __version__
from dsir.engines.local import LocalEngine
from dsir.errors import InputError
from dsir.featurize import Featurizer, featurizer_of_params
from dsir.featurize.ngram_names import BucketNames
from dsir.io.paths import expand_paths, open_binary
from dsir.io.storage import open_npz, save_npz
from dsir.io.writers import write_json_atomic
from dsir.metrics import distinct_bigrams, effective_sample_size, kl_reduction, length_summary, top_bucket_share
from dsir.metrics.perplexity import KN_DISCOUNT
from dsir.metrics.text import WORD_BUCKETS
from dsir.pipeline.output_dir import OutputDir
from dsir.reports.groups import composition, merge_groups
from dsir.reports.samples import SampleSpec, names_from
from dsir.reports.target_eval import (
    STORED, check_target_eval, heldout_perplexity, load_target_eval, no_perplexity, resolve_target_eval,
    save_target_eval,
)
from dsir.reports.text_sample import EqualText, equal_texts, plan_text
from dsir.sample.allocate import Allocation, allocate_targets
from dsir.sample.methods import IMPORTANCE_METHODS, KeyRule

REPORT_FORMAT_VERSION = 2


@dataclass(frozen=True)
class ReportOptions:
    """Bounds of the report's samples and how much it shows.

    ``sample_documents``: units of the pool and of each target's selection whose n-grams
    enter the KL numbers (the same number for both, at most the selection's size);
    ``names_documents``: units of the pool whose n-grams name the buckets;
    ``buckets_shown``: n-gram buckets listed as raising and as lowering the weight;
    ``examples``: units shown per group (top, at the threshold, bottom), cut to
    ``example_chars`` characters; ``text_words``: the most words of each equal text
    (``reports.text_sample``) the diversity and perplexity are measured on.
    """

    sample_documents: int = 20_000
    names_documents: int = 500
    buckets_shown: int = 15
    examples: int = 3
    example_chars: int = 600
    histogram_bins: int = 60
    text_words: int = 250_000


def read_manifest(out: OutputDir) -> dict:
    """``OUT/manifest.json``, or an error saying this is not a finished selection."""
    try:
        with open_binary(out.manifest) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError("no manifest.json: not the output directory of a finished 'dsir select'",
                         path=out.root) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read manifest.json ({exc})", path=out.root) from None


@dataclass
class RunView:
    """A finished run as the report sees it: its settings, fit, units and allocation."""

    manifest: dict
    rule: KeyRule
    featurizer: Featurizer
    smoothing: float
    score_vectors: np.ndarray
    target_counts: np.ndarray
    raw_counts: np.ndarray
    fit_arrays: dict
    scores: list[dict]
    assigned: list[np.ndarray]
    thresholds: list
    names: list[str | None]
    duplicates: list = field(default_factory=list)  # per target with --dedup: ``allocate.Duplicates``

    def weights(self, t: int) -> np.ndarray:
        """The weight each unit was ranked on for target ``t`` (before noise), all files."""
        if not self.scores:
            return np.empty(0)
        return np.concatenate([self.rule.weights(s["scores"][t], s["n_ngrams"]) for s in self.scores])

    def concat(self, name: str) -> np.ndarray:
        return np.concatenate([s[name] for s in self.scores]) if self.scores else np.empty(0)

    def concat_eligible(self) -> np.ndarray:
        """Whether each unit (all files) could be selected: its key is finite."""
        return np.concatenate([np.isfinite(s["keys"][0]) for s in self.scores]) if self.scores else np.empty(0, bool)


def load_run(out: OutputDir, manifest: dict | None = None, allocation: Allocation | None = None) -> RunView:
    """Read a finished run back, with its ``allocation`` (given by the select that made it, or
    recomputed from the keys exactly as that select did), checked against the manifest."""
    manifest = manifest or read_manifest(out)
    p = manifest["parameters"]
    try:
        with open_npz(out.fit) as z:
            fit_arrays = {k: z[k] for k in z.files}
        scores = []
        for i in range(len(manifest["inputs"])):
            with open_npz(out.scores(i)) as z:
                scores.append({k: z[k] for k in z.files})
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read the work files of this run ({exc}); was the selection complete?",
                         path=out.work) from exc
    by_tokens = p.get("tokens") is not None
    shares = [t["requested_tokens"] if by_tokens else t["requested"] for t in manifest["per_target"]]
    dedup = dedup_rule_of(manifest)
    column = "exact" if dedup is not None and dedup.mode == "exact" else "minhash"
    sizes = [s["n_tokens"].astype(np.int64) for s in scores]
    if allocation is not None:
        alloc = allocation
    elif manifest.get("mix"):
        from dsir.sample.mixture import Mixture, allocate_mixture

        m = manifest["mix"]
        mix = Mixture(m["field"], tuple(x["value"] for x in m["parts"]), tuple(x["proportion"] for x in m["parts"]))
        alloc, _ = allocate_mixture([s["keys"] for s in scores], [s["part"] for s in scores],
                                    lambda u: scores[u]["hash"], mix.shares(shares[0]), sizes, by_tokens, dedup,
                                    lambda u: scores[u][column])
    elif manifest.get("balance"):
        from dsir.sample.balance import load_balanced_keys

        b = manifest["balance"]
        # the ranks need the entries' ids only: the names are the manifest's
        balanced = load_balanced_keys(scores, b["cap"], None if b["field"] else [""] * b["entries"])
        alloc = allocate_targets([k[None, :] for k in balanced.keys], lambda u: scores[u]["hash"], shares, sizes,
                                 by_tokens=by_tokens, dedup=dedup, signatures=lambda u: scores[u][column])
    else:
        alloc = allocate_targets([s["keys"] for s in scores], lambda u: scores[u]["hash"], shares, sizes,
                                 by_tokens=by_tokens, dedup=dedup, signatures=lambda u: scores[u][column])
    for a, entry in zip(alloc.assigned, manifest["inputs"]):
        if int((a >= 0).sum()) != entry["selected"]:
            raise InputError(f"the scores say {int((a >= 0).sum())} units of {entry['path']} are selected, the "
                             f"manifest {entry['selected']}: the output directory is inconsistent", path=out.work)
    feat = p["featurizer"]
    return RunView(manifest, KeyRule(p["method"], p["weighting"], p["temperature"], p["top_k"]),
                   featurizer_of_params(feat), float(p["smoothing"]),
                   fit_arrays["score_vectors"], fit_arrays["target_counts"], fit_arrays["raw_counts"], fit_arrays,
                   scores, alloc.assigned, alloc.thresholds, [t["name"] for t in manifest["per_target"]],
                   alloc.duplicates)


def dedup_rule_of(manifest: dict):
    """The ``DedupRule`` a run's manifest records (None without ``--dedup``)."""
    d = manifest.get("dedup")
    if not d:
        return None
    from dsir.dedup.rule import DedupRule

    if d["mode"] == "exact":
        return DedupRule("exact")
    return DedupRule("near", d["threshold"], d["permutations"], d["bands"])


# -- what the report samples (planned before the write pass) -----------------------------


@dataclass
class Picks:
    name_buckets: np.ndarray
    examples: list[dict]  # per target: {"top"|"threshold"|"bottom": [(file, unit)]}
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (file, unit) of the --dedup examples


def _pick(values: np.ndarray, index: np.ndarray, starts: np.ndarray, m: int, largest: bool) -> list[tuple[int, int]]:
    """``(file, unit)`` of the ``m`` largest (or smallest) ``values``; ``index`` maps them to
    positions in the concatenation of all files, ``starts`` is where each file begins."""
    if len(values) == 0:
        return []
    keys = -values if largest else values
    m = min(m, len(keys))
    first = np.argpartition(keys, m - 1)[:m] if m < len(keys) else np.arange(len(keys))
    first = first[np.lexsort((index[first], keys[first]))]  # ties in file order
    units = np.searchsorted(starts, index[first], side="right") - 1
    return [(int(u), int(i - starts[u])) for u, i in zip(units, index[first])]


def _bucket_effects(view_vectors: np.ndarray, target_counts: np.ndarray, raw_counts: np.ndarray, t: int,
                    smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """A bucket's pull on the weights: its score times how often it occurs in the target
    (raise) or in the raw data (lower). Ranking by the score alone would list rare buckets
    seen twice in the target and never in the raw sample."""
    v = view_vectors[t]
    pt = (target_counts[t] + smoothing) / (target_counts[t].sum() + smoothing * len(v))
    pr = (raw_counts + smoothing) / (raw_counts.sum() + smoothing * len(v))
    return pt * v, pr * v


def plan_picks(view: RunView, opts: ReportOptions) -> Picks:
    """The buckets to name and the example units, from the keys and weights alone."""
    b, e = opts.buckets_shown, opts.examples
    buckets = []
    for t in range(len(view.names)):
        if not view.score_vectors[t].any():
            continue
        raise_score, lower_score = _bucket_effects(view.score_vectors, view.target_counts, view.raw_counts, t,
                                                   view.smoothing)
        buckets += [np.argsort(-raise_score, kind="stable")[:b], np.argsort(lower_score, kind="stable")[:b],
                    np.argsort(-view.target_counts[t], kind="stable")[: 3 * b]]
    name_buckets = np.unique(np.concatenate(buckets)) if buckets else np.empty(0, np.int64)
    keys0 = [s["keys"] for s in view.scores]
    starts = np.concatenate([[0], np.cumsum([k.shape[1] for k in keys0])]).astype(np.int64)
    eligible = np.isfinite(np.concatenate([k[0] for k in keys0])) if keys0 else np.empty(0, bool)
    assigned = np.concatenate(view.assigned) if view.assigned else np.empty(0, np.int16)
    examples = []
    for t in range(len(view.names)):
        w = view.weights(t)
        keys = np.concatenate([k[t] for k in keys0]) if keys0 else np.empty(0)
        elig = np.flatnonzero(eligible)
        sel = np.flatnonzero(assigned == t)
        examples.append({"top": _pick(w[elig], elig, starts, e, True),
                         "threshold": _pick(keys[sel], sel, starts, e, False),
                         "bottom": _pick(w[elig], elig, starts, e, False)})
    duplicates = [pair for d in view.duplicates for f, u, kf, ku, _ in d.examples for pair in ((f, u), (kf, ku))]
    return Picks(name_buckets, examples, duplicates)


def sample_specs(view: RunView, opts: ReportOptions) -> list[SampleSpec]:
    """What the write pass (or a report pass) samples from each file."""
    picks = plan_picks(view, opts)
    n_pool = sum(s["keys"].shape[1] for s in view.scores)
    selected = [int(sum((a == t).sum() for a in view.assigned)) for t in range(len(view.names))]
    size = min(opts.sample_documents, max(selected) if selected else 0)
    seed = int(view.manifest["parameters"]["seed"])
    starts = np.cumsum([0] + [len(s["hash"]) for s in view.scores])
    keep = plan_text(view.concat("hash"), view.concat("n_tokens"), view.concat_eligible(),
                     np.concatenate(view.assigned) if view.assigned else np.empty(0, np.int16), len(view.names),
                     seed, opts.text_words)
    text = [np.flatnonzero(keep[a:b]) for a, b in zip(starts[:-1], starts[1:])]
    wanted: dict[int, set[int]] = {}
    for group in picks.examples:
        for units in group.values():
            for f, u in units:
                wanted.setdefault(f, set()).add(u)
    for f, u in picks.duplicates:
        wanted.setdefault(f, set()).add(u)
    return [SampleSpec(seed, min(1.0, size / n_pool) if n_pool else 0.0,
                       tuple(min(1.0, size / n) if n else 0.0 for n in selected),
                       min(1.0, opts.names_documents / n_pool) if n_pool else 0.0, picks.name_buckets,
                       tuple(sorted(wanted.get(i, ()))), opts.example_chars,
                       tuple(text[i].tolist()), tuple(keep[starts[i] + text[i]].tolist()))
            for i in range(len(view.scores))]


def plan_samples(run, fit, summaries, allocation, opts: ReportOptions | None = None) -> list[SampleSpec]:
    """``sample_specs`` for the run in progress (before its manifest exists)."""
    opts = opts or ReportOptions()
    s = run.settings
    scores = []
    for x in summaries:
        with open_npz(run.out.scores(x.unit)) as z:
            scores.append({k: z[k] for k in ("scores", "keys", "n_ngrams", "hash", "n_tokens")})
    manifest = {"parameters": {"seed": s.seed}}
    view = RunView(manifest, s.rule, s.featurizer, s.smoothing, fit.score_vectors, fit.target_counts,
                   fit.raw_counts, {}, scores, allocation.assigned, allocation.thresholds,
                   [None] * len(fit.score_vectors), allocation.duplicates)
    return sample_specs(view, opts)


def save_samples(out: OutputDir, specs: list[SampleSpec], writes: list) -> None:
    """Keep the write pass's samples (and the spec they were taken with) for ``dsir report``."""
    arrays = {"pool_counts": sum(w.pool_counts for w in writes),
              "selected_counts": sum(w.selected_counts for w in writes)}
    meta = {"specs": [_spec_key(s) for s in specs], "files": [w.sample for w in writes]}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    save_npz(out.samples, arrays)


def _spec_key(spec: SampleSpec) -> list:
    return [spec.pool_rate, list(spec.selected_rates), spec.names_rate, spec.name_buckets.tolist(),
            list(spec.example_units), spec.example_chars, spec.seed, list(spec.text_units), list(spec.text_words)]


def keep_target_eval(out: OutputDir, values: list[str]) -> None:
    """Match ``--target-eval`` values to the run's targets, check their files (as ``select``
    does) and keep them for this and later reports."""
    manifest = read_manifest(out)
    p = manifest["parameters"]
    evals = resolve_target_eval(values, [t["name"] for t in manifest["per_target"]])
    check_target_eval(evals, p.get("target_text_field") or p["text_field"], p.get("on_error", "stop"))
    save_target_eval(out.work_path(STORED), evals)


def save_groups(out: OutputDir, field: str, writes: list, target_names: list[str | None]) -> dict:
    """Merge the per-file ``--group-by`` counts and store them for the report."""
    result = composition(field, merge_groups([w.groups for w in writes]), target_names)
    write_json_atomic(out.groups(field), result)
    return result


def _load_samples(out: OutputDir, specs: list[SampleSpec]):
    try:
        with open_npz(out.samples) as z:
            meta = json.loads(z["meta"].tobytes())
            if meta["specs"] != [_spec_key(s) for s in specs]:
                return None
            return z["pool_counts"], z["selected_counts"], meta["files"]
    except (OSError, KeyError, ValueError):
        return None


def resample(out: OutputDir, view: RunView, specs: list[SampleSpec] | None, group_by: str | None, engine):
    """A report-only pass over the raw files (the write pass's sampling, without writing)."""
    from dsir.pipeline.tasks import ReadSpec, WriteTask, write_task

    p = view.manifest["parameters"]
    read = ReadSpec(p["text_field"], p.get("id_field"), on_error=p.get("on_error", "stop"))
    raw_files = expand_paths([e["path"] for e in view.manifest["inputs"]], "raw") if view.manifest["inputs"] else []
    tasks = [WriteTask(i, f, read, view.featurizer, "", view.assigned[i], (), "jsonl", p.get("emit", "documents"),
                       specs[i] if specs else None, group_by, out.scores(i)) for i, f in enumerate(raw_files)]
    return engine.map(write_task, tasks, "report: read pool", [f.size for f in raw_files])


# -- the report ------------------------------------------------------------------------------


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(values, bins=edges)[0].astype(int).tolist()


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    if not len(values):
        return np.array([0.0, 1.0])
    lo, hi = float(values.min()), float(values.max())
    return np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])


def _length_edges(*arrays: np.ndarray, bins: int) -> np.ndarray:
    """Log-spaced bin edges from the shortest to the longest unit (at least 1 token)."""
    top = max([int(a.max()) for a in arrays if len(a)] + [1])
    low = max(1, min([int(a.min()) for a in arrays if len(a)] + [top]))
    return np.unique(np.round(np.geomspace(low, top + 1, bins + 1))).astype(float)


def _names_of(names: BucketNames, bucket: int, m: int = 3) -> list[str]:
    """The bucket's commonest strings; those seen under a fifth as often as the first are
    mostly hash collisions with rare n-grams and would only add noise."""
    top = names.top(bucket, m)
    return [s for s, c in top if c * 5 >= top[0][1]] if top else []


def _float_summary(x: np.ndarray) -> dict:
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    return {"documents": int(len(x)), "mean": float(x.mean()), "min": float(x.min()), "p10": float(p10),
            "median": float(p50), "p90": float(p90), "max": float(x.max())}


def _cumulative_share(contributions: np.ndarray, points: int = 60) -> dict:
    """Share of the reduction carried by the top m buckets, at log-spaced m (for a curve)."""
    total = float(contributions.sum())
    ranked = np.cumsum(np.sort(contributions)[::-1])
    ms = np.unique(np.round(np.geomspace(1, len(contributions), points)).astype(int))
    share = (ranked[ms - 1] / total).tolist() if total > 0 else [float("nan")] * len(ms)
    return {"buckets": ms.tolist(), "share": share}


def _weight_label(rule: KeyRule) -> str:
    if rule.method == "random":
        return "none: random selection ranks on noise alone"
    if rule.method == "classifier":
        return "classifier probability that the unit is target-like (key: probability + Pareto noise)"
    if rule.method == "discriminative":
        per = ("classifier log-odds (mean per n-gram of its term)" if rule.weighting == "mean"
               else "classifier term summed over the n-grams")
    else:
        per = "mean log-ratio per n-gram" if rule.weighting == "mean" else "summed log-ratio over the n-grams"
    return f"{per} / temperature {rule.temperature:g} (the log of the resampling weight)"


def _text_sections(text: EqualText, evals, name: str | None, params: dict) -> dict:
    """The target's equal texts, their diversity, and the perplexity on its held-out documents
    (None without ``--target-eval``)."""
    equal = {"words": text.words, "selected_units": text.selected_units, "pool_units": text.pool_units,
             "what": f"the first {text.words:,} words (dsir's tokens) of this target's selected units and of the "
                     "eligible pool's units, each in a fixed pseudo-random order (the unit's hash and the seed), "
                     "the last unit cut"}
    diversity = {"what": "distinct word bigrams over word bigrams (within units) of each equal text",
                 "selected": distinct_bigrams(*text.selected) if text.words else None,
                 "pool": distinct_bigrams(*text.pool) if text.words else None}
    perplexity = None
    if evals is not None:
        perplexity = {"what": f"held-out perplexity of an interpolated Kneser-Ney bigram model (discount "
                              f"{KN_DISCOUNT}, {WORD_BUCKETS:,} hashed word ids) trained on each equal text",
                      "train_words": text.words}
        ev = None if isinstance(evals, str) else next((e for e in evals if e.name == name), None)
        if ev is not None:
            perplexity.update(heldout_perplexity(ev, text.selected, text.pool,
                                                 params.get("target_text_field") or params["text_field"],
                                                 params.get("on_error", "stop")))
        else:  # evals is the error of the kept files, or holds none for this target
            perplexity.update(no_perplexity(f"the --target-eval files kept for this report: {evals}"
                                            if isinstance(evals, str) else f"no --target-eval for target {name}"))
    return {"equal_text": equal, "diversity": diversity, "perplexity": perplexity}


def _verdict(kl: dict, name: str | None) -> str:
    who = f"target {name}" if name else "the target"
    if kl["reduction"] is None:
        return f"no KL numbers: there is no {who} distribution to compare with, or nothing was selected"
    if kl["reduction"] < 0:
        return (f"the selection is FARTHER from {who} than a uniform sample of the pool is: KL reduction "
                f"{kl['reduction']:.3f} nats ({100 * kl['relative_reduction']:.0f}%)")
    return (f"the selection is closer to {who} than a uniform sample of the pool: KL reduction "
            f"{kl['reduction']:.3f} nats ({100 * kl['relative_reduction']:.0f}% of KL(target ‖ pool))")


def filters_report(out: OutputDir, manifest: dict) -> dict | None:
    """What the run's filters excluded (the manifest's ``filters``) with the examples the score
    pass kept (``OUT/_dsir/filters.json``); None when no filter ran."""
    section = manifest.get("filters")
    if not section:
        return None
    from dsir.filters import FILTERED

    try:
        with open_binary(out.work_path(FILTERED)) as fh:
            tally = json.load(fh)
    except FileNotFoundError:
        tally = {}
    return {name: {**params, "examples": tally.get(name, {}).get("examples", [])} for name, params in section.items()}


def dedup_report(manifest: dict, view: RunView, example_text: dict) -> dict | None:
    """The manifest's ``dedup`` section, each example pair with both texts (as the write
    pass sampled them); None without ``--dedup``."""
    section = manifest.get("dedup")
    if not section:
        return None
    out = {k: v for k, v in section.items() if k != "per_target"}
    out["per_target"] = []
    for entry, d in zip(section["per_target"], view.duplicates):
        examples = [{**e, "text": example_text.get((f, u), ""), "kept_text": example_text.get((kf, ku), "")}
                    for e, (f, u, kf, ku, _) in zip(entry["examples"], d.examples)]
        out["per_target"].append({**entry, "examples": examples})
    return out


def collect_report(output_dir: str, engine=None, options: ReportOptions | None = None,
                   group_by: str | None = None, allocation: Allocation | None = None) -> dict:
    """Compute the report of the selection in ``output_dir`` (see the module docstring)."""
    opts = options or ReportOptions()
    started = time.time()
    out = OutputDir(output_dir)
    view = load_run(out, allocation=allocation)
    manifest, f, rule = view.manifest, view.featurizer, view.rule
    specs = sample_specs(view, opts)
    picks = plan_picks(view, opts)
    stored = _load_samples(out, specs)
    engine = engine or LocalEngine(1, progress=False)
    if stored is None or group_by:
        passes = resample(out, view, specs if stored is None else None, group_by, engine)
        if group_by:
            save_groups(out, group_by, passes, view.names)
        if stored is None:
            stored = (sum(w.pool_counts for w in passes), sum(w.selected_counts for w in passes),
                      [w.sample for w in passes])
    pool_counts, selected_counts, file_samples = stored
    n_targets = len(view.names)

    names = BucketNames(picks.name_buckets, f)
    for t in range(n_targets):
        texts = view.fit_arrays.get(f"names_{t}")
        if texts is not None and len(view.fit_arrays[f"names_offsets_{t}"]) > 1:
            offs = view.fit_arrays[f"names_offsets_{t}"].astype(np.int32)
            names.update(pa.StringArray.from_buffers(len(offs) - 1, pa.py_buffer(offs), pa.py_buffer(texts.tobytes())))
    target_named = names.documents_
    raw_named = 0
    example_text: dict[tuple[int, int], str] = {}
    for i, fs in enumerate(file_samples):
        if not fs:
            continue
        part = names_from(fs["names"], picks.name_buckets, f)
        raw_named += part.documents_
        names.merge(part)
        example_text.update({(i, int(u)): text for u, text in fs["examples"]})

    assigned_all = np.concatenate(view.assigned) if view.assigned else np.empty(0, np.int16)
    tokens_all = view.concat("n_tokens").astype(np.int64)
    eligible = np.isfinite(np.concatenate([s["keys"][0] for s in view.scores])) if view.scores else np.empty(0, bool)
    starts = np.concatenate([[0], np.cumsum([len(s["hash"]) for s in view.scores])]).astype(np.int64)
    selected_all = assigned_all >= 0
    equal = equal_texts(file_samples, starts, view.concat("hash"), tokens_all, eligible, assigned_all, n_targets,
                        int(manifest["parameters"]["seed"]), opts.text_words)
    evals = load_target_eval(out.work_path(STORED))
    n_pool, n_eligible, n_selected = len(assigned_all), int(eligible.sum()), int(selected_all.sum())
    bytes_all = view.concat("text_bytes").astype(np.int64)
    inputs = manifest["inputs"]

    def example(t: int, fi: int, u: int, w: np.ndarray) -> dict:
        s = view.scores[fi]
        row = int(s["row"][u]) if "row" in s else u
        return {"file": inputs[fi]["path"], "row": row, **({"chunk": int(s["chunk"][u])} if "chunk" in s else {}),
                "weight": float(w[starts[fi] + u]), "log_weight": float(s["scores"][t][u]),
                "tokens": int(s["n_tokens"][u]), "selected": bool(view.assigned[fi][u] == t),
                "text": example_text.get((fi, u), "")}

    sections = []
    for t, name in enumerate(view.names):
        entry = manifest["per_target"][t]
        w = view.weights(t)
        w_elig = w[eligible]
        sel = assigned_all == t
        has_target = bool(view.target_counts[t].sum())
        kl = kl_reduction(view.target_counts[t], pool_counts, selected_counts[t], view.smoothing) \
            if has_target and pool_counts.sum() and selected_counts[t].sum() else None
        raise_score, lower_score = _bucket_effects(view.score_vectors, view.target_counts, pool_counts
                                                   if not view.raw_counts.any() else view.raw_counts, t,
                                                   view.smoothing)
        vec = view.score_vectors[t]

        def bucket_row(bucket: int) -> dict:
            return {"bucket": int(bucket), "log_ratio": float(vec[bucket]), "score": float(vec[bucket]),
                    "target_effect": float(raise_score[bucket]), "raw_effect": float(lower_score[bucket]),
                    "target_count": int(view.target_counts[t][bucket]), "raw_count": int(view.raw_counts[bucket]),
                    "names": _names_of(names, bucket)}

        b = opts.buckets_shown
        raising = [x for x in np.argsort(-raise_score, kind="stable")[:b] if vec[x] > 0] if vec.any() else []
        lowering = [x for x in np.argsort(lower_score, kind="stable")[:b] if vec[x] < 0] if vec.any() else []
        n_sel = int(sel.sum())
        edges = _edges(w_elig, opts.histogram_bins)
        kth = float(np.sort(w_elig)[::-1][min(n_sel, len(w_elig)) - 1]) if n_sel and len(w_elig) else None
        thr = view.thresholds[t]
        esp = rule.method in IMPORTANCE_METHODS
        kl_out = {"units": "nats", "kl_target_raw": None, "kl_target_selected": None, "reduction": None,
                  "relative_reduction": None, "top_bucket_share": {}, "top_contributions": [],
                  "cumulative_share": {"buckets": [], "share": []}}
        if kl is not None:
            contributions = kl.contributions
            p_target = (view.target_counts[t] + view.smoothing) / (view.target_counts[t].sum() + view.smoothing * len(vec))
            kl_out = {
                "units": "nats", "kl_target_raw": kl.kl_target_raw, "kl_target_selected": kl.kl_target_selected,
                "reduction": kl.reduction, "relative_reduction": kl.relative_reduction,
                "top_bucket_share": {str(m): top_bucket_share(contributions, m) for m in (10, 100, 1000)
                                     if m < f.buckets},
                "top_contributions": [{**bucket_row(int(bk)), "contribution": float(contributions[bk]),
                                       "p_target": float(p_target[bk])}
                                      for bk in np.argsort(-contributions, kind="stable")[:b]],
                "cumulative_share": _cumulative_share(contributions),
            }
        kl_out.update({
            "smoothing": view.smoothing, "feature_space": f.params,
            "samples": {
                "target": {"documents": int(manifest["per_target"][t]["fit"]["target_documents"]),
                           "ngrams": int(view.target_counts[t].sum()),
                           "what": "all target documents (the fitted target model)"},
                "raw": {"documents": sum(fs.get("pool_units", 0) for fs in file_samples),
                        "ngrams": int(pool_counts.sum()),
                        "what": "uniform random sample of the pool's units, as many as the selection sample"},
                "selected": {"documents": sum(fs["selected_units"][t] for fs in file_samples if fs),
                             "ngrams": int(selected_counts[t].sum()),
                             "what": f"uniform random sample of this target's selection (at most "
                                     f"{opts.sample_documents})"},
            }})
        sections.append({
            "name": name, "paths": entry["paths"], "requested": entry["requested"], "selected": n_sel,
            "requested_tokens": entry.get("requested_tokens"), "selected_tokens": entry.get("selected_tokens"),
            "verdict": _verdict(kl_out, name),
            "kl": kl_out,
            **_text_sections(equal[t], evals, name, manifest["parameters"]),
            "weights": {
                "what": _weight_label(rule),
                "effective_sample_size": (effective_sample_size(w_elig) if len(w_elig) else 0.0) if esp else None,
                "effective_sample_size_fraction": (effective_sample_size(w_elig) / len(w_elig) if len(w_elig) else 0.0)
                if esp else None,
                "over": "eligible pool units, resampling weights exp(weight)" if esp else
                        "no resampling weights for this method",
                "log_weight": _float_summary(w_elig) if len(w_elig) else length_summary(np.zeros(0)).as_dict(),
                "threshold_key": thr.value if thr is not None and not thr.select_all else None,
                "kth_largest_log_weight": kth,
                "cut": ("the selection threshold (top-k: every selected unit is at or above it)" if rule.top_k else
                        "where a deterministic top-k would cut; the selection ranks on weight plus noise, so the "
                        "cut is soft"),
                "histogram": {"edges": edges.tolist(), "pool": _histogram(w_elig, edges),
                              "selected": _histogram(w[sel], edges)},
            },
            "why": {"raising": [bucket_row(int(x)) for x in raising],
                    "lowering": [bucket_row(int(x)) for x in lowering],
                    "names_sample": {"target_documents": target_named, "raw_documents": raw_named,
                                     "skipped_documents": names.skipped_}},
            "examples": {k: [example(t, fi, u, w) for fi, u in v] for k, v in picks.examples[t].items()},
        })

    target_lengths = view.fit_arrays.get("lengths_0", np.empty(0, np.int32))
    sel_tokens = tokens_all[selected_all]
    len_edges = _length_edges(target_lengths, tokens_all, sel_tokens, bins=40)
    counts = manifest["counts"]
    groups = []
    for name in out.names("_dsir"):
        if name.startswith("groups-") and name.endswith(".json"):
            with open_binary(out.work_path(name)) as fh:
                groups.append(json.load(fh))
    first = sections[0]
    params = manifest["parameters"]
    report = {
        "report_format_version": REPORT_FORMAT_VERSION,
        "dsir_version": __version__,
        "targets": sections,
        "target_paths": [x["path"] for x in manifest.get("targets", [])],
        "inputs": len(inputs),
        "parameters": params,
        "method": {"dsir": "top-k of weights" if params.get("top_k") else "importance resampling (Gumbel top-k)",
                   "reference": "reference package's estimator, "
                                + ("top-k of weights" if params.get("top_k") else "importance resampling (Gumbel top-k)"),
                   "discriminative": "a classifier's log-odds (density ratio by classification), "
                                     + ("top-k of weights" if params.get("top_k") else "importance resampling (Gumbel top-k)"),
                   "classifier": "heuristic classifier (Pareto keep rule)",
                   "random": "uniform random sample"}[rule.method],
        "unit": counts.get("unit", "documents"),
        "headline": first["verdict"] if len(sections) == 1 else
        "; ".join(f"{x['name']}: {x['verdict']}" for x in sections),
        "fit": manifest.get("fit") or {},
        "counts": {
            "unit": counts.get("unit", "documents"),
            "pool_documents": counts["documents"],
            f"pool_{counts.get('unit', 'documents')}": n_pool,
            f"eligible_{counts.get('unit', 'documents')}": n_eligible, "requested": counts["requested"],
            "requested_tokens": counts.get("requested_tokens"),
            f"selected_{counts.get('unit', 'documents')}": n_selected,
            "pool_tokens": int(tokens_all.sum()), "selected_tokens": int(sel_tokens.sum()),
            "pool_text_bytes": int(bytes_all.sum()), "selected_text_bytes": int(bytes_all[selected_all].sum()),
            "selected_output_bytes": int(sum(o["bytes"] for o in manifest.get("outputs", []))),
            "selected_fraction_of_pool": n_selected / n_pool if n_pool else 0.0,
            "selected_fraction_of_eligible": n_selected / n_eligible if n_eligible else 0.0,
            "selected_fraction_of_tokens": float(sel_tokens.sum() / tokens_all.sum()) if tokens_all.sum() else 0.0,
        },
        "kl": first["kl"],
        "equal_text": first["equal_text"],
        "diversity": first["diversity"],
        "perplexity": first["perplexity"],
        "weights": first["weights"],
        "lengths": {
            "units": "tokens",
            "target": {**length_summary(target_lengths).as_dict(),
                       "sampled": bool(len(target_lengths) < first["kl"]["samples"]["target"]["documents"]),
                       "available": bool(manifest.get("targets"))},
            "pool": length_summary(tokens_all).as_dict(),
            "selected": length_summary(sel_tokens).as_dict(),
            "histogram": {"edges": len_edges.tolist(), "target": _histogram(target_lengths, len_edges),
                          "pool": _histogram(tokens_all, len_edges), "selected": _histogram(sel_tokens, len_edges)},
        },
        "why": first["why"],
        "examples": first["examples"],
        "compositions": groups,
        "filters": filters_report(out, manifest),
        "dedup": dedup_report(manifest, view, example_text),
        "mix": manifest.get("mix"),
        "balance": manifest.get("balance"),
    }
    # timings vary from run to run: kept out of report.json, which is reproducible byte for byte
    write_json_atomic(out.work_path("report-run.json"), {"seconds": round(time.time() - started, 3)})
    return report
