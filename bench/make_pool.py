"""Build large benchmark pools from the shared corpus, in jsonl.zst and in parquet.

The shared pool (``../shared/corpus/pool``, 61.5 MB, 26,756 documents) is read in passes.
Pass 0 copies every document unchanged; pass ``p >= 1`` perturbs each one lightly and
deterministically (``random.Random(f"{p}:{id}")``):

* one word (a run of non-space characters) is deleted at a random position,
* the first letter of another random word has its case swapped,
* ``id`` becomes ``"{id}~{p}"``.

A document whose text is still identical to one already written (a very short one) gets
`` {p}`` appended, so no two documents of a pool have the same text (checked by a 64-bit
content hash). Passes continue until the pool holds ``size`` bytes of jsonl.

A pool is a set of shards of about ``shard_mb`` MB of jsonl each; the 0.25, 1 and 2 GB
pools share their first shards (the first 0.25 GB of the 2 GB pool is the 0.25 GB pool),
so building all three costs as much as the largest. Every shard is written twice, as
``jsonl.zst`` (zstd level 3) and as ``parquet`` (zstd, row groups of 4096 rows), both with
the columns ``id, text, domain, source``. Files are written under a temporary name and
renamed, and a ``pool.json`` per size lists the shards; an existing, complete build is reused.

    .venv/bin/python bench/make_pool.py --sizes-gb 0.25 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_POOL = REPO_ROOT.parent / "shared" / "corpus" / "pool"
POOLS_DIR = REPO_ROOT / "bench" / ".work" / "pools"
BUILD_VERSION = 1
ROW_GROUP_ROWS = 4096


def read_corpus(pool_dir: Path = CORPUS_POOL) -> list[dict]:
    """Every record of the shared pool, in file order."""
    docs = []
    for path in sorted(pool_dir.glob("*.jsonl.zst")):
        with open(path, "rb") as fh:
            data = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()
        docs.extend(json.loads(line) for line in data.splitlines() if line.strip())
    if not docs:
        raise SystemExit(f"no documents under {pool_dir}")
    return docs


def perturb(doc: dict, p: int) -> dict:
    """Pass ``p``'s copy of ``doc`` (pass 0: unchanged); see the module docstring."""
    if p == 0:
        return doc
    rng = random.Random(f"{p}:{doc['id']}")
    words = doc["text"].split(" ")
    if len(words) > 2:
        del words[rng.randrange(len(words))]
        j = rng.randrange(len(words))
        w = words[j]
        if w:
            words[j] = w[0].swapcase() + w[1:]
    return {**doc, "id": f"{doc['id']}~{p}", "text": " ".join(words)}


def iter_documents(corpus: list[dict]):
    """Pass after pass over ``corpus``: ``(record, jsonl line bytes)``, never the same text twice."""
    seen: set[bytes] = set()
    p = 0
    while True:
        for doc in corpus:
            rec = perturb(doc, p)
            key = hashlib.blake2b(rec["text"].encode(), digest_size=8).digest()
            if key in seen:
                rec = {**rec, "text": f"{rec['text']} {p}"}
                key = hashlib.blake2b(rec["text"].encode(), digest_size=8).digest()
            if key in seen:  # pragma: no cover - would need a 64-bit hash collision
                continue
            seen.add(key)
            yield rec, (json.dumps(rec, ensure_ascii=False) + "\n").encode()
        p += 1


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_shard(shard_dir: Path, index: int, records: list[dict], lines: list[bytes]) -> dict:
    """Write one shard as jsonl.zst and parquet; describe it."""
    jsonl = b"".join(lines)
    zst = shard_dir / f"pool-{index:05d}.jsonl.zst"
    _write_atomic(zst, zstandard.ZstdCompressor(level=3).compress(jsonl))
    pqt = shard_dir / f"pool-{index:05d}.parquet"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    _write_atomic(pqt, sink.getvalue())
    return {"index": index, "documents": len(records), "jsonl_bytes": len(jsonl),
            "text_bytes": sum(len(r["text"].encode()) for r in records),
            "jsonl.zst": zst.name, "parquet": pqt.name}


def build_pools(sizes_gb: list[float], shard_mb: int = 128, out_dir: Path = POOLS_DIR) -> dict[float, dict]:
    """Build (or reuse) the shards and one ``pool-<size>GB.json`` per size; return those descriptions."""
    shard_dir = out_dir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "shards.json"
    params = {"version": BUILD_VERSION, "shard_mb": shard_mb}
    shards: list[dict] = []
    if index_path.exists():
        old = json.loads(index_path.read_text())
        if old.get("params") == params and all((shard_dir / s["parquet"]).exists() for s in old["shards"]):
            shards = old["shards"]
    need = max(sizes_gb) * 1e9
    if sum(s["jsonl_bytes"] for s in shards) < need:
        shards = []
        t0 = time.time()
        records, lines, size, total = [], [], 0, 0
        for rec, line in iter_documents(read_corpus()):
            records.append(rec)
            lines.append(line)
            size += len(line)
            if size >= shard_mb * 1e6:
                shards.append(write_shard(shard_dir, len(shards), records, lines))
                total += size
                print(f"  shard {len(shards) - 1}: {size / 1e6:.0f} MB, {len(records)} documents "
                      f"({time.time() - t0:.0f} s)", flush=True)
                records, lines, size = [], [], 0
                if total >= need:
                    break
        tmp = index_path.with_name(f".{index_path.name}.tmp")
        tmp.write_text(json.dumps({"params": params, "shards": shards}, indent=1))
        os.replace(tmp, index_path)
    pools = {}
    for gb in sizes_gb:
        chosen, size = [], 0
        for s in shards:
            if size >= gb * 1e9 - shard_mb * 1e6 / 2:
                break
            chosen.append(s)
            size += s["jsonl_bytes"]
        pools[gb] = {
            "size_gb": gb,
            "documents": sum(s["documents"] for s in chosen),
            "jsonl_bytes": size,
            "text_bytes": sum(s["text_bytes"] for s in chosen),
            "files": {fmt: [str(shard_dir / s[fmt]) for s in chosen] for fmt in ("jsonl.zst", "parquet")},
            "file_bytes": {fmt: sum((shard_dir / s[fmt]).stat().st_size for s in chosen)
                           for fmt in ("jsonl.zst", "parquet")},
        }
    return pools


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 1.0, 2.0])
    ap.add_argument("--shard-mb", type=int, default=128)
    args = ap.parse_args()
    for gb, pool in build_pools(args.sizes_gb, args.shard_mb).items():
        print(f"{gb} GB: {len(pool['files']['parquet'])} shards, {pool['documents']} documents, "
              f"{pool['jsonl_bytes'] / 1e9:.2f} GB jsonl, {pool['file_bytes']['jsonl.zst'] / 1e6:.0f} MB zst, "
              f"{pool['file_bytes']['parquet'] / 1e6:.0f} MB parquet")


if __name__ == "__main__":
    main()
