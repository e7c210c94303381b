"""Selection quality benchmark at two budgets: dsir variants, random, the classifier
baseline, the reference package and the oracle, every domain of the benchmark corpus in turn
as the target.

For each domain ``d`` (``target/<d>.jsonl.zst``) and each budget:

* ``docs``: k = the number of pool documents of domain ``d`` (corpus ``stats.tsv``);
* ``quarter``: a quarter of the tokens of those documents (``select(tokens=...)``: units in
  rank order until their tokens reach it), the budget users pick for a training run, far
  below "everything that matches";

and each method, it reports, on the selection:

* precision: the share of selected documents whose ground-truth ``domain`` is ``d``;
* length: mean tokens per selected document over the target's mean tokens per document;

and on an **equal amount of text** for every method of that domain and budget (W words,
the fewest any method selected: the selected documents in a fixed pseudo-random order, a
hash of their id, the last one cut), so that longer documents buy nothing:

* KL reduction: ``KL(target || raw) - KL(target || text)`` between add-one smoothed
  distributions over the hashed n-gram features (unigrams and bigrams, 10,000 buckets: the
  space dsir fits in; the cut document keeps the features of its first words);
* perplexity on ``eval/<d>`` of an interpolated Kneser-Ney bigram model (discount 0.75,
  the continuation unigram interpolated with a uniform distribution over 2**20 hashed word
  ids, one begin-of-document context per document) trained on the text;
* diversity: distinct word bigrams over word bigrams of the text.

The word ids, the equal-text cut, the bigram model and the diversity figure are
``dsir.metrics``'s, which the selection report uses too.

Methods: ``dsir`` (the default of ``dsir select``), ``dsir-sum`` (the paper's and the
reference's summed log-weights, temperature 1), ``dsir-chunk128`` (summed log-weights over
chunks of about 128 words, a document scored by its average chunk), ``dsir-mean-T0.03`` and
``dsir-mean-T0.1`` (softer temperatures, on request), ``random``, ``classifier`` (Pareto(9)
keep rule), ``reference`` (``data-selection==1.0.3``, ``min_example_length=0``, run through
``bench/reference`` with k = the domain's pool documents and cached in
``bench/.work/quality/reference/``; at the ``quarter`` budget its log-weights from that run,
with Gumbel noise from ``--seed``, are cut where their tokens reach the budget, as ``dsir
select --tokens`` cuts its keys), and
``oracle`` (a uniform sample of the domain's own pool documents: all of them at ``docs``,
a seeded random order cut at the budget at ``quarter``).

Usage, from the repository root::

    .venv/bin/python bench/quality.py                       # all domains, both budgets
    .venv/bin/python bench/quality.py --domains news quotes --methods dsir random --budgets quarter

Writes ``bench/results/quality.json`` and ``bench/results/quality.md`` (the tables that
``bench/README.md`` quotes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import (  # noqa: E402
    REPO_ROOT, WORK_DIR, concat_plain, iter_jsonl, reference_weights, run_reference,
)
from dsir.api import DSIR  # noqa: E402
from dsir.featurize import HashedNgramFeaturizer  # noqa: E402
from dsir.metrics import (  # noqa: E402
    WORD_BUCKETS, KneserNeyBigram, distinct_bigrams, featurize_csr, first_words, take_rows, word_ids,
)

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
QUALITY_DIR = WORK_DIR / "quality"

#: Method name -> DSIR keyword arguments (None: not a dsir run).
METHODS: dict[str, dict | None] = {
    "dsir": {},  # the default of dsir select, whatever it is
    "dsir-mean-T0.01": {"method": "dsir", "weighting": "mean", "temperature": 0.01},  # the default until issue 12
    "dsir-sum": {"method": "dsir", "weighting": "sum", "temperature": 1.0},
    "dsir-chunk128": {"method": "dsir", "weighting": "sum", "temperature": 1.0, "chunk_words": 128},
    "dsir-mean-T0.03": {"method": "dsir", "weighting": "mean", "temperature": 0.03},
    "dsir-mean-T0.1": {"method": "dsir", "weighting": "mean", "temperature": 0.1},
    "random": {"method": "random"},
    "classifier": {"method": "classifier"},
    # the neural feature space of issue 19: a logistic regression on static MiniLM vectors
    "minilm-static": {"method": "discriminative", "features": "minilm-static"},
    "minilm-static-topk": {"method": "discriminative", "features": "minilm-static", "top_k": True},
    "reference": None,
    "oracle": None,
}
#: Rows that other benchmarks add (bench/neural.py): name -> a function of (domain, budget,
#: corpus, pool_files, fitted, workers, seed, pool) that returns what ``run_method`` does.
EXTRA: dict[str, Callable[..., tuple[list[str], float, dict]]] = {}
#: Methods whose one fit per domain every row of that method shares (rows differ in the key rule).
SHARED_FIT = ("dsir", "discriminative")
BUDGETS = ("docs", "quarter")


# -- data -------------------------------------------------------------------------------------


@dataclass
class Docs:
    """Documents with their word ids (for the LM) and feature ids (for KL)."""

    ids: list[str]
    domains: np.ndarray
    words: tuple[np.ndarray, np.ndarray]  # word ids, WORD_BUCKETS buckets
    features: tuple[np.ndarray, np.ndarray]  # dsir's features, 2-grams in 10,000 buckets

    @property
    def tokens(self) -> np.ndarray:
        return np.diff(self.words[0])

    @classmethod
    def load(cls, paths: list[Path]) -> Docs:
        records = list(iter_jsonl(paths))
        texts = pa.array([r["text"] for r in records], pa.large_string())
        return cls([r["id"] for r in records], np.array([r.get("domain", "") for r in records]),
                   word_ids(texts), featurize_csr(HashedNgramFeaturizer(2, 10_000), texts))


# -- metrics ----------------------------------------------------------------------------------


def smoothed(counts: np.ndarray) -> np.ndarray:
    return (counts + 1.0) / (counts.sum() + len(counts))


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * (np.log(p) - np.log(q))))


# -- runs -------------------------------------------------------------------------------------


def read_selected_ids(out_dir: Path) -> list[str]:
    files = sorted(out_dir.glob("part-*.jsonl*"))
    return [r["id"] for r in iter_jsonl(files)]


def reference_run(domain: str, k: int, corpus: Path, pool_files: list[Path], workers: int,
                  seed: int) -> tuple[Path, dict, bool]:
    """The reference's run for ``domain`` at k (cached): its output folder, timings, whether cached."""
    out = QUALITY_DIR / "reference" / f"{domain}-k{k}-seed{seed}"
    cached = (out / "reference_timings.json").is_file()
    if not cached:
        pool = concat_plain(pool_files, "quality-pool.jsonl")
        run_reference([pool], [corpus / "target" / f"{domain}.jsonl.zst"], k, out, workers=workers, seed=seed)
    return out, json.loads((out / "reference_timings.json").read_text()), cached


