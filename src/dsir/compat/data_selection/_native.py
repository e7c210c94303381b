"""How ``HashedNgramDSIR`` runs on dsir: its fit and its weights by ``dsir.DSIR``'s compiled
pipeline, over the files themselves or over texts streamed in batches.

Inputs: with the default loader and parser on plain jsonl files, dsir reads the files (the
compiled reader, on ``num_proc`` threads). Otherwise the examples come from the user's
functions, their texts are gathered into Arrow batches of ``BATCH`` and handed to dsir as a
``RecordBatchReader`` (its in-memory path): one Python call per example for the user's
functions, none for the featurizing. Row ``i`` of a dataset is its ``i``-th example (non-blank
line) either way, so virtual shard ``j`` of ``S`` holds rows ``j, j + S, ...``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from dsir.api import DSIR as NativeDSIR
from dsir.compat.data_selection.base import is_default_fn, shards_by_dataset
from dsir.featurize import HashedNgramFeaturizer
from dsir.io.paths import detect_format, expand_paths
from dsir.io.readers import iter_text_batches

if TYPE_CHECKING:
    from dsir.compat.data_selection.hashed_ngram_dsir import HashedNgramDSIR

#: Whether dsir has the reference's featurizer and estimator (``features="sha256-ngrams"``,
#: ``method="reference"``). Until it does, the fast path computes the same things over dsir's
#: own buckets (its featurizer, its smoothed estimator): the same tokens, rows, shards and
#: files, other weights. When it lands, nothing else here changes: the weights become the
#: reference's, which ``check_vectors`` verifies on every fit.
REFERENCE_FEATURES = "features" in NativeDSIR.default_params()
ALL_DOCUMENTS = 2**62  # raw_sample: fit on every raw document handed over
BATCH = 10_000
_TEXT = pa.schema([("text", pa.large_string())])


def native_params(ngrams: int, buckets: int, target_laplace_smoothing: float, workers: int) -> dict:
    """``dsir.DSIR`` parameters of the reference's estimator (or of the fallback, above)."""
    params = dict(ngrams=ngrams, buckets=buckets, raw_sample=ALL_DOCUMENTS, min_length=0, workers=max(1, workers))
    if REFERENCE_FEATURES:
        # The reference: unsmoothed raw model, target pseudo-count ``target_laplace_smoothing``
        # (dsir's ``target_smoothing``; ``smoothing`` is dsir's own method's, unused here).
        params.update(features="sha256-ngrams", method="reference", target_smoothing=target_laplace_smoothing)
    return params


def supports(ngrams: int, buckets: int) -> bool:
    """Whether dsir's featurizer takes these parameters (else everything runs in Python)."""
    return isinstance(ngrams, int) and isinstance(buckets, int) and 1 <= ngrams <= 8 and 1 <= buckets <= 2**31 - 1


def _default_fns(load: Callable, parse: Callable | None) -> bool:
    return is_default_fn(load, "default_load_dataset_fn") and is_default_fn(parse, "default_parse_example_fn")


