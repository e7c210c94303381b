"""Where the block featurizer's time goes, against loops that do one part of its work each,
on the same text from memory (one core, best of five alternated rounds):

* the featurizer itself: ``score`` in the default 2^18-bucket space and in the paper's 10^4,
  and ``count`` in both (the count vector: 2 MB, beyond L2, against 80 KB);
* the FNV-1a chain alone: every byte fed to one state, to two states (unigram and bigram,
  as the tokenizer does), and to two states of two independent halves of the text (two
  chains in flight: what interleaving two documents would buy);
* the per-byte class lookup with the two states (the tokenizer's loop without its
  close/open logic);
* bucketing alone: fmix64 + the modulo + the score table's lookup for as many n-gram
  states as the text has, in either space; the same with the buckets of 512 states computed
  before their lookups; and the lookups alone (buckets given).

    .venv/bin/python bench/featurizer_profile.py [MB]     # default 100 MB of the pool's text
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from numba import njit

from dsir.featurize import HashedNgramFeaturizer
from dsir.featurize.kernels import FNV_OFFSET, FNV_PRIME, fast_mod, fmix64, reciprocal
from dsir.io.paths import expand_paths
from dsir.io.readers import iter_text_batches
from dsir.featurize.hashed_ngrams import arrow_buffers

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@njit(cache=True, nogil=True)
def one_state(data):
    s = FNV_OFFSET
    for j in range(len(data)):
        s = (s ^ np.uint64(data[j])) * FNV_PRIME
    return s


@njit(cache=True, nogil=True)
def two_states(data):
    s0 = FNV_OFFSET
    s1 = FNV_OFFSET
    for j in range(len(data)):
        b = np.uint64(data[j])
        s0 = (s0 ^ b) * FNV_PRIME
        s1 = (s1 ^ b) * FNV_PRIME
    return s0 ^ s1


@njit(cache=True, nogil=True)
def two_halves(data):
    half = len(data) // 2
    s0 = s1 = t0 = t1 = FNV_OFFSET
    for j in range(half):
        b = np.uint64(data[j])
        c = np.uint64(data[half + j])
        s0 = (s0 ^ b) * FNV_PRIME
        s1 = (s1 ^ b) * FNV_PRIME
        t0 = (t0 ^ c) * FNV_PRIME
        t1 = (t1 ^ c) * FNV_PRIME
    return s0 ^ s1 ^ t0 ^ t1


@njit(cache=True, nogil=True)
def classes_and_states(data, table):
    s0 = FNV_OFFSET
    s1 = FNV_OFFSET
    k = np.uint64(0)
    for j in range(len(data)):
        b = np.uint64(data[j])
        c = np.uint64(table[data[j]])
        k += c
        s0 = ((s0 if c else FNV_OFFSET) ^ b) * FNV_PRIME
        s1 = (s1 ^ b) * FNV_PRIME
    return s0 ^ s1 ^ k


@njit(cache=True, nogil=True)
def bucket_and_score(states, nb, log_ratio):
    m = reciprocal(nb)
    score = 0.0
    for j in range(len(states)):
        score += log_ratio[fast_mod(fmix64(states[j]), nb, m)]
    return score


@njit(cache=True, nogil=True)
def bucket_then_score(states, nb, log_ratio, buf):
    """The same, 512 states at a time: their buckets first, then the lookups, which no longer
    wait behind the hashing (as the block path's separate bucketing loop could do)."""
    m = reciprocal(nb)
    score = 0.0
    for a in range(0, len(states), len(buf)):
        e = min(a + len(buf), len(states))
        for j in range(a, e):
            buf[j - a] = fast_mod(fmix64(states[j]), nb, m)
        for j in range(e - a):
            score += log_ratio[buf[j]]
    return score


@njit(cache=True, nogil=True)
def lookups(buckets, log_ratio):
    score = 0.0
    for j in range(len(buckets)):
        score += log_ratio[buckets[j]]
    return score


def best(fn, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 100
    path = expand_paths([sorted(glob.glob(str(CORPUS / "pool" / "*.jsonl.zst")))[0]])[0]
    batches, size = [], 0
    for b in iter_text_batches(path):
        batches.append(b.texts)
        d, o = arrow_buffers(b.texts)
        size += int(o[-1] - o[0])
        if size >= mb * 1e6:
            break
    texts = pa.concat_arrays(batches)
    data, offsets = arrow_buffers(texts)
    data = np.ascontiguousarray(data[offsets[0]: offsets[-1]])
    n = len(data) / 1e6
    rng = np.random.default_rng(0)
    small, large = HashedNgramFeaturizer(2, 10_000), HashedNgramFeaturizer(2, 1 << 18)
    n_ngrams = int(large.score(texts, np.zeros(1 << 18))[2].sum())
    states = rng.integers(0, 2**63, n_ngrams, dtype=np.int64).astype(np.uint64)
    table = np.zeros(256, np.uint8)
    table[np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8)] = 1
    lr_small, lr_large = rng.normal(size=10_000), rng.normal(size=1 << 18)
    for fn in (one_state, two_states, two_halves):
        fn(data[:100])
    classes_and_states(data[:100], table)
    bucket_and_score(states[:10], np.uint64(10_000), lr_small)
    buf = np.zeros(512, np.uint64)
    bucket_then_score(states[:10], np.uint64(10_000), lr_small, buf)
    idx_small = rng.integers(0, 10_000, n_ngrams).astype(np.uint64)
    idx_large = rng.integers(0, 1 << 18, n_ngrams).astype(np.uint64)
    lookups(idx_small[:10], lr_small)
    small.score(texts[:10], lr_small)
    large.score(texts[:10], lr_large)
    cases = {
        "featurizer: score, 2^18 buckets": lambda: large.score(texts, lr_large),
        "featurizer: score, 10^4 buckets": lambda: small.score(texts, lr_small),
        "featurizer: count, 2^18 buckets": lambda: large.count(texts),
        "featurizer: count, 10^4 buckets": lambda: small.count(texts),
        "FNV-1a, one state": lambda: one_state(data),
        "FNV-1a, two states (unigram, bigram)": lambda: two_states(data),
        "FNV-1a, two states x two halves": lambda: two_halves(data),
        "class lookup + two states": lambda: classes_and_states(data, table),
        f"bucket + score, {n_ngrams:,} states, 2^18": lambda: bucket_and_score(states, np.uint64(1 << 18), lr_large),
        f"bucket + score, {n_ngrams:,} states, 10^4": lambda: bucket_and_score(states, np.uint64(10_000), lr_small),
        "bucket, then score, per 512, 2^18": lambda: bucket_then_score(states, np.uint64(1 << 18), lr_large, buf),
        "bucket, then score, per 512, 10^4": lambda: bucket_then_score(states, np.uint64(10_000), lr_small, buf),
        "lookups alone, 2^18": lambda: lookups(idx_large, lr_large),
        "lookups alone, 10^4": lambda: lookups(idx_small, lr_small),
    }
    seconds = {name: [] for name in cases}
    for _ in range(5):  # rounds alternate the cases, so a drift of the machine hits them all
        for name, fn in cases.items():
            seconds[name].append(best(fn, 1))
    print(f"{n:.0f} MB of text, {len(texts):,} documents, {n_ngrams:,} n-grams; best of 5 alternated rounds")
    print("| loop | s | MB/s |\n|---|---:|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {min(s):.3f} | {n / min(s):.0f} |")


if __name__ == "__main__":
    main()