def cut_by_tokens(order: np.ndarray, tokens: np.ndarray, budget: int) -> np.ndarray:
    """The rows of ``order`` up to and including the first whose running tokens reach ``budget``."""
    reached = int(np.searchsorted(np.cumsum(tokens[order]), budget))
    return order[: reached + 1]


def run_method(method: str, domain: str, budget: dict, corpus: Path, pool_files: list[Path], fitted: dict[str, DSIR],
               workers: int, seed: int, pool: Docs) -> tuple[list[str], float, dict]:
    """Select ``budget`` (``{"k": n}`` or ``{"tokens": n}``) for ``domain``; return the selected
    ids, seconds, extra info."""
    target = corpus / "target" / f"{domain}.jsonl.zst"
    if method in EXTRA:
        return EXTRA[method](domain, budget, corpus, pool_files, fitted, workers, seed, pool)
    if method == "oracle":
        own = np.flatnonzero(pool.domains == domain)
        if "k" in budget:
            return [pool.ids[r] for r in own[: budget["k"]]], 0.0, {}
        order = np.random.default_rng(seed).permutation(own)
        return [pool.ids[r] for r in cut_by_tokens(order, pool.tokens, budget["tokens"])], 0.0, {}
    if method == "reference":
        k_docs = int((pool.domains == domain).sum())
        out, timings, cached = reference_run(domain, k_docs, corpus, pool_files, workers, seed)
        info = {"cached": cached}
        if "k" in budget:
            return [r["id"] for r in iter_jsonl([out / "selected.jsonl"])], float(timings["total_s"]), info
        # its resampling (Gumbel top-k over its log-weights) cut by tokens instead of a count
        keys = reference_weights(out / "cache", len(pool.ids), workers) + np.random.default_rng(seed).gumbel(size=len(pool.ids))
        order = np.argsort(-keys, kind="stable")
        info["rule"] = "its log-weights + Gumbel(seed), cut where the tokens reach the budget"
        return [pool.ids[r] for r in cut_by_tokens(order, pool.tokens, budget["tokens"])], 0.0, info
    out = QUALITY_DIR / "selections" / method / domain
    kwargs = dict(METHODS[method])
    d = DSIR(seed=seed, workers=workers, **kwargs)
    t0 = time.perf_counter()
    with d.engine:
        if (d.method, d.features) in fitted:
            # one fit per domain, method and feature space, shared by its rows
            d.estimator_ = fitted[d.method, d.features].estimator_
            m = d.select([str(p) for p in pool_files], str(out), overwrite=True, report=False, **budget)
        else:
            m = d.select([str(p) for p in pool_files], str(out), target=str(target), overwrite=True,
                         report=False, **budget)
    seconds = time.perf_counter() - t0
    return read_selected_ids(out), seconds, {"parameters": {kk: m["parameters"].get(kk) for kk in (
        "method", "weighting", "temperature", "chunk_words", "top_k", "pareto_alpha") if kk in m["parameters"]}}


