"""dsir's reference-exact mode against the reference package itself, on the benchmark corpus.

Runs, on the same plain-jsonl files (the corpus pool concatenated into one file, and one
domain's target sample):

* the reference, ``data-selection==1.0.3`` in ``bench/.venv-reference`` through
  ``bench/reference/run_reference.py``: ``HashedNgramDSIR(ngrams=2, num_buckets=10000,
  min_example_length=L)``, ``fit_importance_estimator(num_tokens_to_fit='auto')``,
  ``compute_importance_weights()``, ``resample(top_k=True)``;
* dsir: ``dsir select --features sha256-ngrams --method reference --weighting sum
  --temperature 1 --top-k --min-length L --raw-sample <pool documents>`` (the reference fits
  its raw model on the whole pool), after an untimed warm-up run that fills numba's cache;

and reports the overlap of the two selections (by the records' ``id``; expected: identical),
how far apart the per-document log-weights are (dsir's from ``OUT/_dsir/scores-00000.npz``,
the reference's from its cache), whether the two log-ratio vectors are equal (the
reference's ``log_diff``, which ``run_reference.py`` saves), and the CPU
time (user + system, children included) and wall time of each. With ``--unicode-check``
(default on) it first compares, for every code point (surrogates excepted) in four contexts,
the reference's n-gram buckets with dsir's (``sha256-ngrams``, 2**31 - 1 buckets).

Usage (from the repository root)::

    .venv/bin/python bench/reference_exact.py                 # legal, k = its pool size, L = 100
    .venv/bin/python bench/reference_exact.py --domain news --min-length 0 --no-unicode-check
    .venv/bin/python bench/reference_exact.py --no-unicode-check --gumbel-seeds 0 1 \
        --results bench/results/reference_exact_gumbel.json      # and with Gumbel noise

Results go to ``bench/results/reference_exact.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make `bench.reference` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import (  # noqa: E402
    REPO_ROOT, WORK_DIR, concat_plain, ensure_venv, plain_jsonl, reference_weights, run_reference,
)

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
RESULTS = REPO_ROOT / "bench" / "results" / "reference_exact.json"
WORK = WORK_DIR / "reference_exact"
DSIR_MODE = ["--features", "sha256-ngrams", "--method", "reference", "--weighting", "sum", "--temperature", "1",
             "--top-k"]

# Run in the reference venv: the reference's buckets of every code point c in the contexts
# c, "a" c "a", "." c "." and "Σ" c "Σ" c (word, punctuation and Final_Sigma neighbours), in
# dsir's emission order (per token: unigram, then bigram).
_REFERENCE_SIDE = r'''
import sys, numpy as np
from data_selection.hashed_ngram_dsir import hash_buckets, wpt
NB = 2**31 - 1
ids, indptr = [], [0]
for cp in range(0x110000):
    if 0xD800 <= cp < 0xE000:
        continue
    c = chr(cp)
    for t in (c, "a" + c + "a", "." + c + ".", "\u03a3" + c + "\u03a3" + c):
        toks = wpt.tokenize(t.lower())
        for i in range(len(toks)):
            ids.append(hash_buckets(toks[i], NB))
            if i:
                ids.append(hash_buckets(toks[i - 1] + " " + toks[i], NB))
        indptr.append(len(ids))
np.save(sys.argv[1], np.array(ids, np.int64))
np.save(sys.argv[2], np.array(indptr, np.int64))
'''


def unicode_check(python: Path) -> dict[str, Any]:
    """Every code point's buckets, the reference's against dsir's (see ``_REFERENCE_SIDE``)."""
    import pyarrow as pa

    from dsir.featurize import Sha256NgramFeaturizer

    with tempfile.TemporaryDirectory() as tmp:
        ids_path, indptr_path = os.path.join(tmp, "ids.npy"), os.path.join(tmp, "indptr.npy")
        subprocess.run([str(python), "-c", _REFERENCE_SIDE, ids_path, indptr_path], check=True)
        ids, indptr = np.load(ids_path), np.load(indptr_path)
    texts = [t for cp in range(0x110000) if not 0xD800 <= cp < 0xE000
             for c in [chr(cp)] for t in (c, "a" + c + "a", "." + c + ".", "\u03a3" + c + "\u03a3" + c)]
    got_indptr, got = Sha256NgramFeaturizer(2, 2**31 - 1).buckets_of(pa.array(texts))
    same = np.array_equal(got_indptr, indptr) and np.array_equal(got, ids)
    differ = [] if same else [texts[i] for i in np.flatnonzero(
        [not np.array_equal(got[got_indptr[i]:got_indptr[i + 1]], ids[indptr[i]:indptr[i + 1]])
         for i in range(len(texts))])[:20]]
    return {"texts": len(texts), "ngrams": int(len(ids)), "identical": bool(same), "first_differing": differ}


