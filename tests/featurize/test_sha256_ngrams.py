"""``sha256-ngrams-v1`` gives the reference package's buckets (``data-selection`` 1.0.3).

The reference itself is not importable here: ``ref_*`` below re-implement its semantics in
plain Python (``get_ngram_counts`` with its default ``wordpunct`` tokenizer, ``hash_buckets``
and ``get_perexample_metadata``), from its source, and the compiled featurizer must equal them
bucket for bucket, count for count, and score for score.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from dsir.featurize import (
    FEATURES, Featurizer, HashedNgramFeaturizer, Sha256NgramFeaturizer, featurizer_of_params, make_featurizer,
)
from dsir.featurize.chunking import chunk_documents, score_chunks
from dsir.featurize import kernels, sha256_ngrams
from dsir.featurize.kernels import MODE_EMIT
from dsir.featurize.unicode_tables import UNICODE_VERSION
from tests.featurize import reference as hashed_reference
from tests.featurize.test_kernel_equivalence import PIECES, random_text

# nltk's WordPunctTokenizer: RegexpTokenizer(r"\w+|[^\w\s]+") with UNICODE | MULTILINE | DOTALL
WORDPUNCT = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)


def ref_hash_buckets(text: str, num_buckets: int = 10000) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % num_buckets


def ref_ngram_counts(line: str, n: int = 2, num_buckets: int = 10000) -> np.ndarray:
    """The reference's ``get_ngram_counts``: unigrams, then for each order 2..n nltk's
    ``ngrams(words, i)`` (consecutive windows) joined by one space."""
    words = WORDPUNCT.findall(line.lower())
    counts = np.zeros(num_buckets, dtype=int)
    for w in words:
        counts[ref_hash_buckets(w, num_buckets)] += 1
    for i in range(2, n + 1):
        for ng in zip(*(words[j:] for j in range(i))):
            counts[ref_hash_buckets(" ".join(ng), num_buckets)] += 1
    return counts


def ref_length(counts: np.ndarray, n: int) -> float:
    """The reference's ``get_perexample_metadata``: the example length it filters on."""
    return (counts.sum() + n * (n - 1) / 2) // n


def emitted(line: str, n: int, num_buckets: int) -> list[int]:
    """The same buckets in dsir's emission order: after each token, the n-grams ending there,
    shortest first."""
    words = WORDPUNCT.findall(line.lower())
    return [ref_hash_buckets(" ".join(words[i - k + 1: i + 1]), num_buckets)
            for i in range(len(words)) for k in range(1, n + 1) if i - k + 1 >= 0]


def check(texts: list[str], n: int, num_buckets: int) -> None:
    """Bucket ids in order, token and n-gram counts; with a feature space small enough for
    per-bucket arrays, also counts and the score."""
    f = Sha256NgramFeaturizer(n, num_buckets)
    arr = pa.array(texts, pa.string())
    indptr, ids = f.buckets_of(arr)
    for d, text in enumerate(texts):
        assert ids[indptr[d]: indptr[d + 1]].tolist() == emitted(text, n, num_buckets), text
    if num_buckets > 100_000:
        return
    counts, n_tokens = f.count(arr)
    log_ratio = np.random.default_rng(num_buckets).normal(size=num_buckets)
    log_weight, s_tokens, n_ngrams = f.score(arr, log_ratio)
    total = np.zeros(num_buckets, dtype=np.int64)
    for d, text in enumerate(texts):
        want = ref_ngram_counts(text, n, num_buckets)
        total += want
        order = emitted(text, n, num_buckets)
        assert np.array_equal(np.bincount(order, minlength=num_buckets), want)
        tokens = len(WORDPUNCT.findall(text.lower()))
        assert n_tokens[d] == s_tokens[d] == tokens and n_ngrams[d] == want.sum()
        if tokens >= n - 1:  # the reference's length is the token count (see the README for shorter ones)
            assert ref_length(want, n) == tokens
        expected = 0.0
        for b in order:  # dsir adds in occurrence order
            expected += log_ratio[b]
        assert log_weight[d] == expected
        assert log_weight[d] == pytest.approx(float(np.dot(log_ratio, want)), rel=1e-12, abs=1e-12)
    assert np.array_equal(counts, total)