def shared_fits(methods: list[str], seed: int, pool_files: list[Path], target: Path) -> dict[tuple, DSIR]:
    """One fit per domain of each ``SHARED_FIT`` method (and feature space) that a row of
    ``methods`` uses."""
    used = {(d.method, d.features) for d in (DSIR(**METHODS[m]) for m in methods if METHODS.get(m) is not None)}
    return {(m, f): DSIR(seed=seed, method=m, features=f).fit([str(p) for p in pool_files], str(target))
            for m, f in sorted(used) if m in SHARED_FIT}


def text_order(ids: list[str], seed: int) -> list[int]:
    """A fixed pseudo-random order of the selected documents: by a hash of (seed, id)."""
    return sorted(range(len(ids)), key=lambda i: hashlib.blake2b(f"{seed}:{ids[i]}".encode(), digest_size=8).digest())


def equal_text(rows: np.ndarray, pool: Docs, words: int) -> tuple[tuple, tuple]:
    """The first ``words`` words of the documents ``rows`` in that order (the last one cut), as
    ``(word ids, feature ids)`` CSRs; a cut document keeps the features of its first w words
    (2 w - 1 of them: each word's unigram, then the bigram ending at it)."""
    rows, taken = first_words(pool.tokens, rows, words)
    return take_rows(pool.words, rows, taken), take_rows(pool.features, rows, np.maximum(0, 2 * taken - 1))


