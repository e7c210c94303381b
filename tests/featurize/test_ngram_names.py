from collections import Counter

import numpy as np
import pyarrow as pa

from dsir.featurize import HashedNgramFeaturizer
from dsir.featurize.ngram_names import BucketNames
from tests.featurize import reference

TEXTS = ["The cat sat on the mat. The cat!", "ΣΑΣ Straße, naïve café -- the end", "", "   ", "İstanbul ǅemal ﬁne"]


def test_names_are_exact_counts_of_the_reference_ngrams_per_bucket():
    f = HashedNgramFeaturizer(ngrams=3, buckets=997)
    names = BucketNames(np.arange(997), f, capacity=1000).update(pa.array(TEXTS))
    expected: dict[int, Counter] = {}
    for text in TEXTS:
        for gram in reference.ngram_strings(text, 3):
            expected.setdefault(reference.bucket(gram, 997), Counter())[gram] += 1
    got = {b: c for b, c in names.counters_.items() if c}
    assert got == {b: dict(c) for b, c in expected.items()}
    assert names.documents_ == len(TEXTS) and names.skipped_ == 0


def test_only_the_asked_buckets_are_kept():
    f = HashedNgramFeaturizer(ngrams=2, buckets=50)
    the = reference.bucket("the", 50)
    names = BucketNames([the], f).update(pa.array(TEXTS))
    assert set(names.counters_) == {the}
    assert names.top(the, 1)[0][0] in {g for t in TEXTS for g in reference.ngram_strings(t, 2)
                                       if reference.bucket(g, 50) == the}
    assert ("the", 4) in names.top(the, 8)


def test_misra_gries_keeps_the_frequent_string_in_bounded_memory():
    # one bucket: every n-gram collides; stream a a a b c a with capacity 2 -> b is cancelled by c
    f = HashedNgramFeaturizer(ngrams=1, buckets=1)
    names = BucketNames([0], f, capacity=2).update(pa.array(["a a a b c a"]))
    assert names.top(0, 5) == [("a", 3)]
    big = BucketNames([0], f, capacity=3).update(pa.array(["a a a b c a"]))
    assert big.top(0, 5) == [("a", 4), ("b", 1), ("c", 1)]
    many = BucketNames([0], f, capacity=4).update(pa.array([" ".join(f"w{i}" for i in range(1000)) + " x" * 600]))
    assert len(many.counters_[0]) <= 4 and many.top(0, 1)[0][0] == "x"


def test_merge_adds_counts_and_keeps_capacity():
    f = HashedNgramFeaturizer(ngrams=1, buckets=1)
    a = BucketNames([0], f, capacity=2).update(pa.array(["x x y"]))
    b = BucketNames([0], f, capacity=2).update(pa.array(["y y z"]))
    a.merge(b)
    assert a.top(0, 5) == [("y", 3), ("x", 2)]
    assert a.documents_ == 2
    assert a.to_dict() == {"0": [["y", 3], ["x", 2]]}
