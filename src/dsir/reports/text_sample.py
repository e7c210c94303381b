"""The report's equal amounts of text, on which it compares a selection with the pool by
diversity and, with held-out target documents, by a bigram model's perplexity.

For each target, W = the fewer of ``ReportOptions.text_words`` and the tokens selected for
it: the first W words of the target's selected units, and the first W words of the eligible
pool's units (a uniform random sample of what the selection was drawn from), each taken unit
by unit in one fixed pseudo-random order (a uniform number from the unit's hash, the one its
noise comes from, and the seed), the last unit cut. So longer units buy nothing, and the
order is known before the write pass, which keeps the word ids of exactly those units
(``samples.FileSample``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsir.metrics.text import CSR, equal_text, first_words
from dsir.reports.samples import TEXT_SAMPLE_STREAM, text_of
from dsir.sample.gumbel import seed_key, uniform_from_hashes


def text_order_key(hashes: np.ndarray, seed: int) -> np.ndarray:
    """The number each unit is ordered by (smallest first)."""
    return uniform_from_hashes(hashes, seed_key(seed, TEXT_SAMPLE_STREAM))


def target_words(tokens: np.ndarray, assigned: np.ndarray, targets: int, cap: int) -> list[int]:
    """W per target: at most ``cap``, at most what was selected for it."""
    return [min(cap, int(tokens[assigned == t].sum())) for t in range(targets)]


def _prefix(key: np.ndarray, tokens: np.ndarray, members: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """``first_words`` of the ``members`` units in ``key`` order, sorting only the units below a
    key that holds enough of them (doubled until it does), not the whole pool."""
    total = int(tokens[members].sum())
    rate = min(1.0, 2 * words / total) if total else 1.0
    while True:
        rows = np.flatnonzero(members & (key < rate)) if rate < 1 else np.flatnonzero(members)
        if rate >= 1 or tokens[rows].sum() >= words:
            break
        rate = min(1.0, 2 * rate)
    return first_words(tokens, rows[np.argsort(key[rows], kind="stable")], words)


def plan_text(hashes: np.ndarray, tokens: np.ndarray, eligible: np.ndarray, assigned: np.ndarray, targets: int,
              seed: int, cap: int) -> np.ndarray:
    """How many of its first words each unit (all files, concatenated) gives the equal texts;
    0 for the units none of them reaches."""
    key = text_order_key(hashes, seed)
    tokens = np.asarray(tokens, dtype=np.int64)
    words = target_words(tokens, assigned, targets, cap)
    keep = np.zeros(len(key), dtype=np.int64)
    for members, w in [(eligible, max(words, default=0))] + [(assigned == t, w) for t, w in enumerate(words)]:
        if w:
            rows, taken = _prefix(key, tokens, members, w)
            keep[rows] = np.maximum(keep[rows], taken)
    return keep


@dataclass
class EqualText:
    """One target's equal texts: ``words`` words each of its selection and of the pool."""

    words: int
    selected: CSR
    pool: CSR
    selected_units: int
    pool_units: int


def equal_texts(file_samples: list[dict], starts: np.ndarray, hashes: np.ndarray, tokens: np.ndarray,
                eligible: np.ndarray, assigned: np.ndarray, targets: int, seed: int, cap: int) -> list[EqualText]:
    """Each target's ``EqualText`` from the word ids the samples kept (``plan_text``'s units);
    the arrays are of all units, concatenated, ``starts`` where each file begins."""
    parts = [text_of(fs) for fs in file_samples]
    empty = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))]
    units = np.concatenate([starts[i] + p[0] for i, p in enumerate(parts)] + [empty[0][0]])
    lengths, ids = (np.concatenate([p[j] for p in parts + empty]) for j in (1, 2))
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    csr = (indptr, ids)
    order = np.argsort(text_order_key(hashes[units], seed), kind="stable")  # positions into units
    pool_order = order[eligible[units[order]]]
    out = []
    for t, want in enumerate(target_words(np.asarray(tokens, np.int64), assigned, targets, cap)):
        sel_order = order[assigned[units[order]] == t]
        sel, pool = equal_text(csr, sel_order, want), equal_text(csr, pool_order, want)
        words = min(len(sel[1]), len(pool[1]))  # W, unless the samples kept fewer words than planned
        if words < want:
            sel, pool = (equal_text(x, np.arange(len(x[0]) - 1), words) for x in (sel, pool))
        out.append(EqualText(words, sel, pool, int((np.diff(sel[0]) > 0).sum()), int((np.diff(pool[0]) > 0).sum())))
    return out
