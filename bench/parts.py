"""One large file on two workers: ``dsir select`` on a 1 GB pool that is a single file, read
whole (``--unit-size`` larger than the file: every pass of the file on one worker, as before
files were read in parts) and in parts (the default ``--unit-size``), with 1 and 2 workers.

The pool is ``bench/make_pool.py``'s 1 GB as one shard (built once under
``bench/.work/one-file/``), as one plain jsonl file (the jsonl.zst decompressed), one parquet
file (zstd, 4096-row groups), one seekable jsonl.zst (4 MiB frames, as ``--zstd-frame-size
4MiB`` writes it) and the plain single-frame jsonl.zst (``zst``: it cannot be split, so its
"parts" runs read it whole). Every run is a fresh ``python -m dsir select`` process
with the report on, target ``legal``, k = 10 % of the documents, and its reads of the pool
traced (``DSIR_TRACE_OPENS``); the runs of one format must write byte-identical shards. Runs
alternate (whole 2 workers, parts 1 worker, parts 2 workers) ``--repeats`` times; the fastest
of each is reported.

    .venv/bin/python bench/parts.py            # --repeats 1 --formats jsonl parquet
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from make_pool import build_pools  # noqa: E402

WORK = REPO / "bench" / ".work" / "one-file"
TARGET = REPO.parent / "shared" / "corpus" / "target" / "legal.jsonl.zst"
WHOLE = "1TB"


def plain_jsonl(zst: Path) -> Path:
    """The shard decompressed to plain jsonl (once)."""
    out = WORK / "pool.jsonl"
    if not out.exists() or out.stat().st_mtime < zst.stat().st_mtime:
        tmp = out.with_suffix(".tmp")
        with open(zst, "rb") as src, open(tmp, "wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        os.replace(tmp, out)
    return out


def seekable_jsonl_zst(plain: Path, frame_bytes: int = 4 << 20) -> Path:
    """The plain jsonl compressed in the zstd seekable format, 4 MiB frames (once), as
    ``--zstd-frame-size 4MiB`` writes it."""
    from dsir.io.seekable_zstd import SeekableFrames

    out = WORK / "pool-seekable.jsonl.zst"
    if not out.exists() or out.stat().st_mtime < plain.stat().st_mtime:
        tmp = out.with_suffix(".tmp")
        with open(plain, "rb") as src, open(tmp, "wb") as dst:
            frames = SeekableFrames(dst, frame_bytes)
            while block := src.read(16 << 20):
                frames.write(block)
            frames.close()
        os.replace(tmp, out)
    return out


def run(pool: Path, k: int, workers: int, unit: str | None, name: str) -> dict:
    out = WORK / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    trace = WORK / "runs" / f"{name}.trace"
    trace.unlink(missing_ok=True)
    args = [sys.executable, "-m", "dsir", "select", "--raw", str(pool), "--target", str(TARGET), "-k", str(k),
            "-o", str(out), "--workers", str(workers), "--quiet"] + (["--unit-size", unit] if unit else [])
    t0 = time.perf_counter()
    subprocess.run(args, check=True, env={**os.environ, "DSIR_TRACE_OPENS": str(trace)})
    seconds = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    from dsir.io.trace import read_trace

    reads = {phase: paths.get(str(pool)) for phase, paths in read_trace(str(trace)).items() if str(pool) in paths}
    return {"seconds": round(seconds, 2), "outputs": [(o["path"], o["sha256"]) for o in manifest["outputs"]],
            "parts": manifest["inputs"][0]["parts"], "reads": reads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--formats", nargs="+", default=["jsonl", "parquet", "seekable-zst", "zst"])
    args = ap.parse_args()
    pool = build_pools([1.0], shard_mb=1000, out_dir=WORK)[1.0]
    assert len(pool["files"]["parquet"]) == 1, "the pool must be a single file"
    plain = plain_jsonl(Path(pool["files"]["jsonl.zst"][0]))
    files = {"jsonl": plain, "parquet": Path(pool["files"]["parquet"][0]), "seekable-zst": seekable_jsonl_zst(plain),
             "zst": Path(pool["files"]["jsonl.zst"][0])}
    k = pool["documents"] // 10
    mb = pool["jsonl_bytes"] / 1e6
    configs = [("whole, 2 workers", 2, WHOLE), ("parts, 1 worker", 1, None), ("parts, 2 workers", 2, None)]
    results: dict = {}
    for fmt in args.formats:
        results[fmt] = {}
        for r in range(args.repeats):
            for label, workers, unit in configs:
                got = run(files[fmt], k, workers, unit, f"{fmt}-{workers}-{unit or 'default'}")
                print(f"{fmt}, {label}: {got['seconds']} s, {got['parts']} parts, reads {got['reads']}", flush=True)
                best = results[fmt].get(label)
                results[fmt][label] = got if best is None or got["seconds"] < best["seconds"] else best
                results[fmt][label].setdefault("all_seconds", []).append(got["seconds"])
        outs = {json.dumps(v["outputs"]) for v in results[fmt].values()}
        assert len(outs) == 1, f"{fmt}: the runs selected different shards"
    lines = ["| format | file | run | parts | seconds | MB/s | MB/s per core | vs parts, 1 worker |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for fmt, rs in results.items():
        one = rs["parts, 1 worker"]["seconds"]
        for label, workers, _ in configs:
            x = rs[label]
            lines.append(f"| {fmt} | {files[fmt].stat().st_size / 1e6:.0f} MB | {label} | {x['parts']} | "
                         f"{x['seconds']:.1f} | {mb / x['seconds']:.1f} | {mb / x['seconds'] / workers:.1f} | "
                         f"{one / x['seconds']:.2f}x |")
    table = "\n".join(lines)
    print(table)
    print("reads of the pool file per phase:", {fmt: rs["parts, 2 workers"]["reads"] for fmt, rs in results.items()})
    (WORK / "results.json").write_text(json.dumps({"pool_mb": mb, "k": k, "results": results}, indent=1))
    (WORK / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
