"""Neural feature spaces against hashed n-grams: bench/quality.py's budgets and metrics with
all-MiniLM-L6-v2's embeddings, its static distillation and cascades (issue 19).

Rows, each domain of the corpus in turn as the target, at both budgets (``docs``, ``quarter``)
and evaluated on an equal amount of text as bench/quality.py does:

* ``dsir``: the default of ``dsir select`` (hashed n-grams, the discriminative estimator);
* ``minilm-static`` (``--features minilm-static --method discriminative``, temperature 0.3)
  and ``minilm-static-topk`` (``--top-k``): the static distillation, through ``dsir select``;
* ``minilm-T0.3`` and ``minilm-topk``: the transformer's embeddings (first 128 word pieces,
  the model's mean pooling, L2-normalized; ``bench/neural_embed.py`` computes and caches
  them), the same logistic regression (``dsir.estimate.embedding``, the training of
  ``EMBEDDING_TRAINING``) of the target against a uniform sample of 10,000 pool documents,
  ranked by log-odds / 0.3 + Gumbel noise, or by log-odds alone;
* ``cascade-F`` (F = 2, 3, 4): the default n-gram selection's weights keep the F * k best
  pool documents, k the documents ``minilm-topk`` selects at that budget, and only those are
  ranked by the transformer's log-odds (top-k): the share of the pool embedded is F * k over
  the pool's documents, reported as ``embedded``;
* ``oracle``.

The neural rows' ``seconds`` are the embedding time they need (documents embedded, at the
per-document time ``bench/neural_embed.py`` measured on this machine) plus their fit.

Usage, from the repository root (the neural extra installed)::

    python bench/neural_embed.py         # once: about 12 minutes on 2 cores
    python bench/neural.py               # all domains, both budgets

Writes ``bench/results/neural.json`` and ``bench/results/neural.md``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import quality  # noqa: E402
from bench.neural_embed import NEURAL_DIR  # noqa: E402
from dsir.api import DSIR  # noqa: E402
from dsir.estimate.embedding import EmbeddingLogisticRegression  # noqa: E402
from dsir.estimate.methods import CLASSIFIER_MAX_DOCUMENTS, DISCRIMINATIVE_TEMPERATURE, EMBEDDING_TRAINING  # noqa: E402

MAX_PIECES = 128
FACTORS = (2, 3, 4)
_cache: dict[str, tuple[np.ndarray, float]] = {}


def embeddings(name: str) -> tuple[np.ndarray, float]:
    """The cached embeddings of a split and the seconds per document an embedding takes."""
    if name not in _cache:
        path = NEURAL_DIR / f"{name}-{MAX_PIECES}.npy"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run python bench/neural_embed.py first")
        _cache[name] = (np.load(path), seconds_per_document())
    return _cache[name]


def seconds_per_document() -> float:
    """The fastest per-document embedding time of the splits bench/neural_embed.py timed
    (every document is 128 pieces or fewer, so they cost alike; the fastest ran alone)."""
    infos = [json.loads(p.read_text()) for p in NEURAL_DIR.glob(f"*-{MAX_PIECES}.json")]
    return min(i["seconds"] / i["documents"] for i in infos)


def log_odds(domain: str, seed: int) -> tuple[np.ndarray, float]:
    """The transformer-space log-odds of every pool document for ``domain``, and the fit's seconds."""
    key = f"log-odds-{domain}-{seed}"
    if key not in _cache:
        pool, _ = embeddings("pool")
        target, _ = embeddings(f"target-{domain}")
        rng = np.random.default_rng(seed)
        raw = pool[np.sort(rng.permutation(len(pool))[:CLASSIFIER_MAX_DOCUMENTS])]
        t0 = time.perf_counter()
        clf = EmbeddingLogisticRegression(**EMBEDDING_TRAINING).fit(target[:CLASSIFIER_MAX_DOCUMENTS], raw)
        _cache[key] = (clf.decision_function(pool), time.perf_counter() - t0)
    return _cache[key]


def ranked(scores: np.ndarray, rows: np.ndarray, temperature: float | None, seed: int) -> np.ndarray:
    """``rows`` by key, best first: score / temperature + Gumbel noise, or the score (top-k)."""
    keys = scores[rows]
    if temperature is not None:
        keys = keys / temperature + np.random.default_rng(seed + 1).gumbel(size=len(scores))[rows]
    return rows[np.argsort(-keys, kind="stable")]


def cut(order: np.ndarray, budget: dict, pool: quality.Docs) -> np.ndarray:
    return order[: budget["k"]] if "k" in budget else quality.cut_by_tokens(order, pool.tokens, budget["tokens"])


