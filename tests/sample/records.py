"""Small jsonl pools for the sampling tests, and the records a selection wrote back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
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


def write_split_parquet(records: list[dict], folder: Path, files: int, row_group_size: int) -> str:
    """``records`` cut in order into ``files`` parquet files of small row groups; the folder."""
    folder.mkdir()
    per = -(-len(records) // files)
    for i in range(files):
        pq.write_table(pa.Table.from_pylist(records[i * per:(i + 1) * per]), folder / f"p{i}.parquet",
                       row_group_size=row_group_size)
    return str(folder)
