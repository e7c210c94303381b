"""Ray engine overhead: end-to-end ``dsir select`` time with ``--engine ray`` next to ``--engine local``.

Both engines run the same command on the same pool with the same number of CPUs, one after
the other (alternating when repeated), so the ratio is measured side by side; each run is a
fresh ``dsir`` process, so Ray's start-up (``ray.init``) and the local process pool's
start-up are both counted. The outputs of the two engines are compared byte for byte.

The pool (git-ignored, under ``bench/.work/ray/``) is the benchmark corpus pool
(``/work/shared/corpus/pool``, 61.5 MB of text) repeated until it holds ``--pool-mb`` MB of
uncompressed jsonl, one ``.jsonl.zst`` shard per copy. Copy ``c`` (c >= 1) is perturbed so
that its documents are new documents: `` (copy c)`` is appended to every text and ``-c``
to every id; copy 0 is the original pool.

    .venv/bin/python bench/ray_overhead.py                   # 1 GB pool, 2 CPUs, 1 run each
    .venv/bin/python bench/ray_overhead.py --pool-mb 250 --repeats 2
"""

from __future__ import annotations

import argparse
import filecmp
import glob
import io
import json
import os
import subprocess
import sys
import time

import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
WORK = os.path.join(HERE, ".work", "ray")


def make_pool(pool_mb: float, out_dir: str) -> tuple[int, int]:
    """Write the perturbed copies of the corpus pool to ``out_dir``; return (files, bytes of jsonl)."""
    stamp = os.path.join(out_dir, f"done-{pool_mb:g}MB")
    if os.path.exists(stamp):
        with open(stamp) as fh:
            files, size = map(int, fh.read().split())
        return files, size
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "*")):
        os.unlink(old)
    records = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "pool", "*.jsonl.zst"))):
        with open(path, "rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as zr:
            records += [json.loads(line) for line in io.TextIOWrapper(zr, encoding="utf-8") if line.strip()]
    total, copy = 0, 0
    while total < pool_mb * 1e6:
        lines = []
        for r in records:
            if copy:
                r = dict(r)
                r["text"] = f"{r['text']} (copy {copy})"
                r["id"] = f"{r['id']}-{copy}"
            lines.append(json.dumps(r, ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        with open(os.path.join(out_dir, f"pool-{copy:05d}.jsonl.zst"), "wb") as fh:
            fh.write(zstandard.ZstdCompressor(level=3, threads=-1).compress(data))
        total += len(data)
        copy += 1
    with open(stamp, "w") as fh:
        fh.write(f"{copy} {total}")
    return copy, total


def run_select(engine: str, pool: str, target: str, out: str, workers: int, k: int) -> float:
    """Seconds of one ``dsir select`` process."""
    cmd = [os.path.join(ROOT, ".venv", "bin", "dsir"), "select", "--raw", pool, "--target", target, "-k", str(k),
           "-o", out, "--overwrite", "--quiet", "--workers", str(workers), "--engine", engine]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - started


def same_outputs(a: str, b: str) -> bool:
    names = sorted(n for n in os.listdir(a) if n != "_dsir")
    if names != sorted(n for n in os.listdir(b) if n != "_dsir"):
        return False
    return all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False) for n in names)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool-mb", type=float, default=1000, help="uncompressed size of the pool [1000]")
    p.add_argument("--workers", type=int, default=2, help="CPUs for both engines [2]")
    p.add_argument("--repeats", type=int, default=1, help="runs of each engine, alternating [1]")
    p.add_argument("--target", default=os.path.join(CORPUS, "target", "legal.jsonl.zst"))
    p.add_argument("-k", type=int, default=20_000)
    args = p.parse_args()

    pool_dir = os.path.join(WORK, "pool")
    t0 = time.perf_counter()
    files, size = make_pool(args.pool_mb, pool_dir)
    print(f"pool: {files} files, {size / 1e6:.0f} MB of jsonl ({time.perf_counter() - t0:.0f} s to prepare)",
          file=sys.stderr)
    outs = {e: os.path.join(WORK, f"out-{e}") for e in ("local", "ray")}
    # Warm-up on one shard: numba's on-disk kernel cache is filled before anything is timed.
    run_select("local", os.path.join(pool_dir, "pool-00000.jsonl.zst"), args.target, outs["local"], 1, 10)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for _ in range(args.repeats):
        for engine in ("local", "ray"):
            times[engine].append(run_select(engine, pool_dir, args.target, outs[engine], args.workers, args.k))
            print(f"{engine}: {times[engine][-1]:.1f} s", file=sys.stderr)
    identical = same_outputs(outs["local"], outs["ray"])
    best = {e: min(t) for e, t in times.items()}
    result = {
        "pool_files": files, "pool_mb": round(size / 1e6, 1), "workers": args.workers, "k": args.k,
        "seconds": times, "best_seconds": best, "overhead": round(best["ray"] / best["local"] - 1, 4),
        "identical_outputs": identical,
    }
    with open(os.path.join(WORK, "results.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result, indent=2))
    print(f"ray overhead: {100 * result['overhead']:+.1f}% (target <= +25%); outputs identical: {identical}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
