"""Small corpora for the data_selection shim, written as the reference reads them (jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: A raw pool and a target whose reference weights are pinned in test_weights.py (computed by
#: data-selection 1.0.3 with num_proc=2 and its defaults).
TINY_RAW = ["Alice was here.", "The Queen!", "alice and the queen", "x", "tea party at the queen's", "Alice, Alice."]
TINY_TARGET = ["alice alice", "queen of hearts"]


def write_jsonl(path: Path, texts: list[str], **fields) -> str:
    """One record per text, ``{"text": ..., "row": i, **fields}``; returns the path as a str."""
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "row": i, **fields}) + "\n")
    return str(path)


def words(n: int) -> str:
    """A text of exactly ``n`` tokens."""
    return " ".join(f"w{i % 5}" for i in range(n))


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[str, str]:
    """``(raw path, target path)`` of the tiny corpus, records with a ``text`` field only."""
    raw, target = tmp_path / "raw.jsonl", tmp_path / "tgt.jsonl"
    raw.write_text("".join(json.dumps({"text": t}) + "\n" for t in TINY_RAW))
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in TINY_TARGET))
    return str(raw), str(target)
