"""Property tests of the sampler: exactly min(k, eligible) distinct documents for any
weights, split into any units; NaN (and +inf) weights are refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsir.sample.gumbel import find_threshold, selection_keys

weights = hnp.arrays(np.float64, st.integers(0, 40),
                     elements=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -np.inf, 1e300, -1e300, 2.5])))


@settings(max_examples=300, deadline=None)
@given(units=st.lists(weights, min_size=1, max_size=5), k=st.integers(1, 120), seed=st.integers(0, 2**64 - 1),
       top_k=st.booleans(), data=st.data())
def test_exactly_min_k_eligible_distinct_documents(units, k, seed, top_k, data):
    keys, hashes, eligible = [], [], 0
    for w in units:
        # Few distinct hashes, so equal keys (ties) are common.
        h = np.asarray(data.draw(st.lists(st.integers(0, 5), min_size=len(w), max_size=len(w))), np.uint64)
        ok = np.asarray(data.draw(st.lists(st.booleans(), min_size=len(w), max_size=len(w))), bool)
        kk = selection_keys(w, h, ok, seed, top_k)
        eligible += int((ok & (w > -np.inf)).sum())  # weight 0 (log -inf) can never be drawn
        keys.append(kk)
        hashes.append(h)
    t = find_threshold(keys, k, lambda u: hashes[u])
    masks = [t.mask(u, kk) for u, kk in enumerate(keys)]
    chosen = [(u, r) for u, m in enumerate(masks) for r in np.flatnonzero(m).tolist()]
    assert len(chosen) == len(set(chosen)) == min(k, eligible)
    for u, m in enumerate(masks):
        assert not (m & ~np.isfinite(keys[u])).any()  # never an ineligible document
    # Deterministic: the same inputs give the same selection.
    again = find_threshold([kk.copy() for kk in keys], k, lambda u: hashes[u])
    assert all((again.mask(u, kk) == masks[u]).all() for u, kk in enumerate(keys))


def test_top_k_keeps_the_largest_weights():
    w = np.array([0.5, 3.0, -1.0, 3.0, 2.0])
    keys = selection_keys(w, np.arange(5, dtype=np.uint64), np.ones(5, bool), 0, top_k=True)
    assert np.flatnonzero(find_threshold([keys], 3).mask(0, keys)).tolist() == [1, 3, 4]


@given(w=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-5, 5)), where=st.data())
@settings(max_examples=50, deadline=None)
def test_nan_is_refused_and_located(w, where):
    i = where.draw(st.integers(0, len(w) - 1))
    w = w.copy()
    w[i] = np.nan
    with pytest.raises(ValueError, match=rf"log-weights contain NaN \(first at document {i}\)"):
        selection_keys(w, np.zeros(len(w), np.uint64), np.ones(len(w), bool), 0)


def test_positive_infinity_is_refused():
    with pytest.raises(ValueError, match=r"log-weights contain \+inf \(first at document 1\)"):
        selection_keys(np.array([0.0, np.inf]), np.zeros(2, np.uint64), np.ones(2, bool), 0)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be positive, got 0"):
        find_threshold([np.zeros(3)], 0)