def test_known_buckets_are_the_reference_hash():
    assert ref_hash_buckets("alice") == 6720  # the reference's hash_buckets("alice"), default num_buckets
    f = Sha256NgramFeaturizer()
    indptr, ids = f.buckets_of(pa.array(["alice", "The cat sat.", ""]))
    assert ids[indptr[0]: indptr[1]].tolist() == [6720]
    grams = ["the", "cat", "the cat", "sat", "cat sat", ".", "sat ."]
    assert ids[indptr[1]: indptr[2]].tolist() == [
        int.from_bytes(hashlib.sha256(g.encode()).digest(), "big") % 10_000 for g in grams]
    assert indptr[2] == indptr[3]  # an empty document has no n-grams


def test_ngram_counts_of_a_short_line():
    line = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks."
    # nltk's own doctest of WordPunctTokenizer on this line (tokens before lowercasing)
    assert WORDPUNCT.findall(line) == ["Good", "muffins", "cost", "$", "3", ".", "88", "in", "New", "York", ".",
                                       "Please", "buy", "me", "two", "of", "them", ".", "Thanks", "."]
    counts, n_tokens = Sha256NgramFeaturizer(2, 10_000).count(pa.array([line]))
    assert np.array_equal(counts, ref_ngram_counts(line))
    assert n_tokens.tolist() == [20] and counts.sum() == 2 * 20 - 1
    for gram, times in (("good", 1), (".", 4), ("3 .", 1), (". 88", 1), ("them .", 1), ("muffins cost", 1)):
        assert counts[ref_hash_buckets(gram)] >= times


def test_params_registry_and_protocol():
    f = make_featurizer("sha256-ngrams", 3, 97)
    assert f == Sha256NgramFeaturizer(3, 97) and isinstance(f, Featurizer)
    assert f.params == {"name": "sha256-ngrams-v1", "ngrams": 3, "buckets": 97, "unicode_version": "14.0.0"}
    assert featurizer_of_params(f.params) == f
    assert featurizer_of_params({"name": "hashed-ngrams-v1", "ngrams": 2, "buckets": 5}) == HashedNgramFeaturizer(2, 5)
    assert set(FEATURES) == {"hashed-ngrams", "sha256-ngrams", "minilm-static"}
    with pytest.raises(ValueError, match="features must be one of hashed-ngrams, sha256-ngrams, minilm-static"):
        make_featurizer("sha1-ngrams", 2, 10)
    with pytest.raises(ValueError, match="buckets"):
        Sha256NgramFeaturizer(2, 2**31)


def test_the_modulo_is_exact_on_every_message_length():
    """Messages of 0 to 300 bytes (one, two and more compression blocks, the 55/56/64-byte
    padding edges) and bucket counts up to 2**31 - 1, against hashlib's 256-bit integer."""
    rng = np.random.default_rng(1)
    hs, w, tail = np.empty(8, np.uint32), np.empty(64, np.uint64), np.empty(128, np.uint8)
    for length in range(301):
        buf = rng.integers(0, 256, size=length + 7, dtype=np.uint8)
        digest = int.from_bytes(hashlib.sha256(buf[3: 3 + length].tobytes()).digest(), "big")
        for nb in (1, 2, 10_000, 2**31 - 1, int(rng.integers(1, 2**31))):
            nb_ = np.uint64(nb)
            m = np.uint64(0xFFFFFFFFFFFFFFFF // nb)  # kernels.reciprocal(nb)
            got = sha256_ngrams._long_bucket(buf, 3, 3 + length, sha256_ngrams.word_powers(nb_), nb_, m, hs, w, tail)
            assert got == digest % nb


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_equals_the_reference_on_special_texts(n):
    texts = ["", " ", "a", "A B", "x" * 5000, ("tok " * 3000) + "end", "a" * 7000 + " " + "b" * 9000,
             "İstanbul ΟΔΥΣΣΕΥΣ e\u0301 café_1 x²³ 🇫🇷 東京", "-- ... !? don't 3.14 _", "\x1c\x1d\x1e\x1f\x85\xa0"]
    check(texts, n, 10_000)
    check(texts, n, 2**31 - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80), max_size=8),
       st.integers(1, 4), st.sampled_from([1, 7, 10_000, 2**31 - 1]))
def test_equals_the_reference_on_ascii(texts, n, num_buckets):
    check(texts, n, num_buckets)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40), max_size=6),
       st.integers(1, 3))
def test_equals_the_reference_on_any_unicode(texts, n):
    check([t for t in texts if hashed_reference.comparable(t)], n, 10_000)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3))
def test_equals_the_reference_on_mixed_unicode(seed, n):
    rng = random.Random(seed)
    texts = [random_text(rng, rng.randrange(0, 60)) for _ in range(5)]
    texts.append("".join(rng.choice(PIECES) for _ in range(200)))
    check(texts, n, 10_000)


