"""A combination of the n-gram ratio and the classifier's log-odds, each standardized, at
temperatures on the standardized scale (issue 12: "consider a combination ... and temperatures
that keep the resampling a real resampling at small budgets").

For each target domain of the benchmark corpus, on the *choosing* half (every other domain of
``stats.tsv``, starting with the first: dictionary, kernel_docs, literature, quotes) and then on
the *confirming* half (the other four):

* fits, once on the pool and the domain's target, the n-gram ratio model
  (``DSIR(method="dsir")`` defaults: 10,000 buckets, smoothing 1) and the discriminative model
  (``DSIR(method="discriminative")`` defaults, which are ``DSIR()``'s: 2**18 buckets, l2 1e-7,
  400 epochs);
* scores every pool document under both, in memory, with each estimator's featurizer and its
  ``log_ratio_`` (``featurizer.score``), mean per n-gram for both (``weighting="mean"``): the
  log-weights ``w_ratio`` and ``w_disc``;
* standardizes each over the eligible pool documents (those with at least one token, dsir's
  eligibility at ``min_length=0``): ``z = (w - mean) / std``, and forms
  ``w_alpha = alpha * z_disc + (1 - alpha) * z_ratio`` for each ``--alphas`` (alpha 1: the
  classifier alone, standardized; alpha 0: the ratio alone, standardized);
* selects with dsir's rule, ``key = w_alpha / T + Gumbel`` with dsir's noise
  (``dsir.sample.gumbel.gumbel_noise`` of the documents' content hashes and ``--seed``), the k
  largest keys at budget ``docs`` (k = the domain's pool documents) and, at ``quarter``, the keys
  in order cut where the running tokens reach a quarter of the domain's pool tokens
  (``bench.quality.cut_by_tokens``), for each ``--temperatures`` T (on the standardized scale);
* the rows ``default`` (``DSIR()`` defaults: ``.select(..., k=...)`` and ``tokens=...`` with the
  discriminative fit above, exactly as dsir selects) and ``oracle`` (a uniform sample of the
  domain's own pool documents). The in-memory rule on the un-standardized ``w_disc`` at
  temperature 0.3 is checked against ``default`` on every domain (the share of the default's
  documents it selects; 1 means the same selection).

Quality (``bench.quality.evaluate``): precision, KL reduction, perplexity of a bigram LM on
``eval/<domain>``, distinct bigrams and length ratio, on an equal amount of text per domain and
budget (W words, the fewest any row selected). Also, per row and budget, ``off top-k``: the share
of the selected documents that the same rule without noise (the top of ``w``, cut at the same
budget) would not select: 0 when the noise changes nothing (the resampling is a top-k), larger
the more it is a real resampling.

The choice, on the choosing half: a combination (alpha, T) qualifies when its means over the
choosing domains are not worse than the default's on any of precision, KL reduction and
perplexity at either budget (unrounded means; higher precision and KL reduction, lower
perplexity); of those qualifying, the one with the largest sum of the six relative improvements
over the default. Where none qualifies, the closest (fewest of the six numbers worse, then the
largest sum) is reported as such. The choice is then shown on the confirming half and on all 8
domains next to the default.

Per-domain results are cached in ``bench/.work/combination/`` (keyed by the domain, seed,
alphas, temperatures and dsir's version), so that the halves can be run apart and a rerun reuses
them; ``--fresh`` ignores the cache.

Usage, from the repository root::

    .venv/bin/python bench/combination.py
    .venv/bin/python bench/combination.py --domains dictionary kernel_docs literature quotes

Writes ``bench/results/combination.{json,md}`` and prints the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import (  # noqa: E402
    DEFAULT_CORPUS, QUALITY_DIR, RESULTS_DIR, Docs, corpus_domains, cut_by_tokens, evaluate, read_selected_ids,
    run_method, smoothed,
)
from bench.reference import WORK_DIR, iter_jsonl  # noqa: E402
import dsir  # noqa: E402
from dsir.api import DSIR  # noqa: E402
from dsir.estimate.methods import DISCRIMINATIVE_TEMPERATURE  # noqa: E402
from dsir.featurize import content_hashes  # noqa: E402
from dsir.sample.gumbel import gumbel_noise  # noqa: E402

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURES = (0.05, 0.1, 0.2, 0.5)
CACHE_DIR = WORK_DIR / "combination"
METRICS = ("precision", "kl_reduction", "perplexity")  # the choice's metrics; higher, higher, lower
BUDGETS = ("docs", "quarter")


def combo_name(alpha: float, temperature: float) -> str:
    return f"a{alpha:g}-T{temperature:g}"


def mean_weight(featurizer, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean per n-gram of ``log_ratio`` (0 without n-grams, as ``mean_per_ngram``) and dsir's tokens."""
    score_sum, n_tokens, n_ngrams = featurizer.score(texts, log_ratio)
    w = np.divide(score_sum, n_ngrams, out=np.zeros(len(score_sum)), where=n_ngrams > 0)
    return w, n_tokens