def featurizer_speed(pool: Path, rounds: int = 3) -> dict[str, Any]:
    """Both featurizers' count and score on the pool's texts in memory, in this process: MB of
    text per CPU-second, best of ``rounds`` alternating runs (the kernels compiled first)."""
    import pyarrow as pa

    from dsir.featurize import HashedNgramFeaturizer, Sha256NgramFeaturizer
    from dsir.io.paths import expand_paths
    from dsir.io.readers import iter_text_batches

    batches = [b.texts for b in iter_text_batches(expand_paths([str(pool)])[0])]
    mb = sum(pa.compute.sum(pa.compute.binary_length(t)).as_py() or 0 for t in batches) / 1e6
    best: dict[str, float] = {}
    featurizers = {"hashed-ngrams": HashedNgramFeaturizer(), "sha256-ngrams": Sha256NgramFeaturizer()}
    for _ in range(rounds):
        for name, f in featurizers.items():
            log_ratio = np.zeros(f.buckets)
            for what, fn in (("count", f.count), ("score", lambda t, f=f: f.score(t, log_ratio))):
                fn(batches[0].slice(0, 10))
                c0 = time.process_time()
                for texts in batches:
                    fn(texts)
                key = f"{name} {what}"
                best[key] = min(best.get(key, float("inf")), time.process_time() - c0)
    return {"text_mb": round(mb, 1), "mb_per_cpu_s": {k: round(mb / v, 1) for k, v in best.items()}}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_dsir(args: list[str], quiet: bool = False) -> dict[str, float]:
    """``python -m dsir ARGS``: its wall and CPU seconds (user + system)."""
    cpu, t0 = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "dsir", *args], check=True, stderr=subprocess.DEVNULL if quiet else None)
    return {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(children_cpu() - cpu, 2)}


