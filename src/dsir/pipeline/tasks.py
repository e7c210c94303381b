"""Per-file tasks of a run. Each is a pure function of its arguments (plus the files it
reads), small enough to pickle, so any engine can run it anywhere and re-run it safely."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dsir.errors import InputError
from dsir.featurize import HashedNgramFeaturizer, content_hashes
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import span_hash_batch
from dsir.io.paths import InputFile
from dsir.io.rejects import parse_lines_skipping, write_rejects
from dsir.io.readers import (DEFAULT_BLOCK_BYTES, TextBatch, count_rows, iter_line_blocks, iter_record_tables,
                             iter_text_batches, parse_text_spans)
from dsir.io.storage import is_remote, open_npz, save_npz
from dsir.io.writers import ShardWriter, WrittenShard, atomic_file
from dsir.sample.gumbel import Threshold, seed_key, selection_keys, uniform_from_hashes
from dsir.sample.methods import KeyRule

NOISE_STREAM = 0
RAW_SAMPLE_STREAM = 1


@dataclass(frozen=True)
class ReadSpec:
    """How to read documents: which field holds the text, which (optional) the id."""

    text_field: str = "text"
    id_field: str | None = None
    block_bytes: int = DEFAULT_BLOCK_BYTES
    on_error: str = "stop"  # "skip": bad records are rejected (recorded) instead of stopping the run


def document_hashes(batch: TextBatch, id_field: str | None) -> np.ndarray:
    """The identity of each document of ``batch`` for its noise: content hash, or hash of its id.

    A missing or null id is an ``InputError`` naming the file and line (or row).
    """
    if batch.ids is None:
        return content_hashes(batch.texts)
    if batch.ids.null_count:
        bad = int(np.flatnonzero(batch.ids.is_null().to_numpy(zero_copy_only=False))[0])
        line = int(batch.line_numbers[bad]) if batch.line_numbers is not None else None
        raise InputError(f"id field {id_field!r} is missing or null", path=batch.file.path,
                         line=line, row=batch.first_row + bad)
    return content_hashes(batch.ids.cast(pa.string()))


def count_task(args: tuple[InputFile, ReadSpec]) -> int:
    """Number of documents in a file."""
    file, read = args
    return count_rows(file, read.block_bytes)


@dataclass(frozen=True)
class FitTask:
    """Count n-gram buckets over a file, keeping each record with probability ``rate``."""

    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    rate: float = 1.0
    seed: int = 0
    rejects_path: str | None = None  # on_error="skip": where to record this file's rejected records


@dataclass
class FitResult:
    counts: np.ndarray
    documents: int  # documents counted (in the sample)
    rejected: int = 0  # records rejected (on_error="skip"), not counted in documents


def fit_task(task: FitTask) -> FitResult:
    """Bucket counts of a file, or of a uniform random sample of its records.

    A record is sampled when ``U(fnv(record bytes), seed) < rate``: the bytes are the JSON
    line for jsonl (so unsampled lines are never parsed) and the text for parquet. The
    sample is thus the same however the records are split into files.
    """
    f = task.featurizer
    counts = np.zeros(f.buckets, dtype=np.int64)
    used = 0
    key = seed_key(task.seed, RAW_SAMPLE_STREAM)
    if task.file.format == "jsonl" and task.rate < 1.0:
        for block in iter_line_blocks(task.file, task.read.block_bytes):
            hashes = np.empty(len(block), dtype=np.uint64)
            span_hash_batch(block.buf, block.starts, block.ends, hashes)
            rows = np.flatnonzero(uniform_from_hashes(hashes, key) < task.rate)
            if len(rows) and task.read.on_error == "skip":
                # Rejected lines read as "" (no counts); the score pass records them.
                table, bad = parse_lines_skipping(task.file, [task.read.text_field], block.gather(rows),
                                                  block.line_numbers[rows], block.first_row + rows)
                f.count(table.column(0).combine_chunks(), counts)
                used += len(rows) - len(bad)
            elif len(rows):
                texts = parse_text_spans(task.file, block.buf, block.starts[rows], block.ends[rows],
                                         block.line_numbers[rows], task.read.text_field)
                f.count(texts, counts)
                used += len(rows)
        return FitResult(counts, used)
    rejects: list = []
    for batch in iter_text_batches(task.file, task.read.text_field, None, task.read.block_bytes,
                                   task.read.on_error):
        texts = batch.texts
        keep = None
        if task.rate < 1.0:
            keep = uniform_from_hashes(content_hashes(texts), key) < task.rate
        if batch.rejects:  # their texts read as "" (no counts); they are not documents
            rejects.extend(batch.rejects)
            keep = np.ones(len(texts), dtype=bool) if keep is None else keep
            keep[[r.row - batch.first_row for r in batch.rejects]] = False
        if keep is not None:
            texts = texts.filter(pa.array(keep))
        f.count(texts, counts)
        used += len(texts)
    if task.rejects_path:
        write_rejects(task.rejects_path, rejects)
    return FitResult(counts, used, len(rejects))


@dataclass(frozen=True)
class ScoreTask:
    """Score every document of one file and store its per-document arrays at ``scores_path``."""

    unit: int
    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    log_ratio: np.ndarray
    seed: int
    top_k: bool
    min_length: int
    scores_path: str
    rejects_path: str | None = None  # on_error="skip": where to record this file's rejected records
    key_rule: KeyRule | None = None  # how log-weights become keys (None: the summed weight, selection_keys)


@dataclass
class ScoreSummary:
    unit: int
    documents: int
    eligible: int
    tokens: int
    text_bytes: int
    rejected: int = 0  # records rejected (on_error="skip"): ineligible and not counted in documents


SCORE_ARRAYS = ("log_weight", "n_tokens", "n_ngrams", "hash", "key")


def score_task(task: ScoreTask) -> ScoreSummary:
    """Log importance weight, tokens, identity hash and selection key of each document."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in SCORE_ARRAYS}
    text_bytes = 0
    rejects: list = []
    for batch in iter_text_batches(task.file, task.read.text_field, task.read.id_field, task.read.block_bytes,
                                   task.read.on_error):
        rejects.extend(batch.rejects or ())  # rejected rows read as "": no tokens, never eligible
        log_weight, n_tokens, n_ngrams = task.featurizer.score(batch.texts, task.log_ratio)
        hashes = document_hashes(batch, task.read.id_field)
        eligible = n_tokens >= max(1, task.min_length)
        parts["log_weight"].append(log_weight)
        parts["n_tokens"].append(n_tokens.astype(np.int32))
        parts["n_ngrams"].append(n_ngrams.astype(np.int32))
        parts["hash"].append(hashes)
        parts["key"].append(selection_keys(log_weight, hashes, eligible, task.seed, task.top_k) if task.key_rule is None
                            else task.key_rule.keys(log_weight, n_ngrams, hashes, eligible, task.seed))
        _, offsets = arrow_buffers(batch.texts)
        text_bytes += int(offsets[-1] - offsets[0])
    arrays = {k: (np.concatenate(v) if v else np.empty(0, dtype=_DTYPES[k])) for k, v in parts.items()}
    if task.rejects_path:
        write_rejects(task.rejects_path, rejects)
    save_arrays(task.scores_path, arrays)
    return ScoreSummary(
        unit=task.unit,
        documents=len(arrays["key"]) - len(rejects),
        eligible=int(np.isfinite(arrays["key"]).sum()),
        tokens=int(arrays["n_tokens"].sum()),
        text_bytes=text_bytes,
        rejected=len(rejects),
    )


