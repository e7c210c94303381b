"""Small generated corpora for the reliability tests (deterministic, a few KB each)."""

from __future__ import annotations

import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

SEA = "ship sail wave tide harbour anchor storm captain deck mast ocean salt gull reef".split()
LAND = "field plough harvest barn wheat orchard cattle meadow fence hedge farmer mill".split()
COMMON = "the a of and to in was it with on for as at by".split()


def documents(n: int, seed: int, sea_share: float = 0.5, words: int = 30) -> list[str]:
    """``n`` documents mixing sea and land vocabulary; about ``sea_share`` of them mostly sea."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = SEA if rng.random() < sea_share else LAND
        other = LAND if topic is SEA else SEA
        toks = [rng.choice(topic if rng.random() < 0.6 else (COMMON if rng.random() < 0.7 else other))
                for _ in range(rng.randint(words // 2, words))]
        out.append(f"{i}: " + " ".join(toks) + ".")
    return out


def write_jsonl(path: str, texts: list[str], extra: bool = True) -> str:
    """One record per text, with an ``id`` and a ``meta`` field to show records are copied whole."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            rec = {"text": t, "id": f"{os.path.basename(path)}-{i}", "meta": {"n": i}} if extra else {"text": t}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def write_parquet(path: str, texts: list[str | None]) -> str:
    pq.write_table(pa.table({"text": pa.array(texts, pa.string()), "n": list(range(len(texts)))}), path)
    return path


def make_pool(directory: str, files: int, docs_per_file: int, seed: int = 0) -> list[str]:
    """``files`` jsonl files of generated documents under ``directory``; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    return [write_jsonl(os.path.join(directory, f"pool-{i:03d}.jsonl"), documents(docs_per_file, seed * 1000 + i))
            for i in range(files)]


def make_target(path: str, n: int = 20, seed: int = 99) -> str:
    return write_jsonl(path, documents(n, seed, sea_share=0.95), extra=False)


def output_bytes(directory: str) -> dict[str, bytes]:
    """Every file of an output directory (and its subdirectories) except dsir's work state,
    by relative path."""
    out = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not (root == directory and d == "_dsir"))
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, directory)] = fh.read()
    return out