def standardize(w: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, float, float]:
    mu, sd = float(w[eligible].mean()), float(w[eligible].std())
    return (w - mu) / sd, mu, sd


def top_rows(w: np.ndarray, temperature: float, noise: np.ndarray, eligible: np.ndarray, budget: dict,
             tokens: np.ndarray) -> np.ndarray:
    """dsir's rule on log-weights ``w``: ``key = w / T + noise`` (``-inf`` if ineligible), largest
    first, k of them or cut where the tokens reach the budget."""
    keys = w / temperature + noise
    keys[~eligible] = -np.inf
    order = np.argsort(-keys, kind="stable")
    order = order[: int(eligible.sum())]
    return order[: budget["k"]] if "k" in budget else cut_by_tokens(order, tokens, budget["tokens"])


def off_top(selected: np.ndarray, w: np.ndarray, eligible: np.ndarray, budget: dict, tokens: np.ndarray) -> float:
    """The share of ``selected`` (rows) that the top of ``w`` without noise, at the same budget, lacks."""
    top = top_rows(w, 1.0, np.zeros(len(w)), eligible, budget, tokens)
    return 1.0 - len(np.intersect1d(selected, top)) / len(selected)


def run_domain(domain: str, k_docs: int, corpus: Path, pool_files: list[Path], pool: Docs, pool_arrow: pa.Array,
               noise: np.ndarray, row_of: dict, raw_dist: np.ndarray, alphas: list[float],
               temperatures: list[float], seed: int, workers: int) -> dict:
    t0 = time.perf_counter()
    target_path = corpus / "target" / f"{domain}.jsonl.zst"
    target, eval_docs = Docs.load([target_path]), Docs.load([corpus / "eval" / f"{domain}.jsonl.zst"])
    target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
    own = pool.domains == domain
    if int(own.sum()) != k_docs:
        raise SystemExit(f"{domain}: stats.tsv says {k_docs} pool documents, the pool has {int(own.sum())}")
    budgets = {"docs": {"k": k_docs}, "quarter": {"tokens": int(pool.tokens[own].sum()) // 4}}
    files = [str(f) for f in pool_files]

    fits = {}
    for method in ("dsir", "discriminative"):
        d = DSIR(method=method, seed=seed, workers=workers)
        with d.engine:
            d.fit(files, str(target_path))
        fits[method] = d.estimator_
    w_ratio, n_tokens = mean_weight(fits["dsir"].featurizer, pool_arrow, fits["dsir"].log_ratio_)
    w_disc, n_tokens_disc = mean_weight(fits["discriminative"].featurizer, pool_arrow,
                                        fits["discriminative"].log_ratio_)
    assert np.array_equal(n_tokens, n_tokens_disc)
    eligible = n_tokens >= 1  # min_length 0: units with at least one token
    z_ratio, mu_r, sd_r = standardize(w_ratio, eligible)
    z_disc, mu_d, sd_d = standardize(w_disc, eligible)
    fit_s = time.perf_counter() - t0

    out: dict = {"budgets": {b: next(iter(v.values())) for b, v in budgets.items()},
                 "weights": {"ratio_mean": mu_r, "ratio_std": sd_r, "disc_mean": mu_d, "disc_std": sd_d,
                             "corr": float(np.corrcoef(z_ratio[eligible], z_disc[eligible])[0, 1]),
                             "eligible": int(eligible.sum()),
                             "default_T_standardized": DISCRIMINATIVE_TEMPERATURE / sd_d},
                 "rule_check": {}, "off_topk": {}, "words": {}, "rows": {}}
    combos = {combo_name(a, t): (a * z_disc + (1 - a) * z_ratio, t) for a in alphas for t in temperatures}
    sel_dir = QUALITY_DIR / "selections" / "combination" / domain
    for b, budget in budgets.items():
        selections: dict[str, list[str]] = {}
        d = DSIR(seed=seed, workers=workers)  # the defaults, as dsir select runs them
        d.estimator_ = fits["discriminative"]
        with d.engine:
            d.select(files, str(sel_dir), overwrite=True, report=False, **budget)
        selections["default"] = read_selected_ids(sel_dir)
        default_rows = top_rows(w_disc, DISCRIMINATIVE_TEMPERATURE, noise, eligible, budget, pool.tokens)
        mine = {pool.ids[r] for r in default_rows}
        theirs = set(selections["default"])
        out["rule_check"][b] = {"share_of_default": len(mine & theirs) / len(theirs), "in_memory": len(mine),
                                "default": len(theirs)}
        off = out["off_topk"][b] = {"default": off_top(default_rows, w_disc, eligible, budget, pool.tokens)}
        selections["oracle"] = run_method("oracle", domain, budget, corpus, pool_files, None, workers, seed, pool)[0]
        for name, (w, t) in combos.items():
            rows = top_rows(w, t, noise, eligible, budget, pool.tokens)
            off[name] = off_top(rows, w, eligible, budget, pool.tokens)
            selections[name] = [pool.ids[r] for r in rows]
        words = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids in selections.values())
        out["words"][b] = words
        out["rows"][b] = {name: evaluate(ids, domain, pool, row_of, target, eval_docs, raw_dist, target_dist, words,
                                         seed) for name, ids in selections.items()}
        r = out["rows"][b]
        print(f"{domain} {b}: W {words:,}; default {r['default']['precision']:.3f}/{r['default']['kl_reduction']:.3f}/"
              f"{r['default']['perplexity']:.1f}; rule check {out['rule_check'][b]['share_of_default']:.4f}",
              file=sys.stderr)
    shutil.rmtree(sel_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        sel_dir.parent.rmdir()  # when empty
    out["fit_s"], out["seconds"] = fit_s, time.perf_counter() - t0
    return out


# -- the choice -------------------------------------------------------------------------------


def means(per_domain: dict, domains: list[str], budget: str, row: str) -> dict:
    rs = [per_domain[d]["rows"][budget][row] for d in domains]
    m = {k: float(np.mean([r[k] for r in rs])) for k in
         ("precision", "kl_reduction", "perplexity", "distinct_bigrams", "length_ratio")}
    m["min_precision"] = float(min(r["precision"] for r in rs))
    m["off_topk"] = float(np.mean([per_domain[d]["off_topk"][budget][row] for d in domains])) \
        if row in per_domain[domains[0]]["off_topk"][budget] else None
    return m


def compare(per_domain: dict, domains: list[str], row: str, base: str = "default") -> dict:
    """The six numbers of ``row`` against ``base``: which are worse, the summed relative improvement."""
    worse, gain, better = [], 0.0, []
    for b in BUDGETS:
        x, d = means(per_domain, domains, b, row), means(per_domain, domains, b, base)
        for k in METRICS:
            rel = (d[k] - x[k]) / d[k] if k == "perplexity" else (x[k] - d[k]) / abs(d[k])
            gain += rel
            if rel < 0:
                worse.append(f"{b} {k}")
            elif rel > 0:
                better.append(f"{b} {k}")
    return {"worse": worse, "better": better, "gain": gain}


def pick(names: list[str], cmp: dict) -> tuple[str, list[str]]:
    """The best of ``names``: of those worse on none of the six, the largest summed gain; else the
    closest (fewest worse, then the largest sum)."""
    qualifying = [n for n in names if not cmp[n]["worse"]]
    if qualifying:
        return max(qualifying, key=lambda n: cmp[n]["gain"]), qualifying
    return min(names, key=lambda n: (len(cmp[n]["worse"]), -cmp[n]["gain"])), qualifying


def choose(per_domain: dict, domains: list[str], names: list[str], alphas: dict[str, float]) -> dict:
    cmp = {n: compare(per_domain, domains, n) for n in names}
    best, qualifying = pick(names, cmp)
    # the best proper mixture (0 < alpha < 1), whether or not it is the choice
    mixtures = [n for n in names if 0 < alphas[n] < 1]
    mixture, mixture_qualifying = pick(mixtures, cmp) if mixtures else (None, [])
    return {"chosen": best, "qualifies": bool(qualifying), "qualifying": qualifying,
            "best_mixture": mixture, "mixture_qualifies": bool(mixture_qualifying), "comparisons": cmp}


# -- output -----------------------------------------------------------------------------------


def table(per_domain: dict, domains: list[str], rows: list[str], budget: str) -> list[str]:
    out = ["| row | precision | KL reduction | perplexity | distinct bigrams | length ratio | min precision | off top-k |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        m = means(per_domain, domains, budget, row)
        off = "" if m["off_topk"] is None else f"{m['off_topk']:.3f}"
        out.append(f"| {row} | {m['precision']:.3f} | {m['kl_reduction']:.3f} | {m['perplexity']:.1f} | "
                   f"{m['distinct_bigrams']:.3f} | {m['length_ratio']:.2f} | {m['min_precision']:.3f} | {off} |")
    return out


def shown_rows(choice: dict) -> list[str]:
    """default, the choice, the best mixture (when another row), oracle."""
    rows = ["default", choice["chosen"]]
    if choice["best_mixture"] and choice["best_mixture"] != choice["chosen"]:
        rows.append(choice["best_mixture"])
    return rows + ["oracle"]


def render(per_domain: dict, meta: dict, choice: dict | None) -> str:
    names, halves = meta["combinations"], meta["halves"]
    out = [f"`{meta['command']}` ({meta['date']}; seed {meta['seed']}; {meta['workers']} worker; "
           f"dsir {meta['dsir_version']}; wall {meta['seconds']} s, per-domain compute "
           f"{meta['domain_seconds']} s{meta['cache_note']})", ""]
    out += ["Rows: `default` is `DSIR()` (method discriminative, mean per n-gram, temperature 0.3, 2^18 buckets) "
            "selecting with `.select(k=...)` / `.select(tokens=...)`; `aA-TT` is "
            "`A * z_disc + (1 - A) * z_ratio` (each log-weight standardized over the pool) at temperature T on "
            "that scale; `oracle` a uniform sample of the domain's own pool documents. Off top-k: the share of "
            "the selected documents that the noise-free top of the same weights, at the same budget, lacks "
            "(0: a top-k; larger: more of a real resampling).", ""]
    out += ["Per domain: the standard deviation of each log-weight over the pool, their correlation, the default's "
            "temperature on the standardized scale (0.3 / std of w_disc), and the in-memory rule on w_disc at "
            "T 0.3 against `DSIR()`'s own selection (share of the default's documents it selects, docs / quarter):",
            "", "| domain | std w_ratio | std w_disc | corr | default T standardized | rule check |",
            "|---|---:|---:|---:|---:|---:|"]
    for d in meta["domains"]:
        w, rc = per_domain[d]["weights"], per_domain[d]["rule_check"]
        out.append(f"| {d} | {w['ratio_std']:.4f} | {w['disc_std']:.4f} | {w['corr']:.3f} | "
                   f"{w['default_T_standardized']:.2f} | {rc['docs']['share_of_default']:.4f} / "
                   f"{rc['quarter']['share_of_default']:.4f} |")
    out.append("")
    if "choosing" in halves:
        ds = halves["choosing"]
        out += [f"### Choosing half ({', '.join(ds)}): every row", ""]
        for b in BUDGETS:
            out += [f"Budget `{b}`: means over the domains (W: "
                    + ", ".join(f"{d} {per_domain[d]['words'][b]:,}" for d in ds) + ")", ""]
            out += table(per_domain, ds, ["default", "oracle", *names], b) + [""]
    if choice is not None:
        c, cmp = choice["chosen"], choice["comparisons"][choice["chosen"]]
        if choice["qualifies"]:
            out += [f"The choice: {len(choice['qualifying'])} of {len(names)} combinations are not worse than the "
                    f"default on any of the six means (" + ", ".join(choice["qualifying"]) + f"); of those, `{c}` "
                    f"has the largest summed relative improvement ({cmp['gain']:+.4f}).", ""]
        else:
            out += [f"The choice: none of the {len(names)} combinations is not worse than the default on all six "
                    f"means (precision, KL reduction, perplexity at docs and quarter). The closest, `{c}`, is worse "
                    f"on: {', '.join(cmp['worse'])} (summed relative improvement {cmp['gain']:+.4f}).", ""]
        mix = choice["best_mixture"]
        if mix and mix != c:
            mc = choice["comparisons"][mix]
            out += [f"The best proper mixture (0 < alpha < 1) by the same rule, `{mix}`, "
                    + ("qualifies" if choice["mixture_qualifies"] else "is worse on: " + ", ".join(mc["worse"]))
                    + f" (summed relative improvement {mc['gain']:+.4f}).", ""]
        shown = shown_rows(choice)
        for h in ("confirming", "all"):
            if h not in halves:
                continue
            ds = halves[h]
            title = "All 8 domains" if h == "all" else f"Confirming half ({', '.join(ds)})"
            out += [f"### {title}: the choice next to the default", ""]
            for b in BUDGETS:
                out += [f"Budget `{b}`", ""] + table(per_domain, ds, shown, b) + [""]
            for row in shown[1:-1]:
                cc = compare(per_domain, ds, row)
                out += [f"`{row}` against the default here: worse on {', '.join(cc['worse']) or 'none'}; better on "
                        f"{', '.join(cc['better']) or 'none'}.", ""]
        out += ["### Halves: precision / KL reduction / perplexity, means over each half and all domains", "",
                "| row | budget | " + " | ".join(halves) + " |", "|---|---|" + "---:|" * len(halves)]
        for row in shown:
            for b in BUDGETS:
                cells = []
                for ds in halves.values():
                    m = means(per_domain, ds, b, row)
                    cells.append(f"{m['precision']:.3f} / {m['kl_reduction']:.3f} / {m['perplexity']:.1f}")
                out.append(f"| {row} | {b} | " + " | ".join(cells) + " |")
        out.append("")
    if "confirming" in halves:
        ds = halves["confirming"]
        out += [f"### Confirming half ({', '.join(ds)}): every row (for reference; the choice was not made here)", ""]
        for b in BUDGETS:
            out += [f"Budget `{b}`", ""] + table(per_domain, ds, ["default", "oracle", *names], b) + [""]
    out += ["### Per domain, budget, row: precision / KL reduction / perplexity", ""]
    for b in BUDGETS:
        rows = shown_rows(choice) if choice else ["default", "oracle"]
        out += [f"Budget `{b}`", "", "| domain | W | " + " | ".join(rows) + " |", "|---|---:|" + "---:|" * len(rows)]
        for d in meta["domains"]:
            cells = [f"{x['precision']:.3f} / {x['kl_reduction']:.3f} / {x['perplexity']:.0f}"
                     for x in (per_domain[d]["rows"][b][r] for r in rows)]
            out.append(f"| {d} | {per_domain[d]['words'][b]:,} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domains", nargs="+", default=None,
                   help="default: the choosing half (every other domain of stats.tsv), then the confirming half")
    p.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="ignore the per-domain cache in bench/.work/combination")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    argv_used = argv if argv is not None else sys.argv[1:]
    t_start = time.perf_counter()
    corpus = args.corpus.resolve()
    ks = corpus_domains(corpus)
    every = list(ks)
    choosing, confirming = every[0::2], every[1::2]
    domains = args.domains or choosing + confirming
    unknown = [d for d in domains if d not in ks]
    if unknown:
        raise SystemExit(f"unknown domains: {', '.join(unknown)} (stats.tsv has {', '.join(every)})")
    halves = {}
    if all(d in domains for d in choosing):
        halves["choosing"] = choosing
    if all(d in domains for d in confirming):
        halves["confirming"] = confirming
    if len(halves) == 2:
        halves["all"] = choosing + confirming
    domains = [d for d in choosing + confirming if d in domains]  # the choosing half first

    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))
    pool = Docs.load(pool_files)
    texts = [r["text"] for r in iter_jsonl(pool_files)]
    assert len(texts) == len(pool.ids)
    pool_arrow = pa.array(texts, pa.large_string())
    del texts
    noise = gumbel_noise(content_hashes(pool_arrow), args.seed)
    row_of = {i: r for r, i in enumerate(pool.ids)}
    raw_dist = smoothed(np.bincount(pool.features[1], minlength=10_000).astype(np.float64))
    names = [combo_name(a, t) for a in args.alphas for t in args.temperatures]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    key = {"seed": args.seed, "alphas": args.alphas, "temperatures": args.temperatures,
           "dsir_version": dsir.__version__, "corpus": str(corpus), "workers": args.workers}
    per_domain, cached = {}, []
    for domain in domains:
        cache = CACHE_DIR / f"{domain}-seed{args.seed}.json"
        if not args.fresh and cache.is_file():
            saved = json.loads(cache.read_text())
            if saved.get("key") == key:
                per_domain[domain] = saved["result"]
                cached.append(domain)
                print(f"{domain}: from {cache}", file=sys.stderr)
                continue
        per_domain[domain] = run_domain(domain, ks[domain], corpus, pool_files, pool, pool_arrow, noise, row_of,
                                        raw_dist, args.alphas, args.temperatures, args.seed, args.workers)
        cache.write_text(json.dumps({"key": key, "result": per_domain[domain]}, default=float) + "\n")
        print(f"{domain}: {per_domain[domain]['seconds']:.0f} s (fits {per_domain[domain]['fit_s']:.0f} s)",
              file=sys.stderr)

    alpha_of = {combo_name(a, t): a for a in args.alphas for t in args.temperatures}
    choice = choose(per_domain, halves["choosing"], names, alpha_of) if "choosing" in halves else None
    result_halves = {}
    if choice is not None:
        for h, ds in halves.items():
            shown = shown_rows(choice)
            result_halves[h] = {row: {b: means(per_domain, ds, b, row) for b in BUDGETS} for row in shown}
            result_halves[h]["vs_default"] = {row: compare(per_domain, ds, row) for row in shown[1:-1]}
    meta = {
        "command": "python bench/combination.py" + "".join(f" {a}" for a in argv_used),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seed": args.seed, "workers": args.workers,
        "domains": domains, "halves": halves, "alphas": args.alphas, "temperatures": args.temperatures,
        "combinations": names, "dsir_version": dsir.__version__,
        "default": {"method": DSIR().method, "weighting": DSIR().weighting, "temperature": DSIR().settings.temperature,
                    "buckets": DSIR().settings.buckets},
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - t_start),
        "domain_seconds": round(sum(per_domain[d]["seconds"] for d in domains)),
        "cached_domains": cached,
        "cache_note": f"; {len(cached)} domains from the cache of an earlier run" if cached else "",
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "combination.json").write_text(json.dumps(
        {"meta": meta, "choice": choice, "halves": result_halves, "per_domain": per_domain}, indent=1,
        default=float) + "\n")
    text = render(per_domain, meta, choice)
    (args.results_dir / "combination.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
