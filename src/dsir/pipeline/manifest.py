"""The manifest: what a run did, with the parameters that did it, written last."""

from __future__ import annotations

import logging
import os
from dataclasses import fields

from dsir import __version__
from dsir.estimate.methods import METHODS
from dsir.io.memory import spool_folder
from dsir.io.rejects import gather_rejects
from dsir.io.writers import ShardLimits
from dsir.pipeline.output_dir import REJECTS_FILE, is_target_shard
from dsir.pipeline.targets import target_proportions

log = logging.getLogger("dsir")


def build_manifest(run, raw_files, targets: list, fit, summaries, writes, want, shares, budget, allocation,
                   output_format, warnings, model_path, shard_limits: ShardLimits = ShardLimits(),
                   group_by: str | None = None, report: bool = True, target_eval: list | None = None,
                   filters=None, dedup=None, mix=None, outside=None, balance=None) -> dict:
    """What was done, with the parameters that did it (``Settings``, every field), and the
    ``replay`` options that do it again."""
    s = run.settings
    selected_by_unit = {w.unit: sum(w.selected) for w in writes}
    per_target = [sum(w.selected[t] for w in writes) for t in range(len(targets))]
    warnings = run.warnings + list(warnings) + empty_file_warnings(raw_files, summaries, targets, fit)
    chunking = None
    if s.chunk_words:
        chunking = {
            "chunk_words": s.chunk_words, "emit": s.emit,
            "rule": ("words are runs of non-whitespace; a document of W words is cut into max(1, round(W / N)) "
                     "chunks of equal word counts (+-1)"),
            "documents": ("a document is scored by its average chunk (mean of its chunks' log-weights)"
                          if s.emit == "documents" else
                          f"each output record is one chunk: its document's fields, the chunk text in "
                          f"{s.text_field!r}, and 'chunk_index' (0-based)"),
        }
    target_docs = [[r.documents for r in rs] for rs in fit.target_results]
    target_rejected = [[r.rejected for r in rs] for rs in fit.target_results]
    manifest = {
        "dsir_version": __version__,
        "method": s.method,
        "method_version": METHODS[s.method].version,
        "parameters": {"k": budget.k, "fraction": budget.fraction, "tokens": budget.tokens,
                       "output_format": output_format,
                       "max_shard_docs": shard_limits.max_documents, "max_shard_bytes": shard_limits.max_bytes,
                       "zstd_frame_bytes": shard_limits.zstd_frame_bytes,
                       **{f.name: getattr(s, f.name) for f in fields(s)},
                       "featurizer": s.featurizer.params},
        "eligibility": (f"{s.unit_name} with at least {max(1, s.min_length)} tokens are eligible; "
                        "shorter (and empty) ones are never selected"),
        "chunking": chunking,
        "filters": filters_section(filters, summaries),
        "dedup": dedup_section(dedup, allocation, raw_files, [t.name for t in targets]),
        "mix": mix_section(mix, allocation, budget, shares, summaries, run),
        "scores": outside_section(outside, summaries, run),
        "balance": balance_section(balance, allocation, summaries),
        "fit": {**vars(fit.stats[0]), "target_rejected": sum(map(sum, target_rejected))}
        if s.method != "random" or any(t.files for t in targets) else None,
        "counts": {
            "documents": sum(x.documents for x in summaries),
            "unit": s.unit_name,
            "units": sum(x.units for x in summaries),
            "eligible": sum(x.eligible for x in summaries),
            "requested": None if budget.in_tokens else want,
            "selected": sum(selected_by_unit.values()),
            "requested_tokens": want if budget.in_tokens else None,
            "selected_tokens": sum(allocation.selected_tokens),
            "tokens": sum(x.tokens for x in summaries),
            "text_bytes": sum(x.text_bytes for x in summaries),
            "rejected": sum(x.rejected for x in summaries),
        },
        "targets": [{"path": f.path, "bytes": f.size, "documents": d, "rejected": r}
                    for t, docs, rej in zip(targets, target_docs, target_rejected)
                    for f, d, r in zip(t.files, docs, rej)],
        "model": model_path,
        "per_target": [
            {"name": t.name, "paths": [f.path for f in t.files], "proportion": p,
             "requested": None if budget.in_tokens else share, "selected": got,
             "requested_tokens": share if budget.in_tokens else None, "selected_tokens": got_tokens,
             **({"outputs": f"part-{t.name}-NNNNN.<format>"} if t.name else {}), "fit": vars(st)}
            for t, p, share, got, got_tokens, st in zip(targets, target_proportions([t.spec for t in targets]),
                                                        shares, per_target, allocation.selected_tokens, fit.stats)
        ],
        "inputs": [
            {"path": f.path, "bytes": f.size, "documents": x.documents, "units": x.units, "eligible": x.eligible,
             "selected": selected_by_unit.get(x.unit, 0), "rejected": x.rejected,
             "parts": len(run.raw_parts.of_file(i)) if run.raw_parts is not None else 1}
            for i, (f, x) in enumerate(zip(raw_files, summaries))
        ],
        "outputs": [
            {"path": sh["path"].rstrip("/").rsplit("/", 1)[-1], "documents": sh["documents"], "bytes": sh["bytes"],
             "sha256": sh["sha256"]}
            for w in writes for per_target in w.shards for sh in per_target
        ],
        "warnings": warnings,
        "replay": replay_options(s, raw_files, targets, model_path, k=budget.k, fraction=budget.fraction,
                                 tokens=budget.tokens,
                                 output_format=output_format, max_shard_docs=shard_limits.max_documents,
                                 max_shard_bytes=shard_limits.max_bytes,
                                 **({"zstd_frame_size": shard_limits.zstd_frame_bytes}
                                    if shard_limits.zstd_frame_bytes else {}),
                                 group_by=group_by, no_report=not report,
                                 target_eval=[f"{e.name}={p}" if e.name else p for e in target_eval for p in e.paths]
                                 if target_eval else None,
                                 decontaminate=[f["path"] for f in filters.describe()["decontaminate"]["files"]]
                                 if filters is not None and filters.decontaminate is not None else None,
                                 decontaminate_words=filters.decontaminate.words
                                 if filters is not None and filters.decontaminate is not None else None,
                                 quality_rules=filters.quality_rules.preset
                                 if filters is not None and filters.quality_rules is not None else None,
                                 **dedup_replay(dedup), **({"mix": str(mix)} if mix is not None else {}),
                                 **outside_replay(outside), **balance_replay(balance)),
    }
    if s.on_error == "skip":
        paths = [run.out.rejects("target", i) for i in range(sum(len(t.files) for t in targets))]
        paths += [run.out.rejects("score", i) for i in range(len(summaries))]
        n = gather_rejects(paths, run.out.path(REJECTS_FILE))
        manifest["rejects"] = {"path": REJECTS_FILE, "records": n}
        if n:
            msg = (f"{n} bad record{' was' if n == 1 else 's were'} skipped ({manifest['counts']['rejected']} raw, "
                   f"{manifest['fit']['target_rejected'] if manifest['fit'] else 0} target); each is listed with "
                   "its file, line and reason in {}")
            log.warning(msg.format(run.out.path(REJECTS_FILE)))
            manifest["warnings"].append(msg.format(REJECTS_FILE))
    return manifest


