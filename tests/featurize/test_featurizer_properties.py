"""Property tests: the compiled featurizer never crashes and agrees with the pure-Python
reference (tests/featurize/reference.py) on any Unicode string."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dsir.featurize import HashedNgramFeaturizer, content_hashes
from tests.featurize import reference

# Any code point but lone surrogates (not encodable in UTF-8, so never in an Arrow string),
# with extra weight on the characters where tokenizers and lowercasing usually go wrong.
TRICKY = "İıΣσςẞßǅﬁ\u0130\u0345\u1e9e \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000_-'’.,!?0९٣字字\u200b\u0301e\u0301😀👩‍👩‍👧"
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(TRICKY), max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
)
if not reference.IS_REFERENCE_PYTHON:  # leave out what this Python's Unicode version treats otherwise
    texts = texts.filter(reference.comparable)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=6), ngrams=st.integers(1, 4),
       buckets=st.sampled_from([1, 2, 97, 10_000, 2**31 - 1]))
@example(batch=["ΣΑΣ σας ΌΣ", "İstanbul ﬁne", ""], ngrams=3, buckets=10_000)
def test_buckets_match_the_reference(batch, ngrams, buckets):
    f = HashedNgramFeaturizer(ngrams, buckets)
    indptr, ids = f.buckets_of(pa.array(batch, pa.string()))
    for d, text in enumerate(batch):
        assert ids[indptr[d]:indptr[d + 1]].tolist() == reference.bucket_ids(text, ngrams, buckets), text


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=6), ngrams=st.integers(1, 3))
def test_counts_tokens_and_scores_match_the_reference(batch, ngrams):
    buckets = 257
    f = HashedNgramFeaturizer(ngrams, buckets)
    arr = pa.array(batch, pa.string())
    counts, n_tokens = f.count(arr)
    expected = sum((reference.bucket_counts(t, ngrams, buckets) for t in batch), np.zeros(buckets, np.int64))
    assert counts.tolist() == expected.tolist()
    assert n_tokens.tolist() == [len(reference.tokens(t)) for t in batch]
    log_ratio = np.linspace(-3.0, 2.0, buckets)
    log_weight, tok, n_ngrams = f.score(arr, log_ratio)
    for d, text in enumerate(batch):
        ids = reference.bucket_ids(text, ngrams, buckets)
        assert n_ngrams[d] == len(ids) and tok[d] == len(reference.tokens(text))
        assert np.isclose(log_weight[d], sum(log_ratio[i] for i in ids), rtol=1e-12, atol=1e-9)


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=6), start=st.integers(0, 3))
def test_slices_and_large_strings_give_the_same_buckets(batch, start):
    """Arrow arrays that are slices (non-zero offset) or large_string read the same."""
    f = HashedNgramFeaturizer(2, 1000)
    padded = ["pad"] * start + batch
    whole = f.buckets_of(pa.array(batch, pa.string()))
    sliced = f.buckets_of(pa.array(padded, pa.string()).slice(start))
    large = f.buckets_of(pa.array(batch, pa.large_string()))
    for other in (sliced, large):
        assert other[0].tolist() == whole[0].tolist() and other[1].tolist() == whole[1].tolist()


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_content_hashes_match_the_reference(batch):
    got = content_hashes(pa.array(batch, pa.string())).tolist()
    assert got == [reference.fmix64(reference.fnv1a64(t.encode("utf-8"))) for t in batch]


def test_the_hashed_ngram_featurizer_is_a_featurizer():
    from dsir.featurize import Featurizer

    assert isinstance(HashedNgramFeaturizer(2, 64), Featurizer)