def emitted_by_kernel(texts: list[str], n: int, num_buckets: int) -> list[list[int]]:
    data = np.frombuffer("".join(texts).encode(), dtype=np.uint8)
    ends = np.cumsum([len(t.encode()) for t in texts], dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    out = np.empty(n * 3 * max(1, len(data)) + 1, dtype=np.int64)
    indptr, _, _, _ = sha256_ngrams._spans(data, starts, ends, n, num_buckets, MODE_EMIT, out=out)
    return [out[indptr[d]: indptr[d + 1]].tolist() for d in range(len(texts))]


def stress_texts() -> list[str]:
    """Texts for every path of an n-gram: memo hits and misses, four digests side by side, and
    n-grams hashed alone from the buffer. The memo gets thousands of distinct short n-grams
    (many share a slot and evict each other), repeated; the two-word keys n-grams of 14 to 19
    bytes around the longest kept (16), from tokens of every length; the queue long n-grams
    between short ones, and short 8-grams that nearly all miss the memo (a token then queues
    8 digests behind up to 3 already waiting)."""
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdeé_1") for _ in range(rng.randrange(1, 4))) for _ in range(3000)]
    texts = [" ".join(rng.choice(words) for _ in range(400)) for _ in range(10)]
    texts += ["x" * 15 + " " + "y" * m for m in range(14, 20)] + ["z" * m for m in range(30, 36)]
    texts += [" ".join(["q", "a" * 27, "b" * m, "c", "d" * (56 - m), "e"]) for m in range(25, 31)]
    texts += [" ".join("abcdefghijklmnopq"[:a] + "." * b for a in range(18) for b in range(3))]
    texts += ["w" * m + " ." for m in range(50, 60)] + ["", "a", "a b", "x" * 5000 + " y"]
    texts += [" ".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3000))]
    return texts


STRESS_ORDERS = ((1, 10_000), (2, 10_000), (3, 2**31 - 1), (5, 97), (8, 1000))


def test_every_path_of_an_ngram_equals_the_reference():
    texts = stress_texts()
    for n, nb in STRESS_ORDERS:
        got = emitted_by_kernel(texts, n, nb)
        for text, ids in zip(texts, got):
            assert ids == emitted(text, n, nb), (text[:40], n)


def test_the_lowercase_is_at_most_one_and_a_half_times_the_bytes():
    """The bound the kernel sizes its token buffer by: no code point lowercases to more than 1.5
    times its UTF-8 bytes (U+0130 and U+023A, 2 bytes, lowercase to 3); and texts made of the
    code points that grow most, one token each, featurize like the reference."""
    import unicodedata
    if unicodedata.unidata_version != UNICODE_VERSION:
        pytest.skip(f"this Python has Unicode {unicodedata.unidata_version}, the tables {UNICODE_VERSION}")
    ratios = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        ratios[cp] = len(c.lower().encode()) / len(c.encode())
    assert max(ratios.values()) == 1.5
    worst = [chr(cp) for cp, r in ratios.items() if r == 1.5]
    assert "\u0130" in worst and "\u023a" in worst
    check(["".join(worst) * 20, ".".join(worst) * 20, "İ" * 3000, "İ." * 3000, "Ⱥ!" * 3000], 2, 10_000)


def test_the_digests_are_hashlib_s():
    """Four messages of up to 16 bytes hashed side by side from their two-word keys (lanes
    0-3 and 4-7 of eight), and the portable compression other CPUs compile, against hashlib."""
    rng = np.random.default_rng(4)

    @njit
    def four(k0s, k1s, lengths, first):
        out = np.empty(32, dtype=np.uint32)
        sha256_ngrams._digest_keys4(k0s, k1s, lengths, first, out, np.empty(64, np.uint64), np.empty(128, np.uint8))
        return out

    for _ in range(200):
        lengths = rng.integers(0, 17, size=8).astype(np.int64)
        msgs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in lengths]
        words = np.array([int.from_bytes(m.ljust(16, b"\0"), "little") for m in msgs], dtype=object)
        k0s = np.array([w & (2**64 - 1) for w in words], dtype=np.uint64)
        k1s = np.array([w >> 64 for w in words], dtype=np.uint64)
        for first in (0, 4):
            out = four(k0s, k1s, lengths, np.int64(first))
            for j in range(4):
                assert out[8 * j: 8 * j + 8].astype(">u4").tobytes() == hashlib.sha256(msgs[first + j]).digest()

    portable = njit(sha256_ngrams.compress_portable)
    for length in (0, 1, 55, 56, 63, 64, 65, 119, 120, 200):
        msg = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
        padded = msg + b"\x80" + b"\x00" * ((55 - length) % 64) + (8 * length).to_bytes(8, "big")
        hs = sha256_ngrams._IV.copy()
        block = np.frombuffer(padded, dtype=np.uint8)
        for off in range(0, len(padded), 64):
            portable(block, off, hs, np.empty(64, np.uint64))
        assert hs.astype(">u4").tobytes() == hashlib.sha256(msg).digest()


