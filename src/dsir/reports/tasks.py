"""Per-file tasks of a report: bounded samples of the pool, the selection and the target.

Like the pipeline's tasks they are picklable dataclasses and pure functions, so the
engine runs them in parallel; each reads its file once and parses only the records it
needs (jsonl lines that are not needed are never parsed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import InputError
from dsir.featurize import HashedNgramFeaturizer, content_hashes
from dsir.featurize.ngram_names import BucketNames
from dsir.io.paths import InputFile
from dsir.io.readers import iter_line_blocks, iter_text_batches, parse_text_spans
from dsir.io.rejects import parse_lines_skipping
from dsir.pipeline.tasks import ReadSpec
from dsir.sample.gumbel import seed_key, uniform_from_hashes

# Independent random streams (the pipeline uses 0 for noise and 1 for the raw sample).
POOL_SAMPLE_STREAM = 101
SELECTED_SAMPLE_STREAM = 102
NAMES_SAMPLE_STREAM = 103
TARGET_SAMPLE_STREAM = 104


def sample_mask(hashes: np.ndarray, rate: float, seed: int, stream: int) -> np.ndarray:
    """Keep each document with probability ``rate``, decided by its hash (reproducible, split-independent)."""
    if rate >= 1.0:
        return np.ones(len(hashes), dtype=bool)
    return uniform_from_hashes(hashes, seed_key(seed, stream)) < rate


def iter_needed_texts(file: InputFile, read: ReadSpec, needed: np.ndarray) -> Iterator[tuple[np.ndarray, pa.Array]]:
    """``(rows, texts)`` for the rows of ``file`` where ``needed`` is set, a block at a time."""
    if file.format == "jsonl":
        for block in iter_line_blocks(file, read.block_bytes):
            local = needed[block.first_row: block.first_row + len(block)]
            rows = np.flatnonzero(local)
            if len(rows) and read.on_error == "skip":  # rejected records (never selected) read as ""
                table, _ = parse_lines_skipping(file, [read.text_field], block.gather(rows),
                                                block.line_numbers[rows], block.first_row + rows)
                yield block.first_row + rows, table.column(0).combine_chunks()
            elif len(rows):
                yield block.first_row + rows, parse_text_spans(file, block.buf, block.starts[rows], block.ends[rows],
                                                               block.line_numbers[rows], read.text_field)
        return
    for batch in iter_text_batches(file, read.text_field, None, read.block_bytes, read.on_error):
        local = needed[batch.first_row: batch.first_row + len(batch.texts)]
        if local.any():
            yield batch.first_row + np.flatnonzero(local), batch.texts.filter(pa.array(local))


def truncate(text: str, chars: int) -> str:
    """At most ``chars`` characters of ``text``, cut at a space when one is near, with an ellipsis."""
    if len(text) <= chars:
        return text
    cut = text.rfind(" ", int(chars * 0.8), chars)
    return text[: cut if cut > 0 else chars].rstrip() + " …"


@dataclass(frozen=True)
class PoolSampleTask:
    """One raw file: n-gram counts of a pool sample and of a selection sample, the text
    bytes of the selection, n-gram names on a small sample, and some example documents."""

    unit: int
    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    hashes: np.ndarray
    selected: np.ndarray
    seed: int
    pool_rate: float
    selected_rate: float
    names_rate: float
    name_buckets: np.ndarray
    example_rows: tuple[int, ...] = ()
    example_chars: int = 600


@dataclass
class PoolSample:
    unit: int
    pool_counts: np.ndarray
    pool_documents: int
    selected_counts: np.ndarray
    selected_documents: int
    selected_text_bytes: int
    names: BucketNames
    examples: dict[int, str] = field(default_factory=dict)


def pool_sample_task(task: PoolSampleTask) -> PoolSample:
    """Read the records of one raw file that any of the samples or examples need."""
    f = task.featurizer
    in_pool = sample_mask(task.hashes, task.pool_rate, task.seed, POOL_SAMPLE_STREAM)
    in_selected = task.selected & sample_mask(task.hashes, task.selected_rate, task.seed, SELECTED_SAMPLE_STREAM)
    in_names = sample_mask(task.hashes, task.names_rate, task.seed, NAMES_SAMPLE_STREAM)
    is_example = np.zeros(len(task.hashes), dtype=bool)
    is_example[list(task.example_rows)] = True
    needed = in_pool | task.selected | in_names | is_example
    out = PoolSample(task.unit, np.zeros(f.buckets, np.int64), 0, np.zeros(f.buckets, np.int64), 0, 0,
                     BucketNames(task.name_buckets, f))
    seen = 0
    for rows, texts in iter_needed_texts(task.file, task.read, needed):
        seen += len(rows)
        sel = task.selected[rows]
        if sel.any():
            out.selected_text_bytes += int(pc.sum(pc.binary_length(texts.filter(pa.array(sel)))).as_py() or 0)
        for mask, counts, attr in ((in_pool[rows], out.pool_counts, "pool_documents"),
                                   (in_selected[rows], out.selected_counts, "selected_documents")):
            if mask.any():
                f.count(texts.filter(pa.array(mask)), counts)
                setattr(out, attr, getattr(out, attr) + int(mask.sum()))
        names = in_names[rows]
        if names.any():
            out.names.update(texts.filter(pa.array(names)))
        for i in np.flatnonzero(is_example[rows]):
            out.examples[int(rows[i])] = truncate(texts[int(i)].as_py(), task.example_chars)
    if seen != int(needed.sum()):
        raise InputError(f"file changed since it was scored: expected {len(task.hashes)} documents", path=task.file.path)
    return out


@dataclass(frozen=True)
class TargetSampleTask:
    """One target file: token lengths and n-gram names of a bounded sample of its documents."""

    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    seed: int
    rate: float
    names_rate: float
    name_buckets: np.ndarray


@dataclass
class TargetSample:
    lengths: np.ndarray
    names: BucketNames


def target_sample_task(task: TargetSampleTask) -> TargetSample:
    f = task.featurizer
    names = BucketNames(task.name_buckets, f)
    lengths = []
    scratch = np.zeros(f.buckets, np.int64)
    for batch in iter_text_batches(task.file, task.read.text_field, None, task.read.block_bytes,
                                   task.read.on_error):
        hashes = content_hashes(batch.texts)
        keep = sample_mask(hashes, task.rate, task.seed, TARGET_SAMPLE_STREAM)
        keep[[r.row - batch.first_row for r in batch.rejects or ()]] = False  # rejected: not documents
        if keep.any():
            _, n_tokens = f.count(batch.texts.filter(pa.array(keep)), scratch)
            lengths.append(n_tokens.astype(np.int32))
        named = sample_mask(hashes, task.names_rate, task.seed, NAMES_SAMPLE_STREAM)
        if named.any():
            names.update(batch.texts.filter(pa.array(named)))
    return TargetSample(np.concatenate(lengths) if lengths else np.empty(0, np.int32), names)
