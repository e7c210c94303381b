"""Training data schedules from finished selections (``dsir schedule``, docs/schedule.md).

A schedule splits a training run of ``total`` tokens into two phases: the *base* phase (the
first ``1 - window`` of the tokens), where the sources are mixed in proportion to their
token counts (or by given weights), and the *window* phase (the last ``window``), where some
sources get a given share of the tokens (domain upsampling at the end of training) and the
others share the rest in their base proportions. All token counts are integers: each phase's
budget is split by largest-remainder rounding, so the sources of a phase sum exactly to the
phase and the phases exactly to ``total``.

Tokens are dsir's (word and punctuation tokens), times ``tokens_per_dsir_token``: estimates
of a language model's tokens, not counts of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from numbers import Rational

from dsir import __version__
from dsir.errors import InputError, UsageError
from dsir.io.storage import is_remote, local_path, makedirs, write_bytes
from dsir.io.writers import OUTPUT_FORMATS, join_path, output_error, write_json_atomic
from dsir.pipeline.output_dir import MANIFEST, WORK_DIR, OutputDir, is_target_shard

FORMAT_VERSION = 1
SCHEDULE_FILE = "schedule.json"
PHASES = ("base", "window")
DEFAULT_WINDOW = 0.1


@dataclass(frozen=True)
class Shard:
    """One output shard of a selection: its absolute path or URL, and its manifest entry's
    document count and size in bytes (as written: compressed for .gz, .zst and parquet)."""

    path: str
    documents: int
    bytes: int


@dataclass(frozen=True)
class Source:
    """A finished selection (or one named target's part of it) to draw training tokens from.

    ``tokens`` is what the schedule counts as available: the manifest's selected tokens
    (``dsir_tokens``) times the tokens-per-dsir-token ratio, rounded to an integer.
    """

    name: str
    directory: str
    target: str | None
    dsir_tokens: int
    tokens: int
    documents: int
    shards: tuple[Shard, ...]
    text_field: str = "text"
    tokens_per_dsir_token: float = 1.0


@dataclass(frozen=True)
class Phase:
    """Tokens ``start`` (included) to ``end`` (excluded) of the run, and the tokens each
    source gives to them (``tokens``, by source name, in the order of the sources)."""

    name: str
    start: int
    end: int
    tokens: dict[str, int]

    @property
    def size(self) -> int:
        return self.end - self.start

    def weight(self, name: str) -> float:
        """Source ``name``'s share of this phase's tokens."""
        return self.tokens[name] / self.size


@dataclass(frozen=True)
class Schedule:
    """What ``plan_schedule`` decided: the sources, the two phases and how they were made."""

    sources: tuple[Source, ...]
    total_tokens: int
    window: float
    phases: tuple[Phase, ...]
    upsample: dict[str, float]
    base_weights: dict[str, float] | None = None

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)

    def drawn(self, name: str) -> int:
        """Tokens of source ``name`` over the whole run."""
        return sum(p.tokens[name] for p in self.phases)

    def epochs(self, name: str, phase: Phase | None = None) -> float:
        """How many times over source ``name`` is read (in ``phase``, or in the whole run)."""
        drawn = phase.tokens[name] if phase else self.drawn(name)
        return drawn / self.source(name).tokens

    @property
    def warnings(self) -> list[str]:
        """One line per source the run reads more than once."""
        return [f"source {s.name} is repeated: {self.drawn(s.name)} tokens drawn of its {s.tokens} "
                f"({self.epochs(s.name):.2f} epochs)" for s in self.sources if self.drawn(s.name) > s.tokens]


def _exact(value, what: str) -> Fraction:
    """``value`` as an exact non-negative fraction (a float by its shortest decimal: 0.1 is 1/10)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Rational)) or value != value \
            or value in (float("inf"), float("-inf")):
        raise UsageError(f"{what}: {value!r} is not a finite number")
    x = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    if x < 0:
        raise UsageError(f"{what}: {value!r} is negative")
    return x


