"""Bottom-k samples: the k smallest numbers with their ragged payloads, however split."""

from __future__ import annotations

import numpy as np
import pytest

from dsir.sample.bottom_k import BottomK


def ragged(payloads: list[list[int]], dtype) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in payloads])]).astype(np.int64)
    return np.array([v for p in payloads for v in p], dtype=dtype), offsets


def items(sample: BottomK) -> list[tuple[float, list[int]]]:
    return [(float(u), sample.values[a:b].tolist()) for u, a, b in zip(sample.u, sample.offsets, sample.offsets[1:])]


def test_prune_keeps_the_k_smallest_in_order_with_their_payloads():
    s = BottomK.empty(3, np.int32)
    values, offsets = ragged([[1, 2], [], [3], [4, 5, 6], [7]], np.int32)
    s.add(np.array([0.5, 0.1, 0.9, 0.3, 0.2]), values, offsets)
    assert items(s.prune()) == [(0.1, []), (0.2, [7]), (0.3, [4, 5, 6])]
    assert s.values.dtype == np.int32 and s.offsets.dtype == np.int64
    assert s.cutoff == 0.3 and s.wants(np.array([0.25, 0.3])).tolist() == [True, False]


@pytest.mark.parametrize("dtype", [np.int32, np.uint8])
def test_the_sample_of_a_split_is_the_sample_of_the_whole(dtype):
    rng = np.random.default_rng(3)
    n, k = 500, 40
    u = rng.random(n)
    payloads = [list(rng.integers(0, 200, rng.integers(0, 9))) for _ in range(n)]
    whole = BottomK.empty(k, dtype)
    whole.add(u, *ragged(payloads, dtype))
    whole.prune()
    expected = sorted(zip(u.tolist(), payloads))[:k]
    assert items(whole) == [(a, list(b)) for a, b in expected]
    merged = BottomK.empty(k, dtype)
    for lo, hi in [(0, 7), (7, 300), (300, 301), (301, 500)]:
        part = BottomK.empty(k, dtype)
        for a in range(lo, hi, 13):  # several batches per part: add prunes now and then
            b = min(a + 13, hi)
            part.add(u[a:b], *ragged(payloads[a:b], dtype))
        merged.merge(part.prune())
    assert items(merged) == items(whole)


def test_the_union_of_samples_is_their_merge_one_by_one_ties_included():
    rng = np.random.default_rng(5)
    samples, merged = [], BottomK.empty(25, np.int32)
    for part in range(6):
        u = rng.integers(0, 12, 20) / 12  # many ties, across and within samples
        payloads = [[part, i] * int(rng.integers(0, 3)) for i in range(20)]
        s = BottomK.empty(25, np.int32)
        s.add(u, *ragged(payloads, np.int64))
        samples.append(s.prune())
        merged.merge(BottomK(s.k, s.u.copy(), s.values.copy(), s.offsets.copy()))
    union = BottomK.union(25, samples, np.int32)
    assert items(union) == items(merged) and len(union) == 25
    assert union.values.dtype == np.int32
    assert len(BottomK.union(3, [], np.int32)) == 0