def filters_section(filters, summaries) -> dict | None:
    """What each filter excluded (``dsir.filters``), with its parameters and, for
    decontamination, the documents removed per file; None when no filter ran."""
    if filters is None or not filters.active:
        return None
    from dsir.filters import merge_tallies

    tally = merge_tallies([x.filtered for x in summaries])
    out = filters.describe()
    for name, section in out.items():
        got = tally.get(name, {"documents": 0})
        section["excluded_documents"] = got["documents"]
        if "files" in section:
            by = got.get("by_source", [0] * len(section["files"]))
            section["files"] = [{**f, "excluded_documents": n} for f, n in zip(section["files"], by)]
        if "rules" in section:  # a document failing several rules counts for each
            by = got.get("by_source", [0] * len(section["rules"]))
            section["failed_documents"] = dict(zip(section["rules"], by))
    return out


def dedup_section(dedup, allocation, raw_files, names: list) -> dict | None:
    """The ``--dedup`` rule and, per target, the candidates its walk examined and dropped as
    duplicates of a unit selected before (with the first examples, by file path and unit);
    None without one."""
    if dedup is None or not dedup.active:
        return None
    per_target = []
    for name, d in zip(names, allocation.duplicates):
        x = d.to_dict()
        for e in x["examples"]:
            e["file"], e["kept_file"] = raw_files[e["file"]].path, raw_files[e["kept_file"]].path
        per_target.append({"name": name, **x})
    return {**dedup.describe(), "dropped": sum(d.dropped for d in allocation.duplicates),
            "dropped_tokens": sum(d.dropped_tokens for d in allocation.duplicates), "per_target": per_target}


