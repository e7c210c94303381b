"""Selection with the quality options: a method (``dsir``, ``random``, ``classifier``),
length-normalized weights, chunks, and several named targets.

Per raw file, ``unit_score_task`` scores its units (documents, or chunks of about N words)
against every target and stores, in ``_dsir/scores-NNNNN.npz``, one key row per target.
``allocate_targets`` then gives each target its share of k, one after another in the order
given: target t takes the ``k_t`` largest of its own keys among the units no earlier target
took, so no unit is selected twice. Each step is a global threshold over keys that are pure
functions of (seed, unit identity), so the selection is independent of file split and
workers. ``selection_write_task`` writes each file's selected units, one shard per target.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dsir.errors import InputError, UsageError
from dsir.featurize import HashedNgramFeaturizer
from dsir.featurize.chunking import chunk_documents, chunk_hashes, score_chunks
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import span_hash_batch
from dsir.io.paths import InputFile
from dsir.io.readers import iter_line_blocks, iter_record_tables, iter_text_batches, parse_text_spans
from dsir.io.writers import ShardWriter, WrittenShard
from dsir.pipeline.tasks import RAW_SAMPLE_STREAM, ReadSpec, ScoreSummary, document_hashes, load_array, save_arrays
from dsir.sample.gumbel import find_threshold, seed_key, uniform_from_hashes
from dsir.sample.methods import KeyRule

EMITS = ("documents", "chunks")
CHUNK_INDEX_FIELD = "chunk_index"
SAMPLE_SLICE_DOCUMENTS = 256
TARGET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# -- targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    """A target: its paths, and for named targets its name and share of k."""

    paths: tuple[str, ...]
    name: str | None = None
    proportion: float | None = None


def parse_target(spec: str) -> TargetSpec:
    """``PATH`` or ``NAME=PATH[:PROPORTION]``.

    A spec is named when the part before the first ``=`` is a name (letters, digits, ``_``,
    ``.``, ``-``) and the whole spec is not an existing path; the proportion is the part after
    the last ``:`` when it reads as a number.
    """
    if "=" in spec and not os.path.exists(spec):
        name, rest = spec.split("=", 1)
        if TARGET_NAME.match(name):
            proportion = None
            if ":" in rest:
                head, tail = rest.rsplit(":", 1)
                try:
                    proportion = float(tail)
                except ValueError:
                    head = rest
                else:
                    if not (proportion > 0 and np.isfinite(proportion)):
                        raise UsageError(f"--target {spec}: the proportion must be a positive number, got {tail}")
                rest = head
            if not rest:
                raise UsageError(f"--target {spec}: no path after '{name}='")
            return TargetSpec((rest,), name, proportion)
    return TargetSpec((spec,))


def group_targets(specs: list[str]) -> list[TargetSpec]:
    """Parse ``--target`` values: all plain paths form one unnamed target; named specs with
    the same name form one target (their paths joined). Mixing the two is an error."""
    parsed = [parse_target(s) for s in specs]
    named = [p for p in parsed if p.name is not None]
    if not named:
        return [TargetSpec(tuple(p for t in parsed for p in t.paths))] if parsed else []
    if len(named) != len(parsed):
        plain = next(p for p in parsed if p.name is None)
        raise UsageError(f"--target {plain.paths[0]}: give every target a name (NAME=PATH) when any has one")
    groups: dict[str, TargetSpec] = {}
    for t in named:
        prev = groups.get(t.name)
        if prev is None:
            groups[t.name] = t
            continue
        if prev.proportion is not None and t.proportion is not None and prev.proportion != t.proportion:
            raise UsageError(f"--target {t.name}: two different proportions ({prev.proportion}, {t.proportion})")
        groups[t.name] = TargetSpec(prev.paths + t.paths, t.name, prev.proportion or t.proportion)
    targets = list(groups.values())
    given = [t.proportion is not None for t in targets]
    if any(given) and not all(given):
        missing = next(t.name for t in targets if t.proportion is None)
        raise UsageError(f"--target {missing}: give a proportion (NAME=PATH:PROPORTION) to every target or to none")
    return targets


def target_proportions(targets: list[TargetSpec]) -> list[float]:
    """Shares of k, normalized to sum to 1 (equal shares when none are given)."""
    raw = [t.proportion if t.proportion is not None else 1.0 for t in targets]
    total = sum(raw)
    return [p / total for p in raw]


# -- sampled features for the classifier ----------------------------------------------


@dataclass(frozen=True)
class SampleBucketsTask:
    """CSR bucket ids of a uniform sample of a file's documents (each kept when
    ``U(hash(record bytes), seed) < rate``, the raw model's sampling rule)."""

    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    rate: float = 1.0
    seed: int = 0


