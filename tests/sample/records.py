"""Small jsonl pools for the sampling tests, and the records a selection wrote back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq


def write_records(path: Path, records: list[dict]) -> str:
    """``records`` as jsonl at ``path``; its path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def selected_records(out: Path) -> list[dict]:
    """Every record of a selection's shards (jsonl or parquet), shard by shard in name order."""
    rows = []
    for p in sorted(out.glob("part-*")):
        rows += (pq.read_table(p).to_pylist() if p.suffix == ".parquet" else
                 [json.loads(line) for line in p.read_text().splitlines()])
    return rows
