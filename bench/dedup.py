"""What ``--dedup exact|near`` does to a selection from a pool with injected near-duplicates,
checked by an independent all-pairs Jaccard computation, and what ``--dedup near`` costs.

**The pool.** The shared corpus pool plus, for one domain (``--domain``, default ``legal``), a
near-duplicate copy of every pool document of that domain, made deterministically
(``random.Random(f"{seed}:{id}")``) by three kinds of small edits:

* one piece deleted: a random line (texts of 4 or more non-empty lines) or else a random
  sentence, of at most 6% of the document's words (a run of 3 to 6 words when no piece is
  that short);
* 0.5% to 1.5% of the words (at least one; the rate drawn per document) replaced by another
  word of the same document (its spelling there, a different word);
* three case or punctuation changes (a word's first letter swapped to the other case, a
  ``,``/``;``/``:`` changed into another of them), which change no word.

A copy's id is ``<original id>~copy``; its ``domain`` and ``source`` are the original's. The
edits aim at a 5-word-shingle Jaccard similarity with the original mostly between 0.80 and
0.95 (replacing 3% of the words would put most copies below 0.8: each replaced word changes up
to 5 shingles); the exact distribution is in the results. Originals and copies, shuffled
(``--seed``), are written as 4 jsonl.zst shards under ``bench/.work/dedup-pool/`` (reused when
complete).

**Runs**, target ``target/<domain>.jsonl.zst``, dsir's default method, one fit per pool
(``DSIR().fit`` on that pool, shared by its rows, as ``bench/quality.py`` and
``bench/filters.py`` share one), at the two budgets of ``bench/quality.py`` (``docs``: k = the
domain's pool documents, without the copies; ``quarter``: ``tokens=`` a quarter of their tokens):

* ``original``: the shared pool, no dedup;
* ``injected``: the injected pool, no dedup;
* ``exact``: the injected pool, ``dedup="exact"``;
* ``near``: the injected pool, ``dedup="near"`` (threshold 0.8, 128 permutations, 32 bands).

**Metrics per run**: documents selected (exactly k at ``docs``), the share that are injected
copies, the (copy, original) pairs both selected, the pairs with the same word sequence (what
``--dedup exact`` compares), and, computed independently of dsir from the
selected texts (words: ``re.findall(r"[^\\W_]+", text.lower())``, the README's definition,
compared with ``dsir.filters.words.words_of`` on every pool document; shingles: every run of 5
consecutive words, as exact tuples, no hashing): **over all pairs of selected documents**, the
exact Jaccard similarity of their shingle sets (a compiled inverted-index count of every pair's
shared shingles), the number of pairs at or above 0.8 and above dsir's cutoff, the 5 most
similar pairs, and the share of distinct documents (connected components of the pairs >= 0.8,
over the documents); the manifest's ``dedup`` counts, and for its examples the exact
similarity next to dsir's estimate; and ``bench.quality.evaluate``'s precision, KL reduction,
held-out perplexity on ``eval/<domain>`` and distinct bigrams, on an equal amount of text per
budget (the fewest words any row selected). KL is measured against the shared pool's
distribution for every row. The ``near`` run at ``docs`` must select exactly k documents with
no pair >= 0.8: checked, and a failure is printed (and makes the exit status 1); so are
``exact`` and ``near`` selecting no two documents with the same words.

**dsir's estimate**: the MinHash similarity (``dsir.dedup.minhash.signatures``) of every pair of
the domain's pool documents at exact Jaccard 0.5 or more, and of every (copy, original) pair,
next to the exact one: mean error and spread per bin, with dsir's signature seed and 4 others,
and the same for an ideal MinHash (an independent random value per shingle and permutation).

**The ideal walk**: "the first k distinct units in key order", computed independently: the
injected pool's keys from ``DSIR.score`` (same fit), then a walk in key order keeping every
document whose exact Jaccard with every kept one is below a cutoff (0.8, and dsir's cutoff),
until the budget; its selection next to ``near``'s (``--skip-walk`` skips it). And ``near``'s own
walk replayed with exact similarities: the documents in key order up to its last pick, those
it did not pick being those it dropped (their number must be the manifest's), each with its
largest exact Jaccard with the picks ranked before it.

**Cost** (``--skip-cost`` skips it): ``DSIR().select`` of one fit (target ``legal``) with and
without ``dedup="near"``, side by side in one process, after one warm-up select of each (so
neither the page cache nor a numba compilation is counted), alternating
(``--cost-repeats``, default 2; the fastest of each), on the 1 GB pool of
``bench/throughput.py`` (``bench/make_pool.py``, built once into ``bench/.work/pools``), k = 10%
of its documents: wall and CPU seconds (``time.process_time``, every thread) of the whole
select, of its score pass and outside the engine's passes (the allocation, where the dedup
walk runs), and the ratios near / off (the target: at most 1.25 for the whole select). That
pool is the corpus repeated with light perturbation (about 16 near-identical copies of every
document), so ``near`` drops most candidates there and may not find k distinct documents: its
selected and dropped counts are reported. The same on the shared pool itself (``--cost-pools``;
3 times as many rounds, its selects being short), where duplicates are only the natural ones.

Usage, from the repository root::

    .venv/bin/python bench/dedup.py                      # legal, both budgets, the cost part
    .venv/bin/python bench/dedup.py --budgets docs --skip-cost

Writes ``bench/results/dedup.json`` and ``bench/results/dedup.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import zstandard
from numba import njit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.filters import TimedEngine  # noqa: E402
from bench.quality import (  # noqa: E402
    BUDGETS, DEFAULT_CORPUS, RESULTS_DIR, Docs, corpus_domains, evaluate, smoothed,
)
from bench.reference import WORK_DIR, iter_jsonl  # noqa: E402
from dsir.api import DSIR  # noqa: E402
from dsir.featurize import HashedNgramFeaturizer  # noqa: E402
from dsir.filters.words import words_of  # noqa: E402
from dsir.metrics import featurize_csr, word_ids  # noqa: E402

DEDUP_DIR = WORK_DIR / "dedup"
POOL_ROOT = WORK_DIR / "dedup-pool"
POOL_VERSION = 1
SHARDS = 4
SHINGLE = 5
THRESHOLD = 0.8
PERMUTATIONS, BANDS = 128, 32
#: dsir's cutoff for the defaults: threshold - 3 standard errors of a 128-value estimate.
CUTOFF = THRESHOLD - 3 * math.sqrt(THRESHOLD * (1 - THRESHOLD) / PERMUTATIONS)
OTHER_SEEDS = (1, 2, 3, 4)  # signature seeds besides dsir's, for the estimator check
LOW = 0.5  # pairs at or above this are kept for the top-5 and the histogram's upper bins
ROWS = ("original", "injected", "exact", "near")
ABOUT = {"original": "the shared pool, no dedup", "injected": "the injected pool, no dedup",
         "exact": "the injected pool, --dedup exact", "near": "the injected pool, --dedup near"}
COST_TARGET = "legal"
COPY = "~copy"

_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits (str.isalnum, without "_")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PUNCT = re.compile(r"[,;:]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# -- the injected pool ------------------------------------------------------------------------


def _delete_piece(text: str, rng: random.Random) -> str:
    """``text`` without one random line (4+ non-empty lines) or sentence of at most 6% of its
    words; without a run of 3 to 6 words when there is no such piece."""
    n = max(1, len(_WORD.findall(text)))
    limit = max(3, int(0.06 * n))
    lines = text.split("\n")
    if sum(1 for ln in lines if ln.strip()) >= 4:
        ok = [i for i, ln in enumerate(lines) if 1 <= len(_WORD.findall(ln)) <= limit]
        if ok:
            del lines[rng.choice(ok)]
            return "\n".join(lines)
    bounds = [0] + [m.end() for m in _SENTENCE.finditer(text)] + [len(text)]
    pieces = [(a, b) for a, b in zip(bounds, bounds[1:]) if 1 <= len(_WORD.findall(text[a:b])) <= limit]
    if pieces and len(bounds) > 3:
        a, b = rng.choice(pieces)
        return text[:a] + text[b:]
    spans = [m.span() for m in _WORD.finditer(text)]
    run = min(rng.randint(3, 6), max(1, len(spans) - 1))
    i = rng.randrange(0, len(spans) - run + 1)
    return text[:spans[i][0]] + text[spans[i + run - 1][1]:].lstrip(" ")


def near_copy(text: str, rng: random.Random) -> str:
    """A near-duplicate of ``text`` (see the module doc): a piece deleted, 0.5-1.5% of the words
    replaced by other words of the document, three case or punctuation changes."""
    text = _delete_piece(text, rng)
    spans = [m.span() for m in _WORD.finditer(text)]
    vocab = sorted({text[a:b] for a, b in spans})
    rate = rng.uniform(0.005, 0.015)
    picks = sorted(rng.sample(range(len(spans)), min(len(spans), max(1, round(rate * len(spans))))))
    out, at = [], 0
    for i in picks:
        a, b = spans[i]
        old = text[a:b].lower()
        choices = [w for w in vocab if w.lower() != old]
        if not choices:
            continue
        out += [text[at:a], rng.choice(choices)]
        at = b
    text = "".join(out) + text[at:]
    chars = list(text)
    spans = [m.span() for m in _WORD.finditer(text)]
    punct = [m.start() for m in _PUNCT.finditer(text)]
    for _ in range(3):
        if punct and rng.random() < 0.5:
            i = rng.choice(punct)
            chars[i] = rng.choice([c for c in ",;:" if c != chars[i]])
        elif spans:
            a, _b = rng.choice(spans)
            chars[a] = chars[a].swapcase() if len(chars[a].swapcase()) == 1 else chars[a]
    return "".join(chars)


def build_pool(corpus: Path, domain: str, seed: int) -> dict:
    """Write (or reuse) the injected pool: the shared pool plus a near copy of every pool document
    of ``domain``, shuffled, in ``SHARDS`` jsonl.zst shards. Returns its description."""
    out = POOL_ROOT / f"{domain}-seed{seed}"
    meta_path = out / "pool.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == POOL_VERSION and all((out / f).is_file() for f in meta["files"]):
            meta["reused"] = True
            return meta
    t0 = time.perf_counter()
    records = list(iter_jsonl(sorted((corpus / "pool").glob("*.jsonl*"))))
    ids = {r["id"] for r in records}
    copies = []
    for r in records:
        if r["domain"] == domain:
            c = {**r, "id": r["id"] + COPY, "text": near_copy(r["text"], random.Random(f"{seed}:{r['id']}"))}
            if c["id"] in ids:
                raise SystemExit(f"id {c['id']} is in the pool already")
            copies.append(c)
    allr = records + copies
    random.Random(seed).shuffle(allr)
    out.mkdir(parents=True, exist_ok=True)
    files, per = [], -(-len(allr) // SHARDS)
    for s in range(SHARDS):
        part = allr[s * per:(s + 1) * per]
        name = f"pool-{s:05d}.jsonl.zst"
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part).encode()
        tmp = out / f".{name}.tmp-{os.getpid()}"
        tmp.write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
        os.replace(tmp, out / name)
        files.append(name)
    meta = {"version": POOL_VERSION, "domain": domain, "seed": seed, "files": files, "documents": len(allr),
            "copies": len(copies), "originals": len(records), "build_s": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    meta["reused"] = False
    return meta


# -- independent shingle sets and all-pairs Jaccard ---------------------------------------------


def shingle_sets(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Each text's set of 5-word shingles as sorted exact ids (two shingles share an id exactly
    when their 5 words are equal): ``(indptr, ids, distinct shingles)``."""
    vocab: dict[str, int] = {}
    flat, ptr = [], np.zeros(len(texts) + 1, np.int64)
    for d, t in enumerate(texts):
        ws = words(t)
        flat.extend(vocab.setdefault(w, len(vocab)) for w in ws)
        ptr[d + 1] = ptr[d] + len(ws)
    if len(vocab) >= 1 << 21:
        raise SystemExit("more than 2^21 distinct words: the shingle packing needs wider fields")
    w = np.asarray(flat, np.int64)
    doc = np.repeat(np.arange(len(texts)), np.diff(ptr))
    start = np.arange(len(w) - SHINGLE + 1) if len(w) >= SHINGLE else np.zeros(0, np.int64)
    start = start[start + SHINGLE <= ptr[doc[start] + 1]]  # the shingle lies inside its document
    hi = (w[start] << 42) | (w[start + 1] << 21) | w[start + 2]
    lo = (w[start + 3] << 21) | w[start + 4]
    order = np.lexsort((lo, hi))
    new = np.ones(len(order), bool)
    new[1:] = (hi[order][1:] != hi[order][:-1]) | (lo[order][1:] != lo[order][:-1])
    sid = np.empty(len(order), np.int64)
    sid[order] = np.cumsum(new) - 1
    sdoc = doc[start]
    o = np.lexsort((sid, sdoc))
    sdoc, sid = sdoc[o], sid[o]
    keep = np.ones(len(sid), bool)
    keep[1:] = (sdoc[1:] != sdoc[:-1]) | (sid[1:] != sid[:-1])
    sdoc, sid = sdoc[keep], sid[keep]
    indptr = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.bincount(sdoc, minlength=len(texts)), out=indptr[1:])
    return indptr, sid, int(new.sum())


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 0.0