def minilm(temperature: float | None):
    def run(domain, budget, corpus, pool_files, fitted, workers, seed, pool):
        scores, fit_s = log_odds(domain, seed)
        per_doc = embeddings("pool")[1]
        n_target = len(embeddings(f"target-{domain}")[0])
        chosen = cut(ranked(scores, np.arange(len(scores)), temperature, seed), budget, pool)
        return ([pool.ids[r] for r in chosen], (len(scores) + n_target) * per_doc + fit_s,
                {"embedded": 1.0, "rule": "top-k" if temperature is None else f"Gumbel, temperature {temperature}"})
    return run


def ngram_weights(domain: str, pool_files, fitted, workers: int, seed: int, pool: quality.Docs) -> np.ndarray:
    """The default selection's weights of every pool document (its fit shared with the dsir row)."""
    key = f"ngram-{domain}-{seed}"
    if key not in _cache:
        d = DSIR(seed=seed, workers=workers)
        d.estimator_ = fitted[d.method, d.features].estimator_
        with d.engine:
            table = d.score([str(p) for p in pool_files]).to_pandas()
        order = {str(p): i for i, p in enumerate(pool_files)}
        table["f"] = table["file"].map(order)
        table = table.sort_values(["f", "row"], kind="stable")
        assert len(table) == len(pool.ids)
        _cache[key] = table["weight"].to_numpy()
    return _cache[key]


def cascade(factor: int):
    def run(domain, budget, corpus, pool_files, fitted, workers, seed, pool):
        scores, fit_s = log_odds(domain, seed)
        k = len(cut(ranked(scores, np.arange(len(scores)), None, seed), budget, pool))
        weights = ngram_weights(domain, pool_files, fitted, workers, seed, pool)
        candidates = np.sort(np.argsort(-weights, kind="stable")[: factor * k])
        chosen = cut(ranked(scores, candidates, None, seed), budget, pool)
        per_doc = embeddings("pool")[1]
        n_target = len(embeddings(f"target-{domain}")[0])
        return ([pool.ids[r] for r in chosen], (len(candidates) + n_target) * per_doc + fit_s,
                {"embedded": len(candidates) / len(scores), "candidates": int(len(candidates))})
    return run


quality.EXTRA.update({"minilm-T0.3": minilm(DISCRIMINATIVE_TEMPERATURE), "minilm-topk": minilm(None)})
quality.EXTRA.update({f"cascade-{f}": cascade(f) for f in FACTORS})
ROWS = ["dsir", "minilm-static", "minilm-static-topk", "minilm-T0.3", "minilm-topk",
        *(f"cascade-{f}" for f in FACTORS), "oracle"]


def append_costs(results_dir: Path = quality.RESULTS_DIR) -> str:
    """Add to neural.md what each neural row embedded (share of the pool) and the seconds its
    embeddings and fit take on this machine's 2 cores, per budget (means and worst domain)."""
    data = json.loads((results_dir / "neural.json").read_text())
    per_doc = seconds_per_document()
    lines = ["", "### What the neural rows cost", "",
             f"Share of the pool's documents embedded with the transformer, and the seconds that embedding "
             f"(at {per_doc * 1e3:.1f} ms per document, 2 threads; the pool's own embedding ran beside other work, "
             f"so the fastest split's rate is used) and the fit take; `minilm-static` embeds nothing (its "
             f"vectors are a table) and its seconds are its whole `dsir select`.", "",
             "| budget | method | mean share embedded | largest share (domain) | mean seconds |", "|---|---|---:|---:|---:|"]
    for budget, per_domain in data["results"].items():
        for m in data["results"][budget][next(iter(per_domain))]:
            if not (m.startswith("minilm") or m.startswith("cascade")):
                continue
            rows = {d: per_domain[d][m] for d in per_domain}
            share = {d: r.get("embedded", 0.0) for d, r in rows.items()}
            worst = max(share, key=share.get)
            lines.append(f"| {budget} | {m} | {np.mean(list(share.values())):.3f} | {share[worst]:.3f} ({worst}) | "
                         f"{np.mean([r['seconds'] for r in rows.values()]):.0f} |")
    text = "\n".join(lines) + "\n"
    with open(results_dir / "neural.md", "a") as f:
        f.write(text)
    return text


if __name__ == "__main__":
    rc = quality.main(name="neural", default_methods=ROWS, description=__doc__.split("\n\n")[0])
    print(append_costs())
    sys.exit(rc)
