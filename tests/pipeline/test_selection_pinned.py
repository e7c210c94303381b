"""Selections pinned byte for byte: performance work must never change what is selected.

The pool is generated deterministically (mixed scripts, accents, CJK, emoji, combining
marks, Greek sigmas, odd whitespace) and written as jsonl, jsonl.zst and parquet. The
expected sha256 of every output shard and of the per-document log-weights were recorded
with the code as it was before the kernels were optimized (commit 3f98622), when the only
weighting was the paper's sum of log-ratios: the selections below ask for it explicitly
(``method="dsir", weighting="sum", temperature=1.0``), whose keys are the core's bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from dsir import DSIR

WORDS = [
    "the", "court", "shall", "appeal", "kernel", "driver", "module", "love", "letter", "Elizabeth",
    "café", "naïve", "ÉCOLE", "Straße", "ΟΔΥΣΣΕΥΣ", "σοφία", "ΣΑΣ", "İstanbul", "東京", "数据", "🙂",
    "e\u0301", "A\u0308ngel", "don't", "x_y", "3.14", "--", "...", "¿qué?", "Ǆungla", "ﬁne", "ŉ",
]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u2003", "\x1c", ", ", ". "]


def make_docs(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(0, 60))
        text = "".join(w + rng.choice(SEPARATORS) for w in words)
        docs.append({"id": f"d{seed}-{i}", "text": text, "n": i})
    return docs


def write_pool(root, docs: list[dict]) -> dict[str, list[str]]:
    """The same documents as two jsonl files, two jsonl.zst files and two parquet files."""
    halves = [docs[: len(docs) // 2], docs[len(docs) // 2:]]
    paths: dict[str, list[str]] = {"jsonl": [], "jsonl.zst": [], "parquet": []}
    for h, part in enumerate(halves):
        lines = "".join(json.dumps(d, ensure_ascii=h == 0) + "\n" for d in part).encode()
        p = root / f"pool-{h}.jsonl"
        p.write_bytes(lines)
        paths["jsonl"].append(str(p))
        z = root / f"pool-{h}.jsonl.zst"
        z.write_bytes(zstandard.ZstdCompressor().compress(lines))
        paths["jsonl.zst"].append(str(z))
        q = root / f"pool-{h}.parquet"
        pq.write_table(pa.Table.from_pylist(part), q, row_group_size=37)
        paths["parquet"].append(str(q))
    return paths


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    target = root / "target.jsonl"
    target.write_text("".join(json.dumps(d) + "\n" for d in make_docs(120, seed=7)), encoding="utf-8")
    return str(target), write_pool(root, make_docs(600, seed=11))


def _shards(manifest: dict) -> list[tuple[str, int, str]]:
    return [(o["path"], o["documents"], o["sha256"]) for o in manifest["outputs"]]


EXPECTED_LOG_WEIGHT_SHA256 = "05cc8dcafe593b4f508c6ab23247356d1321a449e78adc2245f19e8258e4ec6f"
EXPECTED_SHARDS = {
    "jsonl": [("part-00000.jsonl", 81, "3db71be7d9e9d7cb3c8e6412a3abee6bf0bc20e23744388f93f922f4108a11dd"),
              ("part-00001.jsonl", 69, "a9b03156529e0426e0897a92794f9f2cf97457ddba23f791550620cb4414b73a")],
    "jsonl.zst": [("part-00000.jsonl.zst", 81, "a7c7438010a7f7a285fde7e24af037a67284b4670c762daf0bc198d5cb84df17"),
                  ("part-00001.jsonl.zst", 69, "d2d62134b6eb4ebf940f64aaac074ec5d7fc3d75b5ede20bc0166e840fd47f9d")],
    "parquet": [("part-00000.parquet", 81, "84fe67c72afeb647623fd2f98e594a1e6fa4c6cde77038de73857aa56b4658be"),
                ("part-00001.parquet", 69, "9d955a9387c6a40c81b02260046fb928b6125e15e423a9b8aa1c0b4a5e3ecf93")],
    "trigram": [("part-00000.jsonl", 45, "ffcf6c0992ca21f6bbeb16d928e1034bec65842703a5ac20949205a298f8bbad"),
                ("part-00001.jsonl", 32, "5626ecaa3e51b92542c939c090d71dc73831259cf14819001a9b9f86b96d7a84")],
}


PAPER_WEIGHTS = {"method": "dsir", "weighting": "sum", "temperature": 1.0}


def test_log_weights_pinned(corpus):
    target, pool = corpus
    d = DSIR(ngrams=2, buckets=997, raw_sample=300, seed=3, method="dsir").fit(pool["jsonl"], target)
    table = d.score(pool["jsonl"])
    lw = table.column("log_weight").to_numpy()
    assert hashlib.sha256(lw.tobytes()).hexdigest() == EXPECTED_LOG_WEIGHT_SHA256


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.zst", "parquet"])
@pytest.mark.parametrize("workers", [1, 2])
def test_selection_pinned(corpus, tmp_path, fmt, workers):
    target, pool = corpus
    manifest = DSIR(ngrams=2, buckets=997, raw_sample=300, seed=3, workers=workers, **PAPER_WEIGHTS).select(
        pool[fmt], str(tmp_path / "out"), k=150, target=target)
    assert _shards(manifest) == EXPECTED_SHARDS[fmt]


def test_trigram_top_k_pinned(corpus, tmp_path):
    target, pool = corpus
    manifest = DSIR(ngrams=3, buckets=5003, raw_sample=10_000, seed=0, top_k=True, min_length=5,
                    **PAPER_WEIGHTS).select(
        pool["jsonl"], str(tmp_path / "out"), k=77, target=target)
    assert _shards(manifest) == EXPECTED_SHARDS["trigram"]
