"""Outside scores: per-document scores made elsewhere (a quality classifier, a perplexity
filter, ``dsir score`` of another run) as what a selection ranks by, or as one more term of
its keys.

``--scores FILE... --score-column NAME`` reads the files once (parquet, Arrow IPC or jsonl),
before any work: each row gives a document's score, located by ``file`` and ``row`` (as
``dsir score`` writes them: the pool file's path as dsir names it, and the 0-based row), or,
with ``--id-field``, by the pool's id (the scores file's column of that name). Then:

* alone (no ``--score-weight``): the key of a unit is its score, so ``-k`` keeps the k best
  scores (ties by unit hash, as every key), ``--keep-top F`` (a ``--fraction``) the best F of
  the eligible units, ``--tokens`` the best until the budget;
* with ``--score-weight λ``: ``λ * score`` is added to the importance key, so a unit's
  sampling weight is multiplied by ``exp(λ * score)`` (with ``--method random``: sampling in
  proportion to ``exp(λ * score)``);
* ``--score-range LO:HI``: units whose score is outside are not eligible.

A pool document without a score is not eligible (the manifest counts them); a score for a
document the pool does not have is an error that names the scores file, and so is a
document scored twice.

``--scorer fasttext:MODEL.bin --scorer-label LABEL`` makes the scores in the score pass instead:
each document's probability of LABEL under a fastText classifier (``sample.fasttext_scorer``;
DCLM's and PreSelect's quality classifiers are such files), used as the scores of files are.
The model is checked (it loads, it has the label) before any work, and its sha256 is in the
fingerprint of every score unit, so a resumed run with another model scores again.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import InputError, UsageError


@dataclass(frozen=True)
class OutsideOptions:
    """The options as given (see the module doc)."""

    paths: tuple[str, ...] = ()
    column: str | None = None
    weight: float | None = None
    low: float | None = None
    high: float | None = None
    scorer: str | None = None  # ``fasttext:MODEL.bin``
    scorer_label: str | None = None

    def __post_init__(self) -> None:
        if self.scorer is not None and self.paths:
            raise UsageError("--scores reads scores made elsewhere and --scorer makes them: give one of them")
        if self.scorer is not None and self.column:
            raise UsageError("--score-column names a column of --scores files; --scorer scores by its label")
        if self.scorer_label is not None and self.scorer is None:
            raise UsageError("--scorer-label names a label of the --scorer model: give --scorer")
        if self.scorer is not None:
            from dsir.sample.fasttext_scorer import ScorerSpec

            ScorerSpec.parse(self.scorer, self.scorer_label)  # a bad spec is refused before any work
            if not (self.weight is None or math.isfinite(self.weight)):
                raise UsageError(f"--score-weight must be a finite number, got {self.weight}")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise UsageError(f"--score-range {self.low:g}:{self.high:g} is empty (LO > HI)")
            return
        if self.paths and not self.column:
            raise UsageError("--scores needs --score-column: the column that holds the scores")
        if self.column and not self.paths:
            raise UsageError("--score-column names a column of --scores files: give --scores")
        if not self.paths and (self.weight is not None or self.low is not None or self.high is not None):
            raise UsageError("--score-weight and --score-range apply to --scores: give --scores")
        if self.weight is not None and not math.isfinite(self.weight):
            raise UsageError(f"--score-weight must be a finite number, got {self.weight}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise UsageError(f"--score-range {self.low:g}:{self.high:g} is empty (LO > HI)")

    @property
    def active(self) -> bool:
        return bool(self.paths) or self.scorer is not None

    @property
    def ranks_alone(self) -> bool:
        """Whether the scores are the keys (no importance weights)."""
        return self.active and self.weight is None


def parse_range(value: str) -> tuple[float | None, float | None]:
    """``LO:HI`` with either side empty (unbounded)."""
    lo, colon, hi = value.partition(":")
    if not colon:
        raise UsageError(f"--score-range must be LO:HI (either may be empty), got {value!r}")
    try:
        return (float(lo) if lo.strip() else None), (float(hi) if hi.strip() else None)
    except ValueError:
        raise UsageError(f"--score-range must be LO:HI of numbers, got {value!r}") from None


@dataclass(frozen=True)
class UnitScores:
    """What one score unit applies: ``values`` by row of its file (NaN: no score), or, by id,
    the sorted id hashes and their values; the weight and the range."""

    weight: float | None
    low: float | None
    high: float | None
    values: np.ndarray | None = None
    id_hashes: np.ndarray | None = None
    id_values: np.ndarray | None = None
    scorer: ScorerRef | None = None

    def lookup(self, first_row: int, n: int, id_hashes: np.ndarray | None, texts: pa.Array | None = None) -> np.ndarray:
        """float64[n]: the scores of rows ``first_row ..`` (NaN where there is none), or with a
        scorer, of ``texts``."""
        if self.scorer is not None:
            return self.scorer.scorer().score(texts)
        if self.values is not None:
            out = np.full(n, np.nan)
            have = self.values[first_row: first_row + n]
            out[: len(have)] = have
            return out
        at = np.searchsorted(self.id_hashes, id_hashes)
        at = np.minimum(at, max(0, len(self.id_hashes) - 1))
        found = (self.id_hashes[at] == id_hashes) if len(self.id_hashes) else np.zeros(n, bool)
        return np.where(found, self.id_values[at] if len(self.id_values) else 0.0, np.nan)

    def eligible(self, values: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(values)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok

    def keys(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The keys with the scores in them: the scores alone, or ``keys + weight * score``."""
        out = values.astype(np.float64) if self.weight is None else keys + self.weight * np.nan_to_num(values)
        out[~np.isfinite(keys)] = -np.inf  # ineligible stays ineligible
        return out