def _plain_jsonl(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and detect_format(os.fspath(path)) == (
        "jsonl", None)


def file_paths(paths: list, load: Callable, parse: Callable | None) -> list[str] | None:
    """The paths as dsir names them, when dsir can read them itself: the default loader and
    parser, plain jsonl files, none twice (dsir refuses a file given twice). Else ``None``."""
    if not paths or not _default_fns(load, parse) or not all(_plain_jsonl(p) for p in paths):
        return None
    if len({os.path.realpath(p) for p in paths}) != len(paths):
        return None
    return [f.path for f in expand_paths([os.fspath(p) for p in paths], "input")]


def text_batches(path: Any, load: Callable, parse: Callable | None) -> Iterator[pa.Array]:
    """The texts of one dataset's examples, in order, as Arrow arrays of up to ``BATCH``."""
    if _default_fns(load, parse) and _plain_jsonl(path):
        for batch in iter_text_batches(expand_paths([os.fspath(path)], "input")[0], "text"):
            yield batch.texts.cast(pa.large_string())
        return
    pending: list = []
    for ex in load(path):
        pending.append(parse(ex) if parse is not None else ex)
        if len(pending) == BATCH:
            yield _texts(pending, path)
            pending = []
    if pending:
        yield _texts(pending, path)


def _texts(items: list, path: Any) -> pa.Array:
    bad = next((x for x in items if not isinstance(x, str)), None)
    if bad is not None:
        raise TypeError(f"{path}: the parse function gave a {type(bad).__name__}, expected the text (a str)")
    return pa.array(items, pa.large_string())


def token_counts(texts: pa.Array) -> np.ndarray:
    """Tokens per text: dsir's tokenizer is the reference's ``wordpunct`` on the lowercased
    text (``\\w+|[^\\w\\s]+``), so these are the reference's counts whatever the buckets."""
    return HashedNgramFeaturizer(1, 1).count(texts)[1]


def ngram_totals(tokens: np.ndarray, ngrams: int) -> np.ndarray:
    """N-grams of orders 1..``ngrams`` of a text of ``tokens`` tokens (``get_ngram_counts(...).sum()``)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    return sum(np.maximum(tokens - (k - 1), 0) for k in range(1, ngrams + 1))


def within_budget(batches: Iterable[pa.Array], num_shards: int, share: int, ngrams: int) -> Iterator[pa.Array]:
    """The texts the reference's fit reads under a budget: each virtual shard reads its rows
    in order and stops after the one that brings its n-gram count above ``share``.

    So a row is read when the n-grams of its shard's earlier rows are at most ``share``.
    Stops reading once every shard has stopped.
    """
    seen = np.zeros(num_shards, dtype=np.int64)  # n-grams of each shard's rows so far
    row = 0
    for texts in batches:
        g = ngram_totals(token_counts(texts), ngrams)
        shard = (row + np.arange(len(texts))) % num_shards
        keep = np.zeros(len(texts), dtype=bool)
        for s in range(num_shards):
            idx = np.flatnonzero(shard == s)
            before = seen[s] + np.cumsum(g[idx]) - g[idx]
            keep[idx] = before <= share
            seen[s] += g[idx].sum()
        row += len(texts)
        yield texts.filter(pa.array(keep))
        if (seen > share).all():
            return


def as_reader(batches: Iterable[pa.Array]) -> pa.RecordBatchReader:
    """Text arrays as a stream of record batches with one column, ``text``."""
    return pa.RecordBatchReader.from_batches(_TEXT, (pa.record_batch([t], schema=_TEXT) for t in batches))


def _fit_source(model: HashedNgramDSIR, paths: list, load: Callable, parse: Callable | None,
                budget: int | None) -> list[str] | pa.RecordBatchReader:
    """What dsir fits one side on: exactly the examples the reference's ``_fit_bow`` reads."""
    shards = model._get_virtually_sharded_datasets(paths)
    share = None if budget is None else budget // len(shards)
    files = file_paths(paths, load, parse)
    # no shard can reach its share when the whole file has fewer n-grams than bytes * ngrams
    if files is not None and (share is None or all(model.ngrams * os.path.getsize(p) <= share for p in paths)):
        return files
    counts = [len(g) for g in shards_by_dataset(shards)]

    def batches() -> Iterator[pa.Array]:
        for path, num_shards in zip(paths, counts):
            texts = text_batches(path, load, parse)
            yield from (texts if share is None else within_budget(texts, num_shards, share, model.ngrams))

    return as_reader(batches())


def _as_file(source: list[str] | pa.RecordBatchReader, folder: str, name: str) -> str:
    """One file for a named target (dsir names targets by path): the file itself, or the stream
    written to an Arrow file."""
    if isinstance(source, list):
        return source[0]
    path = os.path.join(folder, f"{name}.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, _TEXT) as writer:
        for batch in source:
            writer.write_batch(batch)
    return path


def fit(model: HashedNgramDSIR, budget: int | None) -> tuple[NativeDSIR, np.ndarray, np.ndarray]:
    """Fit dsir on what the reference fits on: ``(fitted dsir.DSIR, raw counts[buckets],
    target counts[targets, buckets])``."""
    native = NativeDSIR(**native_params(model.ngrams, model.num_buckets, model.target_laplace_smoothing,
                                        model.num_proc))
    raw = _fit_source(model, model.raw_datasets, model.raw_load_dataset_fn, model.raw_parse_example_fn, budget)
    with tempfile.TemporaryDirectory(prefix="dsir-compat-") as folder:
        if model.separate_targets:
            # named targets t00000, t00001, ... in order; ":1" so that no path reads as a proportion
            target: Any = []
            for i, t in enumerate(model.target_datasets):
                source = _fit_source(model, [t], model.target_load_dataset_fn, model.target_parse_example_fn, budget)
                target.append(f"{_name(i)}={_as_file(source, folder, _name(i))}:1")
        else:
            target = _fit_source(model, model.target_datasets, model.target_load_dataset_fn,
                                 model.target_parse_example_fn, None)  # the reference fits on every target token
        native.fit(raw, target)
    return native, native.fit_.raw_counts, native.fit_.target_counts


def _name(i: int) -> str:
    return f"t{i:05d}"


def check_vectors(native: NativeDSIR, log_diff: np.ndarray) -> None:
    """With the reference's estimator, dsir's score vectors are ``log_diff``: else the weights
    would not be the reference's, so fail rather than write them."""
    if REFERENCE_FEATURES and not np.allclose(native.fit_.score_vectors, np.atleast_2d(log_diff),
                                              rtol=1e-9, atol=1e-12):
        raise RuntimeError("dsir's reference estimator disagrees with data_selection's log_diff; "
                           "please report this as a bug")


def compute(model: HashedNgramDSIR, native: NativeDSIR) -> None:
    """Score every raw example with dsir and save each virtual shard's weights and lengths.

    The datasets go ``num_proc`` at a time, so memory holds a few numbers per example of
    those datasets only.
    """
    groups = shards_by_dataset(model._get_virtually_sharded_datasets(model.raw_datasets))
    targets = len(model.target_datasets) if model.separate_targets else 0
    step = max(1, model.num_proc)
    for start in range(0, len(groups), step):
        chunk = groups[start:start + step]
        scored = _score(native, [g[0]["path"] for g in chunk], model.raw_load_dataset_fn,
                        model.raw_parse_example_fn, targets)
        for group, (weights, tokens) in zip(chunk, scored):
            # the reference's length: (n-grams + n(n-1)/2) // n, a float (its remainder is one)
            metadata = (ngram_totals(tokens, model.ngrams) + model.ngrams * (model.ngrams - 1) / 2) // model.ngrams
            n = len(group)
            for s in group:
                model._save_shard(s["overall_idx"], weights[s["shard_idx"]::n], metadata[s["shard_idx"]::n])


def _score(native: NativeDSIR, paths: list, load: Callable, parse: Callable | None,
           targets: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(log weights, tokens)`` of every example of each dataset: weights ``[rows]``, or
    ``[rows, targets]`` for named targets."""
    names = ["log_weight"] if not targets else [f"log_weight_{_name(t)}" for t in range(targets)]
    files = file_paths(paths, load, parse)
    if files is not None:
        table = native.score(files).select(["file", "row", *names, "tokens"])
        where = table.column("file").to_numpy(zero_copy_only=False)
        row = table.column("row").to_numpy()
        parts = []
        for f in files:
            rows = np.flatnonzero(where == f)
            parts.append(rows[np.argsort(row[rows], kind="stable")])
    else:
        counts: list[int] = []

        def batches() -> Iterator[pa.Array]:
            for path in paths:
                n = 0
                for texts in text_batches(path, load, parse):
                    n += len(texts)
                    yield texts
                counts.append(n)
            yield pa.array([], pa.large_string())  # at least one batch: an all-empty input is no error

        table = native.score(as_reader(batches())).select([*names, "tokens"])
        bounds = np.concatenate([[0], np.cumsum(counts)])
        parts = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(paths))]
    weights = np.column_stack([table.column(c).to_numpy() for c in names])
    weights = weights[:, 0] if not targets else weights
    tokens = table.column("tokens").to_numpy()
    return [(weights[rows], tokens[rows]) for rows in parts]