def ids_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["id"] for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domain", default="legal", help="target domain (target/<domain>.jsonl.zst)")
    p.add_argument("-k", type=int, default=None, help="documents to select [default: the domain's pool size]")
    p.add_argument("--min-length", type=int, default=100, help="min_example_length / --min-length (the "
                   "reference's default, 100)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--unicode-check", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--featurizer-speed", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure both featurizers from memory on the pool's texts (MB per CPU-second)")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--gumbel-seeds", type=int, nargs="*", default=[],
                   help="also resample with Gumbel noise (no top-k), the reference and dsir with each of these "
                        "seeds, and report the overlaps of every pair (expected: dsir against the reference "
                        "like two seeds of the reference)")
    a = p.parse_args(argv)

    corpus = a.corpus.resolve()
    pool_files = sorted((corpus / "pool").glob("*.jsonl*"))
    pool = concat_plain(pool_files, "reference_exact/pool.jsonl")
    target = plain_jsonl(corpus / "target" / f"{a.domain}.jsonl.zst")
    n_docs = sum(1 for line in open(pool, encoding="utf-8") if line.strip())
    k = a.k or _domain_pool_docs(corpus, a.domain)
    python = ensure_venv()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "domain": a.domain, "k": k,
                              "min_length": a.min_length, "workers": a.workers, "pool_documents": n_docs,
                              "pool_bytes": pool.stat().st_size, "cpu_count": os.cpu_count()}
    if a.unicode_check:
        t0 = time.perf_counter()
        result["unicode_check"] = unicode_check(python)
        result["unicode_check"]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"unicode check: {result['unicode_check']}", file=sys.stderr)

    if a.featurizer_speed:
        result["featurizer_speed"] = featurizer_speed(pool)
        print(f"featurizer speed: {result['featurizer_speed']}", file=sys.stderr)
    ref = run_reference([pool], [target], k, WORK / "reference", a.workers, min_length=a.min_length, top_k=True,
                        python=python)
    ref_cpu = sum(ph["cpu_user_s"] + ph["cpu_sys_s"] for ph in ref["phases"].values())
    result["reference"] = {"wall_s": ref["total_s"], "process_wall_s": ref["process_wall_s"],
                           "cpu_s": round(ref_cpu, 2), "phases": ref["phases"], "versions": ref["versions"]}

    out = WORK / "dsir"
    common = ["--target", str(target), "-k", str(k), "--min-length", str(a.min_length), "--raw-sample", str(n_docs),
              "--workers", str(a.workers), "--no-report", "--quiet", "--overwrite", *DSIR_MODE]
    run_dsir(["select", "--raw", str(target), *common, "-o", str(WORK / "warmup")], quiet=True)  # compiles kernels
    result["dsir"] = run_dsir(["select", "--raw", str(pool), *common, "-o", str(out)])

    ref_ids = ids_of(Path(ref["selected_path"]))
    dsir_ids = [i for part in sorted(out.glob("part-*")) for i in ids_of(part)]
    common_ids = set(ref_ids) & set(dsir_ids)
    w_dsir = np.load(out / "_dsir" / "scores-00000.npz")["scores"][0]
    w_ref = reference_weights(WORK / "reference" / "cache", n_docs, a.workers)
    with np.load(out / "_dsir" / "model.npz") as z:
        log_ratio = z["log_ratio"]
    ref_model = np.load(WORK / "reference" / "log_diff.npy")
    result["comparison"] = {
        "selected": {"reference": len(ref_ids), "dsir": len(dsir_ids), "both": len(common_ids),
                     "only_reference": sorted(set(ref_ids) - common_ids)[:20],
                     "only_dsir": sorted(set(dsir_ids) - common_ids)[:20]},
        "identical": set(ref_ids) == set(dsir_ids),
        "log_weight_max_abs_diff": float(np.max(np.abs(w_dsir - w_ref))),
        "log_weight_max_rel_diff": float(np.max(np.abs(w_dsir - w_ref) / np.maximum(1.0, np.abs(w_ref)))),
        "log_weights_bit_identical": float(np.mean(w_dsir == w_ref)),
        "log_ratio_max_abs_diff": float(np.max(np.abs(log_ratio - ref_model))),
        "log_ratio_bit_identical": float(np.mean(log_ratio == ref_model)),
    }
    result["cpu_ratio_reference_over_dsir"] = round(result["reference"]["cpu_s"] / result["dsir"]["cpu_s"], 2)
    if a.gumbel_seeds:
        result["gumbel"] = gumbel_overlaps(a, pool, target, k, common, python)
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("domain", "k", "comparison", "reference", "dsir",
                                              "cpu_ratio_reference_over_dsir")}, indent=1, default=str))
    return 0 if result["comparison"]["identical"] else 1


def gumbel_overlaps(a, pool: Path, target: Path, k: int, common: list[str], python) -> dict[str, Any]:
    """Selections with Gumbel noise, the reference's (numpy's global RNG seeded) and dsir's
    (``--seed``), one per seed, and the share of documents each pair has in common."""
    picks: dict[str, set[str]] = {}
    for seed in a.gumbel_seeds:
        ref = run_reference([pool], [target], k, WORK / f"reference-gumbel-{seed}", a.workers,
                            min_length=a.min_length, seed=seed, top_k=False, python=python)
        picks[f"reference seed {seed}"] = set(ids_of(Path(ref["selected_path"])))
        out = WORK / f"dsir-gumbel-{seed}"
        args = [x for x in common if x != "--top-k"]
        run_dsir(["select", "--raw", str(pool), *args, "--seed", str(seed), "-o", str(out)])
        picks[f"dsir seed {seed}"] = {i for part in sorted(out.glob("part-*")) for i in ids_of(part)}
    names = sorted(picks)
    pairs = {f"{x} / {y}": round(len(picks[x] & picks[y]) / max(1, min(len(picks[x]), len(picks[y]))), 4)
             for i, x in enumerate(names) for y in names[i + 1:]}
    print(json.dumps({"gumbel_overlaps": pairs}, indent=1), file=sys.stderr)
    return {"k": k, "selected": {n: len(v) for n, v in picks.items()}, "overlap": pairs}


def _domain_pool_docs(corpus: Path, domain: str) -> int:
    """The domain's number of pool documents (``stats.tsv``'s ``pool_docs``)."""
    header, *rows = [line.split("\t") for line in (corpus / "stats.tsv").read_text().splitlines()]
    for row in rows:
        if row[0] == domain:
            return int(row[header.index("pool_docs")])
    raise SystemExit(f"no pool size for domain {domain!r} in {corpus / 'stats.tsv'}: give -k")


if __name__ == "__main__":
    sys.exit(main())
