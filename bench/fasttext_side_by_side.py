"""fastText against dsir's ``discriminative`` estimator, side by side in one run (issue 12, item 3).

Both are the same idea: a linear classifier of target documents against a uniform raw sample
on hashed unigram + bigram features (dsir at its default ``DISCRIMINATIVE_BUCKETS``, 2**18;
fastText at its own 2**20), whose log-odds is the importance
log-weight that Gumbel top-k resampling at a temperature T turns into a selection. This bench
measures whether the maintained fastText binding (PyPI ``fasttext-wheel==0.9.2``, in its own
venv ``bench/.venv-fasttext``, see ``ensure_fasttext_venv``) is faster or better than dsir's
own numba kernel (full-batch Adam on a class-balanced logistic regression).

On each of the 4 *choosing* domains of the benchmark corpus (every other domain of
``stats.tsv``, starting with the first: dictionary, kernel_docs, literature, quotes):

* dsir: ``DSIR(method="discriminative").fit(pool, target)`` once, then
  ``DSIR(method="discriminative", temperature=T).select(..., k=... | tokens=...)`` with that fit;
* fastText (``bench/fasttext_worker.py`` in the fastText venv, one thread):
  ``train_supervised`` on the target documents (``__label__target``) and a uniform raw sample of
  the pool drawn with ``--seed`` (``__label__raw``, as many documents as dsir's raw sample,
  ``CLASSIFIER_MAX_DOCUMENTS``), text lowercased and newlines made spaces, lines shuffled;
  ``wordNgrams=2, bucket=2**20, minCount=1, loss=softmax`` and the ``SETTINGS`` below
  (dim, epochs, lr). Its log-odds of every pool document, minus ``log(n_target / n_raw)``
  (fastText trains unweighted; a constant, it does not change the order), is the log-weight
  ``w``, computed exactly as ``(o_target - o_raw) . h`` from the sentence vector ``h`` (the
  hidden layer of ``predict``: ``predict``'s probabilities are clipped at 1e-5, which
  saturates the log-odds near +-11.5; the worker checks both agree elsewhere);
* the selection from ``w``: dsir's own rule, ``key = w / T + Gumbel``, with dsir's Gumbel noise
  (``dsir.sample.gumbel.gumbel_noise`` of the documents' content hashes and ``--seed``, so both
  sides draw the same noise per document), the k largest keys at budget ``docs`` (k = the
  domain's pool documents) and, at ``quarter``, the keys in order cut where the running tokens
  reach a quarter of the domain's pool tokens (``bench.quality.cut_by_tokens``);
* T in {0.1, 0.3, 1.0}; ``oracle`` (a uniform sample of the domain's own pool documents) as
  the ceiling.

Quality (``bench.quality.evaluate``, means over the domains): precision, KL reduction,
perplexity of a bigram LM on ``eval/<domain>``, distinct bigrams and length ratio, on an equal
amount of text per domain and budget (W words, the fewest any row selected).

Speed, in the same run, CPU seconds by ``time.process_time`` (fastText's measured inside its
worker, one thread; dsir's in this process, numba, one thread):

* fastText: ``train_supervised`` (reads and hashes its file every epoch); ``predict`` over the
  pool (texts in memory, already lowercased; the faster of two passes); the exact log-odds pass;
* dsir: ``DSIR.fit`` end to end (wall: reads the compressed pool, samples, featurizes,
  trains); its kernel alone on the fastText run's documents: featurizing them
  (``HashedNgramFeaturizer.buckets_of``) and ``DiscriminativeEstimator.fit`` (Adam); the score
  pass ``HashedNgramFeaturizer(2, DISCRIMINATIVE_BUCKETS).score(texts, log_ratio_)`` over the pool texts in
  memory (the faster of two passes).

Throughput is MB of pool text (UTF-8 bytes of the original ``text``) per CPU-second.

Usage, from the repository root::

    .venv/bin/python bench/fasttext_side_by_side.py
    .venv/bin/python bench/fasttext_side_by_side.py --domains quotes --settings ft-d16-e5-lr0.1

Writes ``bench/results/fasttext_side_by_side.{json,md}`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np
import pyarrow as pa

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import (  # noqa: E402
    DEFAULT_CORPUS, QUALITY_DIR, RESULTS_DIR, Docs, corpus_domains, cut_by_tokens, evaluate, read_selected_ids,
    run_method, smoothed,
)
from bench.reference import REPO_ROOT, WORK_DIR, iter_jsonl  # noqa: E402
from bench.reference.setup_env import venv_python  # noqa: E402
from dsir.api import DSIR  # noqa: E402
from dsir.estimate.discriminative import DiscriminativeEstimator  # noqa: E402
from dsir.estimate.methods import (  # noqa: E402
    CLASSIFIER_MAX_DOCUMENTS, DISCRIMINATIVE_BUCKETS, DISCRIMINATIVE_TEMPERATURE, DISCRIMINATIVE_TRAINING,
)
from dsir.featurize import HashedNgramFeaturizer, content_hashes  # noqa: E402
from dsir.sample.gumbel import gumbel_noise  # noqa: E402

# -- the fastText environment ---------------------------------------------------------------

#: The fastText venv (git-ignored by ``bench/.venv-*/``).
FASTTEXT_VENV: Path = REPO_ROOT / "bench" / ".venv-fasttext"
#: Exact pins. ``fasttext-wheel`` 0.9.2 (the binary wheel of fastText 0.9.2) asks for pybind11,
#: setuptools and numpy; its ``predict`` of a single line (and its ``test`` curves) call
#: ``np.array(..., copy=False)``, which numpy 2 refuses, so numpy is the last 1.x release.
FASTTEXT_REQUIREMENTS: tuple[str, ...] = (
    "fasttext-wheel==0.9.2",
    "numpy==1.26.4",
    "pybind11==2.11.1",
    "setuptools==69.5.1",
)
_STAMP_NAME = "dsir-fasttext-requirements.json"
WORKER = Path(__file__).resolve().parent / "fasttext_worker.py"


def ensure_fasttext_venv(venv_dir: Path = FASTTEXT_VENV, *, force: bool = False, quiet: bool = True) -> Path:
    """Create (idempotently) the fastText venv and return its python (``bench/reference/setup_env.py``'s
    pattern: a stamp file records the pins of the last successful install)."""
    py = venv_python(venv_dir)
    stamp = venv_dir / _STAMP_NAME
    if not force and py.exists() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("requirements") == list(FASTTEXT_REQUIREMENTS):
                return py
        except (OSError, ValueError):
            pass
    if force or not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(str(venv_dir))
    stamp.unlink(missing_ok=True)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", *(["--quiet"] if quiet else [])]
    subprocess.run([*pip, *FASTTEXT_REQUIREMENTS], check=True)
    check = ("import fasttext, numpy, tempfile, os; d = tempfile.mkdtemp(); p = os.path.join(d, 't.txt'); "
             "open(p, 'w').write('__label__a x y\\n__label__b z w\\n' * 20); "
             "m = fasttext.train_supervised(input=p, dim=2, epoch=1, thread=1, verbose=0); "
             "print(m.predict('x y', k=2), numpy.__version__)")
    subprocess.run([str(py), "-c", check], check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(json.dumps({"requirements": list(FASTTEXT_REQUIREMENTS)}, indent=1) + "\n")
    return py


# -- settings -------------------------------------------------------------------------------

#: fastText settings: fastText's defaults (dim 100 aside), more epochs and a larger learning
#: rate, and dim 1 (a scalar per n-gram: the same linear model as dsir's).
SETTINGS: list[dict] = [
    {"name": "ft-d16-e5-lr0.1", "dim": 16, "epoch": 5, "lr": 0.1},
    {"name": "ft-d16-e25-lr0.5", "dim": 16, "epoch": 25, "lr": 0.5},
    {"name": "ft-d1-e25-lr0.5", "dim": 1, "epoch": 25, "lr": 0.5},
]
TEMPERATURES = (0.1, 0.3, 1.0)
FT_DIR = WORK_DIR / "fasttext"


def fasttext_line(text: str) -> str:
    return text.lower().replace("\r", " ").replace("\n", " ")


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def top_rows(w: np.ndarray, temperature: float, noise: np.ndarray, budget: dict, tokens: np.ndarray) -> np.ndarray:
    """dsir's rule on log-weights ``w``: ``key = w / T + noise``, largest first, k of them or
    cut where the tokens reach the budget."""
    order = np.argsort(-(w / temperature + noise), kind="stable")
    return order[: budget["k"]] if "k" in budget else cut_by_tokens(order, tokens, budget["tokens"])


def warm_up(featurizer: HashedNgramFeaturizer) -> None:
    """Compile (or load) the numba kernels before anything is timed."""
    texts = pa.array(["a warm up text", "another one here"], pa.large_string())
    featurizer.score(texts, np.zeros(featurizer.buckets))
    ids = featurizer.buckets_of(texts)
    DiscriminativeEstimator(featurizer, **{**DISCRIMINATIVE_TRAINING, "epochs": 2}).fit(
        ids, ids, np.bincount(ids[1], minlength=featurizer.buckets))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domains", nargs="+", default=None, help="default: the choosing half (every other domain)")
    p.add_argument("--settings", nargs="+", default=[s["name"] for s in SETTINGS],
                   choices=[s["name"] for s in SETTINGS])
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    ft_python = ensure_fasttext_venv()
    corpus = args.corpus.resolve()
    ks = corpus_domains(corpus)
    domains = args.domains or list(ks)[0::2]
    settings = [s for s in SETTINGS if s["name"] in args.settings]
    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))

    pool = Docs.load(pool_files)
    texts = [r["text"] for r in iter_jsonl(pool_files)]
    assert len(texts) == len(pool.ids)
    pool_arrow = pa.array(texts, pa.large_string())
    pool_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    noise = gumbel_noise(content_hashes(pool_arrow), args.seed)
    row_of = {i: r for r, i in enumerate(pool.ids)}
    raw_dist = smoothed(np.bincount(pool.features[1], minlength=10_000).astype(np.float64))
    FT_DIR.mkdir(parents=True, exist_ok=True)
    pool_txt = FT_DIR / "pool.txt"
    c0 = time.process_time()
    pool_lines = [fasttext_line(t) for t in texts]
    fasttext_prep_cpu_s = time.process_time() - c0  # fastText's preprocessing, not in its timings
    pool_txt.write_text("".join(line + "\n" for line in pool_lines), encoding="utf-8")
    del pool_lines
    rng = np.random.default_rng(args.seed)
    raw_rows = np.sort(rng.choice(len(texts), size=min(CLASSIFIER_MAX_DOCUMENTS, len(texts)), replace=False))
    featurizer = HashedNgramFeaturizer(2, DISCRIMINATIVE_BUCKETS)
    warm_up(featurizer)
    print(f"pool: {len(texts)} documents, {pool_mb:.2f} MB; fastText venv {ft_python}", file=sys.stderr)

    rows: dict = {}  # budget -> row -> domain -> metrics
    speed: dict = {}  # domain -> measurements
    meta_budgets: dict = {}
    for domain in domains:
        target_path = corpus / "target" / f"{domain}.jsonl.zst"
        target, eval_docs = Docs.load([target_path]), Docs.load([corpus / "eval" / f"{domain}.jsonl.zst"])
        target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
        target_texts = [r["text"] for r in iter_jsonl([target_path])]
        own = pool.domains == domain
        budgets = {"docs": {"k": ks[domain]}, "quarter": {"tokens": int(pool.tokens[own].sum()) // 4}}
        meta_budgets[domain] = {b: next(iter(v.values())) for b, v in budgets.items()}
        sp: dict = {}

        # dsir: the fit of the selections, end to end
        t0 = time.perf_counter()
        fitted = DSIR(method="discriminative", seed=args.seed, workers=args.workers)
        with fitted.engine:
            fitted.fit([str(f) for f in pool_files], str(target_path))
        sp["dsir_fit_wall_s"] = time.perf_counter() - t0
        est = fitted.estimator_
        # dsir: the kernel alone on fastText's documents (the target and fastText's raw sample)
        c0 = time.process_time()
        t_ids = featurizer.buckets_of(pa.array(target_texts, pa.large_string()))
        r_ids = featurizer.buckets_of(pa.array([texts[r] for r in raw_rows], pa.large_string()))
        c1 = time.process_time()
        DiscriminativeEstimator(featurizer, **DISCRIMINATIVE_TRAINING).fit(
            t_ids, r_ids, np.bincount(t_ids[1], minlength=featurizer.buckets))
        c2 = time.process_time()
        sp.update(dsir_featurize_cpu_s=c1 - c0, dsir_train_cpu_s=c2 - c1)
        # dsir: the score pass over the pool
        score_cpu = []
        for _ in range(2):  # the faster of two passes, as for fastText's predict
            c0 = time.process_time()
            score_sum, _, n_ngrams = featurizer.score(pool_arrow, est.log_ratio_)
            score_cpu.append(time.process_time() - c0)
        sp["dsir_score_cpu_s"] = min(score_cpu)
        dsir_w = np.divide(score_sum, n_ngrams, out=np.zeros(len(score_sum)), where=n_ngrams > 0)

        # fastText: train and score in its venv
        labelled = [f"__label__target {fasttext_line(t)}" for t in target_texts]
        labelled += [f"__label__raw {fasttext_line(texts[r])}" for r in raw_rows]
        train_txt = FT_DIR / f"train-{domain}.txt"
        train_txt.write_text("".join(labelled[i] + "\n" for i in rng.permutation(len(labelled))), encoding="utf-8")
        out_dir = FT_DIR / "out" / domain
        job = FT_DIR / f"job-{domain}.json"
        job.write_text(json.dumps({"train": str(train_txt), "pool": str(pool_txt), "out": str(out_dir),
                                   "threads": 1, "seed": args.seed, "settings": settings}))
        c0, t0 = cpu_children(), time.perf_counter()
        subprocess.run([str(ft_python), str(WORKER), str(job)], check=True)
        sp["fasttext_worker_wall_s"], sp["fasttext_worker_cpu_s"] = time.perf_counter() - t0, cpu_children() - c0
        ft_w, sp["fasttext"] = {}, {}
        for s in settings:
            info = json.loads((out_dir / f"{s['name']}.json").read_text())
            sp["fasttext"][s["name"]] = info
            ft_w[s["name"]] = np.load(out_dir / f"{s['name']}.exact.npy")
        speed[domain] = sp

        for b, budget in budgets.items():
            selections: dict[str, list[str]] = {}
            selections["oracle"] = run_method("oracle", domain, budget, corpus, pool_files, None, args.workers,
                                              args.seed, pool)[0]
            for temperature in args.temperatures:
                d = DSIR(method="discriminative", temperature=temperature, seed=args.seed, workers=args.workers)
                d.estimator_ = est
                out = QUALITY_DIR / "selections" / "fasttext_side_by_side" / domain
                with d.engine:
                    d.select([str(f) for f in pool_files], str(out), overwrite=True, report=False, **budget)
                name = f"dsir-discriminative-T{temperature:g}"
                selections[name] = read_selected_ids(out)
                # the in-memory rule reproduces dsir's selection (the same rule applied to fastText)
                mine = {pool.ids[r] for r in top_rows(dsir_w, temperature, noise, budget, pool.tokens)}
                sp.setdefault("rule_check", {})[f"{b}-{name}"] = len(mine & set(selections[name])) / len(mine)
                for s in settings:
                    selections[f"{s['name']}-T{temperature:g}"] = [
                        pool.ids[r] for r in top_rows(ft_w[s["name"]], temperature, noise, budget, pool.tokens)]
            words = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids in selections.values())
            meta_budgets[domain][f"{b}_words"] = words
            for name, ids in selections.items():
                r = evaluate(ids, domain, pool, row_of, target, eval_docs, raw_dist, target_dist, words, args.seed)
                rows.setdefault(b, {}).setdefault(name, {})[domain] = r
            print(f"{domain} {b}: " + ", ".join(f"{n} {v[domain]['precision']:.3f}" for n, v in rows[b].items()),
                  file=sys.stderr)
        print(f"{domain}: {json.dumps({k: v for k, v in sp.items() if k != 'fasttext'}, default=float)}",
              file=sys.stderr)

    meta = {
        "command": "python bench/fasttext_side_by_side.py" + "".join(f" {a}" for a in (
            argv if argv is not None else sys.argv[1:])),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seed": args.seed, "workers": args.workers,
        "domains": domains, "budgets": meta_budgets, "pool_documents": len(texts), "pool_mb": pool_mb,
        "raw_sample": len(raw_rows), "fasttext_prep_cpu_s": fasttext_prep_cpu_s, "settings": settings,
        "temperatures": args.temperatures,
        "fasttext_requirements": list(FASTTEXT_REQUIREMENTS),
        "dsir_discriminative": {"buckets": DISCRIMINATIVE_BUCKETS, **DISCRIMINATIVE_TRAINING,
                                "default_temperature": DISCRIMINATIVE_TEMPERATURE},
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - t_start),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "fasttext_side_by_side.json").write_text(
        json.dumps({"meta": meta, "quality": rows, "speed": speed}, indent=1, default=float) + "\n")
    table = render(rows, speed, meta)
    (args.results_dir / "fasttext_side_by_side.md").write_text(table)
    print(table)
    return 0


def render(rows: dict, speed: dict, meta: dict) -> str:
    doms = meta["domains"]
    out = [f"`{meta['command']}` ({meta['date']}; seed {meta['seed']}; domains {', '.join(doms)}; pool "
           f"{meta['pool_documents']:,} documents, {meta['pool_mb']:.2f} MB; raw sample {meta['raw_sample']:,}; "
           f"{meta['seconds']} s)", ""]
    for b, by_row in rows.items():
        out += [f"Budget `{b}`: means over the domains (W words of text per domain and budget: "
                + ", ".join(f"{d} {meta['budgets'][d][f'{b}_words']:,}" for d in doms) + ")", "",
                "| row | precision | KL reduction | perplexity | distinct bigrams | length ratio | min precision |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name, per in by_row.items():
            v = [per[d] for d in doms]
            out.append(f"| {name} | {np.mean([x['precision'] for x in v]):.3f} | "
                       f"{np.mean([x['kl_reduction'] for x in v]):.3f} | {np.mean([x['perplexity'] for x in v]):.1f} | "
                       f"{np.mean([x['distinct_bigrams'] for x in v]):.3f} | "
                       f"{np.mean([x['length_ratio'] for x in v]):.2f} | {min(x['precision'] for x in v):.3f} |")
        out.append("")

    def mean(f) -> float:
        return float(np.mean([f(speed[d]) for d in doms]))

    mb = meta["pool_mb"]
    out += ["Speed: means over the domains; CPU seconds (`time.process_time`, one thread); scoring throughput "
            f"= {mb:.2f} MB of pool text / CPU seconds of the pass over the pool", "",
            "| estimator | training CPU s | score pass CPU s | score MB per CPU-s | training + score CPU s |",
            "|---|---:|---:|---:|---:|"]
    tr, sc = mean(lambda s: s["dsir_featurize_cpu_s"] + s["dsir_train_cpu_s"]), mean(lambda s: s["dsir_score_cpu_s"])
    out.append(f"| dsir discriminative (featurize {mean(lambda s: s['dsir_featurize_cpu_s']):.2f} + Adam "
               f"{mean(lambda s: s['dsir_train_cpu_s']):.2f}) | {tr:.2f} | {sc:.2f} | {mb / sc:.1f} | "
               f"{tr + sc:.2f} |")
    for name in meta["settings"]:
        n = name["name"]
        tr = mean(lambda s: s["fasttext"][n]["train_cpu_s"])
        sc = mean(lambda s: s["fasttext"][n]["predict_cpu_s"])
        ex = mean(lambda s: s["fasttext"][n]["exact_cpu_s"])
        out.append(f"| fastText {n} (predict; exact log-odds pass {ex:.2f} s) | {tr:.2f} | {sc:.2f} | "
                   f"{mb / sc:.1f} | {tr + sc:.2f} |")
    out += ["", f"dsir's `DSIR.fit` end to end (wall, reads the compressed pool, samples, featurizes, trains): "
            f"{mean(lambda s: s['dsir_fit_wall_s']):.1f} s per domain; the fastText worker (wall, all settings, "
            f"loading included): {mean(lambda s: s['fasttext_worker_wall_s']):.1f} s per domain. fastText's "
            f"preprocessing of the pool (lowercase, newlines to spaces, in Python; dsir lowercases inside its "
            f"kernel), not in its figures: {meta['fasttext_prep_cpu_s']:.2f} CPU s.",
            "fastText `predict` log-odds saturated (|log-odds| > 11, clipped probabilities) per domain: "
            + "; ".join(f"{s['name']} " + ", ".join(str(speed[d]['fasttext'][s['name']]['predict_saturated'])
                                                    for d in doms) for s in meta["settings"]) + ".",
            "The in-memory rule applied to fastText's weights reproduces dsir's own selections (share of "
            f"dsir's selected documents it selects, lowest over rows and domains): "
            f"{min(min(s['rule_check'].values()) for s in speed.values()):.4f}.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