@dataclass(frozen=True)
class ScorerRef:
    """A ``--scorer`` model as score units carry it: its spec and the sha256 of its bytes (what
    their fingerprints hold); each worker process loads it once (``scorer``)."""

    path: str
    label: str
    fingerprint: str

    def scorer(self):
        with _SCORERS_LOCK:
            found = _SCORERS.get(self)
            if found is None:
                from dsir.sample.fasttext_scorer import FastTextScorer, ScorerSpec

                found = FastTextScorer(ScorerSpec(self.path, self.label))
                found.load()
                _SCORERS.clear()  # one model per run: keep the last
                _SCORERS[self] = found
        return found


_SCORERS: dict = {}
_SCORERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class OutsideScores:
    """The scores of a run, read once: per pool file (``by_row``) or by id, or made by a
    ``scorer``; ``sources`` describes the files for the manifest."""

    options: OutsideOptions
    by_row: tuple = ()
    id_hashes: np.ndarray | None = None
    id_values: np.ndarray | None = None
    sources: tuple = field(default=(), compare=False)
    scorer: ScorerRef | None = None

    def for_file(self, i: int) -> UnitScores:
        o = self.options
        if self.scorer is not None:
            return UnitScores(o.weight, o.low, o.high, scorer=self.scorer)
        if self.id_hashes is not None:
            return UnitScores(o.weight, o.low, o.high, None, self.id_hashes, self.id_values)
        return UnitScores(o.weight, o.low, o.high, self.by_row[i])

    def describe(self) -> dict:
        o = self.options
        if self.scorer is not None:
            return {"files": [], "scorer": o.scorer, "label": self.scorer.label,
                    "fingerprint": self.scorer.fingerprint, "column": None, "by": "text",
                    "use": "the key" if o.weight is None else f"key + {o.weight:g} * score", "weight": o.weight,
                    "range": [o.low, o.high]}
        return {"files": list(self.sources), "column": o.column, "by": "id" if self.id_hashes is not None
                else "file,row", "use": "the key" if o.weight is None else f"key + {o.weight:g} * score",
                "weight": o.weight, "range": [o.low, o.high]}


def _tables(file) -> list[tuple[int, pa.Table]]:
    """``(first line or row, table)`` of every record of a scores file (any input format)."""
    from dsir.io.readers import iter_line_blocks, iter_record_tables

    if file.format != "jsonl":
        return list(iter_record_tables(file))
    import pyarrow.json as pj

    out = []
    for block in iter_line_blocks(file):
        data = block.buf[: block.ends[-1]].tobytes()
        try:
            out.append((int(block.line_numbers[0]), pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(
                use_threads=False, block_size=len(data) + 1))))
        except pa.ArrowInvalid as exc:
            raise InputError(f"malformed JSON in a scores file near line {int(block.line_numbers[0])} ({exc})",
                             path=file.path) from None
    return out


