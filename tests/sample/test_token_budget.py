"""A token budget: the largest keys until their tokens reach it (``find_token_threshold``,
``allocate_targets(by_tokens=True)``, ``Budget``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir.errors import UsageError
from dsir.sample.allocate import Budget, allocate_targets
from dsir.sample.gumbel import find_threshold, find_token_threshold


def kept(threshold, unit_keys) -> list[list[int]]:
    return [np.flatnonzero(threshold.mask(u, k)).tolist() for u, k in enumerate(unit_keys)]


def test_the_budget_keeps_the_first_units_that_reach_it():
    keys = [np.array([5.0, 4.0, 3.0, 2.0, 1.0])]
    sizes = [np.array([10, 10, 10, 10, 10])]
    assert kept(find_token_threshold(keys, sizes, 25), keys) == [[0, 1, 2]]  # 30 >= 25; 20 would not be
    assert kept(find_token_threshold(keys, sizes, 30), keys) == [[0, 1, 2]]  # exactly reached: nothing more
    assert kept(find_token_threshold(keys, sizes, 31), keys) == [[0, 1, 2, 3]]
    assert kept(find_token_threshold(keys, sizes, 1), keys) == [[0]]
    assert find_token_threshold(keys, sizes, 50).select_all  # the pool's tokens: everything
    assert find_token_threshold(keys, sizes, 10**12).select_all


def test_sizes_decide_not_counts():
    keys = [np.array([9.0, 8.0, 7.0]), np.array([8.5, 1.0])]
    sizes = [np.array([100, 1, 1]), np.array([5, 1000])]
    # in key order: 9.0 (100), 8.5 (5), 8.0 (1), 7.0 (1), 1.0 (1000)
    assert kept(find_token_threshold(keys, sizes, 100), keys) == [[0], []]
    assert kept(find_token_threshold(keys, sizes, 101), keys) == [[0], [0]]
    assert kept(find_token_threshold(keys, sizes, 106), keys) == [[0, 1], [0]]
    assert kept(find_token_threshold(keys, sizes, 108), keys) == [[0, 1, 2], [0, 1]]  # 1.0 (1000) crosses 108


def test_ties_go_by_document_hash_then_unit_and_row():
    keys = [np.array([1.0, 1.0]), np.array([1.0, 2.0])]
    sizes = [np.array([5, 6]), np.array([7, 3])]
    hashes = [np.array([30, 10], np.uint64), np.array([20, 99], np.uint64)]
    # 2.0 (3 tokens) first; then the tied 1.0s by hash: unit 0 row 1 (10), unit 1 row 0 (20), unit 0 row 0 (30)
    t = find_token_threshold(keys, sizes, 3 + 6, lambda u: hashes[u])
    assert t.value == 1.0 and kept(t, keys) == [[1], [1]]
    t = find_token_threshold(keys, sizes, 3 + 6 + 1, lambda u: hashes[u])
    assert kept(t, keys) == [[1], [0, 1]]
    t = find_token_threshold(keys, sizes, 3 + 6 + 7 + 1, lambda u: hashes[u])
    assert t.select_all is False and kept(t, keys) == [[0, 1], [0, 1]]


def test_ineligible_units_are_never_kept_nor_counted():
    keys = [np.array([3.0, -np.inf, 2.0, -np.inf])]
    sizes = [np.array([10, 1000, 10, 1000])]
    assert kept(find_token_threshold(keys, sizes, 15), keys) == [[0, 2]]
    assert find_token_threshold(keys, sizes, 20).select_all  # the eligible tokens are 20
    assert kept(find_token_threshold(keys, sizes, 20), keys) == [[0, 2]]


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        find_token_threshold([np.array([1.0])], [np.array([1])], 0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.integers(1, 50)), min_size=1, max_size=60),
       st.integers(1, 3000), st.randoms(use_true_random=False))
def test_the_selection_is_the_sorted_prefix_whatever_the_split(units, budget, rng):
    """Against the definition: sort by key (ties by hash), take the prefix that first reaches
    the budget; the same documents however they are split into units."""
    keys = np.array([k for k, _ in units])
    sizes = np.array([s for _, s in units], np.int64)
    hashes = np.array(rng.sample(range(1, 10**9), len(units)), np.uint64)  # distinct: ties resolve by hash
    order = sorted(range(len(units)), key=lambda i: (-keys[i], int(hashes[i])))
    total, want = 0, set()
    for i in order:
        if total >= budget:
            break
        want.add(i)
        total += int(sizes[i])
    cuts = sorted(rng.sample(range(1, len(units)), min(len(units) - 1, rng.randrange(0, 4)))) if len(units) > 1 \
        else []
    bounds = [0, *cuts, len(units)]
    parts = [(keys[a:b], sizes[a:b], hashes[a:b], a) for a, b in zip(bounds, bounds[1:])]
    t = find_token_threshold([p[0] for p in parts], [p[1] for p in parts], budget, lambda u: parts[u][2])
    got = {int(p[3] + r) for u, p in enumerate(parts) for r in np.flatnonzero(t.mask(u, p[0]))}
    assert got == want


def test_a_budget_of_tokens_equal_to_k_documents_of_one_token_is_k():
    rng = np.random.default_rng(0)
    keys = [rng.normal(size=50), rng.normal(size=30)]
    ones = [np.ones(50, np.int64), np.ones(30, np.int64)]
    for k in (1, 7, 79):
        assert kept(find_token_threshold(keys, ones, k), keys) == kept(find_threshold(keys, k), keys)


def test_several_targets_share_the_budget_and_never_a_unit_twice():
    rng = np.random.default_rng(1)
    keys = [rng.normal(size=(2, 40)), rng.normal(size=(2, 25))]
    sizes = [rng.integers(1, 30, size=40), rng.integers(1, 30, size=25)]
    a = allocate_targets(keys, lambda u: np.arange(len(sizes[u]), dtype=np.uint64), [300, 200], sizes,
                         by_tokens=True)
    for t, share in enumerate([300, 200]):
        got = sum(int(s[x == t].sum()) for s, x in zip(sizes, a.assigned))
        assert got == a.selected_tokens[t] and got >= share
        assert a.selected[t] == sum(int((x == t).sum()) for x in a.assigned)
    # without a token budget the sizes still count what each target got
    b = allocate_targets(keys, lambda u: np.arange(len(sizes[u]), dtype=np.uint64), [10, 5], sizes)
    assert b.selected == [10, 5]
    assert b.selected_tokens == [sum(int(s[x == t].sum()) for s, x in zip(sizes, b.assigned)) for t in (0, 1)]
    with pytest.raises(ValueError, match="sizes"):
        allocate_targets(keys, lambda u: None, [10], None, by_tokens=True)


def test_budget_takes_exactly_one_valid_amount():
    assert Budget(k=5).requested(100) == 5
    assert Budget(fraction=0.25).requested(10) == 3  # rounded half up: 2.5 -> 3
    assert Budget(fraction=0.001).requested(10) == 1  # at least one
    assert Budget(tokens=1000).requested(3) == 1000 and Budget(tokens=1000).in_tokens
    assert type(Budget(k=np.int64(3)).k) is int and type(Budget(tokens=np.uint32(9)).tokens) is int
    assert type(Budget(fraction=np.float32(0.5)).fraction) is float
    assert Budget(tokens=2000).describe() == "2,000 tokens"
    for kwargs, message in [({}, "exactly one"), ({"k": 1, "tokens": 2}, "got k and tokens"),
                            ({"k": 0}, "positive number of documents"), ({"tokens": -1}, "positive number of tokens"),
                            ({"k": 2.5}, "integer"), ({"tokens": True}, "integer"), ({"fraction": 0}, r"\(0, 1\]"),
                            ({"fraction": 1.5}, r"\(0, 1\]"), ({"fraction": "x"}, "number")]:
        with pytest.raises(UsageError, match=message):
            Budget(**kwargs)