def sample_buckets_task(task: SampleBucketsTask) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, ids)`` of the sampled documents' n-gram buckets (ids as int32)."""
    key = seed_key(task.seed, RAW_SAMPLE_STREAM)
    indptrs, ids = [np.zeros(1, dtype=np.int64)], []
    total = 0

    def add(texts: pa.Array) -> None:
        nonlocal total
        # a few hundred documents at a time: buckets_of's scratch space is ngrams * 3 * 8 bytes per text byte
        for s in range(0, len(texts), SAMPLE_SLICE_DOCUMENTS):
            p, i = task.featurizer.buckets_of(texts[s: s + SAMPLE_SLICE_DOCUMENTS])
            indptrs.append(p[1:] + total)
            ids.append(i.astype(np.int32))
            total += len(i)

    if task.file.format == "jsonl":
        for block in iter_line_blocks(task.file, task.read.block_bytes):
            rows = np.arange(len(block))
            if task.rate < 1.0:
                hashes = np.empty(len(block), dtype=np.uint64)
                span_hash_batch(block.buf, block.starts, block.ends, hashes)
                rows = np.flatnonzero(uniform_from_hashes(hashes, key) < task.rate)
            if len(rows):
                add(parse_text_spans(task.file, block.buf, block.starts[rows], block.ends[rows],
                                     block.line_numbers[rows], task.read.text_field))
    else:
        from dsir.featurize import content_hashes

        for batch in iter_text_batches(task.file, task.read.text_field, None, task.read.block_bytes):
            texts = batch.texts
            if task.rate < 1.0:
                texts = texts.filter(pa.array(uniform_from_hashes(content_hashes(texts), key) < task.rate))
            add(texts)
    return np.concatenate(indptrs), (np.concatenate(ids) if ids else np.empty(0, dtype=np.int32))