def evaluate(ids: list[str], domain: str, pool: Docs, row_of: dict[str, int], target: Docs, eval_docs: Docs,
             raw_dist: np.ndarray, target_dist: np.ndarray, words: int, seed: int) -> dict:
    rows = np.array([row_of[i] for i in ids], dtype=np.int64)
    if len(set(rows.tolist())) != len(rows):
        raise SystemExit(f"{domain}: a selection holds a document twice")
    (w_ptr, w_ids), (f_ptr, f_ids) = equal_text(rows[text_order(ids, seed)], pool, words)
    text_dist = smoothed(np.bincount(f_ids, minlength=len(raw_dist)).astype(np.float64))
    lm = KneserNeyBigram(WORD_BUCKETS).fit(w_ptr, w_ids)
    mean_len = float(pool.tokens[rows].mean())
    target_len = float(target.tokens.mean())
    return {
        "selected": len(rows),
        "selected_tokens": int(pool.tokens[rows].sum()),
        "text_words": int(len(w_ids)),
        "precision": float(np.mean(pool.domains[rows] == domain)),
        "kl_reduction": kl(target_dist, raw_dist) - kl(target_dist, text_dist),
        "mean_tokens": mean_len,
        "target_mean_tokens": target_len,
        "length_ratio": mean_len / target_len,
        "perplexity": lm.perplexity(*eval_docs.words),
        "distinct_bigrams": distinct_bigrams(w_ptr, w_ids),
    }