@njit(cache=True)
def _all_pairs(ptr, sids, n_ids, low):
    """Every pair ``i < j`` of the documents ``ptr/sids`` (CSR of sorted shingle ids below
    ``n_ids``): shared shingles counted through an inverted index. Returns the pairs whose
    Jaccard is at least ``low`` (i, j, similarity), a histogram of every pair's similarity
    in 20 bins of 0.05, and the postings walked."""
    n = len(ptr) - 1
    counts = np.zeros(n_ids + 1, np.int64)
    for x in sids:
        counts[x + 1] += 1
    post_ptr = np.cumsum(counts)
    post = np.empty(len(sids), np.int64)
    fill = post_ptr[:-1].copy()
    for d in range(n):
        for q in range(ptr[d], ptr[d + 1]):
            s = sids[q]
            post[fill[s]] = d
            fill[s] += 1
    shared = np.zeros(n, np.int64)
    touched = np.empty(n, np.int64)
    hist = np.zeros(20, np.int64)
    cap = 1024
    out_i = np.empty(cap, np.int64)
    out_j = np.empty(cap, np.int64)
    out_s = np.empty(cap, np.float64)
    m = 0
    walked = 0
    for i in range(n):
        nt = 0
        for q in range(ptr[i], ptr[i + 1]):
            s = sids[q]
            for r in range(post_ptr[s + 1] - 1, post_ptr[s] - 1, -1):  # descending: stop at j <= i
                j = post[r]
                if j <= i:
                    break
                walked += 1
                if shared[j] == 0:
                    touched[nt] = j
                    nt += 1
                shared[j] += 1
        size_i = ptr[i + 1] - ptr[i]
        for t in range(nt):
            j = touched[t]
            c = shared[j]
            shared[j] = 0
            sim = c / (size_i + (ptr[j + 1] - ptr[j]) - c)
            hist[min(19, int(sim * 20))] += 1
            if sim >= low:
                if m == cap:
                    cap *= 2
                    ni = np.empty(cap, np.int64)
                    nj = np.empty(cap, np.int64)
                    ns = np.empty(cap, np.float64)
                    ni[:m] = out_i[:m]
                    nj[:m] = out_j[:m]
                    ns[:m] = out_s[:m]
                    out_i, out_j, out_s = ni, nj, ns
                out_i[m] = i
                out_j[m] = j
                out_s[m] = sim
                m += 1
    return out_i[:m], out_j[:m], out_s[:m], hist, walked


