"""Per-file tasks of a run: count, fit, score and write. Each is a frozen dataclass and a
pure function of it (plus the files it reads), small enough to pickle, so any engine can run
it anywhere and re-run it safely; its fingerprint is derived from its fields
(``pipeline.units``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from dsir.dedup.rule import SignatureSpec
from dsir.errors import InputError
from dsir.featurize import Featurizer, content_hashes
from dsir.featurize.chunking import chunk_documents, chunk_hashes, score_chunks
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize.kernels import span_hash_batch
from dsir.filters import Filters, FilterTally, merge_tallies
from dsir.io.fields import json_field, set_json_field
from dsir.io.formats import format_of
from dsir.io.paths import InputFile
from dsir.io.readers import DEFAULT_BLOCK_BYTES, TextBatch, count_lines, first_row_of, iter_text_batches
from dsir.io.rejects import write_rejects
from dsir.io.storage import open_npz, save_npz
from dsir.io.writers import ShardLimits, SplitShardWriter, remove_pieces
from dsir.pipeline.units import NOT_FINGERPRINTED
from dsir.reports.groups import GroupCounter
from dsir.reports.samples import NAMES_SAMPLE_STREAM, TARGET_SAMPLE_STREAM, FileSample, SampleSpec, span_texts
from dsir.sample.bottom_k import BottomK
from dsir.sample.gumbel import seed_key, uniform_from_hashes
from dsir.sample.methods import KeyRule
from dsir.sample.balance import (
    EntrySpec, FieldEntries, UnitEntries, concat_entries, concat_ragged, global_entries, match_entries, pack_names,
    unpack_names,
)
from dsir.sample.mixture import PartSpec, part_indices
from dsir.sample.outside import UnitScores

#: The raw sample's random stream (the Gumbel noise is stream 0; the report's are 101-104).
#: The classifier's raw side samples with the same rule as the raw model.
RAW_SAMPLE_STREAM = 1
#: documents of a slice whose bucket ids are taken at once (scratch is ngrams * 24 bytes per text byte)
SLICE_DOCUMENTS = 256
EMITS = ("documents", "chunks")
CHUNK_INDEX_FIELD = "chunk_index"


@dataclass(frozen=True)
class ReadSpec:
    """How to read documents: which field holds the text, which (optional) the id, and what
    a bad record does (``stop`` the run, or ``skip``: it is rejected and recorded)."""

    text_field: str = "text"
    id_field: str | None = None
    block_bytes: int = field(default=DEFAULT_BLOCK_BYTES, metadata=NOT_FINGERPRINTED)
    on_error: str = "stop"


def document_hashes(batch: TextBatch, id_field: str | None) -> np.ndarray:
    """The identity of each document of ``batch`` for its noise: content hash, or hash of its id.

    A missing or null id is an ``InputError`` naming the file and line (or row).
    """
    if batch.ids is None:
        return content_hashes(batch.texts)
    if pa.types.is_nested(batch.ids.type):
        line = int(batch.line_numbers[0]) if batch.line_numbers is not None else None
        raise InputError(f"id field {id_field!r} holds {batch.ids.type} values; an id must be a string or a "
                         "number", path=batch.file.path, line=line, row=batch.first_row)
    if batch.ids.null_count:
        bad = int(np.flatnonzero(batch.ids.is_null().to_numpy(zero_copy_only=False))[0])
        line = int(batch.line_numbers[bad]) if batch.line_numbers is not None else None
        raise InputError(f"id field {id_field!r} is missing or null", path=batch.file.path,
                         line=line, row=batch.first_row + bad)
    return content_hashes(batch.ids.cast(pa.string()))


def save_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to ``path`` (.npz, a local path or an object-store URL) all at once."""
    save_npz(path, arrays)


