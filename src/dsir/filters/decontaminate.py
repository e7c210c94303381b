"""Decontamination: a pool document that shares an n-gram of ``words`` words with any text of
the given files (benchmarks, held-out sets) is not eligible for selection.

``NgramSet.from_files`` reads the files once (any input format dsir reads) and keeps the
sorted, distinct 64-bit hashes of their n-grams (``filters.words``): 8 bytes per distinct
n-gram, so a 100 MB benchmark set of about 17 million words takes about 140 MB, and a pool
n-gram falsely matches with a probability of about ``len(hashes) / 2**64`` (10^-12 for that
set). For each hash it also keeps which files hold it, so the manifest counts the documents
removed per file. Texts of fewer than ``words`` words hold no n-gram and cannot match; they
are counted (``short_documents``), never silently passed over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dsir.errors import InputError
from dsir.filters.words import ngram_hashes, word_hashes_of, words_of
from dsir.io.paths import InputFile
from dsir.io.readers import DEFAULT_BLOCK_BYTES, iter_text_batches

log = logging.getLogger("dsir")

#: GPT-3's (Brown et al. 2020, appendix C) and datatrove's n-gram length for benchmark overlap.
DEFAULT_WORDS = 13


@dataclass(frozen=True)
class NgramSet:
    """The n-grams of ``words`` words of some files: ``hashes`` sorted and distinct, the files
    holding hash ``i`` at ``file_ids[file_indptr[i]:file_indptr[i + 1]]`` (indices into the
    files it was read from); ``sources`` describes each file (path, documents, n-grams, short
    documents, rejected records) for the manifest."""

    words: int
    files: int
    hashes: np.ndarray
    file_indptr: np.ndarray
    file_ids: np.ndarray
    sources: tuple = field(default=(), compare=False, metadata={"fingerprint": False})

    @classmethod
    def from_files(cls, files: list[InputFile], words: int = DEFAULT_WORDS, text_field: str = "text",
                   on_error: str = "stop", block_bytes: int = DEFAULT_BLOCK_BYTES) -> NgramSet:
        """The n-grams of every document of ``files`` (bad records: ``on_error`` as everywhere)."""
        if words < 1:
            raise ValueError(f"an n-gram needs at least 1 word, got {words}")
        per_file, sources = [], []
        for i, file in enumerate(files):
            parts, docs, short, rejected, first_reject = [], 0, 0, 0, None
            for batch in iter_text_batches(file, text_field, None, block_bytes, on_error):
                rejected += len(batch.rejects or ())
                if batch.rejects and first_reject is None:
                    r = batch.rejects[0]
                    first_reject = f"{r.file}:{r.line}: {r.reason}" if r.line else f"{r.file} (row {r.row}): {r.reason}"
                h, indptr = word_hashes_of(batch.texts)
                docs += len(batch.texts) - len(batch.rejects or ())
                short += int(np.sum(np.diff(indptr) < words)) - len(batch.rejects or ())
                parts.append(ngram_hashes(h, indptr, words)[0])
            distinct = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
            if docs == 0 or not len(distinct):
                raise InputError(f"the decontamination file holds no text of {words} words or more "
                                 f"({docs} documents, {short} of them shorter)", path=file.path)
            per_file.append(distinct)
            sources.append({"path": file.path, "documents": docs, "ngrams": int(len(distinct)),
                            "short_documents": short,
                            **({"rejected": rejected, "first_rejected": first_reject} if rejected else {})})
            if rejected:
                log.warning("%s: %d bad record%s skipped (--on-error skip; the first: %s)", file.path, rejected,
                            " was" if rejected == 1 else "s were", first_reject)
        every = np.concatenate(per_file)
        owner = np.repeat(np.arange(len(files), dtype=np.int32), [len(p) for p in per_file])
        order = np.lexsort((owner, every))
        every, owner = every[order], owner[order]
        first = np.ones(len(every), dtype=bool)
        first[1:] = every[1:] != every[:-1]
        hashes = every[first]
        indptr = np.append(np.flatnonzero(first), len(every)).astype(np.int64)
        return cls(words, len(files), hashes, indptr, owner, tuple(sources))

    @property
    def false_match_rate(self) -> float:
        """The chance that an n-gram of the pool matches a hash of the set without being one of its n-grams."""
        return float(len(self.hashes)) / 2.0 ** 64

    def matches(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each text: whether it shares an n-gram with the set; the ``(document, file)``
        pairs of the matches (each pair once); and, per text, the word position of its first
        matching n-gram (-1 where none)."""
        h, indptr = word_hashes_of(texts)
        grams, doc = ngram_hashes(h, indptr, self.words)
        n = len(texts)
        if not len(grams) or not len(self.hashes):
            return np.zeros(n, dtype=bool), np.empty((0, 2), np.int64), np.full(n, -1, np.int64)
        at = np.minimum(np.searchsorted(self.hashes, grams), len(self.hashes) - 1)
        hit = self.hashes[at] == grams
        hit_doc, hit_at = doc[hit], at[hit]
        matched = np.zeros(n, dtype=bool)
        matched[hit_doc] = True
        # the position of each n-gram within its document: windows are in document order
        window = np.arange(len(doc)) - np.searchsorted(doc, doc)
        first = np.full(n, -1, np.int64)
        hit_window = window[hit]
        keep = np.ones(len(hit_doc), dtype=bool)
        keep[1:] = hit_doc[1:] != hit_doc[:-1]
        first[hit_doc[keep]] = hit_window[keep]
        lo, hi = self.file_indptr[hit_at], self.file_indptr[hit_at + 1]
        pair_doc = np.repeat(hit_doc, hi - lo)
        pair_file = self.file_ids[np.repeat(lo - np.cumsum(np.append(0, (hi - lo)[:-1])), hi - lo)
                                  + np.arange(int((hi - lo).sum()))]
        pairs = np.unique(np.stack([pair_doc, pair_file.astype(np.int64)], axis=1), axis=0)
        return matched, pairs, first


def matching_ngram(text: str, position: int, words: int) -> str:
    """The ``words`` words of ``text`` from word ``position`` on (the n-gram a match found)."""
    found = words_of(pa.array([text])).to_pylist()[0]
    return " ".join(found[position: position + words])
