"""Pre-selection filters: rules that make a pool document ineligible before any key is drawn.

A filter looks at each document's text in the score pass (which reads every raw record
anyway) and says whether the document is excluded, and why. An excluded document is never
selected, whatever its weight: with chunk units, none of its chunks is. The run records how
many documents each filter excluded (per reason: a decontamination file) with a few examples
(the excluded documents of smallest identity hash, so the examples do not depend on how the
pool is split into files or units); the manifest and the report show them.

``FilterOptions`` are the options as the user gives them (paths); ``build_filters`` reads
what they need once per run and returns the ``Filters`` every score unit applies (part of the
unit's fingerprint, so a changed benchmark file means the units are scored again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dsir.errors import UsageError
from dsir.filters.decontaminate import DEFAULT_WORDS, NgramSet, matching_ngram
from dsir.filters.quality_rules import PRESETS, QualityRules

#: ``--quality-rules`` values: a preset of ``filters.quality_rules``, or none.
QUALITY_RULES = ("none",) + PRESETS

#: Where a run keeps what its filters excluded, with examples (under ``OUT/_dsir``).
FILTERED = "filters.json"
#: Examples kept per filter (in each unit, then over the run).
EXAMPLES = 5
EXAMPLE_CHARS = 600


@dataclass(frozen=True)
class FilterOptions:
    """What to filter, as given: ``decontaminate`` paths (files, folders or globs, any input
    format; their text field is the target's), and the n-gram length ``decontaminate_words``."""

    decontaminate: tuple[str, ...] = ()
    decontaminate_words: int = DEFAULT_WORDS
    quality_rules: str = "none"

    def __post_init__(self) -> None:
        if self.decontaminate_words < 1:
            raise UsageError(f"--decontaminate-words must be at least 1, got {self.decontaminate_words}")
        if self.quality_rules not in QUALITY_RULES:
            raise UsageError(f"--quality-rules must be one of {', '.join(QUALITY_RULES)}, got {self.quality_rules!r}")

    @property
    def active(self) -> bool:
        return bool(self.decontaminate) or self.quality_rules != "none"


@dataclass(frozen=True)
class Filters:
    """The filters a score unit applies (see the module doc); empty: nothing is excluded."""

    decontaminate: NgramSet | None = None
    quality_rules: QualityRules | None = None

    @property
    def active(self) -> bool:
        return self.decontaminate is not None or self.quality_rules is not None

    def apply(self, texts: pa.Array, hashes: np.ndarray, path: str, first_row: int,
              tally: FilterTally) -> np.ndarray:
        """Which of ``texts`` (rows ``first_row ..`` of ``path``, identity ``hashes``) are excluded;
        counts and examples go to ``tally``."""
        excluded = np.zeros(len(texts), dtype=bool)
        if self.decontaminate is not None:
            matched, pairs, first = self.decontaminate.matches(texts)
            excluded |= matched
            tally.add("decontaminate", int(matched.sum()),
                      np.bincount(pairs[:, 1], minlength=self.decontaminate.files))
            for d in _smallest(hashes, matched, EXAMPLES):
                text = texts[int(d)].as_py() or ""
                tally.example("decontaminate", int(hashes[d]), path, first_row + int(d), text,
                              {"ngram": matching_ngram(text, int(first[d]), self.decontaminate.words)})
        if self.quality_rules is not None:
            failed = self.quality_rules.failures(texts)
            bad = failed.any(axis=0)
            excluded |= bad
            tally.add("quality_rules", int(bad.sum()), failed.sum(axis=1))
            names = self.quality_rules.rule_names()
            for d in _smallest(hashes, bad, EXAMPLES):
                tally.example("quality_rules", int(hashes[d]), path, first_row + int(d), texts[int(d)].as_py() or "",
                              {"rules": [n for n, f in zip(names, failed[:, d]) if f]})
        return excluded

    def describe(self) -> dict:
        """The filters' parameters and inputs, for the manifest."""
        out: dict = {}
        if self.quality_rules is not None:
            out["quality_rules"] = {**self.quality_rules.params, "rules": list(self.quality_rules.rule_names())}
        if self.decontaminate is not None:
            s = self.decontaminate
            out["decontaminate"] = {"ngram_words": s.words, "distinct_ngrams": int(len(s.hashes)),
                                    "false_match_rate": s.false_match_rate, "files": list(s.sources)}
        return out


def _smallest(hashes: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` documents of ``mask`` with the smallest ``hashes``."""
    idx = np.flatnonzero(mask)
    if k <= 0 or not len(idx):
        return idx[:0]
    return idx[np.argsort(hashes[idx], kind="stable")[:k]]


@dataclass
class FilterTally:
    """Per filter: documents excluded, per reason where it has some, and examples."""

    counts: dict = field(default_factory=dict)

    def add(self, name: str, documents: int, by_source: np.ndarray | None = None) -> None:
        c = self.counts.setdefault(name, {"documents": 0, "examples": []})
        c["documents"] += documents
        if by_source is not None:
            c["by_source"] = [int(a) + int(b) for a, b in zip(c.get("by_source", [0] * len(by_source)), by_source)]

    def example(self, name: str, key: int, path: str, row: int, text: str, why: dict) -> None:
        ex = self.counts[name]["examples"]
        ex.append({"hash": key, "file": path, "row": row, "text": text[:EXAMPLE_CHARS], **why})
        ex.sort(key=lambda e: (e["hash"], e["file"], e["row"]))
        del ex[EXAMPLES:]


def merge_tallies(parts: list[dict]) -> dict:
    """The run's tally from its units' (``FilterTally.counts`` of each)."""
    out: dict = {}
    for part in parts:
        for name, c in (part or {}).items():
            m = out.setdefault(name, {"documents": 0, "examples": []})
            m["documents"] += c["documents"]
            if "by_source" in c:
                m["by_source"] = [a + b for a, b in zip(m.get("by_source", [0] * len(c["by_source"])), c["by_source"])]
            m["examples"] = sorted(m["examples"] + c["examples"], key=lambda e: (e["hash"], e["file"], e["row"]))
            del m["examples"][EXAMPLES:]
    return out
