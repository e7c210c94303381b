"""dedup.rule and the allocation's dedup walk: exact statuses on hand-made signatures, and
the walk against a brute-force "first distinct units in key order" on random pools."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsir.dedup.rule import DROPPED, KEPT, UNSEEN, DedupRule
from dsir.errors import UsageError
from dsir.sample.allocate import allocate_targets


def test_rule_checks_its_options():
    with pytest.raises(UsageError, match="--dedup must be one of none, exact, near"):
        DedupRule("fuzzy")
    with pytest.raises(UsageError, match="--dedup-bands must divide --dedup-permutations \\(128\\), got 30"):
        DedupRule("near", bands=30)
    with pytest.raises(UsageError, match="--dedup-threshold must be in \\(0, 1\\]"):
        DedupRule("near", threshold=0.0)
    with pytest.raises(UsageError, match="--dedup-permutations must be a positive integer"):
        DedupRule("near", permutations=0)
    assert not DedupRule().active and DedupRule().signatures is None


def test_cutoff_is_three_standard_errors_below_the_threshold():
    rule = DedupRule("near", 0.8, 128, 32)
    assert rule.rows == 4
    assert rule.cutoff == pytest.approx(0.8 - 3 * math.sqrt(0.8 * 0.2 / 128))
    d = rule.describe()
    assert d["lsh_miss_probability_at_threshold"] == pytest.approx((1 - 0.8 ** 4) ** 32, rel=1e-3)
    assert DedupRule("near", 1.0).cutoff == 1.0


def test_exact_walk_keeps_first_occurrences_until_the_budget():
    rule = DedupRule("exact")
    status, dup_of, sim = rule.first_distinct(np.array([5, 7, 5, 9, 7, 11], np.uint64), 0, np.ones(6), 3)
    assert status.tolist() == [KEPT, KEPT, DROPPED, KEPT, UNSEEN, UNSEEN]
    assert dup_of.tolist() == [-1, -1, 0, -1, -1, -1]
    assert sim.tolist() == [0, 0, 1, 0, 0, 0]


def test_exact_walk_drops_duplicates_of_earlier_targets_picks():
    rule = DedupRule("exact")
    status, dup_of, _ = rule.first_distinct(np.array([7, 5, 7, 9, 3], np.uint64), 1, np.ones(5), 2)
    assert status.tolist() == [KEPT, KEPT, DROPPED, KEPT, UNSEEN]
    assert dup_of.tolist() == [-1, -1, 0, -1, -1]


def test_exact_walk_by_tokens_includes_the_unit_that_reaches_the_budget():
    rule = DedupRule("exact")
    status, _, _ = rule.first_distinct(np.array([1, 1, 2, 3, 4], np.uint64), 0, np.array([10, 99, 10, 5, 30]), 15)
    assert status.tolist() == [KEPT, DROPPED, KEPT, UNSEEN, UNSEEN]


def _variant(base: np.ndarray, changed: list[int], offset: int = 1000) -> np.ndarray:
    out = base.copy()
    out[changed] = offset + np.arange(len(changed))
    return out


def test_near_walk_on_hand_made_signatures():
    """8 values in 4 bands of 2: a pair is checked only when it shares a band, and is a
    duplicate when its estimate reaches the cutoff (0.8 - 3 * sqrt(0.16 / 8) = 0.376)."""
    rule = DedupRule("near", 0.8, 8, 4)
    a = np.arange(1, 9, dtype=np.uint16)
    rows = np.stack([
        a,                                # 0 kept
        _variant(a, [3]),                 # 1 7/8 equal, shares bands 0, 2, 3: dropped, dup of 0
        _variant(a, [0, 1, 2, 3, 4], 2000),  # 2 3/8 = 0.375 < cutoff: kept
        _variant(a, [0, 2, 4, 6], 3000),  # 3 4/8, but no band in common with 0 (nor 2): never checked, kept
        _variant(a, [0, 1, 2, 3], 4000),  # 4 4/8, bands 2 and 3 in common with 0: dropped
        np.arange(101, 109, dtype=np.uint16),  # 5 new: kept
    ])
    status, dup_of, sim = rule.first_distinct(rows, 0, np.ones(6), 10)
    assert status.tolist() == [KEPT, DROPPED, KEPT, KEPT, DROPPED, KEPT]
    assert dup_of.tolist() == [-1, 0, -1, -1, 0, -1]
    c = 2.0 ** -16
    assert sim[1] == pytest.approx((7 / 8 - c) / (1 - c)) and sim[4] == pytest.approx((0.5 - c) / (1 - c))
    # rows 2 and 4 both match row 0 in 3 resp. 4 values; row 4 also matches row 2 in positions 5-7
    # (3/8, below the cutoff), so it is the duplicate of row 0, the most similar kept row
    status, _, _ = rule.first_distinct(rows, 0, np.ones(6), 2)
    assert status.tolist() == [KEPT, DROPPED, KEPT, UNSEEN, UNSEEN, UNSEEN]


def test_near_walk_names_the_most_similar_kept_row():
    rule = DedupRule("near", 0.8, 8, 4)
    a = np.arange(1, 9, dtype=np.uint16)
    g = np.arange(201, 209, dtype=np.uint16)
    h = np.concatenate([a[:2], g[2:]])  # 2/8 with a (band 0), 6/8 with g (bands 1-3)
    status, dup_of, _ = rule.first_distinct(np.stack([a, g, h]), 0, np.ones(3), 3)
    assert status.tolist() == [KEPT, KEPT, DROPPED] and dup_of[2] == 1


def _brute_force(keys: np.ndarray, hashes: np.ndarray, groups: np.ndarray, k: int) -> set[int]:
    """The first ``k`` units in key order (larger first, ties by hash) whose group is new."""
    order = np.lexsort((np.arange(len(keys)), hashes, -keys))
    seen, out = set(), set()
    for i in order:
        if not np.isfinite(keys[i]) or len(out) == k:
            continue
        if groups[i] not in seen:
            seen.add(groups[i])
            out.add(int(i))
    return out


@pytest.mark.parametrize("split", [[200], [50, 150], [7, 93, 60, 40]])
def test_allocation_is_the_first_distinct_units_whatever_the_split(split):
    rng = np.random.default_rng(3)
    n = sum(split)
    keys = rng.normal(size=n)
    keys[rng.random(n) < 0.1] = -np.inf
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64)
    groups = rng.integers(0, 40, n).astype(np.uint64)  # 40 distinct texts: many duplicates
    groups[np.argsort(-keys)[:30]] = 7  # the 30 best keys are copies of one text: the walk must widen
    cuts = np.cumsum([0] + split)
    part = lambda a: [a[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:])]  # noqa: E731
    pk, ph, pg = part(keys), part(hashes), part(groups)
    for k in (1, 12, 39):
        alloc = allocate_targets([x[None, :] for x in pk], lambda u: ph[u], [k], dedup=DedupRule("exact"),
                                 signatures=lambda u: pg[u])
        got = {int(cuts[f] + i) for f, a in enumerate(alloc.assigned) for i in np.flatnonzero(a == 0)}
        assert got == _brute_force(keys, hashes, groups, k)
        assert alloc.selected == [len(got)] and alloc.duplicates[0].dropped >= (29 if k > 1 else 0)
    alloc = allocate_targets([x[None, :] for x in pk], lambda u: ph[u], [60], dedup=DedupRule("exact"),
                             signatures=lambda u: pg[u])
    distinct = len(set(groups[np.isfinite(keys)].tolist()))
    assert alloc.selected == [distinct]  # fewer than asked: no more distinct units


def test_two_targets_never_share_a_duplicate():
    keys = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    groups = np.array([1, 2, 1, 3, 2], np.uint64)  # 0 and 2 alike, 1 and 4 alike
    alloc = allocate_targets([keys], lambda u: np.arange(5, dtype=np.uint64), [2, 2], dedup=DedupRule("exact"),
                             signatures=lambda u: groups)
    # target 0 takes 0 and 1; target 1 walks 4 (like 1: dropped), 3 (new), 2 (like 0: dropped)
    assert alloc.assigned[0].tolist() == [0, 0, -1, 1, -1]
    assert alloc.selected == [2, 1]
    assert alloc.duplicates[1].dropped == 2
    assert alloc.duplicates[1].examples[0][:4] == (0, 4, 0, 1)


def test_token_budget_with_dedup():
    keys = np.array([[9.0, 8.0, 7.0, 6.0, 5.0]])
    groups = np.array([1, 1, 2, 3, 4], np.uint64)
    sizes = np.array([10, 10, 10, 10, 10])
    alloc = allocate_targets([keys], lambda u: np.arange(5, dtype=np.uint64), [25], [sizes], by_tokens=True,
                             dedup=DedupRule("exact"), signatures=lambda u: groups)
    assert alloc.assigned[0].tolist() == [0, -1, 0, 0, -1]
    assert alloc.selected_tokens == [30] and alloc.duplicates[0].dropped_tokens == 10
