"""The report's samples of the pool and of the selection, taken while the write pass reads
each raw file anyway (or by ``dsir report`` when it needs other samples than the run took).

Per file: n-gram bucket counts of a uniform sample of the pool's units and of each target's
selected units, Misra-Gries names of the n-grams in some buckets on a small sample, the
text of the example units, and the word ids of the units that make the equal amounts of
text (``reports.text_sample``). Every sample is decided by the unit's hash, so it does not depend
on how the pool is split into files or workers.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dsir.featurize import Featurizer
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.ngram_names import BucketNames
from dsir.metrics.text import take_rows, word_ids
from dsir.sample.gumbel import seed_key, uniform_from_hashes

# Independent random streams (the pipeline uses 0 for noise and 1 for the raw sample).
POOL_SAMPLE_STREAM = 101
SELECTED_SAMPLE_STREAM = 102
NAMES_SAMPLE_STREAM = 103
TARGET_SAMPLE_STREAM = 104
TEXT_SAMPLE_STREAM = 105


def sample_mask(hashes: np.ndarray, rate: float, seed: int, stream: int) -> np.ndarray:
    """Keep each unit with probability ``rate``, decided by its hash (reproducible, split-independent)."""
    if rate >= 1.0:
        return np.ones(len(hashes), dtype=bool)
    return uniform_from_hashes(hashes, seed_key(seed, stream)) < rate


def truncate(text: str, chars: int) -> str:
    """At most ``chars`` characters of ``text``, cut at a space when one is near, with an ellipsis."""
    if len(text) <= chars:
        return text
    cut = text.rfind(" ", int(chars * 0.8), chars)
    return text[: cut if cut > 0 else chars].rstrip() + " …"


def span_texts(texts: pa.Array, doc: np.ndarray, start: np.ndarray, end: np.ndarray) -> pa.Array:
    """The byte spans ``texts[doc[i]][start[i]:end[i]]`` as a string array (chunks: spans
    begin and end at word boundaries, so they are whole UTF-8 characters)."""
    data, offsets = arrow_buffers(texts)
    begin = offsets[doc].astype(np.int64) + start
    lengths = (end - start).astype(np.int64)
    out_offsets = np.zeros(len(doc) + 1, dtype=np.int32)
    np.cumsum(lengths, out=out_offsets[1:])
    positions = np.arange(int(out_offsets[-1]), dtype=np.int64) - np.repeat(out_offsets[:-1], lengths) \
        + np.repeat(begin, lengths)
    return pa.StringArray.from_buffers(len(doc), pa.py_buffer(out_offsets), pa.py_buffer(data[positions].tobytes()))


@dataclass(frozen=True)
class SampleSpec:
    """What the report samples from one raw file (rates are per unit: document or chunk)."""

    seed: int
    pool_rate: float
    selected_rates: tuple[float, ...]  # per target
    names_rate: float
    name_buckets: np.ndarray
    example_units: tuple[int, ...] = ()
    example_chars: int = 600
    text_units: tuple[int, ...] = ()  # units whose first text_words[i] word ids are kept
    text_words: tuple[int, ...] = ()


class FileSample:
    """The samples of one file, accumulated a block of units at a time."""

    def __init__(self, spec: SampleSpec, featurizer: Featurizer, hashes: np.ndarray,
                 assigned: np.ndarray):
        self.spec, self.featurizer = spec, featurizer
        targets = len(spec.selected_rates)
        self.in_pool = sample_mask(hashes, spec.pool_rate, spec.seed, POOL_SAMPLE_STREAM)
        self.in_selected = np.zeros(len(hashes), dtype=bool)
        for t, rate in enumerate(spec.selected_rates):
            self.in_selected |= (assigned == t) & sample_mask(hashes, rate, spec.seed, SELECTED_SAMPLE_STREAM)
        self.in_names = sample_mask(hashes, spec.names_rate, spec.seed, NAMES_SAMPLE_STREAM)
        self.is_example = np.zeros(len(hashes), dtype=bool)
        self.is_example[list(spec.example_units)] = True
        self.text_words = np.zeros(len(hashes), dtype=np.int64)
        self.text_words[list(spec.text_units)] = spec.text_words
        self.needed = self.in_pool | self.in_selected | self.in_names | self.is_example | (self.text_words > 0)
        self.assigned = assigned
        self.pool_counts = np.zeros(featurizer.buckets, np.int64)
        self.selected_counts = np.zeros((targets, featurizer.buckets), np.int64)
        self.pool_units = 0
        self.selected_units = [0] * targets
        self.names = BucketNames(spec.name_buckets, featurizer)
        self.examples: list[list] = []
        self.texts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (units, words kept, word ids)

    def add(self, units: np.ndarray, texts: pa.Array) -> None:
        """Add the needed ``units`` (indices into this file's units) with their ``texts``."""
        f = self.featurizer
        pool = self.in_pool[units]
        if pool.any():
            f.count(texts.filter(pa.array(pool)), self.pool_counts)
            self.pool_units += int(pool.sum())
        chosen = self.in_selected[units]
        for t in range(len(self.selected_units)):
            m = chosen & (self.assigned[units] == t)
            if m.any():
                f.count(texts.filter(pa.array(m)), self.selected_counts[t])
                self.selected_units[t] += int(m.sum())
        named = self.in_names[units]
        if named.any():
            self.names.update(texts.filter(pa.array(named)))
        for i in np.flatnonzero(self.is_example[units]):
            self.examples.append([int(units[i]), truncate(texts[int(i)].as_py(), self.spec.example_chars)])
        at = np.flatnonzero(self.text_words[units])
        if len(at):
            indptr, ids = take_rows(word_ids(texts.take(pa.array(at))), np.arange(len(at)),
                                    self.text_words[units[at]])
            self.texts.append((units[at], np.diff(indptr), ids))

    def summary(self) -> dict:
        """The JSON part of the samples (the counts are returned as arrays apart)."""
        parts = list(zip(*self.texts)) or [[np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int32)]]
        units, lengths, ids = (np.concatenate(p) for p in parts)
        return {"pool_units": self.pool_units, "selected_units": self.selected_units,
                "names": {"counters": self.names.to_dict(), "documents": self.names.documents_,
                          "skipped": self.names.skipped_},
                "examples": self.examples, "checked_units": int(self.needed.sum()),
                # word ids as base64 of uint32: the summary travels as JSON (unit records, the engines)
                "text": {"units": units.tolist(), "lengths": lengths.tolist(),
                         "ids": base64.b64encode(ids.astype("<u4").tobytes()).decode("ascii")}}


def text_of(summary: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(units, words kept of each, word ids)`` of the text a ``FileSample.summary`` kept
    (empty for a summary without one)."""
    text = summary.get("text") or {"units": [], "lengths": [], "ids": ""}
    ids = np.frombuffer(base64.b64decode(text["ids"]), dtype="<u4").astype(np.int32)
    return np.asarray(text["units"], dtype=np.int64), np.asarray(text["lengths"], dtype=np.int64), ids


def names_from(summary: dict, buckets: np.ndarray, featurizer: Featurizer) -> BucketNames:
    """The ``BucketNames`` a ``FileSample.summary`` stored."""
    names = BucketNames(buckets, featurizer)
    for b, pairs in summary["counters"].items():
        names.counters_[int(b)] = {s: int(c) for s, c in pairs}
    names.documents_, names.skipped_ = summary["documents"], summary["skipped"]
    return names
