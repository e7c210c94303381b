"""Collect every number of a report from an output directory into ``report.json``.

Inputs: ``OUT/manifest.json`` (inputs, targets, parameters, counts), ``OUT/_dsir/model.npz``
(the fitted models), ``OUT/_dsir/scores-NNNNN.npz`` (per-document log-weight, tokens, hash,
key) and ``OUT/_dsir/groups-*.json`` (compositions stored by ``--group-by``). The input files
are read again, once, for bounded samples (n-gram counts of the pool and of the selection,
n-gram names, example documents, target lengths); the sample sizes are part of the report.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass

import numpy as np

from dsir import __version__
from dsir.engines.local import LocalEngine
from dsir.errors import InputError
from dsir.estimate import ImportanceEstimator
from dsir.featurize.ngram_names import BucketNames
from dsir.io.paths import expand_paths
from dsir.io.writers import write_json_atomic
from dsir.metrics import effective_sample_size, kl_reduction, length_summary, top_bucket_share
from dsir.pipeline.tasks import ReadSpec
from dsir.reports.tasks import PoolSampleTask, TargetSampleTask, pool_sample_task, target_sample_task
from dsir.sample.gumbel import Threshold, find_threshold

REPORT_FORMAT_VERSION = 1
WORK_DIR = "_dsir"


@dataclass(frozen=True)
class ReportOptions:
    """Bounds of the report's samples and how much it shows.

    ``sample_documents``: documents of the pool and of the selection whose n-grams enter the
    KL numbers (the same number for both, at most the selection's size);
    ``names_documents``: documents of the pool and of the target whose n-grams name the
    buckets; ``target_documents``: target documents whose lengths are shown;
    ``buckets_shown``: n-gram buckets listed as raising and as lowering the weight;
    ``examples``: documents shown per group (top, at the threshold, bottom), cut to
    ``example_chars`` characters.
    """

    sample_documents: int = 20_000
    names_documents: int = 2_000
    target_documents: int = 20_000
    buckets_shown: int = 15
    examples: int = 3
    example_chars: int = 600
    histogram_bins: int = 60


def read_manifest(output_dir: str) -> dict:
    """``OUT/manifest.json``, or an error saying this is not a finished selection."""
    try:
        with open(os.path.join(output_dir, "manifest.json"), encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError("no manifest.json: not the output directory of a finished 'dsir select'",
                         path=output_dir) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read manifest.json ({exc})", path=output_dir) from None


def _load_scores(work: str, n_files: int) -> list[dict[str, np.ndarray]]:
    out = []
    for i in range(n_files):
        path = os.path.join(work, f"scores-{i:05d}.npz")
        try:
            with np.load(path, allow_pickle=False) as z:
                out.append({k: z[k] for k in ("log_weight", "n_tokens", "hash", "key")})
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"cannot read the scores of this run ({exc}); was the selection complete?", path=path) from exc
    return out


def _threshold(scores: list[dict[str, np.ndarray]], requested: int) -> Threshold | None:
    keys = [s["key"] for s in scores]
    if not any(np.isfinite(k).any() for k in keys):
        return None
    return find_threshold(keys, requested, lambda u: scores[u]["hash"])


def selection_masks(work: str, manifest: dict) -> tuple[list[dict[str, np.ndarray]], Threshold | None, list[np.ndarray]]:
    """The run's scores, its threshold and per-file selected masks, recomputed from ``_dsir``
    exactly as ``select`` computed them (checked against the manifest's counts)."""
    scores = _load_scores(work, len(manifest["inputs"]))
    threshold = _threshold(scores, manifest["counts"]["requested"])
    masks = [threshold.mask(i, s["key"]) if threshold else np.zeros(len(s["key"]), bool) for i, s in enumerate(scores)]
    for m, entry in zip(masks, manifest["inputs"]):
        if int(m.sum()) != entry["selected"]:
            raise InputError(f"the scores say {int(m.sum())} documents of {entry['path']} are selected, the manifest "
                             f"{entry['selected']}: the output directory is inconsistent", path=work)
    return scores, threshold, masks


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(values, bins=edges)[0].astype(int).tolist()


def _length_edges(*arrays: np.ndarray, bins: int) -> np.ndarray:
    """Log-spaced bin edges from the shortest to the longest document (at least 1 token)."""
    top = max([int(a.max()) for a in arrays if len(a)] + [1])
    low = max(1, min([int(a.min()) for a in arrays if len(a)] + [top]))
    return np.unique(np.round(np.geomspace(low, top + 1, bins + 1))).astype(float)


def _names_of(names: BucketNames, bucket: int, m: int = 3) -> list[str]:
    """The bucket's commonest strings; those seen under a fifth as often as the first are
    mostly hash collisions with rare n-grams and would only add noise."""
    top = names.top(bucket, m)
    return [s for s, c in top if c * 5 >= top[0][1]] if top else []


def _example(scores, masks, files, texts, unit: int, row: int) -> dict:
    s = scores[unit]
    return {"file": files[unit]["path"], "row": row, "log_weight": float(s["log_weight"][row]),
            "tokens": int(s["n_tokens"][row]), "selected": bool(masks[unit][row]),
            "text": texts.get((unit, row), "")}


def _pick(values: np.ndarray, index: np.ndarray, starts: np.ndarray, m: int, largest: bool) -> list[tuple[int, int]]:
    """``(file, row)`` of the ``m`` largest (or smallest) ``values``; ``index`` maps them to
    positions in the concatenation of all files, ``starts`` is where each file begins."""
    if len(values) == 0:
        return []
    keys = -values if largest else values
    m = min(m, len(keys))
    first = np.argpartition(keys, m - 1)[:m] if m < len(keys) else np.arange(len(keys))
    first = first[np.lexsort((index[first], keys[first]))]  # ties in file order
    units = np.searchsorted(starts, index[first], side="right") - 1
    return [(int(u), int(i - starts[u])) for u, i in zip(units, index[first])]


def collect_report(output_dir: str, engine=None, options: ReportOptions | None = None) -> dict:
    """Compute the report of the selection in ``output_dir``; return it (see ``write_report``)."""
    opts = options or ReportOptions()
    started = time.time()
    manifest = read_manifest(output_dir)
    work = os.path.join(output_dir, WORK_DIR)
    estimator = ImportanceEstimator.load(os.path.join(work, "model.npz"))
    f = estimator.featurizer
    params = manifest["parameters"]
    read = ReadSpec(params["text_field"], params.get("id_field"), on_error=params.get("on_error", "stop"))
    seed = int(params["seed"])
    scores, threshold, masks = selection_masks(work, manifest)
    raw_files = expand_paths([e["path"] for e in manifest["inputs"]], "raw") if manifest["inputs"] else []
    engine = engine or LocalEngine(1, progress=False)

    lw_all = np.concatenate([s["log_weight"] for s in scores]) if scores else np.empty(0)
    tokens_all = np.concatenate([s["n_tokens"] for s in scores]) if scores else np.empty(0, np.int32)
    key_all = np.concatenate([s["key"] for s in scores]) if scores else np.empty(0)
    sel_all = np.concatenate(masks) if masks else np.empty(0, bool)
    starts = np.concatenate([[0], np.cumsum([len(s["key"]) for s in scores])]).astype(np.int64)
    eligible = np.isfinite(key_all)
    n_pool, n_eligible, n_selected = len(key_all), int(eligible.sum()), int(sel_all.sum())

    # buckets worth naming: those that raise or lower the weight most, and the target's commonest
    # A bucket's pull on weights is its log-ratio times how often it occurs: p_target * log_ratio
    # is what it adds to a typical target document (a term of KL(target || raw)), p_raw * log_ratio
    # what it takes from a typical raw one. Ranking by log-ratio alone would list rare buckets
    # seen twice in the target and never in the raw sample.
    log_ratio = estimator.log_ratio_
    b = opts.buckets_shown
    raise_score = np.exp(estimator.target_log_prob_) * log_ratio
    lower_score = np.exp(estimator.raw_log_prob_) * log_ratio
    raising = np.argsort(-raise_score, kind="stable")[:b]
    raising = raising[log_ratio[raising] > 0]
    lowering = np.argsort(lower_score, kind="stable")[:b]
    lowering = lowering[log_ratio[lowering] < 0]
    common = np.argsort(-estimator.target_counts_, kind="stable")[: 3 * b]
    name_buckets = np.unique(np.concatenate([raising, lowering, common]))

    # examples: highest weights, the selected documents nearest the threshold, lowest weights
    e = opts.examples
    elig_idx = np.flatnonzero(eligible)
    sel_idx = np.flatnonzero(sel_all)
    picks = {
        "top": _pick(lw_all[elig_idx], elig_idx, starts, e, largest=True),
        "threshold": _pick(key_all[sel_idx], sel_idx, starts, e, largest=False),
        "bottom": _pick(lw_all[elig_idx], elig_idx, starts, e, largest=False),
    }
    wanted: dict[int, set[int]] = {}
    for group in picks.values():
        for unit, row in group:
            wanted.setdefault(unit, set()).add(row)

    sample = min(opts.sample_documents, n_selected)
    tasks = [
        PoolSampleTask(i, file, read, f, scores[i]["hash"], masks[i], seed,
                       pool_rate=min(1.0, sample / n_pool) if n_pool else 0.0,
                       selected_rate=min(1.0, sample / n_selected) if n_selected else 0.0,
                       names_rate=min(1.0, opts.names_documents / n_pool) if n_pool else 0.0,
                       name_buckets=name_buckets, example_rows=tuple(sorted(wanted.get(i, ()))),
                       example_chars=opts.example_chars)
        for i, file in enumerate(raw_files)
    ]
    pool_parts = engine.map(pool_sample_task, tasks, "report: sample pool", [r.size for r in raw_files])
    pool_counts = sum((p.pool_counts for p in pool_parts), np.zeros(f.buckets, np.int64))
    selected_counts = sum((p.selected_counts for p in pool_parts), np.zeros(f.buckets, np.int64))
    raw_names = BucketNames(name_buckets, f)
    texts: dict[tuple[int, int], str] = {}
    for p in pool_parts:
        raw_names.merge(p.names)
        texts.update({(p.unit, row): t for row, t in p.examples.items()})

    target_paths = [t["path"] for t in manifest.get("targets", [])]
    target_docs = estimator.stats_.target_documents
    target_names = BucketNames(name_buckets, f)
    target_lengths = np.empty(0, np.int32)
    if target_paths:
        target_files = expand_paths(target_paths, "target")
        ttasks = [TargetSampleTask(t, read, f, seed, min(1.0, opts.target_documents / max(1, target_docs)),
                                   min(1.0, opts.names_documents / max(1, target_docs)), name_buckets)
                  for t in target_files]
        tparts = engine.map(target_sample_task, ttasks, "report: sample target", [t.size for t in target_files])
        target_lengths = np.concatenate([p.lengths for p in tparts]) if tparts else target_lengths
        for p in tparts:
            target_names.merge(p.names)
    names = BucketNames(name_buckets, f, capacity=raw_names.capacity).merge(target_names).merge(raw_names)

    # KL numbers
    smoothing = estimator.smoothing
    kl = kl_reduction(estimator.target_counts_, pool_counts, selected_counts, smoothing)
    contributions = kl.contributions
    top_contrib = np.argsort(-contributions, kind="stable")[:b]
    p_target = estimator.target_counts_ + smoothing
    p_target = p_target / p_target.sum()

    def bucket_row(bucket: int) -> dict:
        return {"bucket": int(bucket), "log_ratio": float(log_ratio[bucket]),
                "target_effect": float(raise_score[bucket]), "raw_effect": float(lower_score[bucket]),
                "target_count": int(estimator.target_counts_[bucket]), "raw_count": int(estimator.raw_counts_[bucket]),
                "names": _names_of(names, bucket)}

    # distributions
    lw_elig = lw_all[eligible]
    lw_edges = (np.linspace(float(lw_elig.min()), float(lw_elig.max()), opts.histogram_bins + 1)
                if len(lw_elig) and lw_elig.max() > lw_elig.min() else
                np.array([float(lw_elig.min()) - 0.5, float(lw_elig.min()) + 0.5]) if len(lw_elig) else np.array([0.0, 1.0]))
    kth = float(np.sort(lw_elig)[::-1][min(n_selected, len(lw_elig)) - 1]) if n_selected and len(lw_elig) else None
    sel_tokens = tokens_all[sel_all]
    len_edges = _length_edges(target_lengths, tokens_all, sel_tokens, bins=40)
    sel_text_bytes = sum(p.selected_text_bytes for p in pool_parts)
    counts = manifest["counts"]

    groups = []
    for path in sorted(glob.glob(os.path.join(work, "groups-*.json"))):
        with open(path, encoding="utf-8") as fh:
            groups.append(json.load(fh))

    report = {
        "report_format_version": REPORT_FORMAT_VERSION,
        "dsir_version": __version__,
        "targets": [t["path"] for t in manifest.get("targets", [])],
        "inputs": len(manifest["inputs"]),
        "parameters": params,
        "method": "top-k of log-weights" if params.get("top_k") else "importance resampling (Gumbel top-k)",
        "fit": manifest.get("fit", {}),
        "counts": {
            "pool_documents": n_pool, "eligible_documents": n_eligible, "requested": counts["requested"],
            "selected_documents": n_selected,
            "pool_tokens": int(tokens_all.sum(dtype=np.int64)), "selected_tokens": int(sel_tokens.sum(dtype=np.int64)),
            "pool_text_bytes": int(counts["text_bytes"]), "selected_text_bytes": int(sel_text_bytes),
            "selected_output_bytes": int(sum(o["bytes"] for o in manifest.get("outputs", []))),
            "selected_fraction_of_pool": n_selected / n_pool if n_pool else 0.0,
            "selected_fraction_of_eligible": n_selected / n_eligible if n_eligible else 0.0,
            "selected_fraction_of_tokens": (float(sel_tokens.sum(dtype=np.int64) / tokens_all.sum(dtype=np.int64))
                                            if tokens_all.sum(dtype=np.int64) else 0.0),
        },
        "kl": {
            "units": "nats",
            "kl_target_raw": kl.kl_target_raw,
            "kl_target_selected": kl.kl_target_selected,
            "reduction": kl.reduction,
            "relative_reduction": kl.relative_reduction,
            "top_bucket_share": {str(m): top_bucket_share(contributions, m) for m in (10, 100, 1000)
                                 if m < f.buckets},
            "smoothing": smoothing,
            "feature_space": f.params,
            "samples": {
                "target": {"documents": int(target_docs), "ngrams": int(estimator.target_counts_.sum()),
                           "what": "all target documents (the fitted target model)"},
                "raw": {"documents": sum(p.pool_documents for p in pool_parts), "ngrams": int(pool_counts.sum()),
                        "what": "uniform random sample of the pool, as many documents as the selection sample"},
                "selected": {"documents": sum(p.selected_documents for p in pool_parts),
                             "ngrams": int(selected_counts.sum()),
                             "what": f"uniform random sample of the selection (at most {opts.sample_documents})"},
            },
            "top_contributions": [
                {**bucket_row(int(bk)), "contribution": float(contributions[bk]), "p_target": float(p_target[bk])}
                for bk in top_contrib],
            "cumulative_share": _cumulative_share(contributions),
        },
        "weights": {
            "effective_sample_size": effective_sample_size(lw_elig) if len(lw_elig) else 0.0,
            "effective_sample_size_fraction": effective_sample_size(lw_elig) / len(lw_elig) if len(lw_elig) else 0.0,
            "over": "eligible pool documents, weights exp(log_weight)",
            "log_weight": length_summary(np.zeros(0)).as_dict() if not len(lw_elig) else _float_summary(lw_elig),
            "threshold_key": threshold.value if threshold is not None and not threshold.select_all else None,
            "kth_largest_log_weight": kth,
            "histogram": {"edges": lw_edges.tolist(), "pool": _histogram(lw_elig, lw_edges),
                          "selected": _histogram(lw_all[sel_all], lw_edges)},
        },
        "lengths": {
            "units": "tokens",
            "target": {**length_summary(target_lengths).as_dict(), "sampled": bool(len(target_lengths) < target_docs),
                       "available": bool(target_paths)},
            "pool": length_summary(tokens_all).as_dict(),
            "selected": length_summary(sel_tokens).as_dict(),
            "histogram": {"edges": len_edges.tolist(), "target": _histogram(target_lengths, len_edges),
                          "pool": _histogram(tokens_all, len_edges), "selected": _histogram(sel_tokens, len_edges)},
        },
        "why": {
            "raising": [bucket_row(int(bk)) for bk in raising],
            "lowering": [bucket_row(int(bk)) for bk in lowering],
            "names_sample": {"target_documents": target_names.documents_, "raw_documents": raw_names.documents_,
                             "skipped_documents": names.skipped_},
        },
        "examples": {k: [_example(scores, masks, manifest["inputs"], texts, u, r) for u, r in v] for k, v in picks.items()},
        "compositions": groups,
    }
    if not (pool_counts.sum() and selected_counts.sum()):
        # nothing selected (or only empty documents): there is no distribution to compare
        for key in ("kl_target_raw", "kl_target_selected", "reduction", "relative_reduction"):
            report["kl"][key] = None
        report["kl"]["top_bucket_share"] = {m: None for m in report["kl"]["top_bucket_share"]}
        report["kl"]["top_contributions"] = []
        report["kl"]["cumulative_share"] = {"buckets": [], "share": []}
    # timings vary from run to run: kept out of report.json, which is reproducible byte for byte
    write_json_atomic(os.path.join(work, "report-run.json"), {"seconds": round(time.time() - started, 3)})
    return report


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