def components(n: int, i: np.ndarray, j: np.ndarray) -> int:
    """Connected components of ``n`` nodes with edges ``(i, j)`` (union-find)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return sum(1 for x in range(n) if find(x) == x)


def pair_check(rows: np.ndarray, shingles: tuple[np.ndarray, np.ndarray, int], ids: list[str],
               keep_pairs: bool = False) -> dict:
    """All pairs of the documents ``rows`` of ``shingles``: exact Jaccard counts (see the module doc)."""
    indptr, sid, n_ids = shingles
    rows = np.asarray(rows, np.int64)
    sizes = np.diff(indptr)[rows]
    ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    sub = np.concatenate([sid[indptr[r]:indptr[r + 1]] for r in rows]) if len(rows) else np.zeros(0, np.int64)
    t0 = time.perf_counter()
    pi, pj, ps, hist, walked = _all_pairs(ptr, sub, n_ids, LOW)
    seconds = time.perf_counter() - t0
    n = len(rows)
    hist = hist.copy()
    hist[0] += n * (n - 1) // 2 - int(hist.sum())  # pairs that share no shingle: similarity 0
    hi = ps >= THRESHOLD
    top = np.argsort(-ps, kind="stable")[:5]
    return {
        "documents": n, "pairs": n * (n - 1) // 2, "seconds": round(seconds, 2), "postings_walked": int(walked),
        "pairs_at_threshold": int(hi.sum()), "pairs_at_cutoff": int((ps >= CUTOFF).sum()),
        "pairs_at_0.5": int(len(ps)),
        "docs_in_pairs_at_threshold": int(len(np.unique(np.concatenate([pi[hi], pj[hi]])))),
        "distinct": components(n, pi[hi], pj[hi]),
        "top5": [{"a": ids[rows[pi[t]]], "b": ids[rows[pj[t]]], "jaccard": round(float(ps[t]), 4)} for t in top],
        "histogram_0.05": hist.tolist(),
        **({"_pairs": (rows[pi], rows[pj], ps)} if keep_pairs else {}),
    }


# -- dsir's estimate against the exact similarity -------------------------------------------------


def ideal_minhash(shingles, docs: np.ndarray, seed: int) -> np.ndarray:
    """uint64[len(docs), PERMUTATIONS]: MinHash signatures of the documents ``docs`` with truly
    random permutations (an independent random 32-bit value per shingle and permutation, numpy)."""
    indptr, sid, _ = shingles
    sizes = np.diff(indptr)[docs]
    flat = np.concatenate([sid[indptr[d]:indptr[d + 1]] for d in docs])
    _, local = np.unique(flat, return_inverse=True)
    local = local.reshape(-1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rng = np.random.default_rng(seed)
    out = np.full((len(docs), PERMUTATIONS), np.iinfo(np.uint64).max, np.uint64)
    some = sizes > 0
    for c in range(0, PERMUTATIONS, 16):
        vals = rng.integers(0, 1 << 32, size=(16, int(local.max()) + 1), dtype=np.uint64)
        out[some, c:c + 16] = np.minimum.reduceat(vals[:, local], starts[some], axis=1).T
    return out


def estimator_check(texts: list[str], a: np.ndarray, b: np.ndarray, exact: np.ndarray, shingles) -> dict:
    """dsir's MinHash estimate (``dsir.dedup.minhash.signatures``, the select's seed and
    parameters) of the pairs ``(a, b)`` of ``texts`` next to their exact Jaccard ``exact``: per
    bin of exact similarity, the mean and spread of the error, its spread over the binomial
    standard error ``sqrt(J (1 - J) / P)``, and the share estimated at or above dsir's cutoff;
    the same errors with other signature seeds, and with ideal random permutations."""
    from dsir.dedup.minhash import CHANCE, signatures
    from dsir.dedup.rule import SIGNATURE_SEED

    docs = np.unique(np.concatenate([a, b]))
    at = {int(d): i for i, d in enumerate(docs)}
    t0 = time.perf_counter()
    sig, _ = signatures(pa.array([texts[d] for d in docs], pa.large_string()), SHINGLE, PERMUTATIONS, SIGNATURE_SEED)
    seconds = time.perf_counter() - t0
    ia = np.array([at[int(x)] for x in a], np.int64)
    ib = np.array([at[int(x)] for x in b], np.int64)
    equal = np.concatenate([(sig[ia[i:i + 65536]] == sig[ib[i:i + 65536]]).sum(axis=1)
                            for i in range(0, len(ia), 65536)]) if len(ia) else np.zeros(0)
    est = np.clip((equal / PERMUTATIONS - CHANCE) / (1 - CHANCE), 0, 1)
    err = est - exact
    arr = pa.array([texts[d] for d in docs], pa.large_string())
    others = []  # the error with other signature seeds: is a mean error a bias, or shared noise?
    for other in OTHER_SEEDS:
        sg, _ = signatures(arr, SHINGLE, PERMUTATIONS, other)
        eq = np.concatenate([(sg[ia[i:i + 65536]] == sg[ib[i:i + 65536]]).sum(axis=1)
                             for i in range(0, len(ia), 65536)]) if len(ia) else np.zeros(0)
        others.append(np.clip((eq / PERMUTATIONS - CHANCE) / (1 - CHANCE), 0, 1) - exact)
    ideal = ideal_minhash(shingles, docs, 0)
    ideal_err = np.concatenate([(ideal[ia[i:i + 65536]] == ideal[ib[i:i + 65536]]).mean(axis=1)
                                for i in range(0, len(ia), 65536)]) - exact if len(ia) else np.zeros(0)
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / PERMUTATIONS)
    out = []
    for lo, hi in ((0.5, 0.6), (0.6, CUTOFF), (CUTOFF, 0.75), (0.75, THRESHOLD), (THRESHOLD, 0.85), (0.85, 0.9),
                   (0.9, 0.95), (0.95, 1.0001)):
        m = (exact >= lo) & (exact < hi)
        if not m.any():
            continue
        z = err[m] / se[m]
        # the share the normal approximation expects at or above the cutoff
        expect = float(np.mean([0.5 * (1 - math.erf((CUTOFF - j) / (sd * math.sqrt(2)))) for j, sd in zip(exact[m], se[m])]))
        out.append({"bin": [round(lo, 3), round(hi, 3)], "pairs": int(m.sum()), "mean_error": float(err[m].mean()),
                    "error_sd": float(err[m].std()), "z_sd": float(z.std()), "z_mean": float(z.mean()),
                    "beyond_3_se": float(np.mean(np.abs(z) > 3)), "at_cutoff": float(np.mean(est[m] >= CUTOFF)),
                    "at_cutoff_expected": expect,
                    "mean_error_other_seeds": [float(o[m].mean()) for o in others],
                    "ideal_mean_error": float(ideal_err[m].mean()), "ideal_z_sd": float((ideal_err[m] / se[m]).std())})
    return {"pairs": int(len(a)), "signature_seconds": round(seconds, 2), "documents": int(len(docs)), "bins": out}


# -- the ideal walk -----------------------------------------------------------------------------


@njit(cache=True)
def _ideal_walk(order, indptr, sids, n_ids, sizes, need, cutoff):
    """Walk ``order`` keeping each document whose exact Jaccard with every kept one is below
    ``cutoff``, until the kept ``sizes`` reach ``need``: per document 1 kept, 2 dropped, 0 unseen."""
    n = len(indptr) - 1
    head = np.full(n_ids, -1, np.int64)
    nxt = np.full(len(sids), -1, np.int64)
    occ_doc = np.empty(len(sids), np.int64)
    for d in range(n):
        for q in range(indptr[d], indptr[d + 1]):
            occ_doc[q] = d
    shared = np.zeros(n, np.int64)
    touched = np.empty(n, np.int64)
    status = np.zeros(n, np.int8)
    got = 0
    for d in order:
        if got >= need:
            break
        nt = 0
        for q in range(indptr[d], indptr[d + 1]):
            p = head[sids[q]]
            while p >= 0:
                e = occ_doc[p]
                if shared[e] == 0:
                    touched[nt] = e
                    nt += 1
                shared[e] += 1
                p = nxt[p]
        size_d = indptr[d + 1] - indptr[d]
        dup = False
        for t in range(nt):
            e = touched[t]
            c = shared[e]
            shared[e] = 0
            if c / (size_d + (indptr[e + 1] - indptr[e]) - c) >= cutoff:
                dup = True
        if dup:
            status[d] = 2
            continue
        status[d] = 1
        got += sizes[d]
        for q in range(indptr[d], indptr[d + 1]):
            s = sids[q]
            nxt[q] = head[s]
            head[s] = q
    return status


@njit(cache=True)
def _replay(order, kept, indptr, sids, n_ids):
    """Along ``order``, each document's largest exact Jaccard with the ``kept`` documents before
    it (0 when none shares a shingle)."""
    n = len(indptr) - 1
    head = np.full(n_ids, -1, np.int64)
    nxt = np.full(len(sids), -1, np.int64)
    occ_doc = np.empty(len(sids), np.int64)
    for d in range(n):
        for q in range(indptr[d], indptr[d + 1]):
            occ_doc[q] = d
    shared = np.zeros(n, np.int64)
    touched = np.empty(n, np.int64)
    best = np.zeros(len(order), np.float64)
    for t in range(len(order)):
        d = order[t]
        nt = 0
        for q in range(indptr[d], indptr[d + 1]):
            p = head[sids[q]]
            while p >= 0:
                e = occ_doc[p]
                if shared[e] == 0:
                    touched[nt] = e
                    nt += 1
                shared[e] += 1
                p = nxt[p]
        size_d = indptr[d + 1] - indptr[d]
        for u in range(nt):
            e = touched[u]
            c = shared[e]
            shared[e] = 0
            best[t] = max(best[t], c / (size_d + (indptr[e + 1] - indptr[e]) - c))
        if kept[d]:
            for q in range(indptr[d], indptr[d + 1]):
                s = sids[q]
                nxt[q] = head[s]
                head[s] = q
    return best


def replay(order: np.ndarray, selected: np.ndarray, shingles) -> dict:
    """dsir's ``near`` walk replayed with exact similarities: the documents in key order up to its
    last pick; those it did not pick are the ones it dropped. For each, the largest exact
    Jaccard with the picks ranked before it."""
    indptr, sid, n_ids = shingles
    kept = np.zeros(len(indptr) - 1, np.bool_)
    kept[selected] = True
    pos = np.flatnonzero(kept[order])
    walk = order[: pos[-1] + 1] if len(pos) else order[:0]
    best = _replay(walk, kept, indptr, sid, n_ids)
    k, dr = kept[walk], ~kept[walk]
    edges = [0, 0.5, 0.6, CUTOFF, 0.75, THRESHOLD, 0.9, 1.0001]
    return {"examined": int(len(walk)), "kept": int(k.sum()), "dropped": int(dr.sum()),
            "dropped_below_cutoff": int((best[dr] < CUTOFF).sum()), "dropped_below_0.6": int((best[dr] < 0.6).sum()),
            "dropped_min": float(best[dr].min()) if dr.any() else None,
            "kept_at_cutoff": int((best[k] >= CUTOFF).sum()), "kept_at_threshold": int((best[k] >= THRESHOLD).sum()),
            "edges": [round(e, 3) for e in edges],
            "dropped_hist": np.histogram(best[dr], edges)[0].tolist(), "kept_hist": np.histogram(best[k], edges)[0].tolist()}


# -- runs -------------------------------------------------------------------------------------


def read_selection(out_dir: Path) -> list[str]:
    return [r["id"] for r in iter_jsonl(sorted(out_dir.glob("part-*.jsonl*")))]


def run_row(row: str, budget: dict, files: list[str], fit: DSIR, workers: int, seed: int) -> tuple[list[str], dict, float]:
    out = DEDUP_DIR / "selections" / row
    options = {"exact": {"dedup": "exact"}, "near": {"dedup": "near"}}.get(row, {})
    d = DSIR(seed=seed, workers=workers)
    t0 = time.perf_counter()
    with d.engine:
        d.estimator_ = fit.estimator_
        m = d.select(files, str(out), overwrite=True, report=False, **budget, **options)
    return read_selection(out), m, time.perf_counter() - t0


def dedup_counts(manifest: dict, locate) -> dict | None:
    """The manifest's ``dedup`` section, the examples located as document ids."""
    dd = manifest.get("dedup")
    if not dd:
        return None
    out = {k: v for k, v in dd.items() if k != "per_target"}
    out["per_target"] = []
    for t in dd["per_target"]:
        ex = [{"id": locate(e["file"], e["unit"]), "kept_id": locate(e["kept_file"], e["kept_unit"]),
               "similarity": e["similarity"]} for e in t["examples"]]
        out["per_target"].append({**{k: v for k, v in t.items() if k != "examples"}, "examples": ex})
    return out