def mix_section(mix, allocation, budget, shares, summaries, run) -> dict | None:
    """``--mix``: the field and, per value, its proportion, its share of the budget, the units
    (and tokens) selected and how many were eligible; None without one."""
    if mix is None:
        return None
    import numpy as np

    from dsir.pipeline.tasks import load_arrays

    eligible = np.zeros(len(mix.values), np.int64)
    for x in summaries:
        z = load_arrays(run.out.scores(x.unit), ("part", "keys"))
        ok = np.isfinite(z["keys"][0]) if len(z["keys"]) else np.zeros(len(z["part"]), bool)
        eligible += np.bincount(z["part"][ok].astype(np.int64), minlength=len(mix.values))[:len(mix.values)]
    by_part = allocation.parts
    requested = mix.shares(shares[0])
    tokens = budget.in_tokens
    return {"field": mix.field, "rule": "largest remainder over the proportions; each part takes the largest keys "
                                        "among its own units",
            "parts": [{"value": v, "proportion": p, "share": round(q, 6), "eligible": int(e),
                       "requested": None if tokens else r, "selected": n,
                       "requested_tokens": r if tokens else None, "selected_tokens": nt}
                      for v, p, q, e, r, n, nt in zip(mix.values, mix.proportions, mix.shares_of_one, eligible,
                                                      requested, by_part.selected, by_part.selected_tokens)]}


def outside_section(outside, summaries, run) -> dict | None:
    """``--scores``: the files and how their scores were used, with the pool units that had a
    score, and of those, the ones in ``--score-range``; None without them."""
    if outside is None:
        return None
    import numpy as np

    from dsir.pipeline.tasks import load_arrays

    scored = in_range = 0
    for x in summaries:
        v = load_arrays(run.out.scores(x.unit), ("outside",))["outside"]
        u = outside.for_file(x.unit)
        scored += int((~np.isnan(v)).sum())
        in_range += int(u.eligible(v).sum())
    units = sum(x.units for x in summaries)
    return {**outside.describe(), "units_scored": scored, "units_without_score": units - scored,
            "units_in_range": in_range}


def balance_section(balance, allocation, summaries) -> dict | None:
    """A balance (``sample.balance``): its entries, cap and rule, the units it made ineligible,
    and the head and tail entries with their counts before and after (and, with a cap, the
    rule's ``min(count, cap)``); None without one."""
    if balance is None:
        return None
    from dsir.sample.balance import expected_counts, head_and_tail, reached_cap

    b = allocation.balance
    after = b.selected_counts(allocation.assigned)
    return {"field": balance.field, "entries_file": balance.entries_path, "cap": balance.cap,
            "rule": "each entry ranks its units by key and keeps its min(count, cap) best; a unit is kept when any "
                    "of its entries keeps it; the budget takes units by that rank, then by key",
            "entries": len(b.names), "entries_matched": int((b.counts > 0).sum()),
            "units_without_entry": sum(x.unmatched for x in summaries), "units_beyond_cap": b.beyond_cap,
            "cap_reached": reached_cap(b, allocation.assigned),
            **head_and_tail(b.names, b.counts, after, expected_counts(b.counts, balance.cap))}


def balance_replay(balance) -> dict:
    if balance is None:
        return {}
    return {"balance_field": balance.field, "balance_entries": balance.entries_path, "balance_cap": balance.cap}


def outside_replay(outside) -> dict:
    if outside is None:
        return {}
    o = outside.options
    made = {"scorer": o.scorer, "scorer_label": o.scorer_label} if o.scorer is not None else {}
    return {**made, "scores": [f["path"] for f in outside.sources] or None, "score_column": o.column,
            "score_weight": o.weight,
            "score_range": None if o.low is None and o.high is None else
            f"{'' if o.low is None else repr(o.low)}:{'' if o.high is None else repr(o.high)}"}


def dedup_replay(dedup) -> dict:
    """The replay options of a ``DedupRule`` (none when it is off: the default)."""
    if dedup is None or not dedup.active:
        return {}
    return {"dedup": dedup.mode, "dedup_threshold": dedup.threshold, "dedup_permutations": dedup.permutations,
            "dedup_bands": dedup.bands}


def replay_options(settings, raw_files, targets: list, model_path: str | None, **select_options) -> dict:
    """The ``dsir select`` options that run this selection again (``--config OUT/manifest.json``):
    every ``Settings`` field, the select options given, and the exact files read, so that a
    glob or a folder that has gained files since does not change the replay.

    Named targets are ``NAME=FILE:PROPORTION`` (the proportion as given, 1.0 when none was).
    Data handed over in memory cannot be read again: ``raw`` (or ``target``) is then null,
    and a replay needs it on the command line."""
    spooled = spool_folder()

    def files(fs) -> list[str] | None:
        paths = [f.path for f in fs]
        return None if any(os.path.dirname(p) == spooled for p in paths) else paths

    target: list[str] | None = []
    for t in targets:
        paths = files(t.files)
        if paths is None:
            target = None
            break
        target += [f"{t.name}={p}:{t.spec.proportion or 1.0}" if t.name else p for p in paths]
    if any(os.path.dirname(p) == spooled for p in select_options.get("decontaminate") or ()):
        select_options = {**select_options, "decontaminate": None}  # in memory: give it again
    return {"raw": files(raw_files), "target": target, "model": model_path,
            **{f.name: getattr(settings, f.name) for f in fields(settings)}, **select_options}