def corpus_domains(corpus: Path) -> dict[str, int]:
    lines = (corpus / "stats.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    i_d, i_k = header.index("domain"), header.index("pool_docs")
    return {c[i_d]: int(c[i_k]) for c in (line.split("\t") for line in lines[1:]) if c[i_d] != "total"}


def render(results: dict, methods: list[str], domains: list[str], meta: dict) -> str:
    out = [f"`{meta['command']}` ({meta['date']}; seed {meta['seed']}, {meta['workers']} workers; "
           f"dsir default: {meta['dsir_default']})", ""]
    for budget, per_domain in results.items():
        what = ("k = the domain's pool documents" if budget == "docs" else
                "a quarter of the tokens of the domain's pool documents")
        out += [f"### Budget `{budget}`: {what}", ""]
        out.append("| method | mean precision | mean KL reduction | mean perplexity | mean distinct bigrams | "
                   "length within 25% | mean length ratio | KL reduction > 0 |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for m in methods:
            rs = [per_domain[d][m] for d in domains if m in per_domain[d]]
            if not rs:
                continue
            within = sum(abs(r["length_ratio"] - 1) <= 0.25 for r in rs)
            positive = sum(r["kl_reduction"] > 0 for r in rs)
            out.append(f"| {m} | {np.mean([r['precision'] for r in rs]):.3f} | "
                       f"{np.mean([r['kl_reduction'] for r in rs]):.3f} | "
                       f"{np.mean([r['perplexity'] for r in rs]):.1f} | "
                       f"{np.mean([r['distinct_bigrams'] for r in rs]):.3f} | {within} of {len(rs)} | "
                       f"{np.mean([r['length_ratio'] for r in rs]):.2f} | {positive} of {len(rs)} |")
        halves = {"choosing": domains[0::2], "confirming": domains[1::2]}
        out += ["", "Means over each half of the domains (the default was chosen on the choosing half with "
                "`bench/discriminative_sweep.py`): " + "; ".join(f"{h}: {', '.join(ds)}" for h, ds in halves.items()),
                "", "| method | " + " | ".join(f"{h} precision / KL reduction / perplexity" for h in halves) + " |",
                "|---|" + "---:|" * len(halves)]
        for m in methods:
            cells = []
            for ds in halves.values():
                rs = [per_domain[d][m] for d in ds if m in per_domain[d]]
                cells.append(f"{np.mean([r['precision'] for r in rs]):.3f} / {np.mean([r['kl_reduction'] for r in rs]):.3f}"
                             f" / {np.mean([r['perplexity'] for r in rs]):.1f}" if rs else "-")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out += ["", "Per domain: precision / KL reduction / perplexity / length ratio; W = the words every "
                "method's text has.", ""]
        out.append("| domain | budget | W | " + " | ".join(methods) + " |")
        out.append("|---|---:|---:|" + "---:|" * len(methods))
        for d in domains:
            cells = []
            for m in methods:
                r = per_domain[d].get(m)
                cells.append(f"{r['precision']:.3f} / {r['kl_reduction']:.3f} / {r['perplexity']:.0f} / "
                             f"{r['length_ratio']:.2f}" if r else "-")
            b = meta["budgets"][budget][d]
            out.append(f"| {d} | {b} | {meta['words'][budget][d]:,} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None, name: str = "quality", default_methods: list[str] | None = None,
         description: str | None = None) -> int:
    """The benchmark; ``name`` names its results files and command (bench/neural.py runs it
    with its own rows, ``EXTRA``)."""
    p = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domains", nargs="+", default=None)
    p.add_argument("--methods", nargs="+", default=default_methods or [
        m for m in METHODS if m not in ("dsir-mean-T0.03", "dsir-mean-T0.1", "minilm-static", "minilm-static-topk")],
        choices=list(METHODS) + list(EXTRA), help="default: all but dsir-mean-T0.03 and T0.1 and the minilm rows "
        "(bench/neural.py's), on request")
    p.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    corpus = args.corpus.resolve()
    ks = corpus_domains(corpus)
    domains = args.domains or list(ks)
    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))
    t0 = time.perf_counter()
    pool = Docs.load(pool_files)
    row_of = {i: r for r, i in enumerate(pool.ids)}
    raw_dist = smoothed(np.bincount(pool.features[1], minlength=10_000).astype(np.float64))
    print(f"pool: {len(pool.ids)} documents featurized in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    results: dict[str, dict] = {b: {} for b in args.budgets}
    budgets: dict[str, dict] = {b: {} for b in args.budgets}
    words: dict[str, dict] = {b: {} for b in args.budgets}
    for domain in domains:
        target_path = corpus / "target" / f"{domain}.jsonl.zst"
        target = Docs.load([target_path])
        eval_docs = Docs.load([corpus / "eval" / f"{domain}.jsonl.zst"])
        target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
        own = pool.domains == domain
        if int(own.sum()) != ks[domain]:
            raise SystemExit(f"{domain}: stats.tsv says {ks[domain]} pool documents, the pool has {int(own.sum())}")
        fitted = shared_fits(args.methods, args.seed, pool_files, target_path)
        for budget_name in args.budgets:
            budget = {"k": ks[domain]} if budget_name == "docs" else {"tokens": int(pool.tokens[own].sum()) // 4}
            budgets[budget_name][domain] = next(iter(budget.values()))
            selections = {}
            for method in args.methods:
                ids, seconds, info = run_method(method, domain, budget, corpus, pool_files, fitted, args.workers,
                                                args.seed, pool)
                selections[method] = (ids, seconds, info)
            w = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids, _, _ in selections.values())
            words[budget_name][domain] = w
            results[budget_name][domain] = {}
            for method, (ids, seconds, info) in selections.items():
                r = evaluate(ids, domain, pool, row_of, target, eval_docs, raw_dist, target_dist, w, args.seed)
                r.update(seconds=round(seconds, 2), **info)
                results[budget_name][domain][method] = r
                print(f"{domain:12s} {budget_name:7s} {method:14s} precision {r['precision']:.3f}  KL-red "
                      f"{r['kl_reduction']:.3f}  ppl {r['perplexity']:8.1f}  distinct {r['distinct_bigrams']:.3f}  "
                      f"len {r['length_ratio']:.2f}  ({seconds:.1f}s)", file=sys.stderr)
    shutil.rmtree(QUALITY_DIR / "selections", ignore_errors=True)
    defaults = DSIR()
    meta = {
        "command": f"python bench/{name}.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])
                                                if (argv if argv is not None else sys.argv[1:]) else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": args.seed, "workers": args.workers, "budgets": budgets, "words": words,
        "dsir_default": f"method={defaults.method}, weighting={defaults.weighting}, "
                        f"temperature={defaults.settings.temperature}, buckets={defaults.settings.buckets}",
        "python": platform.python_version(),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    table = render(results, args.methods, domains, meta)
    (args.results_dir / f"{name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