def load_outside(options: OutsideOptions, raw_files: list, id_field: str | None) -> OutsideScores | None:
    """Read the ``--scores`` files for the pool ``raw_files`` (see the module doc)."""
    if not options.active:
        return None
    if options.scorer is not None:
        from dsir.sample.fasttext_scorer import FastTextScorer, ScorerSpec

        scorer = FastTextScorer(ScorerSpec.parse(options.scorer, options.scorer_label))
        scorer.load()  # a missing extra, model or label is refused before any work
        return OutsideScores(options, scorer=ScorerRef(scorer.spec.path, scorer.label, scorer.fingerprint))
    from dsir.featurize import content_hashes
    from dsir.io.paths import expand_paths

    files = expand_paths(list(options.paths), "scores")
    index = {f.path: i for i, f in enumerate(raw_files)}
    by_row = [np.full(0, np.nan) for _ in raw_files]
    hashes, values, sources = [], [], []
    keys = [id_field] if id_field else ["file", "row"]
    for sf in files:
        rows = 0
        for first, table in _tables(sf):
            missing = [c for c in keys + [options.column] if c not in table.schema.names]
            if missing:
                raise InputError(f"the scores file has no column {missing[0]!r} (it has "
                                 f"{', '.join(table.schema.names)})", path=sf.path)
            try:
                v = np.asarray(table.column(options.column).cast(pa.float64()).to_numpy(zero_copy_only=False),
                               dtype=np.float64)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(f"the score column {options.column!r} is not numeric ({exc})", path=sf.path) from None
            bad = np.flatnonzero(~np.isfinite(v))
            if len(bad):
                raise InputError(f"the score column {options.column!r} holds {v[bad[0]]} (null or not finite) at "
                                 f"record {first + int(bad[0])}", path=sf.path)
            if id_field:
                ids = table.column(id_field).cast(pa.string())
                if ids.null_count:
                    raise InputError(f"the id column {id_field!r} of the scores file has a null", path=sf.path)
                hashes.append(content_hashes(ids.combine_chunks()))
                values.append(v)
            else:
                names = table.column("file").to_pylist()
                row = np.asarray(table.column("row").to_numpy(zero_copy_only=False), dtype=np.int64)
                for name in dict.fromkeys(names):
                    if name not in index:
                        raise InputError(f"the scores file scores {name!r}, which is not a raw file of this run "
                                         "(paths as dsir score writes them)", path=sf.path)
                    i = index[name]
                    m = np.asarray(pc.equal(table.column("file"), name).to_numpy(zero_copy_only=False), dtype=bool)
                    r, s = row[m], v[m]
                    if (r < 0).any():
                        raise InputError(f"the scores file has a negative row for {name}", path=sf.path)
                    top = int(r.max()) + 1
                    if top > len(by_row[i]):
                        by_row[i] = np.concatenate([by_row[i], np.full(top - len(by_row[i]), np.nan)])
                    if not np.isnan(by_row[i][r]).all() or len(np.unique(r)) != len(r):
                        raise InputError(f"the scores give {name} row {int(r[0])} (or another) more than one score: "
                                         "give one score per document", path=sf.path)
                    by_row[i][r] = s
            rows += table.num_rows
        sources.append({"path": sf.path, "rows": rows})
    if id_field:
        h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        v = np.concatenate(values) if values else np.empty(0)
        order = np.argsort(h, kind="stable")
        h, v = h[order], v[order]
        if len(h) > 1 and (h[1:] == h[:-1]).any():
            raise InputError(f"the scores give an {id_field!r} more than one score: give one score per document",
                             path=", ".join(f.path for f in files))
        return OutsideScores(options, (), h, v, tuple(sources))
    for f, r in zip(raw_files, by_row):
        r.flags.writeable = False
    return OutsideScores(options, tuple(by_row), None, None, tuple(sources))