def empty_file_warnings(raw_files, summaries, targets: list, fit) -> list[str]:
    """A warning (logged, and kept for the manifest) for each input file with no documents.

    An empty file is not an error: a shard of a crawl may well be empty, and it is counted
    (0 documents) in the manifest. An empty target or raw pool *overall* is an error.
    """
    out = []
    named = [("raw", f, x.documents, x.rejected) for f, x in zip(raw_files, summaries)]
    for t, rs in zip(targets, fit.target_results):
        named += [("target", f, r.documents, r.rejected) for f, r in zip(t.files, rs)]
    for role, f, docs, rejected in named:
        if docs == 0 and rejected == 0:
            msg = f"{f.path}: {role} file holds no documents"
            log.warning(msg)
            out.append(msg)
    return out


def dataset_card(manifest: dict) -> str:
    """``OUT/README.md``: a Hugging Face dataset card whose ``configs`` name the selection's
    shards, so that ``datasets.load_dataset(OUT)`` loads exactly the selected records (and
    never the manifest, the report or ``_dsir/``); named targets get a config each.

    A selection that mirrors jsonl and parquet inputs has shards of both formats, which one
    ``load_dataset`` call cannot read (it infers one builder for the folder): its card has no
    configs, so ``load_dataset(OUT)`` fails instead of reading the wrong files, and it says
    how to load each format."""
    shards = [o["path"] for o in manifest["outputs"]]
    family = {p: "parquet" if p.endswith(".parquet") else "json" for p in shards}
    counts = manifest["counts"]
    budget = (f" for a budget of {counts['requested_tokens']:,} tokens" if counts.get("requested_tokens") is not None
              else "")
    about = (f"{counts['selected']} {counts['unit']} selected ({counts.get('selected_tokens', 0):,} tokens"
             f"{budget}) from {counts['documents']} documents in "
             f"{len(manifest['inputs'])} input files by dsir {manifest['dsir_version']} (method "
             f"{manifest['method']}). `manifest.json` records how (every parameter, input and shard, with its "
             "sha256); `report.html`, when present, shows what was selected and why.")
    filters = manifest.get("filters") or {}
    if "decontaminate" in filters:
        dec = filters["decontaminate"]
        about += (f" {dec['excluded_documents']:,} pool documents sharing a run of {dec['ngram_words']} words with "
                  f"{', '.join(f['path'].rsplit('/', 1)[-1] for f in dec['files'])} were not eligible "
                  "(decontamination).")
    if "quality_rules" in filters:
        about += (f" {filters['quality_rules']['excluded_documents']:,} pool documents failing the "
                  f"{filters['quality_rules']['preset']} quality rules were not eligible.")
    dedup = manifest.get("dedup")
    if dedup:
        how = ("the same words" if dedup["mode"] == "exact" else
               f"an estimated Jaccard similarity of {dedup['threshold']:g} or more over {dedup['shingle_words']}-word "
               "shingles")
        about += (f" {dedup['dropped']:,} candidates were skipped as duplicates ({how}) of a document selected "
                  "before them.")
    if len(set(family.values())) > 1:
        lines = ["# A dsir selection", "", about, "",
                 "Its shards mirror the formats of its inputs, jsonl and parquet, and one `datasets.load_dataset` "
                 "call reads one format: select with `--output-format parquet` (or `jsonl`) to load it as one "
                 "dataset, or load each format:", "", "```python"]
        for f in ("json", "parquet"):
            files = ", ".join(f'"PATH/{p}"' for p in shards if family[p] == f)
            lines.append(f'datasets.load_dataset("{f}", data_files=[{files}])')
        return "\n".join(lines + ["```", ""])
    configs = [("default", shards)]
    configs += [(t["name"], [p for p in shards if is_target_shard(p, t["name"])])
                for t in manifest["per_target"] if t["name"]]
    lines = ["---", "configs:"]
    for name, paths in configs:
        lines += [f"- config_name: {name}", "  data_files:", "  - split: train", "    path:"]
        lines += [f"    - {p}" for p in paths]
    lines += ["---", "", "# A dsir selection", "", about, "",
              "Load it with `datasets.load_dataset(\"PATH/TO/THIS/FOLDER\")`"
              + (f" (`name=` one of {', '.join(n for n, _ in configs)})" if len(configs) > 1 else "") + ".", ""]
    return "\n".join(lines)