def concat_csr(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Join CSR matrices row-wise, in order."""
    indptrs, ids, total = [np.zeros(1, dtype=np.int64)], [], 0
    for p, i in parts:
        indptrs.append(p[1:] + total)
        ids.append(i)
        total += len(i)
    return np.concatenate(indptrs), (np.concatenate(ids) if ids else np.empty(0, dtype=np.int32))


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitScoreTask:
    """Score one file's units (documents, or chunks when ``chunk_words``) against every
    target's score vector, and store their keys (one row per target) at ``scores_path``."""

    unit: int
    file: InputFile
    read: ReadSpec
    featurizer: HashedNgramFeaturizer
    score_vectors: np.ndarray  # float64[targets, buckets]
    rule: KeyRule
    seed: int
    min_length: int
    scores_path: str
    chunk_words: int | None = None
    emit: str = "documents"


def unit_score_task(task: UnitScoreTask) -> ScoreSummary:
    """Per unit: score sums per target, tokens, n-grams, identity hash and keys per target.

    Chunks emitted as units are stored with their document's row and their byte span in
    the document's text (``row``, ``chunk``, ``start``, ``end``). When documents are
    emitted but scored by chunks, a document's score is that of its average chunk: the mean
    of its chunks' score sums, over the mean of their n-gram counts.
    """
    n_targets = len(task.score_vectors)
    parts: dict[str, list[np.ndarray]] = {}
    text_bytes = 0
    chunked = task.chunk_words is not None
    documents = 0

    def put(name: str, a: np.ndarray) -> None:
        parts.setdefault(name, []).append(a)

    for batch in iter_text_batches(task.file, task.read.text_field, task.read.id_field, task.read.block_bytes):
        doc_hashes = document_hashes(batch, task.read.id_field)
        n_docs = len(batch.texts)
        documents += n_docs
        _, offsets = arrow_buffers(batch.texts)
        text_bytes += int(offsets[-1] - offsets[0])
        if not chunked:
            sums, n_ngrams, n_tokens, hashes = [], None, None, doc_hashes
            for v in task.score_vectors:
                s, n_tokens, n_ngrams = task.featurizer.score(batch.texts, v)
                sums.append(s)
            n_ngrams_f = n_ngrams.astype(np.float64)
        else:
            chunks = chunk_documents(batch.texts, task.chunk_words)
            sums = []
            for v in task.score_vectors:
                s, c_tokens, c_ngrams = score_chunks(task.featurizer, chunks, v)
                sums.append(s)
            if task.emit == "chunks":
                n_tokens, n_ngrams_f = c_tokens, c_ngrams.astype(np.float64)
                hashes = chunk_hashes(doc_hashes, chunks)
                put("row", chunks.doc + batch.first_row)
                put("chunk", chunks.index.astype(np.int32))
                put("start", chunks.relative_starts)
                put("end", chunks.relative_ends)
            else:
                per_doc = chunks.counts_per_document(n_docs)
                denom = np.maximum(per_doc, 1).astype(np.float64)
                sums = [np.bincount(chunks.doc, weights=s, minlength=n_docs) / denom for s in sums]
                n_tokens = np.bincount(chunks.doc, weights=c_tokens, minlength=n_docs).astype(np.int64)
                n_ngrams_f = np.bincount(chunks.doc, weights=c_ngrams, minlength=n_docs) / denom
                hashes = doc_hashes
        eligible = n_tokens >= max(1, task.min_length)
        put("n_tokens", n_tokens.astype(np.int32))
        put("n_ngrams", n_ngrams_f)
        put("hash", hashes)
        put("scores", np.stack(sums) if sums else np.empty((0, len(hashes))))
        put("keys", np.stack([task.rule.keys(s, n_ngrams_f, hashes, eligible, task.seed) for s in sums]))
    arrays = {}
    for name in ("n_tokens", "n_ngrams", "hash", "row", "chunk", "start", "end"):
        if name in parts:
            arrays[name] = np.concatenate(parts[name])
    for name in ("scores", "keys"):
        arrays[name] = (np.concatenate(parts[name], axis=1) if name in parts
                        else np.empty((n_targets, 0), dtype=np.float64))
    if n_targets == 1:  # the core's layout too, which the report reads
        arrays["log_weight"], arrays["key"] = arrays["scores"][0], arrays["keys"][0]
    if "hash" not in arrays:
        arrays.update(n_tokens=np.empty(0, np.int32), n_ngrams=np.empty(0), hash=np.empty(0, np.uint64))
        if chunked and task.emit == "chunks":
            arrays.update(row=np.empty(0, np.int64), chunk=np.empty(0, np.int32), start=np.empty(0, np.int64),
                          end=np.empty(0, np.int64))
    save_arrays(task.scores_path, arrays)
    return ScoreSummary(
        unit=task.unit,
        documents=documents,
        eligible=int(np.isfinite(arrays["keys"][0]).sum()) if n_targets else 0,
        tokens=int(arrays["n_tokens"].sum()),
        text_bytes=text_bytes,
    )


# -- allocation over targets --------------------------------------------------------------


@dataclass
class Allocation:
    """Per file, the target index each unit went to (-1: none); per target, how many."""

    assigned: list[np.ndarray]
    selected: list[int] = field(default_factory=list)
    thresholds: list = field(default_factory=list)  # per target, over its keys with earlier picks removed


def allocate_targets(score_paths: list[str], shares: list[int]) -> Allocation:
    """Target ``t`` takes the ``shares[t]`` largest of its keys among units not yet taken
    (ties by unit hash, then file and row), targets in order. Never a unit twice."""
    assigned = [np.full(len(load_array(p, "hash")), -1, dtype=np.int16) for p in score_paths]
    selected, thresholds = [], []
    for t, share in enumerate(shares):
        keys = []
        for p, a in zip(score_paths, assigned):
            k = load_array(p, "keys")[t].copy()
            k[a >= 0] = -np.inf
            keys.append(k)
        taken = 0
        threshold = None
        if share > 0 and any(np.isfinite(k).any() for k in keys):
            threshold = find_threshold(keys, share, lambda u: load_array(score_paths[u], "hash"))
            for u, (k, a) in enumerate(zip(keys, assigned)):
                m = threshold.mask(u, k)
                a[m] = t
                taken += int(m.sum())
        selected.append(taken)
        thresholds.append(threshold)
    return Allocation(assigned, selected, thresholds)


# -- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectionWriteTask:
    """Write one file's selected units: those assigned to target ``t`` go to ``outputs[t]``."""

    unit: int
    file: InputFile
    read: ReadSpec
    scores_path: str
    assigned_path: str
    outputs: tuple[str, ...]
    output_format: str
    emit: str = "documents"


@dataclass
class SelectionWriteResult:
    unit: int
    selected: list[int]
    shards: list[WrittenShard | None]


def selection_write_task(task: SelectionWriteTask) -> SelectionWriteResult:
    """Copy selected documents unchanged, or write selected chunks as records: the
    document's fields with the chunk's text in the text field, plus ``chunk_index``."""
    assigned = np.load(task.assigned_path, allow_pickle=False)
    counts = [int((assigned == t).sum()) for t in range(len(task.outputs))]
    writers = [ShardWriter(path, task.output_format) if n else None for path, n in zip(task.outputs, counts)]
    try:
        if task.emit == "chunks":
            _write_chunks(task, assigned, writers)
        else:
            _write_documents(task, assigned, writers)
        shards = []
        for w, n in zip(writers, counts):
            if w is not None and w.documents != n:
                raise InputError(f"file changed while dsir was reading it: expected {n} selected records",
                                 path=task.file.path)
            shards.append(w.commit() if w is not None else None)
    except BaseException:
        for w in writers:
            if w is not None:
                w.abort()
        raise
    return SelectionWriteResult(task.unit, counts, shards)


def _write_documents(task: SelectionWriteTask, assigned: np.ndarray, writers: list) -> None:
    if task.file.format == "jsonl":
        for block in iter_line_blocks(task.file, task.read.block_bytes):
            a = assigned[block.first_row: block.first_row + len(block)]
            for t, w in enumerate(writers):
                rows = np.flatnonzero(a == t) if w is not None else ()
                if len(rows):
                    w.write_jsonl(block.gather(rows), len(rows))
    else:
        for first_row, table in iter_record_tables(task.file, task.read.block_bytes):
            a = assigned[first_row: first_row + table.num_rows]
            for t, w in enumerate(writers):
                if w is not None and (a == t).any():
                    w.write_table(table.filter(pa.array(a == t)))


def _chunk_text(text: str, start: int, end: int) -> str:
    return text.encode("utf-8", "surrogatepass")[start:end].decode("utf-8", "replace")


def _write_chunks(task: SelectionWriteTask, assigned: np.ndarray, writers: list) -> None:
    with np.load(task.scores_path, allow_pickle=False) as z:
        rows, chunk, start, end = z["row"], z["chunk"], z["start"], z["end"]
    field_name = task.read.text_field
    if task.file.format == "jsonl":
        order = np.argsort(rows, kind="stable")
        for block in iter_line_blocks(task.file, task.read.block_bytes):
            lo = np.searchsorted(rows[order], block.first_row)
            hi = np.searchsorted(rows[order], block.first_row + len(block))
            picked = [j for j in order[lo:hi] if assigned[j] >= 0]
            out: list[list[str]] = [[] for _ in writers]
            for j in picked:
                r = int(rows[j]) - block.first_row
                record = json.loads(block.line(r))
                if CHUNK_INDEX_FIELD in record:
                    raise InputError(f"record already has a field {CHUNK_INDEX_FIELD!r}, which --emit chunks adds",
                                     path=task.file.path, line=int(block.line_numbers[r]))
                record[field_name] = _chunk_text(record[field_name], int(start[j]), int(end[j]))
                record[CHUNK_INDEX_FIELD] = int(chunk[j])
                out[assigned[j]].append(json.dumps(record, ensure_ascii=False) + "\n")
            for lines, w in zip(out, writers):
                if lines:
                    w.write_jsonl("".join(lines).encode("utf-8"), len(lines))
        return
    for first_row, table in iter_record_tables(task.file, task.read.block_bytes):
        in_block = np.flatnonzero((rows >= first_row) & (rows < first_row + table.num_rows) & (assigned >= 0))
        if not len(in_block):
            continue
        if CHUNK_INDEX_FIELD in table.column_names:
            raise InputError(f"column {CHUNK_INDEX_FIELD!r} already exists, which --emit chunks adds",
                             path=task.file.path)
        for t, w in enumerate(writers):
            js = in_block[assigned[in_block] == t]
            if w is None or not len(js):
                continue
            sub = table.take(pa.array(rows[js] - first_row))
            texts = sub.column(field_name).to_pylist()
            chunk_texts = [_chunk_text(s, int(start[j]), int(end[j])) for s, j in zip(texts, js)]
            col = sub.schema.get_field_index(field_name)
            sub = sub.set_column(col, sub.schema.field(col), pa.array(chunk_texts, sub.schema.field(col).type))
            sub = sub.append_column(CHUNK_INDEX_FIELD, pa.array(chunk[js].astype(np.int64)))
            w.write_table(sub)
