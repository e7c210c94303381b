"""Held-out target documents (``--target-eval``) and the report's perplexities on them.

``--target-eval PATH`` holds out documents of the one (unnamed) target; with named targets
every value is ``NAME=PATH``, for the target of that name (a name given twice joins its
paths; a target without one gets no perplexity). Paths are files, folders or globs of any
input format dsir reads, with the text in the targets' text field. They shape the report
only: ``select`` checks them before it reads anything else and keeps them in
``OUT/_dsir/target-eval.json``, which a later ``dsir report`` uses unless it is given others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dsir.errors import DsirError, InputError, UsageError
from dsir.io.paths import InputFile, expand_paths, open_binary
from dsir.io.readers import iter_text_batches
from dsir.io.writers import write_json_atomic
from dsir.metrics.perplexity import KneserNeyBigram
from dsir.metrics.text import CSR, word_ids
from dsir.pipeline.targets import TARGET_NAME

STORED = "target-eval.json"
EVAL_BLOCK_BYTES = 4 << 20  # of text per batch: the model's arrays are a few times its words


@dataclass(frozen=True)
class TargetEval:
    """The held-out documents of the target ``name`` (None: the unnamed target)."""

    name: str | None
    files: tuple[InputFile, ...]

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]


def _split(value: str) -> tuple[str | None, str]:
    """``NAME=PATH`` or ``PATH``, as ``--target`` reads a name (an existing path is a path)."""
    if "=" in value and not os.path.exists(value):
        name, path = value.split("=", 1)
        if TARGET_NAME.match(name):
            if not path:
                raise UsageError(f"--target-eval {value}: no path after '{name}='")
            return name, path
    return None, value


def resolve_target_eval(values: Sequence[str], names: Sequence[str | None]) -> list[TargetEval]:
    """The ``--target-eval`` values matched to the targets ``names`` and their files found
    (``InputError`` naming a path that does not exist or is not an input file)."""
    named = [n for n in names if n is not None]
    paths: dict[str | None, list[str]] = {}
    for value in values:
        name, path = _split(value)
        if named and name is None:
            raise UsageError(f"--target-eval {value}: the targets have names ({', '.join(named)}): give NAME=PATH")
        if not named and name is not None:
            raise UsageError(f"--target-eval {value}: the target has no name, so no NAME= (give the path alone)")
        if named and name not in named:
            raise UsageError(f"--target-eval {value}: no target is named {name!r} (the targets: {', '.join(named)})")
        paths.setdefault(name, []).append(path)
    return [TargetEval(name, tuple(expand_paths(ps, "target-eval"))) for name, ps in paths.items()]


def eval_batches(ev: TargetEval, text_field: str, on_error: str) -> Iterator[tuple[CSR, int]]:
    """The held-out documents as word ids, a batch at a time, with the records each batch
    rejected (``on_error="skip"``: they are no documents; ``"stop"`` raises on the first)."""
    for file in ev.files:
        for batch in iter_text_batches(file, text_field, None, EVAL_BLOCK_BYTES, on_error):
            texts = batch.texts
            if batch.rejects:
                keep = np.ones(len(texts), dtype=bool)
                keep[[r.row - batch.first_row for r in batch.rejects]] = False
                texts = texts.filter(pa.array(keep))
            yield word_ids(texts), len(batch.rejects or ())


def check_target_eval(evals: list[TargetEval], text_field: str, on_error: str) -> None:
    """Read every held-out file; refuse one whose documents hold no word (no perplexity can
    be measured on it) and, under ``on_error="stop"``, a bad record (its file and line)."""
    for ev in evals:
        if not sum(len(ids) for (_, ids), _ in eval_batches(ev, text_field, on_error)):
            who = f" of target {ev.name}" if ev.name else ""
            raise InputError(f"the held-out documents{who} (--target-eval) hold no word: no perplexity can be "
                             "measured on them", path=", ".join(ev.paths))


def save_target_eval(work_path: str, evals: list[TargetEval]) -> None:
    write_json_atomic(work_path, {"targets": [{"name": ev.name, "paths": ev.paths} for ev in evals]})


def load_target_eval(work_path: str) -> list[TargetEval] | str | None:
    """What ``save_target_eval`` kept: None if nothing, the error (a string) if its files
    cannot be found any more."""
    try:
        with open_binary(work_path) as fh:
            stored = json.load(fh)["targets"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        return f"{work_path} cannot be read ({exc})"
    try:
        return [TargetEval(t["name"], tuple(expand_paths(t["paths"], "target-eval"))) for t in stored]
    except DsirError as exc:
        return str(exc)


def no_perplexity(why: str) -> dict:
    return {"selected": None, "pool": None, "ratio": None, "note": f"no perplexity: {why}"}


def heldout_perplexity(ev: TargetEval, selected: CSR, pool: CSR, text_field: str, on_error: str) -> dict:
    """Perplexity on ``ev``'s documents of a Kneser-Ney bigram model trained on the
    selection's equal text, and of one trained on the pool's."""
    paths = {"paths": ev.paths}
    if not len(selected[1]):
        return {**no_perplexity("no selected text to train a model on"), "eval": paths}
    models = [KneserNeyBigram().fit(*selected), KneserNeyBigram().fit(*pool)]
    log_prob, words, documents, rejected = np.zeros(2), 0, 0, 0
    try:
        for (indptr, ids), bad in eval_batches(ev, text_field, on_error):
            log_prob += [m.log_probs(indptr, ids).sum() for m in models]
            words, documents, rejected = words + len(ids), documents + len(indptr) - 1, rejected + bad
    except InputError as exc:  # checked when given: the files changed since
        return {**no_perplexity(str(exc)), "eval": paths}
    paths.update(documents=documents, words=words, rejected=rejected)
    if not words:
        return {**no_perplexity("the held-out documents hold no word"), "eval": paths}
    sel, raw = (float(x) for x in np.exp(-log_prob / words))
    return {"selected": sel, "pool": raw, "ratio": sel / raw, "note": None, "eval": paths}
