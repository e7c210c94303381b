"""What the pre-selection filters (``--decontaminate``, ``--quality-rules``) do to a selection,
and what they cost: every domain of the benchmark corpus in turn as the target, at the two
budgets of ``bench/quality.py`` (``docs``: k = the domain's pool documents; ``quarter``: a
quarter of their tokens), with dsir's default method.

Rows, per domain and budget (one fit per domain, shared by its rows, as in ``bench/quality.py``):

* ``default``: ``DSIR().select`` with no filter;
* ``decontaminate``: ``decontaminate=eval/<domain>.jsonl.zst`` (13-word runs, the default), so
  the documents sharing a 13-word run with the very text the perplexity is measured on are
  not eligible;
* ``gopher`` and ``c4``: ``quality_rules="gopher"`` / ``"c4"``.

For every row: the documents each filter excluded (the manifest's ``filters`` section), the
selected documents that share a 13-word run with ``eval/<domain>`` (checked independently of
dsir by a plain-Python scan of the selected output files: its own tokenizer, ``str.lower``
then the runs of letters and digits ``[^\\W_]+``, the README's definition of words, and a set of
the eval file's 13-word tuples), and ``bench.quality.evaluate``'s metrics on an equal amount of
text for every row of a domain and budget (precision, KL reduction, held-out perplexity on
``eval/<domain>``, distinct bigrams, length ratio).

Independent checks, once over the pool: per eval file, how many pool documents share a 13-word
run with it (the plain-Python scan; the manifest's ``filters.decontaminate.excluded_documents``
must be the same), and per quality rule, how many pool documents fail it by a plain-Python
reading of the rule definitions in ``src/dsir/filters/quality_rules.py`` (``str.split``,
``str.splitlines``, ``str.count``, ``re``), next to the manifest's ``failed_documents``; and the
share of the pool each rule excludes per domain label (dsir's ``QualityRules.failures`` on the
pool texts, the total checked against the manifest).

Cost: ``DSIR().select`` of the same fit with each filter and without, side by side in the same
process and run, after one unfiltered warm-up select, alternating (``--cost-repeats``, fastest of
each reported), on the 1 GB pool of ``bench/throughput.py`` (``bench/make_pool.py``, built once
into ``bench/.work/pools``; or the shared pool with ``--cost-pool shared``), k = 10 % of its
documents, target ``legal``, the
decontamination file ``eval/legal.jsonl.zst``: wall and CPU seconds (``time.process_time``,
every thread) of the whole select and of its score pass, as ratios filter-on / filter-off.

Usage, from the repository root::

    .venv/bin/python bench/filters.py                   # all 8 domains, both budgets, the cost part
    .venv/bin/python bench/filters.py --domains legal --skip-cost

Writes ``bench/results/filters.json`` and ``bench/results/filters.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import (  # noqa: E402
    BUDGETS, DEFAULT_CORPUS, RESULTS_DIR, Docs, corpus_domains, evaluate, shared_fits, smoothed,
)
from bench.reference import WORK_DIR, iter_jsonl  # noqa: E402
from dsir.api import DSIR  # noqa: E402
from dsir.engines.local import LocalEngine  # noqa: E402
from dsir.filters.quality_rules import QualityRules  # noqa: E402
from dsir.filters.words import ngram_hashes, word_hashes, words_of  # noqa: E402

FILTERS_DIR = WORK_DIR / "filters"
NGRAM = 13  # dsir's default --decontaminate-words
ROWS = ("default", "decontaminate", "gopher", "c4")
COST_TARGET = "legal"


def row_options(row: str, eval_path: Path) -> dict:
    """The ``select`` keyword arguments of a row."""
    return {"default": {}, "decontaminate": {"decontaminate": [str(eval_path)]},
            "gopher": {"quality_rules": "gopher"}, "c4": {"quality_rules": "c4"}}[row]


# -- the independent decontamination check ----------------------------------------------------

_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits (str.isalnum, without "_")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_set(texts) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for text in texts:
        w = words(text)
        out.update(tuple(w[i:i + NGRAM]) for i in range(len(w) - NGRAM + 1))
    return out


def shares_ngram(text: str, grams: set) -> bool:
    w = words(text)
    return any(tuple(w[i:i + NGRAM]) in grams for i in range(len(w) - NGRAM + 1))


def pool_overlap(texts: list[str], eval_sets: dict[str, set]) -> dict[str, np.ndarray]:
    """Per eval file, which pool documents share a 13-word run with it (one scan of the pool)."""
    names = list(eval_sets)
    union: dict[tuple, int] = {}
    for j, name in enumerate(names):
        for g in eval_sets[name]:
            union[g] = union.get(g, 0) | (1 << j)
    masks = np.zeros(len(texts), dtype=np.int64)
    for r, text in enumerate(texts):
        w = words(text)
        m = 0
        for i in range(len(w) - NGRAM + 1):
            b = union.get(tuple(w[i:i + NGRAM]))
            if b:
                m |= b
        masks[r] = m
    return {name: (masks >> j & 1).astype(bool) for j, name in enumerate(names)}


# -- the independent quality-rule check (plain Python, from the module doc's definitions) --------

_STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}
_BULLETS = ("\u2022", "\u2023", "\u2043", "\u25e6", "-", "*")
_CITATION = re.compile(r"\[[0-9]*\]|\[edit\]|\[citation needed\]")
_TRAILING_CITATION = re.compile(r"(?:\[[0-9]*\]|\[edit\]|\[citation needed\])+\Z")
_SENTENCE_END = re.compile(r"[.!?]+[\"']*(?=\s|\Z)")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def py_gopher(text: str) -> list[bool]:
    ws = text.split()
    lines = text.splitlines()
    n, nl = len(ws), len(lines)
    mean_len = sum(map(len, ws)) / n if n else 0.0
    return [
        n < 50 or n > 100_000,
        mean_len < 3 or mean_len > 10,
        (text.count("#") / n if n else 0.0) > 0.1,
        ((text.count("...") + text.count("\u2026")) / n if n else 0.0) > 0.1,
        (sum(ln.lstrip().startswith(_BULLETS) for ln in lines) / nl if nl else 0.0) > 0.9,
        (sum(ln.rstrip().endswith(("...", "\u2026")) for ln in lines) / nl if nl else 0.0) > 0.3,
        (sum(any(c.isalpha() for c in w) for w in ws) / n if n else 0.0) < 0.8,
        sum(w.lower() in _STOP for w in ws) < 2,
    ]


def _c4_line_sentences(line: str) -> int:
    s = line.strip()
    ws = s.split()
    if not s or any(len(w) > 1000 for w in ws) or len(ws) < 3:
        return 0
    full = _CITATION.sub("", s)
    if not full.endswith((".", "?", "!", '"', "'")) or full.endswith("..."):
        return 0
    low = s.lower()
    if "javascript" in low or any(p in low for p in _POLICY):
        return 0
    trail = _TRAILING_CITATION.sub("", s)
    return max(1, len(_SENTENCE_END.findall(trail)))


def py_c4(text: str) -> list[bool]:
    return ["lorem ipsum" in text.lower(), "{" in text,
            sum(_c4_line_sentences(ln) for ln in text.splitlines()) < 5]


PY_RULES = {"gopher": py_gopher, "c4": py_c4}


# -- runs -------------------------------------------------------------------------------------


def read_selection(out_dir: Path) -> tuple[list[str], list[str]]:
    """The ids and texts of the selected documents, as written."""
    ids, texts = [], []
    for r in iter_jsonl(sorted(out_dir.glob("part-*.jsonl*"))):
        ids.append(r["id"])
        texts.append(r["text"])
    return ids, texts


def run_row(row: str, domain: str, budget: dict, corpus: Path, pool_files: list[Path], fitted: dict,
            workers: int, seed: int) -> tuple[list[str], list[str], dict, float]:
    """``DSIR().select`` of ``row`` for ``domain`` (the domain's shared fit): ids, texts, manifest, seconds."""
    out = FILTERS_DIR / "selections" / row / domain
    d = DSIR(seed=seed, workers=workers)
    options = row_options(row, corpus / "eval" / f"{domain}.jsonl.zst")
    t0 = time.perf_counter()
    with d.engine:
        d.estimator_ = fitted[d.method, d.features].estimator_
        m = d.select([str(p) for p in pool_files], str(out), overwrite=True, report=False, **budget, **options)
    seconds = time.perf_counter() - t0
    ids, texts = read_selection(out)
    return ids, texts, m, seconds


def filter_counts(manifest: dict) -> dict:
    """What the manifest says each filter excluded."""
    f = manifest.get("filters") or {}
    out: dict = {}
    if "decontaminate" in f:
        out["decontaminate"] = {"excluded_documents": f["decontaminate"]["excluded_documents"],
                                "ngram_words": f["decontaminate"]["ngram_words"],
                                "distinct_ngrams": f["decontaminate"]["distinct_ngrams"],
                                "files": [{k: v for k, v in x.items() if k != "path"} for x in f["decontaminate"]["files"]]}
    if "quality_rules" in f:
        out["quality_rules"] = {"preset": f["quality_rules"]["preset"],
                                "excluded_documents": f["quality_rules"]["excluded_documents"],
                                "failed_documents": f["quality_rules"]["failed_documents"]}
    return out


# -- cost -------------------------------------------------------------------------------------


class TimedEngine(LocalEngine):
    """The local engine, recording each pass's wall and process CPU seconds."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.marks: list[tuple[str, float, float]] = []

    def map(self, fn, tasks, desc="", weights=None):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return super().map(fn, tasks, desc, weights)
        finally:
            self.marks.append((desc, time.perf_counter() - t0, time.process_time() - c0))


def cost(corpus: Path, which: str, gb: float, repeats: int, workers: int, seed: int) -> dict:
    """Select with each filter and without, alternating, same fit, same process: seconds and ratios."""
    t_build = time.perf_counter()
    if which == "throughput":
        from bench.make_pool import build_pools
        pool = build_pools([gb])[gb]
        files, jsonl_bytes, documents = pool["files"]["jsonl.zst"], pool["jsonl_bytes"], pool["documents"]
        about = (f"the {gb:g} GB pool of bench/throughput.py (bench/make_pool.py: the corpus pool repeated with "
                 f"light perturbation), {len(files)} jsonl.zst shards")
    else:
        files = [str(p) for p in sorted((corpus / "pool").glob("*.jsonl*"))]
        jsonl_bytes = sum(len(json.dumps(r, ensure_ascii=False).encode()) + 1 for r in iter_jsonl([Path(f) for f in files]))
        documents = sum(1 for _ in iter_jsonl([Path(f) for f in files]))
        about = "the shared corpus pool"
    build_s = time.perf_counter() - t_build
    mb = jsonl_bytes / 1e6
    target = corpus / "target" / f"{COST_TARGET}.jsonl.zst"
    eval_path = corpus / "eval" / f"{COST_TARGET}.jsonl.zst"
    k = documents // 10
    print(f"cost: {about}: {documents:,} documents, {mb:.0f} MB of jsonl (ready in {build_s:.0f} s)", file=sys.stderr)
    warm = pa.array(["warm up the kernels: " * 20])
    for preset in ("gopher", "c4"):  # load (or compile) the filters' kernels before any timing
        QualityRules(preset).failures(warm)
    ngram_hashes(*word_hashes(words_of(warm)), NGRAM)
    fit = DSIR(seed=seed, workers=workers).fit([str(corpus / "pool")], str(target))
    order = list(ROWS)
    runs: dict[str, list[dict]] = {r: [] for r in ROWS}
    out = FILTERS_DIR / "cost"
    for rep in range(repeats + 1):  # round 0, one unfiltered select, warms the page cache: not counted
        for row in (["default"] if rep == 0 else order if rep % 2 else order[::-1]):
            engine = TimedEngine(workers, progress=False)
            d = DSIR(seed=seed, workers=workers, engine=engine)
            d.estimator_ = fit.estimator_
            t0, c0 = time.perf_counter(), time.process_time()
            with engine:
                m = d.select(files, str(out / row), k=k, overwrite=True, report=False,
                             **row_options(row, eval_path))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            score = [(w, c) for desc, w, c in engine.marks if desc == "score"]
            r = {"wall_s": wall, "cpu_s": cpu, "score_wall_s": sum(w for w, _ in score),
                 "score_cpu_s": sum(c for _, c in score), "load": os.getloadavg()[0],
                 "excluded": {n: s["excluded_documents"] for n, s in (m.get("filters") or {}).items()}}
            print(f"cost {'warm-up' if rep == 0 else f'run {rep}'} {row:14s} wall {wall:6.1f}s cpu {cpu:6.1f}s "
                  f"score pass wall {r['score_wall_s']:6.1f}s cpu {r['score_cpu_s']:6.1f}s  load {r['load']:.1f}",
                  file=sys.stderr)
            if rep:
                runs[row].append(r)
    shutil.rmtree(out, ignore_errors=True)
    best = {row: {key: min(x[key] for x in rs) for key in ("wall_s", "cpu_s", "score_wall_s", "score_cpu_s")}
            for row, rs in runs.items()}
    ratios = {row: {key: best[row][key] / best["default"][key] for key in best[row]} for row in ROWS}
    return {"pool": about, "files": len(files), "documents": documents, "jsonl_mb": mb, "k": k, "target": COST_TARGET,
            "decontaminate": f"eval/{COST_TARGET}.jsonl.zst", "workers": workers, "repeats": repeats,
            "pool_ready_s": build_s, "runs": runs, "best": best, "ratios": ratios,
            "mb_per_s": {row: {"select_wall": mb / b["wall_s"], "select_cpu": mb / b["cpu_s"],
                               "score_wall": mb / b["score_wall_s"], "score_cpu": mb / b["score_cpu_s"]}
                         for row, b in best.items()},
            "excluded": {row: rs[0]["excluded"] for row, rs in runs.items() if rs}}


# -- rendering --------------------------------------------------------------------------------


def fmt_pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(res: dict) -> str:
    meta, per, domains = res["meta"], res["results"], res["meta"]["domains"]
    out = [f"`{meta['command']}` ({meta['date']}; seed {meta['seed']}, {meta['workers']} workers; "
           f"dsir default: {meta['dsir_default']}; {meta['wall_s'] / 60:.1f} min; load average "
           f"{meta['load_start']:.1f} at the start, {meta['load_end']:.1f} at the end)", ""]
    ov = res["pool_overlap"]
    out += ["#### Does the pool overlap the eval sets?", "",
            "Pool documents sharing a 13-word run with `eval/<domain>` (plain-Python scan), by the pool "
            "document's own domain label, next to what `--decontaminate eval/<domain>.jsonl.zst` excluded "
            "(manifest, the same in every run of that domain):", "",
            "| eval set | pool docs overlapping (Python) | of them, own domain | excluded (manifest) | "
            "match | domain's pool docs | share of the domain's pool |",
            "|---|---:|---:|---:|---|---:|---:|"]
    for d in domains:
        o = ov[d]
        excl = per[next(iter(per))][d]["decontaminate"]["filters"]["decontaminate"]["excluded_documents"]
        labels = ", ".join(f"{lab} {n}" for lab, n in sorted(o["by_label"].items(), key=lambda x: -x[1]))
        out.append(f"| {d} | {o['documents']:,} ({labels}) | {o['by_label'].get(d, 0):,} | {excl:,} | "
                   f"{'yes' if excl == o['documents'] else '**NO**'} | {meta['pool_docs'][d]:,} | "
                   f"{fmt_pct(o['by_label'].get(d, 0) / meta['pool_docs'][d])} |")
    out.append("")
    for budget in BUDGETS:
        if budget not in per:
            continue
        what = "k = the domain's pool documents" if budget == "docs" else "a quarter of the domain's pool tokens"
        out += [f"#### Budget `{budget}`: {what}", "",
                "Means over the domains (W words of equal text per domain, the fewest any row selected); "
                "perplexity change = mean over domains of perplexity / the default's perplexity - 1:", "",
                "| row | excluded pool docs (mean) | selected docs sharing a 13-gram with eval (mean) | precision | "
                "KL reduction | perplexity | perplexity change | distinct bigrams | length ratio |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in ROWS:
            rs = [per[budget][d][row] for d in domains]
            excl = np.mean([sum(f["excluded_documents"] for f in r["filters"].values()) for r in rs])
            change = np.mean([per[budget][d][row]["perplexity"] / per[budget][d]["default"]["perplexity"] - 1
                              for d in domains])
            out.append(f"| {row} | {excl:,.0f} | {np.mean([r['contaminated'] for r in rs]):,.1f} | "
                       f"{np.mean([r['precision'] for r in rs]):.3f} | {np.mean([r['kl_reduction'] for r in rs]):.3f} | "
                       f"{np.mean([r['perplexity'] for r in rs]):.1f} | {100 * change:+.1f}% | "
                       f"{np.mean([r['distinct_bigrams'] for r in rs]):.3f} | {np.mean([r['length_ratio'] for r in rs]):.2f} |")
        out += ["", "Decontamination per domain: selected documents sharing a 13-word run with `eval/<domain>` "
                "(Python scan of the selected files), default -> decontaminated; precision, perplexity:", "",
                "| domain | budget | W | excluded | contaminated selected, default | contaminated selected, "
                "decontaminated | precision | perplexity |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for d in domains:
            a, b = per[budget][d]["default"], per[budget][d]["decontaminate"]
            out.append(f"| {d} | {meta['budgets'][budget][d]:,} | {meta['words'][budget][d]:,} | "
                       f"{b['filters']['decontaminate']['excluded_documents']:,} | {a['contaminated']:,} | "
                       f"{b['contaminated']:,} | {a['precision']:.3f} -> {b['precision']:.3f} | "
                       f"{a['perplexity']:.0f} -> {b['perplexity']:.0f} |")
        out += ["", "Per domain, every row: precision / KL reduction / perplexity / distinct bigrams:", "",
                "| domain | " + " | ".join(ROWS) + " |", "|---|" + "---:|" * len(ROWS)]
        for d in domains:
            out.append(f"| {d} | " + " | ".join(
                f"{r['precision']:.3f} / {r['kl_reduction']:.3f} / {r['perplexity']:.0f} / {r['distinct_bigrams']:.3f}"
                for r in (per[budget][d][row] for row in ROWS)) + " |")
        out.append("")
    rules = res["rules"]
    labels = list(meta["pool_docs"])
    out += ["#### Quality rules: what they exclude, per domain label of the pool", "",
            "Share of each domain's pool documents a preset (and each of its rules) excludes "
            "(dsir's `QualityRules.failures` on the pool; a document may fail several rules):", "",
            "| rule | pool docs | " + " | ".join(labels) + " |", "|---|---:|" + "---:|" * len(labels)]
    for preset in ("gopher", "c4"):
        r = rules[preset]
        out.append(f"| **{preset} (any rule)** | **{r['excluded']:,} ({fmt_pct(r['excluded'] / r['pool_docs'])})** | "
                   + " | ".join(f"**{fmt_pct(r['by_label'][lab])}**" for lab in labels) + " |")
        for name, x in r["rules"].items():
            out.append(f"| {name} | {x['documents']:,} | " + " | ".join(fmt_pct(x['by_label'][lab]) for lab in labels) + " |")
    out += ["", "Checks: per rule, pool documents failing it: manifest `failed_documents` / dsir's `QualityRules` "
            "on the pool / a plain-Python reading of the rule definitions:", "",
            "| rule | manifest | QualityRules | plain Python | differ (Python) |", "|---|---:|---:|---:|---:|"]
    for preset in ("gopher", "c4"):
        r = rules[preset]
        out.append(f"| {preset} excluded | {r['manifest_excluded']:,} | {r['excluded']:,} | {r['python_excluded']:,} | "
                   f"{r['python_differ']:,} |")
        for name, x in r["rules"].items():
            out.append(f"| {name} | {x['manifest']:,} | {x['documents']:,} | {x['python']:,} | {x['python_differ']:,} |")
    out.append("")
    c = res.get("cost")
    if c:
        rerun = (f" (measured again by `{c['run']['command']}`, {c['run']['date']}, load average "
                 f"{c['run']['load_start']:.1f} at the start, {c['run']['load_end']:.1f} at the end; the tables above "
                 "are of the run named at the top)") if c.get("run") else ""
        out += [f"#### Cost: `DSIR().select` with and without each filter, side by side{rerun}", "",
                f"{c['pool']}: {c['documents']:,} documents, {c['jsonl_mb']:.0f} MB of jsonl; one fit (target "
                f"`{c['target']}`) shared by every run, k = {c['k']:,}, {c['workers']} workers, "
                f"decontamination file `{c['decontaminate']}`; after one unfiltered warm-up select, {c['repeats']} alternating "
                f"rounds, the fastest of each; CPU = `time.process_time` of the process (every thread).", "",
                "| row | select wall s | select CPU s | score pass wall s | score pass CPU s | ratio select wall | "
                "ratio select CPU | ratio score CPU | score MB per CPU-s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in ROWS:
            b, q = c["best"][row], c["ratios"][row]
            out.append(f"| {row} | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | {b['score_wall_s']:.1f} | "
                       f"{b['score_cpu_s']:.1f} | {q['wall_s']:.2f} | {q['cpu_s']:.2f} | {q['score_cpu_s']:.2f} | "
                       f"{c['mb_per_s'][row]['score_cpu']:.0f} |")
        out += ["", "All runs (wall s / CPU s of the select, load average): " + "; ".join(
            f"{row} " + ", ".join(f"{x['wall_s']:.1f}/{x['cpu_s']:.1f} ({x['load']:.1f})" for x in c["runs"][row])
            for row in ROWS), ""]
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domains", nargs="+", default=None, help="default: all 8")
    p.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost-pool", choices=["throughput", "shared"], default="throughput")
    p.add_argument("--cost-gb", type=float, default=1.0, help="size of the throughput pool (default 1)")
    p.add_argument("--cost-repeats", type=int, default=2)
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--cost-only", action="store_true",
                   help="run the cost part alone and replace it in the existing results (the rest is kept as run)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    corpus = args.corpus.resolve()
    if args.cost_only:
        path = args.results_dir / "filters.json"
        res = json.loads(path.read_text())
        res["cost"] = cost(corpus, args.cost_pool, args.cost_gb, args.cost_repeats, args.workers, args.seed)
        res["cost"]["run"] = {"command": ".venv/bin/python bench/filters.py " + " ".join(argv),
                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_start": load_start, "load_end": os.getloadavg()[0]}
        path.write_text(json.dumps(res, indent=1) + "\n")
        table = render(res)
        (args.results_dir / "filters.md").write_text(table + "\n")
        print(table)
        return 0
    ks = corpus_domains(corpus)
    domains = args.domains or list(ks)
    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))
    pool = Docs.load(pool_files)
    texts = [r["text"] for r in iter_jsonl(pool_files)]
    row_of = {i: r for r, i in enumerate(pool.ids)}
    raw_dist = smoothed(np.bincount(pool.features[1], minlength=10_000).astype(np.float64))
    labels = list(ks)
    print(f"pool: {len(pool.ids)} documents loaded in {time.perf_counter() - t_start:.1f}s", file=sys.stderr)

    # Independent checks, once over the pool.
    t0 = time.perf_counter()
    eval_sets = {d: ngram_set(r["text"] for r in iter_jsonl([corpus / "eval" / f"{d}.jsonl.zst"])) for d in domains}
    overlap = pool_overlap(texts, eval_sets)
    pool_overlap_out = {d: {"documents": int(m.sum()), "eval_ngrams": len(eval_sets[d]),
                            "by_label": {lab: int(n) for lab, n in Counter(pool.domains[m].tolist()).items()}}
                        for d, m in overlap.items()}
    print(f"pool overlap with eval (Python scan, {time.perf_counter() - t0:.1f}s): "
          + ", ".join(f"{d} {o['documents']}" for d, o in pool_overlap_out.items()), file=sys.stderr)
    t0 = time.perf_counter()
    arr = pa.array(texts, pa.large_string())
    rules: dict = {}
    for preset in ("gopher", "c4"):
        qr = QualityRules(preset)
        failed = qr.failures(arr)
        py = np.array([PY_RULES[preset](t) for t in texts], dtype=bool).T
        bad = failed.any(axis=0)
        rules[preset] = {
            "pool_docs": len(texts), "excluded": int(bad.sum()), "python_excluded": int(py.any(axis=0).sum()),
            "python_differ": int((py.any(axis=0) != bad).sum()),
            "by_label": {lab: float(bad[pool.domains == lab].mean()) for lab in labels},
            "rules": {name: {"documents": int(failed[i].sum()), "python": int(py[i].sum()),
                             "python_differ": int((py[i] != failed[i]).sum()),
                             "python_differ_examples": [pool.ids[j] for j in np.flatnonzero(py[i] != failed[i])[:5]],
                             "by_label": {lab: float(failed[i][pool.domains == lab].mean()) for lab in labels}}
                      for i, name in enumerate(qr.rule_names())},
        }
    print(f"quality rules on the pool ({time.perf_counter() - t0:.1f}s): "
          + ", ".join(f"{p_} {r['excluded']} (Python {r['python_excluded']})" for p_, r in rules.items()), file=sys.stderr)
    del arr

    results: dict = {b: {} for b in args.budgets}
    budgets: dict = {b: {} for b in args.budgets}
    words_: dict = {b: {} for b in args.budgets}
    manifest_rules: dict = {}
    for domain in domains:
        t_domain = time.perf_counter()
        target_path = corpus / "target" / f"{domain}.jsonl.zst"
        target = Docs.load([target_path])
        eval_docs = Docs.load([corpus / "eval" / f"{domain}.jsonl.zst"])
        target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
        own = pool.domains == domain
        fitted = shared_fits(["dsir"], args.seed, pool_files, target_path)
        for budget_name in args.budgets:
            budget = {"k": ks[domain]} if budget_name == "docs" else {"tokens": int(pool.tokens[own].sum()) // 4}
            budgets[budget_name][domain] = next(iter(budget.values()))
            runs = {}
            for row in ROWS:
                ids, sel_texts, m, seconds = run_row(row, domain, budget, corpus, pool_files, fitted, args.workers,
                                                     args.seed)
                by_text = sum(shares_ngram(t, eval_sets[domain]) for t in sel_texts)
                by_id = int(overlap[domain][[row_of[i] for i in ids]].sum())
                if by_text != by_id:
                    print(f"WARNING {domain} {budget_name} {row}: {by_text} contaminated by the selected texts, "
                          f"{by_id} by their ids in the pool", file=sys.stderr)
                runs[row] = (ids, m, seconds, by_text)
                fc = filter_counts(m)
                if "quality_rules" in fc:
                    manifest_rules.setdefault(fc["quality_rules"]["preset"], fc["quality_rules"])
            w = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids, _, _, _ in runs.values())
            words_[budget_name][domain] = w
            results[budget_name][domain] = {}
            for row, (ids, m, seconds, contaminated) in runs.items():
                r = evaluate(ids, domain, pool, row_of, target, eval_docs, raw_dist, target_dist, w, args.seed)
                r.update(seconds=round(seconds, 2), contaminated=int(contaminated), filters=filter_counts(m),
                         selected_tokens_manifest=m["counts"].get("selected_tokens"))
                results[budget_name][domain][row] = r
                excl = sum(f["excluded_documents"] for f in r["filters"].values())
                print(f"{domain:12s} {budget_name:7s} {row:14s} excluded {excl:5d}  contaminated {contaminated:5d}  "
                      f"precision {r['precision']:.3f}  KL-red {r['kl_reduction']:.3f}  ppl {r['perplexity']:8.1f}  "
                      f"distinct {r['distinct_bigrams']:.3f}  len {r['length_ratio']:.2f}  ({seconds:.1f}s)",
                      file=sys.stderr)
        print(f"{domain}: {time.perf_counter() - t_domain:.0f}s", file=sys.stderr)
    shutil.rmtree(FILTERS_DIR / "selections", ignore_errors=True)
    for preset, r in rules.items():
        mr = manifest_rules.get(preset, {"excluded_documents": -1, "failed_documents": {}})
        r["manifest_excluded"] = mr["excluded_documents"]
        for name, x in r["rules"].items():
            x["manifest"] = mr["failed_documents"].get(name, -1)
        if r["manifest_excluded"] != r["excluded"]:
            print(f"WARNING {preset}: the manifest excluded {r['manifest_excluded']}, QualityRules on the pool "
                  f"{r['excluded']}", file=sys.stderr)

    cost_out = None if args.skip_cost else cost(corpus, args.cost_pool, args.cost_gb, args.cost_repeats,
                                                args.workers, args.seed)
    defaults = DSIR()
    meta = {
        "command": ".venv/bin/python bench/filters.py" + (" " + " ".join(argv) if argv else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": args.seed, "workers": args.workers, "domains": domains, "budgets": budgets, "words": words_,
        "pool_docs": ks, "wall_s": time.perf_counter() - t_start, "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "dsir_default": f"method={defaults.method}, weighting={defaults.weighting}, "
                        f"temperature={defaults.settings.temperature}, buckets={defaults.settings.buckets}",
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    res = {"meta": meta, "pool_overlap": pool_overlap_out, "rules": rules, "results": results, "cost": cost_out}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "filters.json").write_text(json.dumps(res, indent=1) + "\n")
    table = render(res)
    (args.results_dir / "filters.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