def load_arrays(path: str, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Arrays of the ``.npz`` at ``path`` (local or URL; only the members asked for are fetched)."""
    with open_npz(path) as z:
        return {k: z[k] for k in (names or z.files) if names is None or k in z.files}


# -- count ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountTask:
    """Count the documents of one file or part (the raw sampling rate needs the pool's size,
    and a jsonl part the rows and lines before it)."""

    file: InputFile
    block_bytes: int = field(default=DEFAULT_BLOCK_BYTES, metadata=NOT_FINGERPRINTED)


@dataclass
class RowCount:
    rows: int  # documents: non-blank lines, or table rows
    newlines: int  # line terminators of a jsonl file or part (0 for a table file)


def count_task(task: CountTask) -> RowCount:
    """Documents (and, for jsonl, line terminators) of a file or part, without parsing them."""
    if task.file.format == "jsonl":
        return RowCount(*count_lines(task.file, task.block_bytes))
    return RowCount(format_of(task.file).count_rows(task.file, task.block_bytes), 0)


# -- fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitTask:
    """What an estimator (and the report) learn from one file in one pass.

    Records are kept with probability ``rate`` (by the hash of their bytes: the line for
    jsonl, the text for parquet); of those it takes the n-gram bucket ``counts`` and, with
    ``id_sample``, the bucket ids of a bottom-k sample of that many documents (the
    classifier). ``report_sample`` documents (bottom-k again) give the report its lengths,
    and ``names_sample`` documents their text, to name n-grams by.
    """

    file: InputFile
    read: ReadSpec
    featurizer: Featurizer
    rate: float = 1.0
    seed: int = 0
    counts: bool = True
    id_sample: int = 0
    report_sample: int = 0
    names_sample: int = 0
    rejects_path: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass
class FitResult:
    documents: int  # documents read (in the sample); rejected records are not documents
    rejected: int
    counts: np.ndarray
    ids_u: np.ndarray
    ids: np.ndarray
    ids_offsets: np.ndarray
    lengths_u: np.ndarray
    lengths: np.ndarray
    texts_u: np.ndarray
    texts: np.ndarray
    texts_offsets: np.ndarray

    def sample(self, what: str, k: int) -> BottomK:
        """The bottom-k sample ``what`` (``ids``, ``lengths`` or ``texts``) this file gave."""
        u = getattr(self, f"{what}_u")
        offsets = getattr(self, f"{what}_offsets") if what != "lengths" else np.arange(len(u) + 1, dtype=np.int64)
        return BottomK(k, u, getattr(self, what), offsets)


def _ids_of(featurizer: Featurizer, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(offsets, ids)`` of the texts' n-gram buckets, a slice of documents at a time."""
    parts, offsets, total = [], [np.zeros(1, np.int64)], 0
    for s in range(0, len(texts), SLICE_DOCUMENTS):
        p, i = featurizer.buckets_of(texts[s: s + SLICE_DOCUMENTS])
        offsets.append(p[1:].astype(np.int64) + total)
        parts.append(i.astype(np.int32))
        total += len(i)
    return np.concatenate(offsets), (np.concatenate(parts) if parts else np.empty(0, np.int32))


class _FitAccumulator:
    def __init__(self, task: FitTask):
        self.task = task
        f = task.featurizer
        self.counts = np.zeros(f.buckets if task.counts else 0, np.int64)
        self.ids = BottomK.empty(max(task.id_sample, 1), np.int32)
        self.lengths = BottomK.empty(max(task.report_sample, 1), np.int32)
        self.texts = BottomK.empty(max(task.names_sample, 1), np.uint8)
        self.documents = 0
        self.scratch = np.zeros(f.buckets, np.int64)

    def add(self, texts: pa.Array, hashes: np.ndarray) -> None:
        t, f = self.task, self.task.featurizer
        self.documents += len(texts)
        if t.counts:
            _, n_tokens = f.count(texts, self.counts)
        elif t.report_sample:
            _, n_tokens = f.count(texts, self.scratch)
        if t.id_sample:
            u = uniform_from_hashes(hashes, seed_key(t.seed, RAW_SAMPLE_STREAM))
            want = np.flatnonzero(self.ids.wants(u))
            if len(want):
                offsets, ids = _ids_of(f, texts.take(pa.array(want)))
                self.ids.add(u[want], ids, offsets)
        if t.report_sample:
            u = uniform_from_hashes(hashes, seed_key(t.seed, TARGET_SAMPLE_STREAM))
            want = np.flatnonzero(self.lengths.wants(u))
            self.lengths.add(u[want], n_tokens[want].astype(np.int32), np.arange(len(want) + 1, dtype=np.int64))
        if t.names_sample:
            u = uniform_from_hashes(hashes, seed_key(t.seed, NAMES_SAMPLE_STREAM))
            want = np.flatnonzero(self.texts.wants(u))
            if len(want):
                chosen = texts.take(pa.array(want))
                data, offsets = arrow_buffers(chosen)
                self.texts.add(u[want], data[offsets[0]: offsets[-1]], offsets.astype(np.int64))

    def result(self, rejected: int) -> FitResult:
        t = self.task
        ids = self.ids.prune() if t.id_sample else BottomK.empty(1, np.int32)
        lengths = self.lengths.prune() if t.report_sample else BottomK.empty(1, np.int32)
        texts = self.texts.prune() if t.names_sample else BottomK.empty(1, np.uint8)
        return FitResult(self.documents, rejected, self.counts, ids.u, ids.values, ids.offsets,
                         lengths.u, lengths.values, texts.u, texts.values, texts.offsets)


def fit_task(task: FitTask) -> FitResult:
    """One pass over a file for the fit (see ``FitTask``).

    A record is sampled when ``U(fnv(record bytes), seed) < rate``: the bytes are the JSON
    line for jsonl (so unsampled lines are never parsed) and the text for parquet. The
    sample is thus the same however the records are split into files.
    """
    acc = _FitAccumulator(task)
    key = seed_key(task.seed, RAW_SAMPLE_STREAM)
    fmt = format_of(task.file)
    rejects: list = []
    if task.rate < 1.0 and fmt.has_record_bytes:
        for block in fmt.iter_blocks(task.file, task.read.block_bytes):
            hashes = np.empty(len(block), dtype=np.uint64)
            span_hash_batch(block.buf, block.starts, block.ends, hashes)
            rows = np.flatnonzero(uniform_from_hashes(hashes, key) < task.rate)
            if len(rows):
                texts, bad = fmt.texts_of(task.file, task.read, block, rows)
                # Rejected lines read as "" (no counts); the score pass records them.
                if bad:
                    keep = np.ones(len(rows), bool)
                    keep[[rows.searchsorted(r.row - block.first_row) for r in bad]] = False
                    texts = texts.filter(pa.array(keep))
                acc.add(texts, content_hashes(texts))
        return acc.result(0)
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
        acc.add(texts, content_hashes(texts))
    if task.rejects_path:
        write_rejects(task.rejects_path, rejects)
    return acc.result(len(rejects))


# -- score ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreTask:
    """Score one file's units (documents, or chunks of about ``chunk_words`` words) against
    every target's score vector; store their arrays at ``scores_path``."""

    unit: int
    file: InputFile
    read: ReadSpec
    featurizer: Featurizer
    score_vectors: np.ndarray  # float64[targets, buckets]
    rule: KeyRule
    seed: int
    min_length: int
    chunk_words: int | None = None
    emit: str = "documents"
    keep_ids: bool = False  # store each unit's id (``dsir score --id-field``)
    filters: Filters = Filters()  # documents they exclude are not eligible
    signatures: SignatureSpec | None = None  # what ``--dedup`` compares units by
    parts: PartSpec | None = None  # ``--mix``: each unit's part (units of no part are not eligible)
    outside: UnitScores | None = None  # ``--scores``: this file's outside scores
    entries: EntrySpec | None = None  # ``--balance-*``: each unit's entries (units of none are not eligible)
    scores_path: str = field(default="", metadata=NOT_FINGERPRINTED)
    rejects_path: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass
class ScoreSummary:
    unit: int
    documents: int
    units: int  # scored units: documents, or chunks with --emit chunks
    eligible: int
    tokens: int
    text_bytes: int
    rejected: int = 0  # records rejected (on_error="skip"): ineligible and not counted in documents
    filtered: dict = field(default_factory=dict)  # ``FilterTally.counts``: what the filters excluded
    unmatched: int = 0  # with a balance: units eligible but for matching no entry


#: Arrays of a scores file; ``row``, ``chunk``, ``start``, ``end`` only for chunk units,
#: ``exact`` and ``minhash`` only with ``--dedup`` (``dedup.minhash``), ``part`` only with
#: ``--mix`` (``sample.mixture``), ``outside`` only with ``--scores`` (``sample.outside``),
#: ``entry_ids`` and ``entry_offsets`` (with a field, ``entry_names`` and
#: ``entry_name_offsets``) only with a balance (``sample.balance``).
SCORE_ARRAYS = ("n_tokens", "n_ngrams", "hash", "text_bytes", "scores", "keys")


def unit_signatures(spec: SignatureSpec, texts: pa.Array, chunks=None) -> tuple[np.ndarray, np.ndarray]:
    """``(exact, minhash)`` of each unit: the documents ``texts``, or their ``chunks``."""
    from dsir.dedup.minhash import signatures, span_signatures

    permutations = max(1, spec.permutations)  # exact mode keeps no MinHash: one value, dropped
    if chunks is None:
        minhash, exact = signatures(texts, spec.shingle_words, permutations, spec.seed)
    else:
        minhash, exact = span_signatures(chunks.data, chunks.starts, chunks.ends, spec.shingle_words,
                                         permutations, spec.seed)
    return exact, minhash


def score_task(task: ScoreTask) -> ScoreSummary:
    """Per unit: score sums per target, tokens, n-grams, identity hash, text bytes and keys.

    Chunks emitted as units are stored with their document's row and their byte span in
    the document's text (``row``, ``chunk``, ``start``, ``end``). When documents are
    emitted but scored by chunks, a document's score is that of its average chunk: the mean
    of its chunks' score sums, over the mean of their n-gram counts.
    """
    n_targets = len(task.score_vectors)
    parts: dict[str, list[np.ndarray]] = {}
    documents = 0
    text_bytes = 0
    rejects: list = []
    chunked = task.chunk_words is not None
    tally = FilterTally()
    field_entries = FieldEntries() if task.entries is not None and task.entries.by_field else None
    entry_parts: list[UnitEntries] = []
    unmatched = 0
    label_field = task.parts.field if task.parts else task.entries.field if task.entries else None

    def put(name: str, a: np.ndarray) -> None:
        parts.setdefault(name, []).append(a)

    for batch in iter_text_batches(task.file, task.read.text_field, task.read.id_field, task.read.block_bytes,
                                   task.read.on_error, label_field):
        rejects.extend(batch.rejects or ())  # rejected rows read as "": no tokens, never eligible
        doc_hashes = document_hashes(batch, task.read.id_field)
        n_docs = len(batch.texts)
        documents += n_docs
        _, offsets = arrow_buffers(batch.texts)
        text_bytes += int(offsets[-1] - offsets[0])
        excluded = (task.filters.apply(batch.texts, doc_hashes, task.file.path, batch.first_row, tally)
                    if task.filters.active else None)
        if not chunked:
            sums = []
            for v in task.score_vectors:
                s, n_tokens, n_ngrams = task.featurizer.score(batch.texts, v)
                sums.append(s)
            if not sums:
                n_tokens, n_ngrams = np.zeros(n_docs, np.int64), np.zeros(n_docs, np.int64)
            n_ngrams_f, hashes, unit_bytes = n_ngrams.astype(np.float64), doc_hashes, np.diff(offsets)
        else:
            chunks = chunk_documents(batch.texts, task.chunk_words)
            sums = []
            for v in task.score_vectors:
                s, c_tokens, c_ngrams = score_chunks(task.featurizer, chunks, v)
                sums.append(s)
            if task.emit == "chunks":
                n_tokens, n_ngrams_f = c_tokens, c_ngrams.astype(np.float64)
                hashes = chunk_hashes(doc_hashes, chunks)
                unit_bytes = chunks.relative_ends - chunks.relative_starts
                put("row", chunks.doc.astype(np.int64) + batch.first_row)
                put("chunk", chunks.index.astype(np.int32))
                put("start", chunks.relative_starts.astype(np.int64))
                put("end", chunks.relative_ends.astype(np.int64))
            else:
                per_doc = chunks.counts_per_document(n_docs)
                denom = np.maximum(per_doc, 1).astype(np.float64)
                sums = [np.bincount(chunks.doc, weights=s, minlength=n_docs) / denom for s in sums]
                n_tokens = np.bincount(chunks.doc, weights=c_tokens, minlength=n_docs).astype(np.int64)
                n_ngrams_f = np.bincount(chunks.doc, weights=c_ngrams, minlength=n_docs) / denom
                hashes, unit_bytes = doc_hashes, np.diff(offsets)
        eligible = n_tokens >= max(1, task.min_length)
        if excluded is not None:
            eligible &= ~(excluded[chunks.doc] if chunked and task.emit == "chunks" else excluded)
        outside = None
        if task.outside is not None:
            outside = task.outside.lookup(batch.first_row, n_docs,
                                          doc_hashes if task.outside.id_hashes is not None else None, batch.texts)
            outside = outside[chunks.doc] if chunked and task.emit == "chunks" else outside
            eligible &= task.outside.eligible(outside)
            put("outside", outside)
        if task.parts is not None:
            part = part_indices(batch.labels, task.parts.values)
            part = part[chunks.doc] if chunked and task.emit == "chunks" else part
            eligible &= part >= 0
            put("part", part)
        if task.entries is not None:
            found = (field_entries.of(batch.labels) if field_entries is not None
                     else match_entries(task.entries.entries, batch.texts))
            found = found.take(chunks.doc) if chunked and task.emit == "chunks" else found
            matched = np.diff(found.offsets) > 0
            unmatched += int((eligible & ~matched).sum())
            eligible &= matched
            entry_parts.append(found)
        if task.signatures is not None:
            exact, minhash = unit_signatures(task.signatures, batch.texts,
                                             chunks if chunked and task.emit == "chunks" else None)
            put("exact", exact)
            if task.signatures.mode == "near":
                put("minhash", minhash)
        if task.keep_ids:
            ids = batch.ids.cast(pa.string()).fill_null("")
            if chunked and task.emit == "chunks":
                ids = ids.take(pa.array(chunks.doc))
            put("ids", pa.array(ids.to_pylist(), pa.large_string()))
        put("n_tokens", n_tokens.astype(np.int32))
        put("n_ngrams", n_ngrams_f)
        put("hash", hashes)
        put("text_bytes", np.asarray(unit_bytes, dtype=np.int64))
        put("scores", np.stack(sums) if sums else np.empty((0, len(hashes))))
        keys = [task.rule.keys(s, n_ngrams_f, hashes, eligible, task.seed) for s in sums]
        if outside is not None:
            keys = [task.outside.keys(k, outside) for k in keys]
        put("keys", np.stack(keys) if keys else np.empty((0, len(hashes))))
    empty = {"n_tokens": np.int32, "n_ngrams": np.float64, "hash": np.uint64, "text_bytes": np.int64,
             **({"row": np.int64, "chunk": np.int32, "start": np.int64, "end": np.int64}
                if chunked and task.emit == "chunks" else {}),
             **({"exact": np.uint64} if task.signatures is not None else {}),
             **({"part": np.int16} if task.parts is not None else {}),
             **({"outside": np.float64} if task.outside is not None else {})}
    arrays = {name: np.concatenate(parts[name]) if name in parts else np.empty(0, dtype)
              for name, dtype in empty.items()}
    if task.signatures is not None and task.signatures.mode == "near":
        arrays["minhash"] = (np.concatenate(parts["minhash"]) if "minhash" in parts
                             else np.empty((0, task.signatures.permutations), np.uint16))
    for name in ("scores", "keys"):
        arrays[name] = (np.concatenate(parts[name], axis=1) if name in parts
                        else np.empty((n_targets, 0), dtype=np.float64))
    if task.entries is not None:
        arrays["entry_ids"], arrays["entry_offsets"] = concat_entries(entry_parts)
        if field_entries is not None:
            arrays["entry_names"], arrays["entry_name_offsets"] = pack_names(field_entries.names)
    if task.keep_ids:
        ids = pa.concat_arrays(parts["ids"]) if "ids" in parts else pa.array([], pa.large_string())
        data, offsets = ids.buffers()[2], np.frombuffer(ids.buffers()[1], np.int64)[ids.offset: ids.offset + len(ids) + 1]
        arrays["ids"] = np.frombuffer(data, np.uint8)[offsets[0]: offsets[-1]] if data is not None else np.empty(0, np.uint8)
        arrays["id_offsets"] = offsets - offsets[0]
    part = task.file.part
    if task.outside is not None and task.outside.values is not None and (part is None or part.index == part.of - 1):
        rows = first_row_of(task.file) + documents  # the last part ends where the file does
        beyond = task.outside.values[rows:]
        if len(beyond) and not np.isnan(beyond).all():
            raise InputError(f"the --scores give row {rows + int(np.flatnonzero(~np.isnan(beyond))[0])} of this "
                             f"file a score, and it has {rows} documents", path=task.file.path)
    if task.rejects_path:
        write_rejects(task.rejects_path, rejects)
    save_arrays(task.scores_path, arrays)
    return ScoreSummary(
        unit=task.unit,
        documents=documents - len(rejects),
        units=len(arrays["hash"]),
        eligible=int(np.isfinite(arrays["keys"][0]).sum()) if n_targets else 0,
        tokens=int(arrays["n_tokens"].sum()),
        text_bytes=text_bytes,
        rejected=len(rejects),
        filtered=tally.counts,
        unmatched=unmatched,
    )


def merge_scores(paths: list[str], path: str) -> None:
    """Write the scores file of a file read in parts (``paths``, in order) to ``path``: the
    arrays of its parts one after the other (a balance field's names: those of every part,
    as ``global_entries`` maps them, which is how the allocation reads them anyway)."""
    loaded = [load_arrays(p) for p in paths]
    ragged = {"ids": "id_offsets", "entry_ids": "entry_offsets"}
    out: dict[str, np.ndarray] = {}
    for name in loaded[0]:
        if name in ragged.values() or name.startswith("entry_name"):
            continue
        values = [a[name] for a in loaded]
        if name == "entry_ids" and "entry_names" in loaded[0]:
            names, values = global_entries([unpack_names(a["entry_names"], a["entry_name_offsets"]) for a in loaded],
                                           values)
            out["entry_names"], out["entry_name_offsets"] = pack_names(names)
        if name in ragged:
            out[name], out[ragged[name]] = concat_ragged(values, [a[ragged[name]] for a in loaded], values[0].dtype)
        else:
            out[name] = np.concatenate(values, axis=1 if name in ("scores", "keys") else 0)
    save_arrays(path, out)


def merge_summaries(unit: int, summaries: list[ScoreSummary]) -> ScoreSummary:
    """The summary of file ``unit`` from those of its parts."""
    total = ScoreSummary(unit, 0, 0, 0, 0, 0, filtered=merge_tallies([s.filtered for s in summaries]))
    for s in summaries:
        for name in ("documents", "units", "eligible", "tokens", "text_bytes", "rejected", "unmatched"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
    return total


# -- write (and what the report and --group-by take from the same pass) -------------------


@dataclass(frozen=True)
class WriteTask:
    """One pass over a raw file after the allocation: write each target's selected units
    to its shard in ``outputs`` (none when ``outputs`` is empty: a report-only pass), cut
    into pieces where it would exceed ``limits``, take the report's ``sample`` and count the
    units by the ``group_by`` field."""

    unit: int
    file: InputFile
    read: ReadSpec
    featurizer: Featurizer
    score_fingerprint: str  # of the score unit whose arrays this pass reads
    assigned: np.ndarray  # int16 per scored unit: the target it went to, -1 for none
    outputs: tuple[str, ...]
    output_format: str
    emit: str = "documents"
    sample: SampleSpec | None = None
    group_by: str | None = None
    scores_path: str = field(default="", metadata=NOT_FINGERPRINTED)
    limits: ShardLimits = ShardLimits()


@dataclass
class WriteResult:
    unit: int
    selected: list  # per target
    shards: list  # per target: its WrittenShards as dicts, in order (one, its pieces, or none)
    sample: dict  # FileSample.summary(), {} without a sample
    pool_counts: np.ndarray
    selected_counts: np.ndarray
    groups: dict  # GroupCounter.counts, {} without --group-by


def write_task(task: WriteTask) -> WriteResult:
    """See ``WriteTask``; selected documents are copied unchanged, selected chunks become
    records: the document's fields with the chunk's text in the text field, plus
    ``chunk_index``."""
    fmt = format_of(task.file)
    assigned = task.assigned
    chunks = task.emit == "chunks"
    scores = load_arrays(task.scores_path, ("hash", "keys", "row", "chunk", "start", "end"))
    if len(scores["hash"]) != len(assigned):
        raise InputError(f"the scores of this file have {len(scores['hash'])} units, the allocation "
                         f"{len(assigned)}: the work directory is inconsistent", path=task.scores_path)
    unit_row = scores["row"] if chunks else None
    counts = [int((assigned == t).sum()) for t in range(len(task.outputs))]
    for p in task.outputs:  # pieces an interrupted attempt published (a rename cut short)
        remove_pieces(p, task.output_format)
    writers = [SplitShardWriter(p, task.output_format, task.limits) if n else None
               for p, n in zip(task.outputs, counts)]
    sample = FileSample(task.sample, task.featurizer, scores["hash"], assigned) if task.sample else None
    eligible = np.isfinite(scores["keys"][0]) if len(scores["keys"]) else np.zeros(len(assigned), bool)
    groups = GroupCounter(task.group_by, max(1, len(task.outputs))) if task.group_by else None
    rows_seen = 0
    try:
        for block in fmt.iter_blocks(task.file, task.read.block_bytes):
            lo, hi = block.first_row, block.first_row + len(block)
            rows_seen = hi
            if chunks:
                ulo, uhi = np.searchsorted(unit_row, [lo, hi])
                units = np.arange(ulo, uhi)
                rows_of_units = unit_row[ulo:uhi] - lo
            else:
                units = np.arange(lo, min(hi, len(assigned)))
                rows_of_units = units - lo
            if hi > len(assigned) and not chunks:
                raise InputError(f"file changed since it was scored: more than {len(assigned)} documents",
                                 path=task.file.path)
            a = assigned[units]
            if not chunks:
                for t, w in enumerate(writers):
                    if w is not None and (a == t).any():
                        fmt.write_rows(w, block, np.flatnonzero(a == t))
            elif writers and (a >= 0).any():
                picked = np.flatnonzero(a >= 0)
                fmt.write_chunks(task.file, task.read, block, writers, a[picked], rows_of_units[picked],
                                 scores["chunk"][units[picked]], scores["start"][units[picked]],
                                 scores["end"][units[picked]], CHUNK_INDEX_FIELD)
            if sample is not None:
                need = np.flatnonzero(sample.needed[units])
                if len(need):
                    rows = np.unique(rows_of_units[need])
                    texts, _ = fmt.texts_of(task.file, task.read, block, rows)
                    at = np.searchsorted(rows, rows_of_units[need])
                    if chunks:
                        u = units[need]
                        unit_texts = span_texts(texts, at, scores["start"][u], scores["end"][u])
                    else:
                        unit_texts = texts.take(pa.array(at))
                    sample.add(units[need], unit_texts)
            if groups is not None:
                labels = fmt.field_labels(task.file, block, task.group_by)
                groups.add(labels.take(pa.array(rows_of_units)), eligible[units], a)
        if not chunks and rows_seen != len(assigned):
            raise InputError(f"file changed since it was scored: {rows_seen} documents, expected {len(assigned)}",
                             path=task.file.path)
        shards = []
        for w, n in zip(writers, counts):
            if w is not None and w.documents != n:
                raise InputError(f"file changed while dsir was reading it: expected {n} selected records",
                                 path=task.file.path)
            shards.append([asdict(x) for x in w.commit()] if w is not None else [])
    except BaseException:
        for w in writers:
            if w is not None:
                w.abort()
        raise
    return WriteResult(
        task.unit, counts, shards, sample.summary() if sample else {},
        sample.pool_counts if sample else np.zeros(0, np.int64),
        sample.selected_counts if sample else np.zeros((0, 0), np.int64),
        groups.counts if groups else {},
    )


def written_shards(meta: dict) -> tuple[str, ...]:
    """The paths of the shards a write unit's result (its record's ``meta``) names, in order:
    the files it owns besides its outputs' own names (``units.DurableUnit.result_files``)."""
    return tuple(shard["path"] for per_target in meta["shards"] for shard in per_target)


def chunk_record(line: bytes, text_field: str, start: int, end: int, index: int, path: str,
                 line_number: int | None) -> dict:
    """The record of one selected chunk: its document's fields, the chunk's text, its index."""
    try:
        record = json.loads(line)
    except RecursionError:
        raise InputError("JSON nested too deeply to rewrite as a chunk record (more than about 900 levels)",
                         path=path, line=line_number) from None
    if CHUNK_INDEX_FIELD in record:
        raise InputError(f"record already has a field {CHUNK_INDEX_FIELD!r}, which --emit chunks adds",
                         path=path, line=line_number)
    set_json_field(record, text_field, chunk_text(json_field(record, text_field, "text field")[0], start, end))
    record[CHUNK_INDEX_FIELD] = index
    return record


def chunk_text(text: str, start: int, end: int) -> str:
    return text.encode("utf-8", "surrogatepass")[start:end].decode("utf-8", "replace")
