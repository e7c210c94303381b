"""A small two-topic corpus made by the tests themselves, in every input format dsir reads."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

SEA = "ship sail wave harbour tide anchor captain storm deck crew gull salt coast whale".split()
LAW = "court statute appeal contract clause plaintiff judge verdict tenant lease license liability".split()
COMMON = "the a of and to in is was it that with on for ångström café naïve".split()


def _docs(rng: np.random.Generator, n: int, topic: list[str], start: int, tag: str) -> list[dict]:
    docs = []
    for i in range(n):
        words = rng.choice(topic + COMMON, size=int(rng.integers(0, 40)))
        docs.append({"id": f"{tag}-{start + i}", "text": " ".join(words), "n": int(i)})
    return docs


def _lines(docs: list[dict]) -> bytes:
    return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")


def write_corpus(root: str, seed: int = 0, docs_per_file: int = 120) -> tuple[str, str]:
    """Write ``root/raw`` (jsonl with a blank line, jsonl.gz, jsonl.zst, parquet; both topics
    mixed) and ``root/target.jsonl`` (sea only); return their paths."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, "raw")
    os.makedirs(raw, exist_ok=True)
    files = []
    for f in range(4):
        sea = _docs(rng, docs_per_file // 2, SEA, f * docs_per_file, "sea")
        law = _docs(rng, docs_per_file // 2, LAW, f * docs_per_file, "law")
        mixed = [d for pair in zip(sea, law) for d in pair]
        files.append(mixed)
    with open(os.path.join(raw, "a.jsonl"), "wb") as fh:
        fh.write(_lines(files[0][:30]) + b"\n" + _lines(files[0][30:]))  # a blank line in the middle is skipped
    with gzip.open(os.path.join(raw, "b.jsonl.gz"), "wb") as fh:
        fh.write(_lines(files[1]))
    with open(os.path.join(raw, "c.jsonl.zst"), "wb") as fh:
        fh.write(zstandard.ZstdCompressor().compress(_lines(files[2])))
    pq.write_table(pa.Table.from_pylist(files[3]), os.path.join(raw, "d.parquet"))
    target = os.path.join(root, "target.jsonl")
    with open(target, "wb") as fh:
        fh.write(_lines(_docs(rng, 60, SEA, 0, "target")))
    return raw, target


def output_files(out: str) -> dict[str, bytes]:
    """Every file a run published under ``out`` (not its work directory), by relative path."""
    found = {}
    for top, dirs, names in os.walk(out):
        dirs[:] = [d for d in dirs if not (top == out and d == "_dsir")]
        for n in names:
            path = os.path.join(top, n)
            with open(path, "rb") as fh:
                found[os.path.relpath(path, out)] = fh.read()
    return dict(sorted(found.items()))
