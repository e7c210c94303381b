"""MinHash signatures and exact hashes against pure-Python references, their invariance (batches,
spans, case and punctuation) and the accuracy of the Jaccard estimate."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from dsir.dedup.minhash import CHANCE, estimated_jaccard, permutation_parameters, signatures, span_signatures
from dsir.filters.quality_rules import text_buffers
from dsir.filters.words import ngram_hashes, word_hashes, words_of
from tests.featurize.reference import MASK64, fmix64

M = 0x9E3779B97F4A7C15
P, SHINGLE, SEED = 128, 5, 0x5EED


def ref_word_hashes(text: str | None) -> list[int]:
    h, _ = word_hashes(words_of(pa.array([text], pa.string())))
    return [int(x) for x in h]


def ref_shingles(text: str | None, n: int) -> list[int]:
    """Every run of ``n`` words hashed by ``ngram_hashes``; one over all words when fewer."""
    hs = np.array(ref_word_hashes(text), dtype=np.uint64)
    if not len(hs):
        return []
    k = min(n, len(hs))
    return [int(x) for x in ngram_hashes(hs, np.array([0, len(hs)]), k)[0]]


def ref_exact(text: str | None) -> int:
    h = 0
    words = ref_word_hashes(text)
    for w in words + [len(words)]:
        h = (h * M + w) & MASK64
    return fmix64(h)


def splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def ref_parameters(permutations: int, seed: int) -> list[tuple[int, int]]:
    state, out = seed & MASK64, []
    for _ in range(permutations):
        state, s = splitmix64(state)
        state, a = splitmix64(state)
        out.append((s & 0xFFFFFFFF, (a & 0xFFFFFFFF) | 1))
    return out


def ref_signature(text: str | None, n: int, permutations: int, seed: int) -> list[int]:
    xs = [(h ^ (h >> 32)) & 0xFFFFFFFF for h in ref_shingles(text, n)]
    return [min((((x ^ s) * a) & 0xFFFFFFFF for x in xs), default=0xFFFFFFFF) & 0xFFFF
            for s, a in ref_parameters(permutations, seed)]


TEXTS = ["The quick brown fox jumps over the lazy dog.", "the QUICK brown-fox jumps, over the lazy dog!!",
         "Όλα καλά, ΣΟΦΟΣ σοφός; İstanbul 東京タワー", "one", "two words", "a b c d", "a b c d e",
         "a b c d e f", "", None, "  ...  —  ", "x" * 700 + " y", "words " * 400]


def test_parameters_are_splitmix64_of_the_seed():
    s, a = permutation_parameters(P, SEED)
    assert list(zip(s.tolist(), a.tolist())) == ref_parameters(P, SEED)
    assert splitmix64(0)[1] == 0xE220A8397B1DCDAF  # Vigna's splitmix64, first output from 0
    assert s.dtype == a.dtype == np.uint32 and np.all(a & 1)
    s2, _ = permutation_parameters(P, SEED + 1)
    assert not np.array_equal(s, s2)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_exact_hash_matches_the_reference(n):
    _, exact = signatures(pa.array(TEXTS), n, 16, SEED)
    assert exact.dtype == np.uint64
    assert exact.tolist() == [ref_exact(t) for t in TEXTS]


@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_signatures_match_the_reference(n):
    sig, _ = signatures(pa.array(TEXTS), n, 24, SEED)
    assert sig.dtype == np.uint16 and sig.shape == (len(TEXTS), 24)
    for i, t in enumerate(TEXTS):
        assert sig[i].tolist() == ref_signature(t, n, 24, SEED), t


def test_signatures_of_random_unicode_match_the_reference():
    rng = random.Random(11)
    vocab = ["alpha", "Beta", "γάμμα", "δέλτα", "東京", "e5", "über", "x", "🙂ok", "ǅz"]
    texts = [rng.choice([" ", ", ", "\n", "—"]).join(rng.choice(vocab) for _ in range(rng.randint(0, 400)))
             for _ in range(40)]
    sig, exact = signatures(pa.array(texts, pa.large_string()), SHINGLE, 32, 7)
    for i, t in enumerate(texts):
        assert sig[i].tolist() == ref_signature(t, SHINGLE, 32, 7)
        assert int(exact[i]) == ref_exact(t)


def test_wordless_texts_have_one_signature():
    sig, exact = signatures(pa.array(["", None, "...", " \n\t", "— ¡! ¿?"]), SHINGLE, P, SEED)
    assert np.all(sig == 0xFFFF) and np.all(exact == 0)


def test_fewer_words_than_a_shingle_make_one_shingle():
    sig, _ = signatures(pa.array(["a b c", "a b c d e", "A, B; C!"]), SHINGLE, P, SEED)
    assert sig[0].tolist() == sig[2].tolist() != sig[1].tolist()
    assert not np.all(sig[0] == 0xFFFF)


def test_case_punctuation_and_spacing_do_not_count():
    texts = ["Hello, World! It's a fine day.", "hello world it s a fine day", "HELLO   WORLD\nIT'S A FINE DAY",
             "hello world it s a fine day too", "world hello it s a fine day"]
    sig, exact = signatures(pa.array(texts), SHINGLE, P, SEED)
    assert exact[0] == exact[1] == exact[2]
    assert len(set(exact.tolist())) == 3
    assert np.array_equal(sig[0], sig[1]) and np.array_equal(sig[0], sig[2])


def test_the_same_text_signs_alike_in_any_batch_and_in_a_chunk():
    rng = random.Random(2)
    vocab = [f"w{i}" for i in range(300)] + ["Ünï", "δ", "東"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 900))) for _ in range(30)]
    sig, exact = signatures(pa.array(texts), SHINGLE, P, SEED)
    again, again_exact = signatures(pa.array(texts[10:20][::-1] + ["noise"]), SHINGLE, P, SEED)
    np.testing.assert_array_equal(again[:10], sig[10:20][::-1])
    np.testing.assert_array_equal(again_exact[:10], exact[10:20][::-1])
    # inside one buffer of several documents, as a chunk span
    data, starts, ends = text_buffers(pa.array(["".join(texts)]))
    cuts = np.cumsum([0] + [len(t.encode()) for t in texts])
    chunk_sig, chunk_exact = span_signatures(data, cuts[:-1], cuts[1:], SHINGLE, P, SEED)
    np.testing.assert_array_equal(chunk_sig, sig)
    np.testing.assert_array_equal(chunk_exact, exact)


def test_span_signatures_equal_signatures_of_the_sliced_texts():
    rng = random.Random(4)
    text = " ".join(rng.choice(["Ab", "cd", "é", "東京", "x1", "...", "Σ"]) for _ in range(3000))
    raw = text.encode()
    boundaries = [i for i in range(len(raw) + 1) if i == len(raw) or (raw[i] & 0xC0) != 0x80]
    pairs = sorted(tuple(sorted(rng.sample(boundaries, 2))) for _ in range(60)) + [(0, 0), (0, len(raw))]
    starts = np.array([p[0] for p in pairs], dtype=np.int64)
    ends = np.array([p[1] for p in pairs], dtype=np.int64)
    data = np.frombuffer(raw, dtype=np.uint8)
    sig, exact = span_signatures(data, starts, ends, SHINGLE, P, SEED)
    want_sig, want_exact = signatures(pa.array([raw[a:b].decode() for a, b in pairs]), SHINGLE, P, SEED)
    np.testing.assert_array_equal(sig, want_sig)
    np.testing.assert_array_equal(exact, want_exact)


def test_empty_batch_and_bad_arguments():
    sig, exact = signatures(pa.array([], pa.string()), SHINGLE, P, SEED)
    assert sig.shape == (0, P) and exact.shape == (0,)
    with pytest.raises(ValueError):
        signatures(pa.array(["a"]), 0, P, SEED)
    with pytest.raises(ValueError):
        signatures(pa.array(["a"]), SHINGLE, 0, SEED)
    data = np.frombuffer(b"some words", dtype=np.uint8)
    for starts, ends in (([0], [11]), ([-1], [3]), ([5], [4]), ([0, 1], [2])):
        with pytest.raises(ValueError):
            span_signatures(data, np.array(starts), np.array(ends), SHINGLE, P, SEED)


def test_estimated_jaccard_corrects_for_chance_and_clips():
    a = np.arange(100, dtype=np.uint16)
    assert estimated_jaccard(a, a) == 1.0
    b = a.copy()
    b[:50] += 1000
    assert estimated_jaccard(a, b) == pytest.approx((0.5 - CHANCE) / (1 - CHANCE))
    assert estimated_jaccard(a, a + 1000) == 0.0
    with pytest.raises(ValueError):
        estimated_jaccard(a, a[:10])


def shifted_pair(rng: random.Random, target: float, length: int, n: int) -> tuple[str, str, float]:
    """Two texts of ``length`` random words, the second shifted so that their shingle sets have
    Jaccard similarity near ``target``; and that similarity, computed exactly with Python sets."""
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
             for _ in range(2 * length)]
    count = length - n + 1
    shift = round(count * (1 - target) / (1 + target))
    a, b = words[:length], words[shift: shift + length]
    sa = {tuple(a[i: i + n]) for i in range(count)}
    sb = {tuple(b[i: i + n]) for i in range(count)}
    return " ".join(a), " ".join(b).upper(), len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("target", [0.2, 0.5, 0.8, 0.95])
def test_estimated_jaccard_is_within_4_standard_errors(target):
    rng = random.Random(int(target * 100))
    for _ in range(5):
        a, b, j = shifted_pair(rng, target, 400, SHINGLE)
        sig, _ = signatures(pa.array([a, b]), SHINGLE, P, SEED)
        assert abs(estimated_jaccard(sig[0], sig[1]) - j) <= 4 * np.sqrt(j * (1 - j) / P)
