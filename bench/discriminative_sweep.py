"""Choose the discriminative estimator's hash size, regularization, epochs and temperature.

Runs on the *choosing* half of the corpus's domains (every other domain of ``stats.tsv``,
starting with the first: ``--half choose``), or on the other half to confirm a choice
(``--half confirm``), at both budgets of ``bench/quality.py`` and with its metrics (precision,
KL reduction, perplexity and distinct bigrams on an equal amount of text: W words, the fewest
any row of the sweep selected). Each configuration is fit once per domain through
``DSIR.fit`` and selected at every temperature with that fit, as ``dsir select`` would.

Usage, from the repository root::

    .venv/bin/python bench/discriminative_sweep.py               # the first sweep of bench/README.md
    .venv/bin/python bench/discriminative_sweep.py --grid refine --temperatures 0.1 0.2 0.3 0.5
    .venv/bin/python bench/discriminative_sweep.py --half confirm --grid final

Writes ``bench/results/discriminative_sweep-<grid>-<half>.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import (  # noqa: E402
    DEFAULT_CORPUS, QUALITY_DIR, RESULTS_DIR, Docs, corpus_domains, evaluate, read_selected_ids, run_method,
    shared_fits, smoothed,
)
from dsir.api import DSIR  # noqa: E402
from dsir.estimate import methods as estimate_methods  # noqa: E402

TEMPERATURES = (0.01, 0.1, 0.3, 1.0)
BASE = {"buckets": 1 << 20, "l2": 1e-6, "epochs": 150}
#: Each grid: configurations (hash size and training) fit once per domain.
GRIDS = {
    "sweep": [BASE, {**BASE, "buckets": 1 << 18}, {**BASE, "buckets": 1 << 22},
              {**BASE, "l2": 1e-7}, {**BASE, "l2": 1e-5}, {**BASE, "l2": 1e-4},
              {**BASE, "epochs": 50}, {**BASE, "epochs": 400}],
    # the sweep's trends (less l2, more epochs, any hash size) followed further
    "refine": [{"buckets": 1 << 18, "l2": 1e-7, "epochs": 400}, {"buckets": 1 << 20, "l2": 1e-7, "epochs": 400},
               {"buckets": 1 << 18, "l2": 1e-8, "epochs": 400}, {"buckets": 1 << 18, "l2": 0.0, "epochs": 400},
               {"buckets": 1 << 18, "l2": 1e-7, "epochs": 1000}],
    "final": [BASE],
}
BASELINES = ("dsir-mean-T0.01", "dsir-sum", "oracle")  # the first two are method dsir


@contextlib.contextmanager
def training(l2: float, epochs: int):
    """``discriminative``'s training parameters set to these for the duration (a bench knob:
    the shipped values are ``DISCRIMINATIVE_TRAINING``)."""
    saved = dict(estimate_methods.DISCRIMINATIVE_TRAINING)
    estimate_methods.DISCRIMINATIVE_TRAINING.update(l2=l2, epochs=epochs)
    try:
        yield
    finally:
        estimate_methods.DISCRIMINATIVE_TRAINING.clear()
        estimate_methods.DISCRIMINATIVE_TRAINING.update(saved)


def config_name(c: dict, temperature: float) -> str:
    return f"disc-b2^{int(np.log2(c['buckets']))}-l2{c['l2']:g}-e{c['epochs']}-T{temperature:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--half", choices=("choose", "confirm", "all"), default="choose")
    p.add_argument("--grid", choices=list(GRIDS), default="sweep")
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    corpus = args.corpus.resolve()
    ks = corpus_domains(corpus)
    every = list(ks)
    domains = {"choose": every[0::2], "confirm": every[1::2], "all": every}[args.half]
    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))
    pool = Docs.load(pool_files)
    row_of = {i: r for r, i in enumerate(pool.ids)}
    raw_dist = smoothed(np.bincount(pool.features[1], minlength=10_000).astype(np.float64))
    rows: dict = {}
    t_start = time.perf_counter()
    for domain in domains:
        target_path = corpus / "target" / f"{domain}.jsonl.zst"
        target, eval_docs = Docs.load([target_path]), Docs.load([corpus / "eval" / f"{domain}.jsonl.zst"])
        target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
        own = pool.domains == domain
        budgets = {"docs": {"k": ks[domain]}, "quarter": {"tokens": int(pool.tokens[own].sum()) // 4}}
        selections: dict = {b: {} for b in budgets}
        fitted = shared_fits(list(BASELINES), args.seed, pool_files, target_path)
        for b, budget in budgets.items():
            for m in BASELINES:
                selections[b][m] = run_method(m, domain, budget, corpus, pool_files, fitted, args.workers, args.seed,
                                              pool)[0]
        for c in GRIDS[args.grid]:
            t0 = time.perf_counter()
            with training(c["l2"], c["epochs"]):
                est = DSIR(method="discriminative", buckets=c["buckets"], seed=args.seed, workers=args.workers)
                with est.engine:
                    est.fit([str(f) for f in pool_files], str(target_path))
            fit_s = time.perf_counter() - t0
            for temperature in args.temperatures:
                d = DSIR(method="discriminative", buckets=c["buckets"], temperature=temperature, seed=args.seed,
                         workers=args.workers)
                d.estimator_ = est.estimator_
                out = QUALITY_DIR / "selections" / "sweep" / domain
                for b, budget in budgets.items():
                    with d.engine:
                        d.select([str(f) for f in pool_files], str(out), overwrite=True, report=False, **budget)
                    selections[b][config_name(c, temperature)] = read_selected_ids(out)
            print(f"{domain}: {c} fit in {fit_s:.1f}s", file=sys.stderr)
        for b, by_method in selections.items():
            words = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids in by_method.values())
            for m, ids in by_method.items():
                r = evaluate(ids, domain, pool, row_of, target, eval_docs, raw_dist, target_dist, words, args.seed)
                rows.setdefault(b, {}).setdefault(m, {})[domain] = r
    meta = {"command": "python bench/discriminative_sweep.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "domains": domains,
            "seconds": round(time.perf_counter() - t_start)}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"discriminative_sweep-{args.grid}-{args.half}"
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    table = render(rows, meta)
    (RESULTS_DIR / f"{stem}.md").write_text(table)
    print(table)
    return 0


def render(rows: dict, meta: dict) -> str:
    out = [f"`{meta['command']}` ({meta['date']}; domains {', '.join(meta['domains'])}; {meta['seconds']} s)", ""]
    for b, by_method in rows.items():
        out += [f"Budget `{b}`: means over the domains", "",
                "| row | precision | KL reduction | perplexity | distinct bigrams | length ratio | min KL reduction |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for m, per in by_method.items():
            v = list(per.values())
            out.append(f"| {m} | {np.mean([x['precision'] for x in v]):.3f} | "
                       f"{np.mean([x['kl_reduction'] for x in v]):.3f} | {np.mean([x['perplexity'] for x in v]):.1f} | "
                       f"{np.mean([x['distinct_bigrams'] for x in v]):.3f} | {np.mean([x['length_ratio'] for x in v]):.2f} | "
                       f"{min(x['kl_reduction'] for x in v):.3f} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