def largest_remainder(total: int, weights) -> list[int]:
    """Split the integer ``total`` into integers proportional to ``weights`` (exact fractions):
    each part is its quota's floor, and the parts with the largest remainders (the earlier
    one on a tie) get one more until the parts sum to ``total``."""
    ws = [_exact(w, "weight") for w in weights]
    if sum(ws) <= 0:
        raise UsageError("the weights sum to 0: nothing to split the tokens by")
    quotas = [total * w / sum(ws) for w in ws]
    parts = [q.numerator // q.denominator for q in quotas]
    by_remainder = sorted(range(len(ws)), key=lambda i: (parts[i] - quotas[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def load_source(name: str, directory: str, target: str | None = None, tokens_per_dsir_token: float = 1.0) -> Source:
    """The source ``name``: the finished selection in ``directory`` (local or URL), all of it,
    or named target ``target``'s shards and selected tokens only. Refuses, naming the file, a
    directory without a manifest, an unfinished selection, and a target the selection lacks."""
    if not _exact(tokens_per_dsir_token, "--tokens-per-dsir-token") > 0:
        raise UsageError(f"--tokens-per-dsir-token must be positive, not {tokens_per_dsir_token}")
    remote = is_remote(directory)
    root = directory.rstrip("/") if remote else os.path.abspath(local_path(directory))
    manifest_path = join_path(root, MANIFEST)
    try:
        from dsir.api import read_manifest

        manifest = read_manifest(root)
    except FileNotFoundError:
        if OutputDir(root).exists(WORK_DIR):
            raise InputError(f"not found: {root} holds an unfinished dsir selection; finish it (select --resume) "
                             "before scheduling it", path=manifest_path) from None
        raise InputError(f"not found: {root} is not a finished dsir selection (give the output directory of "
                         "'dsir select')", path=manifest_path) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot be read as a dsir manifest ({exc})", path=manifest_path) from None
    try:
        if not isinstance(manifest, dict) or "dsir_version" not in manifest:
            raise KeyError("dsir_version")
        outputs, per_target = manifest["outputs"], manifest["per_target"]
        dsir_tokens = manifest["counts"]["selected_tokens"]
        if target is not None:
            named = [t["name"] for t in per_target if t["name"]]
            if target not in named:
                have = f"its targets are {', '.join(named)}" if named else "it has no named targets"
                raise InputError(f"no target named {target!r} in this selection ({have})", path=manifest_path)
            dsir_tokens = next(t["selected_tokens"] for t in per_target if t["name"] == target)
            outputs = [o for o in outputs if is_target_shard(o["path"], target)]
        shards = tuple(Shard(join_path(root, o["path"]), int(o["documents"]), int(o["bytes"])) for o in outputs)
        text_field = (manifest.get("parameters") or {}).get("text_field") or "text"
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        raise InputError(f"not a dsir selection manifest (no {exc})", path=manifest_path) from None
    if not dsir_tokens or not shards:
        raise InputError(f"selection{f' target {target}' if target else ''} has no selected tokens: nothing to "
                         "schedule", path=manifest_path)
    tokens = max(1, round(dsir_tokens * _exact(tokens_per_dsir_token, "--tokens-per-dsir-token")))
    return Source(name, root, target, int(dsir_tokens), int(tokens), sum(s.documents for s in shards), shards,
                  text_field, tokens_per_dsir_token)


def window_mixture(base: dict[str, Fraction], upsample: dict[str, Fraction]) -> dict[str, Fraction]:
    """The window phase's mixture: each source of ``upsample`` gets exactly its share; the
    other sources split what is left (1 minus those shares) in their base proportions."""
    rest = 1 - sum(upsample.values())
    others = sum(w for n, w in base.items() if n not in upsample)
    if rest < 0:
        raise UsageError(f"the --upsample shares sum to {float(1 - rest):g}, more than 1")
    if rest > 0 and others == 0:
        raise UsageError(f"the --upsample shares sum to {float(1 - rest):g}, and no other source (with a base "
                         "weight) is left to fill the rest of the window: give shares that sum to 1")
    return {n: upsample[n] if n in upsample else (rest * w / others if others else Fraction(0))
            for n, w in base.items()}


def plan_schedule(sources, total_tokens: int, window: float = DEFAULT_WINDOW, upsample: dict | None = None,
                  base_weights: dict | None = None) -> Schedule:
    """Plan a run of ``total_tokens`` tokens over ``sources`` (``Source``s, distinct names).

    The window phase gets ``window`` (in (0, 1)) of the tokens, the base phase the rest
    (largest-remainder rounding). Base mixture: ``base_weights`` (name -> weight, every
    source) or else each source's available tokens. Window mixture: ``window_mixture`` of
    the base one and ``upsample`` (name -> share of the window, in [0, 1]). Each phase's
    tokens are split among the sources by largest remainder, in source order on ties.
    """
    sources = tuple(sources)
    names = [s.name for s in sources]
    if not sources:
        raise UsageError("give at least one --source NAME=DIR")
    for n in names:
        if names.count(n) > 1:
            raise UsageError(f"two sources are named {n!r}: give each --source its own name")
    if isinstance(total_tokens, bool) or not isinstance(total_tokens, int) or total_tokens < 1:
        raise UsageError(f"--total-tokens must be a positive number of tokens, not {total_tokens!r}")
    if not isinstance(window, (int, float, Rational)) or not 0 < window < 1:
        raise UsageError(f"--window must be a fraction of the tokens strictly between 0 and 1, not {window!r}")
    upsample = dict(upsample or {})
    for what, given in (("--upsample", upsample), ("--base-weight", base_weights or {})):
        for n in given:
            if n not in names:
                raise UsageError(f"{what} {n}: no --source is named {n!r} (sources: {', '.join(names)})")
    shares = {n: _exact(v, f"--upsample {n}") for n, v in upsample.items()}
    for n, v in shares.items():
        if v > 1:
            raise UsageError(f"--upsample {n}={upsample[n]}: a share of the window is at most 1")
    if base_weights:
        missing = [n for n in names if n not in base_weights]
        if missing:
            raise UsageError(f"give --base-weight for every source or for none (missing: {', '.join(missing)})")
        base = {n: _exact(base_weights[n], f"--base-weight {n}") for n in names}
        if sum(base.values()) == 0:
            raise UsageError("the --base-weight weights sum to 0")
    else:
        base = {s.name: Fraction(s.tokens) for s in sources}
    mixtures = {"base": base, "window": window_mixture(base, shares)}
    base_tokens, window_tokens = largest_remainder(total_tokens, [1 - _exact(window, "--window"),
                                                                  _exact(window, "--window")])
    if not base_tokens or not window_tokens:
        raise UsageError(f"--total-tokens {total_tokens} is too small for --window {window}: a phase would get "
                         "no tokens")
    phases, start = [], 0
    for name, size in zip(PHASES, (base_tokens, window_tokens)):
        parts = largest_remainder(size, list(mixtures[name].values()))
        phases.append(Phase(name, start, start + size, dict(zip(names, parts))))
        start += size
    return Schedule(sources, total_tokens, window, tuple(phases), {n: float(v) for n, v in upsample.items()},
                    dict(base_weights) if base_weights else None)


def dataset_prefix(shard: Shard, text_field: str = "text") -> str:
    """The indexed-dataset prefix of ``shard``: its path without the format extension, plus
    ``_<text field>_document``, as Megatron-LM's and GPT-NeoX's ``tools/preprocess_data.py``
    name what they write for ``--output-prefix <path without extension>``."""
    path = shard.path
    for fmt in sorted(OUTPUT_FORMATS, key=len, reverse=True):
        if path.endswith("." + fmt):
            path = path[: -len(fmt) - 1]
            break
    return f"{path}_{text_field}_document"


def shard_weights(schedule: Schedule, phase: Phase) -> list[tuple[str, float]]:
    """(prefix, weight) for every shard of the sources ``phase`` draws from: the source's
    share of the phase times the shard's share of its source's bytes, normalized to sum to 1.
    A source with no tokens in the phase is left out."""
    pairs = []
    for s in schedule.sources:
        if phase.tokens[s.name]:
            size = sum(sh.bytes for sh in s.shards) or 1
            pairs += [(dataset_prefix(sh, s.text_field), phase.weight(s.name) * sh.bytes / size) for sh in s.shards]
    total = sum(w for _, w in pairs)
    return [(p, w / total) for p, w in pairs]


def megatron_data_path(schedule: Schedule, phase: Phase) -> str:
    """Megatron-LM's ``--data-path`` for ``phase``: ``W1 PREFIX1 W2 PREFIX2 ...`` (one line)."""
    pairs = shard_weights(schedule, phase)
    for prefix, _ in pairs:
        if any(c.isspace() for c in prefix):
            raise UsageError(f"{prefix}: a path with whitespace cannot go in Megatron-LM's --data-path (a "
                             "whitespace-separated list); move the selection to a path without spaces")
    return " ".join(f"{w!r} {p}" for p, w in pairs)


def neox_config(schedule: Schedule, phase: Phase) -> dict:
    """GPT-NeoX's ``train_data_paths`` and ``train_data_weights`` for ``phase``."""
    pairs = shard_weights(schedule, phase)
    return {"train_data_paths": [p for p, _ in pairs], "train_data_weights": [w for _, w in pairs]}


def phase_files(phase: Phase) -> dict[str, str]:
    return {"megatron": f"megatron-{phase.name}.txt", "gpt_neox": f"gpt-neox-{phase.name}.json"}


def schedule_json(schedule: Schedule) -> dict:
    """The content of ``schedule.json`` (format in docs/schedule.md)."""
    s = schedule
    ratios = {src.tokens_per_dsir_token for src in s.sources}
    return {
        "format": "dsir-schedule",
        "format_version": FORMAT_VERSION,
        "dsir_version": __version__,
        "total_tokens": s.total_tokens,
        "window": s.window,
        "tokens_per_dsir_token": ratios.pop() if len(ratios) == 1 else None,
        "base_mixture": "given" if s.base_weights else "natural",
        "base_weights": s.base_weights,
        "upsample": s.upsample,
        "sources": [{
            "name": src.name, "directory": src.directory, "target": src.target, "dsir_tokens": src.dsir_tokens,
            "tokens_per_dsir_token": src.tokens_per_dsir_token, "tokens": src.tokens, "documents": src.documents,
            "text_field": src.text_field,
            "shards": [{"path": sh.path, "prefix": dataset_prefix(sh, src.text_field), "documents": sh.documents,
                        "bytes": sh.bytes} for sh in src.shards],
        } for src in s.sources],
        "phases": [{
            "name": p.name, "start_token": p.start, "end_token": p.end, "tokens": p.size, "files": phase_files(p),
            "sources": [{"name": n, "tokens": t, "weight": p.weight(n), "epochs": s.epochs(n, p)}
                        for n, t in p.tokens.items()],
        } for p in s.phases],
        "totals": [{"name": src.name, "tokens": s.drawn(src.name), "epochs": s.epochs(src.name)}
                   for src in s.sources],
        "warnings": s.warnings,
    }


def write_schedule(schedule: Schedule, out_dir: str) -> list[str]:
    """Write ``megatron-<phase>.txt`` and ``gpt-neox-<phase>.json`` for each phase, then
    ``schedule.json``, into ``out_dir`` (local or URL; each file under a temporary name and
    renamed, locally), replacing earlier ones; return the paths written."""
    texts = {}
    for p in schedule.phases:
        files = phase_files(p)
        texts[files["megatron"]] = (megatron_data_path(schedule, p) + "\n").encode()
        texts[files["gpt_neox"]] = (json.dumps(neox_config(schedule, p), indent=2) + "\n").encode()
    written = []
    try:
        makedirs(out_dir)
        for name, data in texts.items():
            written.append(join_path(out_dir, name))
            write_bytes(written[-1], data, durable=True)
    except OSError as exc:
        raise output_error(written[-1] if written else out_dir, exc) from exc
    written.append(join_path(out_dir, SCHEDULE_FILE))
    write_json_atomic(written[-1], schedule_json(schedule))
    return written