# -- cost -------------------------------------------------------------------------------------


def warm_kernels() -> None:
    """Compile (or load) the dedup kernels before any timing."""
    from dsir.dedup.minhash import signatures
    from dsir.dedup.rule import DedupRule

    sig, _exact = signatures(pa.array(["warm up the minhash kernels " * 20, "another text " * 10]), SHINGLE,
                             PERMUTATIONS, 0x5EED_D5D1)
    DedupRule("near").first_distinct(np.asarray(sig), 0, np.ones(len(sig), np.int64), 1)


def cost(corpus: Path, which: str, gb: float, repeats: int, workers: int, seed: int,
         end_to_end: bool = False) -> dict:
    """Select with and without ``dedup="near"``, alternating, same process: with the same fit
    (the score and write passes and the allocation), or ``end_to_end`` as a user runs it, each
    select fitting on the target itself (every pass: count, fit, score, write)."""
    t_build = time.perf_counter()
    if which == "throughput":
        from bench.make_pool import build_pools

        pool = build_pools([gb])[gb]
        files, jsonl_bytes, documents = pool["files"]["jsonl.zst"], pool["jsonl_bytes"], pool["documents"]
        about = (f"the {gb:g} GB pool of bench/throughput.py (bench/make_pool.py: the corpus pool repeated with "
                 f"light perturbation), {len(files)} jsonl.zst shards")
    else:
        paths = sorted((corpus / "pool").glob("*.jsonl*"))
        files = [str(p) for p in paths]
        records = list(iter_jsonl(paths))
        jsonl_bytes = sum(len(json.dumps(r, ensure_ascii=False).encode()) + 1 for r in records)
        documents = len(records)
        about = f"the shared corpus pool, {len(files)} jsonl.zst shards"
    build_s = time.perf_counter() - t_build
    mb = jsonl_bytes / 1e6
    k = documents // 10
    print(f"cost: {about}: {documents:,} documents, {mb:.0f} MB of jsonl (ready in {build_s:.0f} s)", file=sys.stderr)
    warm_kernels()
    fit = DSIR(seed=seed, workers=workers).fit([str(corpus / "pool")], str(corpus / "target" / f"{COST_TARGET}.jsonl.zst"))
    order = ["off", "near"]
    runs: dict[str, list[dict]] = {r: [] for r in order}
    out = DEDUP_DIR / "cost"
    for rep in range(repeats + 1):  # round 0 warms the page cache and the kernels: not counted
        for row in (order if rep % 2 == 0 else order[::-1]):
            engine = TimedEngine(workers, progress=False)
            d = DSIR(seed=seed, workers=workers, engine=engine)
            if not end_to_end:
                d.estimator_ = fit.estimator_
            t0, c0 = time.perf_counter(), time.process_time()
            with engine:
                m = d.select(files, str(out / row), k=k, overwrite=True, report=False,
                             **({"target": str(corpus / "target" / f"{COST_TARGET}.jsonl.zst")} if end_to_end else {}),
                             **({"dedup": "near"} if row == "near" else {}))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            score = [(w, c) for desc, w, c in engine.marks if desc == "score"]
            dd = m.get("dedup") or {}
            r = {"wall_s": wall, "cpu_s": cpu, "score_wall_s": sum(w for w, _ in score),
                 "score_cpu_s": sum(c for _, c in score), "load": os.getloadavg()[0],
                 "outside_passes_wall_s": wall - sum(w for _, w, _ in engine.marks),
                 "passes": {desc: round(w, 2) for desc, w, _ in engine.marks},
                 "selected": m["counts"].get("selected"), "dropped": dd.get("dropped"),
                 "examined": sum(t["examined"] for t in dd.get("per_target", [])) if dd else None,
                 "warnings": m.get("warnings", [])}
            print(f"cost {'warm-up' if rep == 0 else f'run {rep}'} {row:5s} wall {wall:6.1f}s cpu {cpu:6.1f}s "
                  f"score pass wall {r['score_wall_s']:6.1f}s cpu {r['score_cpu_s']:6.1f}s  selected "
                  f"{r['selected']} dropped {r['dropped']}  load {r['load']:.1f}", file=sys.stderr)
            if rep:
                runs[row].append(r)
    shutil.rmtree(out, ignore_errors=True)
    keys = ("wall_s", "cpu_s", "score_wall_s", "score_cpu_s", "outside_passes_wall_s")
    best = {row: {key: min(x[key] for x in rs) for key in keys} for row, rs in runs.items()}
    ratios = {key: best["near"][key] / best["off"][key] for key in keys}
    return {"which": which, "end_to_end": end_to_end, "pool": about, "files": len(files), "documents": documents, "jsonl_mb": mb, "k": k,
            "target": COST_TARGET, "workers": workers, "repeats": repeats, "pool_ready_s": build_s,
            "runs": runs, "best": best, "ratios": ratios,
            "target_ratio": 1.25, "met": ratios["wall_s"] <= 1.25 and ratios["cpu_s"] <= 1.25}