_DTYPES = {"log_weight": np.float64, "n_tokens": np.int32, "n_ngrams": np.int32, "hash": np.uint64, "key": np.float64}


def save_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to ``path`` (.npz, a local path or an object-store URL) atomically."""
    if is_remote(path):
        save_npz(path, arrays)
        return
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)


def load_array(path: str, name: str) -> np.ndarray:
    """One array of the ``.npz`` at ``path`` (local or URL; only that member is fetched)."""
    with open_npz(path) as z:
        return z[name]


@dataclass(frozen=True)
class WriteTask:
    """Copy the selected documents of one file (given by mask inputs) to one output shard."""

    unit: int
    file: InputFile
    read: ReadSpec
    scores_path: str
    threshold: Threshold
    output_path: str
    output_format: str


@dataclass
class WriteResult:
    unit: int
    selected: int
    shard: WrittenShard | None


def write_task(task: WriteTask) -> WriteResult:
    """Write the selected records of ``task.file``, unchanged, to ``task.output_path``."""
    mask = task.threshold.mask(task.unit, load_array(task.scores_path, "key"))
    n_selected = int(mask.sum())
    if n_selected == 0:
        return WriteResult(task.unit, 0, None)
    writer = ShardWriter(task.output_path, task.output_format)
    try:
        if task.file.format == "jsonl":
            for block in iter_line_blocks(task.file, task.read.block_bytes):
                rows = np.flatnonzero(mask[block.first_row: block.first_row + len(block)])
                if len(rows):
                    writer.write_jsonl(block.gather(rows), len(rows))
        else:
            for first_row, table in iter_record_tables(task.file, task.read.block_bytes):
                m = mask[first_row: first_row + table.num_rows]
                if m.any():
                    writer.write_table(table.filter(pa.array(m)))
        if writer.documents != n_selected:
            raise InputError(f"file changed while dsir was reading it: expected {len(mask)} documents",
                             path=task.file.path)
        shard = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return WriteResult(task.unit, n_selected, shard)
