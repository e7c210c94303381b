"""Shared fixtures: the bundled example corpus, written out in every input format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_records(path: Path, records: list[dict], fmt: str) -> Path:
    """Write ``records`` to ``path`` (extension added) in ``fmt``; return the file's path."""
    path = path.with_name(f"{path.name}.{fmt}")
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
        return path
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if fmt == "jsonl.gz":
        data = gzip.compress(data, mtime=0)
    elif fmt == "jsonl.zst":
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def read_any(path: Path) -> list[dict]:
    """Records of a jsonl(.gz/.zst) or parquet file."""
    name = path.name
    if name.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    data = path.read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def example_records() -> list[dict]:
    return read_jsonl(EXAMPLES / "pool" / "pool-0.jsonl") + read_jsonl(EXAMPLES / "pool" / "pool-1.jsonl")


@pytest.fixture(scope="session")
def example_target() -> Path:
    return EXAMPLES / "target" / "austen.jsonl"


@pytest.fixture(autouse=True, scope="session")
def _private_temporary_directory(tmp_path_factory):
    """The session's own ``TMPDIR`` (inherited by the CLI subprocesses): in-memory inputs
    spool to ``$TMPDIR/dsir-inputs-UID``, which every run on the machine shares otherwise, so
    a test that checks that folder is left empty would see other runs' files."""
    import os
    import tempfile

    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmpdir"))
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    yield
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