# -- rendering --------------------------------------------------------------------------------


def render(res: dict) -> str:
    meta, per = res["meta"], res["results"]
    dom = meta["domain"]
    pool = res["pool"]
    out = [f"`{meta['command']}` ({meta['date']}; seed {meta['seed']}, {meta['workers']} workers; "
           f"dsir default: {meta['dsir_default']}; {meta['wall_s'] / 60:.1f} min; load average "
           f"{meta['load_start']:.1f} at the start, {meta['load_end']:.1f} at the end; dsir sources "
           f"{meta['dsir_sources']['commit']}{' with uncommitted changes' if meta['dsir_sources']['uncommitted_changes'] else ''}, "
           f"sha256 {meta['dsir_sources']['sha256']})", ""]
    q = pool["copy_jaccard_quantiles"]
    out += [f"#### The injected pool", "",
            f"The shared pool ({pool['originals']:,} documents) and a near copy of each of its {pool['copies']:,} "
            f"`{dom}` documents: {pool['documents']:,} documents. Exact 5-word-shingle Jaccard of each copy "
            f"with its original: min {q['0']:.3f}, 5% {q['5']:.3f}, median {q['50']:.3f}, 95% {q['95']:.3f}, "
            f"max {q['100']:.3f}; " + ", ".join(f"{k} {v:.1%}" for k, v in pool["copy_jaccard_bands"].items()) + ".",
            "", f"Words: `re.findall(r\"[^\\W_]+\", text.lower())` and dsir's `words_of` give the same words in "
            f"{pool['words_agree']:,} of {pool['documents']:,} documents"
            + (f" (differ: {', '.join(pool['words_differ_examples'])})" if pool["words_differ"] else "") + ".",
            "", f"Pairs of pool documents at exact Jaccard >= {THRESHOLD} (all pairs of the {dom} documents of the "
            f"shared pool, before injection): {pool['natural_pairs']['pairs_at_threshold']:,} pairs over "
            f"{pool['natural_pairs']['docs_in_pairs_at_threshold']:,} documents; clustered at 0.8 (connected "
            f"components), the {pool['natural_pairs']['documents']:,} documents are "
            f"{pool['natural_pairs']['distinct']:,} distinct ones.", "",
            f"dsir's MinHash estimate ({PERMUTATIONS} values of 16 bits, `dsir.dedup.minhash.signatures`) against "
            f"the exact Jaccard: the pairs of {dom} pool documents at 0.5 or more "
            f"({pool['estimate']['natural']['pairs']:,}) and the (copy, original) pairs "
            f"({pool['estimate']['copies']['pairs']:,}); z = error / sqrt(J (1 - J) / {PERMUTATIONS}), whose spread "
            "is 1 for independent permutations; the share estimated at or above the "
            f"cutoff {CUTOFF:.3f}, and what the normal approximation expects; and the error of an ideal MinHash "
            "(numpy: an independent random value per shingle and permutation) on the same pairs.", "",
            f"| pairs | exact Jaccard | pairs | mean error | mean error, signature seeds {', '.join(map(str, OTHER_SEEDS))} "
            "| error sd | z sd | beyond 3 sd | at cutoff | expected | ideal MinHash: mean error, z sd |",
            "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, e in pool["estimate"].items():
        for b in e["bins"]:
            out.append(f"| {name} | {b['bin'][0]:.3f}-{b['bin'][1]:.3f} | {b['pairs']:,} | {b['mean_error']:+.4f} | "
                       + " ".join(f"{x:+.3f}" for x in b["mean_error_other_seeds"]) + f" | {b['error_sd']:.4f} | {b['z_sd']:.2f} | {b['beyond_3_se']:.2%} | {b['at_cutoff']:.3f} | "
                       f"{b['at_cutoff_expected']:.3f} | {b['ideal_mean_error']:+.4f}, {b['ideal_z_sd']:.2f} |")
    out.append("")
    for budget in meta["budgets"]:
        rs = per[budget]
        what = (f"k = {meta['budget_values'][budget]:,}, the domain's pool documents" if budget == "docs"
                else f"{meta['budget_values'][budget]:,} tokens, a quarter of the domain's pool tokens")
        out += [f"#### Budget `{budget}`: {what}", "",
                "Copies: the share of the selected documents that are injected copies; copy+original pairs: both "
                "selected; same-words pairs: pairs of selected documents with the same word sequence (what "
                "`--dedup exact` compares); pairs >= 0.8 and >= cutoff (dsir's, "
                f"{CUTOFF:.3f}): over all pairs of selected documents, by the exact Jaccard of their 5-word-shingle "
                "sets (independent of dsir); distinct share: connected components of the pairs >= 0.8 over the "
                "documents; dropped and examined: the manifest's `dedup` counts. Quality (`bench.quality.evaluate`) "
                f"on the first {meta['words'][budget]:,} words of each selection.", "",
                "| row | selected | copies | copy+original pairs | same-words pairs | pairs >= 0.8 | pairs >= cutoff | "
                "distinct share | dropped (manifest) | examined | precision | KL reduction | perplexity | "
                "distinct bigrams | length ratio |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in ROWS:
            r = rs[row]
            if "error" in r:
                out.append(f"| {row} | failed: {r['error']} |" + " |" * 14)
                continue
            p, dd = r["pairs"], r["dedup"]
            out.append(f"| {row} | {r['selected']:,} | {r['copy_share']:.1%} | {r['copy_pairs']:,} | "
                       f"{r['word_identical_pairs']:,} | "
                       f"{p['pairs_at_threshold']:,} | {p['pairs_at_cutoff']:,} | {p['distinct'] / p['documents']:.3f} | "
                       + (f"{dd['dropped']:,} | {sum(t['examined'] for t in dd['per_target']):,} | " if dd else "- | - | ")
                       + f"{r['precision']:.3f} | {r['kl_reduction']:.3f} | {r['perplexity']:.1f} | "
                       f"{r['distinct_bigrams']:.3f} | {r['length_ratio']:.2f} |")
        out += ["", "The 5 most similar pairs of each selection (exact Jaccard):", ""]
        for row in (x for x in ROWS if "pairs" in rs[x]):
            out.append(f"* {row}: " + "; ".join(f"`{t['a']}` / `{t['b']}` {t['jaccard']:.3f}"
                                               for t in rs[row]["pairs"]["top5"]))
        for row in ("exact", "near"):
            dd = rs[row].get("dedup")
            if dd and dd["per_target"] and dd["per_target"][0]["examples"]:
                out.append(f"* {row}, the manifest's first dropped examples (dsir's estimate / exact Jaccard): "
                           + "; ".join(f"`{e['id']}` of `{e['kept_id']}` {e['similarity']:.3f} / "
                                       f"{e['exact_jaccard']:.3f}" for e in dd["per_target"][0]["examples"]))
        w = rs["near"].get("ideal")
        if w:
            out += ["", "The ideal walk (keys from `DSIR.score`, exact Jaccard, first documents in key order "
                    "distinct from every kept one) next to `near`'s selection:", "",
                    "| cutoff | selected | also in near's | only in the walk | only in near's | dropped by the walk |",
                    "|---:|---:|---:|---:|---:|---:|"]
            for c in w:
                out.append(f"| {c['cutoff']:.3f} | {c['selected']:,} | {c['common']:,} | {c['only_walk']:,} | "
                           f"{c['only_near']:,} | {c['dropped']:,} |")
            rp = rs["near"]["replay"]
            e = rp["edges"]
            bins = [f"{a:.3f}-{b:.3f}" for a, b in zip(e, e[1:])]
            bins[-1] = f">= {e[-2]:.1f}"
            out += ["", f"`near`'s own walk replayed with exact similarities: {rp['examined']:,} documents in key order "
                    f"up to its last pick, {rp['kept']:,} picked, {rp['dropped']:,} not (the manifest: "
                    f"{rs['near']['dedup']['dropped']:,} dropped). Each one's largest exact Jaccard with the picks "
                    "ranked before it:", "",
                    "| | " + " | ".join(bins) + " |", "|---|" + "---:|" * len(bins),
                    "| dropped | " + " | ".join(f"{x:,}" for x in rp["dropped_hist"]) + " |",
                    "| picked | " + " | ".join(f"{x:,}" for x in rp["kept_hist"]) + " |"]
        out.append("")
    for c in res.get("cost") or []:
        how = (f"each select fits on the target `{c['target']}` itself (every pass, as bench/throughput.py and a "
               "user run it)" if c.get("end_to_end") else
               f"one fit (target `{c['target']}`) shared by every run (the score and write passes and the allocation)")
        out += [f"#### Cost on {'the 1 GB pool' if c['which'] == 'throughput' else 'the shared pool'}"
                f"{', end to end' if c.get('end_to_end') else ', one fit shared'}: "
                "`DSIR().select` with and without `--dedup near`, side by side", "",
                f"{c['pool']}: {c['documents']:,} documents, {c['jsonl_mb']:.0f} MB of jsonl; {how}, "
                f"k = {c['k']:,}, {c['workers']} workers; after one warm-up "
                f"select of each, {c['repeats']} alternating rounds, the fastest of each; CPU = `time.process_time` "
                "of the process (every thread).", "",
                "| row | select wall s | select CPU s | score pass wall s | score pass CPU s | outside the passes "
                "wall s | selected | dropped |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        digits = 2 if c["which"] == "shared" else 1
        for row in ("off", "near"):
            b, r0 = c["best"][row], c["runs"][row][0]
            dropped = "-" if r0["dropped"] is None else f"{r0['dropped']:,}"
            out.append(f"| {row} | " + " | ".join(f"{b[x]:.{digits}f}" for x in (
                "wall_s", "cpu_s", "score_wall_s", "score_cpu_s", "outside_passes_wall_s"))
                + f" | {r0['selected']:,} | {dropped} |")
        q = c["ratios"]
        extra = c["best"]["near"]["outside_passes_wall_s"] - c["best"]["off"]["outside_passes_wall_s"]
        out.append(f"| near / off | {q['wall_s']:.2f} | {q['cpu_s']:.2f} | {q['score_wall_s']:.2f} | "
                   f"{q['score_cpu_s']:.2f} | {extra:+.{digits}f} s | | |")
        if c["runs"]["near"][0]["warnings"]:
            out += ["", "dsir's warning with `near`: " + "; ".join(f'"{w}"' for w in c["runs"]["near"][0]["warnings"])]
        verdict = (f"Target: near / off at most {c['target_ratio']} for the whole select (wall and CPU): "
                   f"**{'met' if c['met'] else 'not met'}**." if c.get("end_to_end") else
                   f"Context, not the target (which is of the whole select end to end): near / off "
                   f"{c['ratios']['wall_s']:.2f} wall, {c['ratios']['cpu_s']:.2f} CPU without the fit.")
        out += ["", f"{verdict} All runs (wall s / CPU s, load average): "
                + "; ".join(f"{row} " + ", ".join(f"{x['wall_s']:.1f}/{x['cpu_s']:.1f} ({x['load']:.1f})"
                                                  for x in c["runs"][row]) for row in ("off", "near")), ""]
    checks = res["checks"]
    out += ["#### Checks", ""] + [f"* {'ok' if ok else '**FAILED**'}: {what}" for what, ok in checks] + [""]
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------


def load_docs(paths: list[Path]) -> tuple[Docs, list[str], dict]:
    """The documents of ``paths`` (``bench.quality.Docs``), their texts, and ``(path, row) -> id``."""
    records, where = [], {}
    for p in paths:
        rs = list(iter_jsonl([p]))
        where[str(p.resolve())] = [r["id"] for r in rs]
        records += rs
    texts = [r["text"] for r in records]
    arr = pa.array(texts, pa.large_string())
    docs = Docs([r["id"] for r in records], np.array([r.get("domain", "") for r in records]), word_ids(arr),
                featurize_csr(HashedNgramFeaturizer(2, 10_000), arr))
    return docs, texts, where


def sources_digest() -> dict:
    """The commit and a sha256 of dsir's Python sources as they were for this run (the working
    tree may hold changes not committed yet)."""
    import subprocess

    src = WORK_DIR.parent.parent / "src" / "dsir"
    h = hashlib.sha256()
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=src, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True, text=True,
                                    cwd=src, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        head, dirty = None, None
    return {"commit": head, "uncommitted_changes": dirty, "sha256": h.hexdigest()[:16]}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--domain", default="legal")
    p.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost-gb", type=float, default=1.0, help="size of the throughput pool (default 1)")
    p.add_argument("--cost-repeats", type=int, default=2,
                   help="alternating rounds on the 1 GB pool (default 2; 3 times as many on the shared pool)")
    p.add_argument("--cost-pools", nargs="+", default=["throughput", "shared"], choices=["throughput", "shared"])
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--skip-walk", action="store_true", help="skip the ideal walk (a DSIR.score of the pool)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    corpus = args.corpus.resolve()
    dom = args.domain
    ks = corpus_domains(corpus)
    shared_files = sorted((corpus / "pool").glob("*.jsonl*"))
    meta_pool = build_pool(corpus, dom, args.seed)
    pool_dir = POOL_ROOT / f"{dom}-seed{args.seed}"
    inj_files = [pool_dir / f for f in meta_pool["files"]]
    print(f"injected pool: {meta_pool['documents']:,} documents ({meta_pool['copies']:,} copies), "
          + ("reused" if meta_pool["reused"] else f"built in {meta_pool['build_s']}s"), file=sys.stderr)

    pool, texts, where_inj = load_docs(inj_files)
    where = dict(where_inj)
    for f in shared_files:
        where[str(f.resolve())] = [r["id"] for r in iter_jsonl([f])]

    def locate(path: str, unit: int) -> str:
        return where[str(Path(path).resolve())][unit]

    row_of = {i: r for r, i in enumerate(pool.ids)}
    is_copy = np.array([i.endswith(COPY) for i in pool.ids])
    original = pool.domains == dom
    original &= ~is_copy
    if int(original.sum()) != ks[dom]:
        raise SystemExit(f"{dom}: stats.tsv says {ks[dom]} pool documents, the pool has {int(original.sum())}")
    shared_rows = np.flatnonzero(~is_copy)
    raw_dist = smoothed(np.bincount(np.concatenate([pool.features[1][pool.features[0][r]:pool.features[0][r + 1]]
                                                    for r in shared_rows]), minlength=10_000).astype(np.float64))

    # Words: the README's definition against dsir's words_of, on every document.
    t0 = time.perf_counter()
    theirs = words_of(pa.array(texts, pa.large_string())).to_pylist()
    differ, word_key = [], np.empty(len(texts), np.uint64)
    for d, t in enumerate(texts):
        ws = words(t)
        if ws != theirs[d]:
            differ.append(pool.ids[d])
        word_key[d] = int.from_bytes(hashlib.blake2b("\0".join(ws).encode(), digest_size=8).digest(), "little")
    del theirs
    print(f"words: {len(texts) - len(differ)} of {len(texts)} documents agree with words_of "
          f"({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    t0 = time.perf_counter()
    shingles = shingle_sets(texts)
    print(f"shingles: {shingles[2]:,} distinct in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    indptr, sid, _ = shingles
    copy_rows = np.flatnonzero(is_copy)
    copy_j = np.array([jaccard(sid[indptr[c]:indptr[c + 1]],
                               sid[indptr[row_of[pool.ids[c][:-len(COPY)]]]:indptr[row_of[pool.ids[c][:-len(COPY)]] + 1]])
                       for c in copy_rows])
    natural = pair_check(np.flatnonzero(original), shingles, pool.ids, keep_pairs=True)
    na, nb, nj = natural.pop("_pairs")
    bands = {"< 0.694": float(np.mean(copy_j < CUTOFF)), "0.694-0.80": float(np.mean((copy_j >= CUTOFF) & (copy_j < 0.8))),
             "0.80-0.95": float(np.mean((copy_j >= 0.8) & (copy_j < 0.95))), ">= 0.95": float(np.mean(copy_j >= 0.95))}
    t0 = time.perf_counter()
    orig_rows = np.array([row_of[pool.ids[c][:-len(COPY)]] for c in copy_rows], np.int64)
    estimate = {"natural": estimator_check(texts, na, nb, nj, shingles),
                "copies": estimator_check(texts, copy_rows, orig_rows, copy_j, shingles)}
    for name, e in estimate.items():
        print(f"estimate vs exact, {name} pairs ({e['pairs']}, {time.perf_counter() - t0:.1f}s): " + "; ".join(
            f"{b['bin'][0]}-{b['bin'][1]} n {b['pairs']} err {b['mean_error']:+.4f} z-sd {b['z_sd']:.2f} "
            f"at-cutoff {b['at_cutoff']:.3f} (normal {b['at_cutoff_expected']:.3f})" for b in e["bins"]), file=sys.stderr)
    pool_out = {**{k: v for k, v in meta_pool.items() if k != "files"}, "dir": str(pool_dir.relative_to(WORK_DIR.parent.parent)),
                "files": meta_pool["files"],
                "copy_jaccard_quantiles": {str(q): float(np.percentile(copy_j, q)) for q in (0, 5, 25, 50, 75, 95, 100)},
                "copy_jaccard_mean": float(copy_j.mean()), "copy_jaccard_bands": bands,
                "words_agree": len(texts) - len(differ), "words_differ": len(differ),
                "words_differ_examples": differ[:5], "natural_pairs": natural, "estimate": estimate}
    print(f"copies' Jaccard with their originals: median {np.median(copy_j):.3f}, "
          + ", ".join(f"{k} {v:.1%}" for k, v in bands.items())
          + f"; natural pairs >= 0.8 among the {dom} pool documents: {natural['pairs_at_threshold']}", file=sys.stderr)

    target_path = corpus / "target" / f"{dom}.jsonl.zst"
    target = Docs.load([target_path])
    eval_docs = Docs.load([corpus / "eval" / f"{dom}.jsonl.zst"])
    target_dist = smoothed(np.bincount(target.features[1], minlength=10_000).astype(np.float64))
    t0 = time.perf_counter()
    fits = {"shared": DSIR(seed=args.seed).fit([str(f) for f in shared_files], str(target_path)),
            "injected": DSIR(seed=args.seed).fit([str(f) for f in inj_files], str(target_path))}
    print(f"fits: {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    keys = None
    if not args.skip_walk:
        t0 = time.perf_counter()
        d = DSIR(seed=args.seed, workers=args.workers)
        with d.engine:
            d.estimator_ = fits["injected"].estimator_
            table = d.score([str(f) for f in inj_files])
        keys = np.full(len(pool.ids), np.nan)
        tok = np.zeros(len(pool.ids), np.int64)
        for f, r, k, t in zip(table["file"].to_pylist(), table["row"].to_pylist(), table["key"].to_pylist(),
                              table["tokens"].to_pylist()):
            i = row_of[locate(f, r)]
            keys[i], tok[i] = k, t
        print(f"scores for the ideal walk: {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    checks: list[tuple[str, bool]] = [(f"the copies' words are never all the original's (exact Jaccard < 1: "
                                       f"max {copy_j.max():.3f})", bool(copy_j.max() < 1))]
    results: dict = {}
    budget_values: dict = {}
    words_: dict = {}
    errors: dict = {b: {} for b in args.budgets}
    for budget_name in args.budgets:
        budget = {"k": ks[dom]} if budget_name == "docs" else {"tokens": int(pool.tokens[original].sum()) // 4}
        budget_values[budget_name] = next(iter(budget.values()))
        sel = {}
        for row in ROWS:
            files = [str(f) for f in (shared_files if row == "original" else inj_files)]
            fit = fits["shared" if row == "original" else "injected"]
            try:
                ids, m, seconds = run_row(row, budget, files, fit, args.workers, args.seed)
            except Exception as e:  # noqa: BLE001 - a failing row is reported, the others still run
                errors[budget_name][row] = f"{type(e).__name__}: {e}"
                print(f"{budget_name:7s} {row:9s} FAILED: {errors[budget_name][row]}", file=sys.stderr)
                checks.append((f"`{row}` at `{budget_name}` runs ({errors[budget_name][row]})", False))
                continue
            sel[row] = (ids, m, seconds)
            print(f"{budget_name:7s} {row:9s} selected {len(ids):5d} in {seconds:.1f}s"
                  + (f", dropped {m['dedup']['dropped']}" if m.get("dedup") else ""), file=sys.stderr)
        w = min(int(pool.tokens[[row_of[i] for i in ids]].sum()) for ids, _, _ in sel.values())
        words_[budget_name] = w
        results[budget_name] = {row: {"error": e} for row, e in errors[budget_name].items()}
        for row, (ids, m, seconds) in sel.items():
            r = evaluate(ids, dom, pool, row_of, target, eval_docs, raw_dist, target_dist, w, args.seed)
            rows = np.array([row_of[i] for i in ids], np.int64)
            chosen = set(ids)
            pairs = pair_check(rows, shingles, pool.ids)
            dd = dedup_counts(m, locate)
            if dd:
                for t in dd["per_target"]:
                    for e in t["examples"]:
                        a, b = row_of[e["id"]], row_of[e["kept_id"]]
                        e["exact_jaccard"] = round(jaccard(sid[indptr[a]:indptr[a + 1]], sid[indptr[b]:indptr[b + 1]]), 4)
            _, same = np.unique(word_key[rows], return_counts=True)
            r.update(seconds=round(seconds, 2), copy_share=float(is_copy[rows].mean()),
                     word_identical_pairs=int((same * (same - 1) // 2).sum()),
                     copies=int(is_copy[rows].sum()),
                     copy_pairs=sum(1 for i in ids if i.endswith(COPY) and i[:-len(COPY)] in chosen),
                     pairs=pairs, dedup=dd, manifest_selected=m["counts"].get("selected"),
                     warnings=m.get("warnings", []))
            results[budget_name][row] = r
            print(f"{budget_name:7s} {row:9s} copies {r['copy_share']:.1%}  pairs>=0.8 {pairs['pairs_at_threshold']:6d}  "
                  f"distinct {pairs['distinct'] / max(1, pairs['documents']):.3f}  precision {r['precision']:.3f}  "
                  f"KL-red {r['kl_reduction']:.3f}  ppl {r['perplexity']:7.1f}  distinct-bigrams "
                  f"{r['distinct_bigrams']:.3f}  (pairs in {pairs['seconds']}s)", file=sys.stderr)
            if row in ("exact", "near"):
                checks.append((f"`{row}` at `{budget_name}`: no two selected documents with the same words "
                               f"({r['word_identical_pairs']} pairs)", r["word_identical_pairs"] == 0))
            if budget_name == "docs":
                checks.append((f"`{row}` at `docs` selects exactly k = {ks[dom]:,} ({len(ids):,})", len(ids) == ks[dom]))
        near = results[budget_name]["near"]
        if "error" in near:
            continue
        checks.append((f"`near` at `{budget_name}`: no pair of selected documents at exact Jaccard >= {THRESHOLD} "
                       f"({near['pairs']['pairs_at_threshold']})", near["pairs"]["pairs_at_threshold"] == 0))
        if keys is not None:
            eligible = np.isfinite(keys)
            order = np.flatnonzero(eligible)[np.argsort(-keys[eligible], kind="stable")]
            sizes = tok if "tokens" in budget else np.ones(len(keys), np.int64)
            need = budget.get("tokens", budget.get("k"))
            near_set = {row_of[i] for i in sel["near"][0]}
            walk = []
            for cut in (THRESHOLD, CUTOFF):
                status = _ideal_walk(order, indptr, sid, shingles[2], sizes, need, cut)
                kept = set(np.flatnonzero(status == 1).tolist())
                walk.append({"cutoff": cut, "selected": len(kept), "common": len(kept & near_set),
                             "only_walk": len(kept - near_set), "only_near": len(near_set - kept),
                             "dropped": int((status == 2).sum()),
                             "only_walk_examples": [pool.ids[i] for i in sorted(kept - near_set)[:5]],
                             "only_near_examples": [pool.ids[i] for i in sorted(near_set - kept)[:5]]})
                print(f"{budget_name:7s} ideal walk at {cut:.3f}: {len(kept)} selected, {len(kept & near_set)} also "
                      f"by near, {len(kept - near_set)} only by the walk, dropped {walk[-1]['dropped']}", file=sys.stderr)
            near["ideal"] = walk
            near["replay"] = replay(order, np.array(sorted(near_set), np.int64), shingles)
            rp = near["replay"]
            manifest_dropped = near["dedup"]["dropped"]
            print(f"{budget_name:7s} replay: {rp['examined']} examined, {rp['dropped']} dropped "
                  f"(manifest {manifest_dropped}), {rp['dropped_below_cutoff']} of them below the cutoff by exact "
                  f"Jaccard (min {rp['dropped_min']}), {rp['kept_at_cutoff']} kept at or above it", file=sys.stderr)
            checks.append((f"`near` at `{budget_name}`: the documents ranked above its last pick and not picked "
                           f"({rp['dropped']}) are the manifest's dropped ({manifest_dropped})",
                           rp["dropped"] == manifest_dropped))
    shutil.rmtree(DEDUP_DIR / "selections", ignore_errors=True)

    cost_out = [] if args.skip_cost else [
        cost(corpus, which, args.cost_gb, args.cost_repeats * (3 if which == "shared" else 1), args.workers, args.seed,
             end_to_end)
        for which in args.cost_pools for end_to_end in ((True, False) if which == "throughput" else (False,))]
    for c in cost_out:
        if c["end_to_end"]:  # the issue's measure: a whole select as bench/throughput.py runs it
            checks.append((f"cost ({c['which']} pool, end to end): near / off {c['ratios']['wall_s']:.2f} wall, "
                           f"{c['ratios']['cpu_s']:.2f} CPU of the whole select, at most {c['target_ratio']}",
                           c["met"]))
    defaults = DSIR()
    meta = {
        "command": ".venv/bin/python bench/dedup.py" + (" " + " ".join(argv) if argv else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": args.seed, "workers": args.workers, "domain": dom, "budgets": args.budgets,
        "budget_values": budget_values, "words": words_, "threshold": THRESHOLD, "cutoff": CUTOFF,
        "wall_s": time.perf_counter() - t_start, "load_start": load_start, "load_end": os.getloadavg()[0],
        "dsir_default": f"method={defaults.method}, weighting={defaults.weighting}, "
                        f"temperature={defaults.settings.temperature}, buckets={defaults.settings.buckets}",
        "python": platform.python_version(), "cpus": os.cpu_count(), "dsir_sources": sources_digest(),
    }
    res = {"meta": meta, "pool": pool_out, "results": results, "cost": cost_out, "checks": checks}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "dedup.json").write_text(json.dumps(res, indent=1) + "\n")
    table = render(res)
    (args.results_dir / "dedup.md").write_text(table + "\n")
    print(table)
    failed = [what for what, ok in checks if not ok and not what.startswith("cost")]
    for what in failed:
        print(f"CHECK FAILED: {what}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
