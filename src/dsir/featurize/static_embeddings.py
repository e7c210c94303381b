"""``minilm-static``: word pieces of all-MiniLM-L6-v2 and their static vectors, without torch.

The features are the model's 30,522 word pieces (``wordpiece``): a bucket is a piece, so
every bucket-space stage (counts, score vectors, the score kernel, chunks) works unchanged.
What makes it a neural space is ``vectors``: a document's vector is the mean of its pieces'
vectors, distilled once from the transformer (``distill``, ``minilm-static-v1.npz``). A
linear function of that mean, ``w . mean + b``, is the mean over its pieces of
``vectors @ w + b``: a score vector over the buckets, which is how the discriminative
estimator's logistic regression in the embedding space reaches the score pass.

``n_tokens`` (``--tokens``, ``--min-length``, the report's lengths) counts words exactly as
``hashed-ngrams`` does, so budgets mean the same in every feature space; ``n_ngrams`` counts
pieces.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from numba import njit

from dsir.featurize import wordpiece
from dsir.featurize.hashed_ngrams import HashedNgramFeaturizer, arrow_buffers

#: Versioned name of the feature definition and of the file that holds it.
STATIC_NAME = "minilm-static-v1"
STATIC_FILE = Path(__file__).with_name(f"{STATIC_NAME}.npz")


@dataclass(frozen=True)
class StaticModel:
    """The arrays of a ``minilm-static`` file (see ``distill``)."""

    vectors: np.ndarray  # float32[pieces, dimensions]
    vocab_data: np.ndarray
    vocab_offsets: np.ndarray
    table: np.ndarray  # the vocabulary's hash table (wordpiece.build_vocab_table)
    normalization: tuple  # kind, mapped_cps, out_cps, out_class, out_offsets
    max_expansion: int  # the most code points one code point normalizes to
    vocab: tuple  # what wordpiece_batch reads of the vocabulary
    pieces: list  # the vocabulary's strings, by id
    recipe: dict
    sha256: str


@functools.lru_cache(maxsize=2)
def load_static(path: str = str(STATIC_FILE)) -> StaticModel:
    """Decode a ``minilm-static`` file (cached per process)."""
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with np.load(path, allow_pickle=False) as z:
        recipe = json.loads(z["recipe"].tobytes().decode("utf-8"))
        vocab_data, vocab_offsets = z["vocab_data"], z["vocab_offsets"].astype(np.int64)
        norm = tuple(z[k] for k in ("kind", "mapped_cps", "out_cps", "out_class", "out_offsets"))
        vectors = z["vectors"].astype(np.float32)
    slots = 1 << int(np.ceil(np.log2(2 * len(vocab_offsets))))
    table = wordpiece.build_vocab_table(vocab_data, vocab_offsets, slots)
    pieces = [vocab_data[vocab_offsets[i]:vocab_offsets[i + 1]].tobytes().decode("utf-8")
              for i in range(len(vocab_offsets) - 1)]
    unk = pieces.index(recipe["unk_token"])
    max_piece = max(len(p.encode("utf-8")) - (2 if p.startswith("##") and len(p) > 2 else 0) for p in pieces)
    vocab = (table, vocab_data, vocab_offsets, np.int64(unk), np.int64(recipe["max_input_chars_per_word"]),
             np.int64(max_piece))
    return StaticModel(vectors, vocab_data, vocab_offsets, table, norm, max(1, int(np.diff(norm[4]).max(initial=1))),
                       vocab, pieces, recipe, sha)


@dataclass(frozen=True)
class StaticEmbeddingFeaturizer:
    """The word pieces of all-MiniLM-L6-v2 as buckets, with their distilled vectors.

    Its feature space is fixed: pieces alone, and ``buckets`` is the vocabulary's size
    (``BUCKETS``; another value is refused). ``ngrams`` does not apply: the featurizer's is 1,
    and a run's ``--ngrams`` other than 1 or 2 (the default) is refused.
    """

    ngrams: int = 1
    buckets: int = 30_522

    FEATURES = "minilm-static"
    #: The vocabulary's size: ``Settings`` takes it for ``buckets`` when none is given.
    BUCKETS = 30_522

    def __post_init__(self) -> None:
        if self.ngrams not in (1, 2):  # 2: the run's default, which does not apply here
            raise ValueError(f"features minilm-static are word pieces alone: ngrams does not apply (got "
                             f"{self.ngrams})")
        object.__setattr__(self, "ngrams", 1)
        pieces = len(self.model.vocab_offsets) - 1
        if self.buckets != pieces:
            raise ValueError(f"features minilm-static are the model's {pieces:,} word pieces: buckets does not "
                             f"apply (got {self.buckets:,})")

    @property
    def model(self) -> StaticModel:
        return load_static()

    @property
    def vectors(self) -> np.ndarray:
        """float32[buckets, dimensions]: each piece's static vector."""
        return self.model.vectors

    @property
    def bucket_names(self) -> list[str]:
        """Each bucket's piece, as the vocabulary spells it (``##`` marks a continuation)."""
        return self.model.pieces

    @property
    def params(self) -> dict:
        m = self.model
        return {"name": STATIC_NAME, "ngrams": 1, "buckets": self.buckets, "dimensions": int(m.vectors.shape[1]),
                "file_sha256": m.sha256}

    def pieces_of_spans(self, data: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR piece ids of the byte spans ``data[begins[d]:ends[d]]``."""
        m = self.model
        n = len(begins)
        span = int((ends - begins).sum()) if n else 0
        out = np.empty(span * m.max_expansion + 1, np.int32)
        indptr = np.empty(n + 1, np.int64)
        max_chars = int(m.vocab[4])
        word = np.empty(4 * (max_chars + 1), np.uint8)
        starts = np.empty(max_chars + 2, np.int64)
        hashes = np.empty(max_chars + 2, np.uint64)
        wordpiece.wordpiece_batch(data, np.ascontiguousarray(begins, np.int64), np.ascontiguousarray(ends, np.int64),
                                  *m.normalization, m.vocab, indptr, out, word, starts, hashes)
        return indptr, out[: indptr[-1]].copy()

    def buckets_of(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """CSR piece ids: document ``d``'s pieces are ``ids[indptr[d]:indptr[d + 1]]``."""
        data, offsets = arrow_buffers(texts)
        return self.pieces_of_spans(data, offsets[:-1], offsets[1:])

    def count(self, texts: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add the batch's piece counts to ``counts``; return it and words per document."""
        if counts is None:
            counts = np.zeros(self.buckets, dtype=np.int64)
        _, ids = self.buckets_of(texts)
        counts += np.bincount(ids, minlength=self.buckets)
        return counts, _words(texts)

    def _sums(self, indptr: np.ndarray, ids: np.ndarray, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sums = np.empty(len(indptr) - 1)
        _segment_sums(indptr, ids, np.ascontiguousarray(vector, dtype=np.float64), sums)
        return sums, np.diff(indptr).astype(np.int64)

    def score(self, texts: pa.Array, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document: (sum of ``log_ratio`` over its pieces, words, pieces)."""
        indptr, ids = self.buckets_of(texts)
        sums, n = self._sums(indptr, ids, log_ratio)
        return sums, _words(texts), n

    def score_spans(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``score`` of the byte spans ``data[starts[j]:ends[j]]`` (chunks)."""
        indptr, ids = self.pieces_of_spans(data, starts, ends)
        sums, n = self._sums(indptr, ids, log_ratio)
        _, words, _ = _WORDS.score_spans(data, starts, ends, _ZERO)
        return sums, words, n


@njit(cache=True, nogil=True)
def _segment_sums(indptr, ids, vector, sums):
    """Each document's sum of ``vector`` over its pieces, in order, from its pieces alone: the
    same bits whatever the batch (numpy's ``reduceat`` rounds by where a segment lies)."""
    for d in range(len(indptr) - 1):
        s = 0.0
        for p in range(indptr[d], indptr[d + 1]):
            s += vector[ids[p]]
        sums[d] = s


_WORDS = HashedNgramFeaturizer(1, 1)
_ZERO = np.zeros(1)


def _words(texts: pa.Array) -> np.ndarray:
    """Words per text, as ``hashed-ngrams`` counts them."""
    return _WORDS.count(texts, np.zeros(1, np.int64))[1]