def test_the_digest_modulo_is_exact():
    """Every digest word at its extremes and random, bucket counts from 1 to 2**31 - 1."""

    @njit
    def mod(words, nb):
        return sha256_ngrams.digest_mod(words, 0, sha256_ngrams.word_powers(nb), nb, kernels.reciprocal(nb))

    rng = np.random.default_rng(8)
    cases = [np.full(8, 0xFFFFFFFF, np.uint32), np.zeros(8, np.uint32), np.eye(1, 8, 7, dtype=np.uint32)[0]]
    cases += [rng.integers(0, 2**32, size=8, dtype=np.uint64).astype(np.uint32) for _ in range(200)]
    for words in cases:
        value = int.from_bytes(words.astype(">u4").tobytes(), "big")
        for nb in (1, 2, 3, 10_000, 65_537, 2**31 - 1, int(rng.integers(1, 2**31))):
            assert mod(words, np.uint64(nb)) == value % nb


def test_the_portable_kernel_compiles_bounds_checked_and_equals_the_reference(tmp_path):
    """A CPU without the SHA extensions (numba told the host's features less ``sha``, an empty
    kernel cache) compiles the portable compression, with the same buckets on the stress
    texts; compiled with numba's bounds checks, so that no index of the kernel's scratch
    (lanes, queue, buffer) goes past its end."""
    from numba.core.registry import cpu_target
    features = cpu_target.target_context.codegen().magic_tuple()[2].replace("+sha,", "-sha,")
    script = ("import json\n"
              "from dsir.featurize import sha256_ngrams as s\n"
              "from tests.featurize.test_sha256_ngrams import STRESS_ORDERS, emitted_by_kernel, stress_texts\n"
              "from numba.core.registry import cpu_target\n"
              "assert not s.target_has_sha(cpu_target.target_context)\n"
              "print(json.dumps([emitted_by_kernel(stress_texts(), n, nb) for n, nb in STRESS_ORDERS]))\n")
    env = dict(os.environ, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path), DSIR_NO_WARMUP="1",
               NUMBA_BOUNDSCHECK="1")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert run.returncode == 0, run.stderr[-3000:]
    texts = stress_texts()
    for (n, nb), got in zip(STRESS_ORDERS, json.loads(run.stdout)):
        assert got == [emitted(t, n, nb) for t in texts], n


def test_same_tokens_as_the_hashed_featurizer():
    """Only the hash differs: token and n-gram counts are those of hashed-ngrams-v1."""
    rng = random.Random(5)
    arr = pa.array([random_text(rng, 80) for _ in range(50)])
    for n in (1, 2, 3):
        a = Sha256NgramFeaturizer(n, 101).score(arr, np.zeros(101))
        b = HashedNgramFeaturizer(n, 101).score(arr, np.zeros(101))
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def test_chunks_are_scored_in_place_as_their_texts():
    rng = random.Random(9)
    texts = [" ".join(random_text(rng, 5) for _ in range(rng.randrange(1, 200))) for _ in range(20)]
    arr = pa.array(texts)
    f = Sha256NgramFeaturizer(2, 997)
    log_ratio = np.random.default_rng(0).normal(size=997)
    chunks = chunk_documents(arr, 16)
    got = score_chunks(f, chunks, log_ratio)
    spans = [texts[d].encode()[s:e].decode() for d, s, e in zip(chunks.doc, chunks.relative_starts,
                                                                  chunks.relative_ends)]
    want = f.score(pa.array(spans), log_ratio)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def test_a_sliced_and_chunked_arrow_array_reads_its_own_rows():
    arr = pa.chunked_array([pa.array(["skip me", "The cat sat."]), pa.array(["alice"])])
    counts, n_tokens = Sha256NgramFeaturizer().count(arr.combine_chunks().slice(1))
    assert n_tokens.tolist() == [4, 1]
    assert np.array_equal(counts, ref_ngram_counts("The cat sat.") + ref_ngram_counts("alice"))
