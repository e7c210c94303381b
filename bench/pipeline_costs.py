"""What a ``select`` costs beyond the selection itself: how often it reads each input, per
phase, and how much CPU the report and ``--group-by`` add.

Reads: every configuration runs once with ``DSIR_TRACE_OPENS`` (``dsir.io.trace``), and the
opens are counted per input file and phase. CPU: the same selection with ``--no-report``, with
the report, and with the report and ``--group-by domain``, run side by side in alternating
order, ``--repeats`` times each, one worker; the CPU seconds of each child process (user +
system, from ``wait4``) are compared as ratios within one run of this script.

    .venv/bin/python bench/pipeline_costs.py --repeats 3                  # the shared 61.5 MB pool
    .venv/bin/python bench/pipeline_costs.py --cpu-pools 'bench/.work/pools/shards/pool-0000[01].jsonl.zst' \
        'bench/.work/pools/shards/pool-0000?.jsonl.zst'     # 0.25 and 1 GB of jsonl

The report's cost is mostly fixed (matplotlib's import and drawing, naming n-grams on
bounded samples), so its share falls with the pool's size; ``--cpu-pools`` measures it on
other pools too (``bench/make_pool.py`` builds 0.25, 1 and 2 GB ones).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
sys.path.insert(0, os.path.join(ROOT, "src"))

from dsir.io.trace import TRACE_ENV, read_trace  # noqa: E402

CONFIGS = {
    "default": [],
    "chunks (--chunk-words 128 --emit chunks)": ["--chunk-words", "128", "--emit", "chunks"],
    "two named targets": None,  # filled in main(): needs two target paths
    "--method classifier": ["--method", "classifier"],
    "--method random": ["--method", "random"],
}


def select_args(pool: str, target: list[str], out: str, extra: list[str], k: int) -> list[str]:
    targets = [] if "random" in extra else [a for t in target for a in ("--target", t)]
    return [sys.executable, "-m", "dsir", "select", "--quiet", "--raw", pool, *targets, "-k", str(k),
            "-o", out, "--workers", "1", *extra]


def run_cpu(args: list[str], env: dict) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr.read().decode()}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-k", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "pipeline_costs.json"))
    ap.add_argument("--cpu-pools", nargs="*", default=[], help="more pools (directories or globs) for the CPU comparison")
    args = ap.parse_args()
    pool = os.path.join(CORPUS, "pool")
    legal = os.path.join(CORPUS, "target", "legal.jsonl.zst")
    news = os.path.join(CORPUS, "target", "news.jsonl.zst")
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src"), "RAY_USAGE_STATS_ENABLED": "0"}
    result: dict = {"pool": pool, "k": args.k, "machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "reads": {}, "cpu": {}}
    with tempfile.TemporaryDirectory(prefix="dsir-costs-") as tmp:
        for name, extra in CONFIGS.items():
            targets = [f"legal={legal}", f"news={news}"] if extra is None else [legal]
            trace = os.path.join(tmp, f"trace-{len(result['reads'])}.jsonl")
            out = os.path.join(tmp, f"reads-{len(result['reads'])}")
            run_cpu(select_args(pool, targets, out, (extra or []) + ["--group-by", "domain"], args.k),
                    {**env, TRACE_ENV: trace})
            opens = read_trace(trace)
            per_phase: dict[str, dict[str, int]] = defaultdict(dict)
            for phase, paths in opens.items():
                raw = [n for p, n in paths.items() if "/pool/" in p]
                tgt = [n for p, n in paths.items() if "/target/" in p]
                per_phase[phase or "driver"] = {"raw files": len(raw), "raw opens per file": max(raw, default=0),
                                                "target opens per file": max(tgt, default=0)}
            per_file = defaultdict(int)
            for paths in opens.values():
                for p, n in paths.items():
                    per_file[p] += n
            result["reads"][name] = {
                "phases": per_phase,
                "raw_reads_per_file": max(n for p, n in per_file.items() if "/pool/" in p),
                "target_reads_per_file": max([n for p, n in per_file.items() if "/target/" in p], default=0),
            }
        variants = {"no report": ["--no-report"], "report": [], "report + --group-by domain": ["--group-by", "domain"]}
        for pool_dir in [pool, *args.cpu_pools]:
            times: dict[str, list] = {v: [] for v in variants}
            for r in range(args.repeats):
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for v in order:
                    out = os.path.join(tmp, f"cpu-{len(result['cpu'])}-{r}-{v.replace(' ', '_')}")
                    times[v].append(run_cpu(select_args(pool_dir, [legal], out, variants[v], args.k), env))
            base = min(c for c, _ in times["no report"])
            files = glob.glob(os.path.join(pool_dir, "*")) if os.path.isdir(pool_dir) else glob.glob(pool_dir)
            size = sum(os.path.getsize(f) for f in files if f.endswith((".jsonl", ".zst", ".gz", ".parquet")))
            entry = result["cpu"][os.path.relpath(pool_dir, ROOT)] = {"pool_bytes": size}
            for v, runs in times.items():
                cpu = min(c for c, _ in runs)
                entry[v] = {"cpu_seconds_min": round(cpu, 3), "all_cpu_seconds": [round(c, 3) for c, _ in runs],
                            "wall_seconds": [round(w, 3) for _, w in runs],
                            "extra_cpu_share": round(cpu / base - 1, 4)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print("| configuration | raw reads per file | target reads per file | phases |")
    print("|---|---:|---:|---|")
    for name, r in result["reads"].items():
        phases = ", ".join(f"{p} {v['raw opens per file'] or v['target opens per file']}"
                           for p, v in r["phases"].items())
        print(f"| {name} | {r['raw_reads_per_file']} | {r['target_reads_per_file']} | {phases} |")
    print()
    print("| pool | variant | CPU s (min) | all runs | extra CPU vs --no-report |")
    print("|---|---|---:|---|---:|")
    for pool_name, entry in result["cpu"].items():
        for v, c in entry.items():
            if v != "pool_bytes":
                print(f"| {pool_name} ({entry['pool_bytes'] / 1e6:.0f} MB) | {v} | {c['cpu_seconds_min']} | "
                      f"{c['all_cpu_seconds']} | {100 * c['extra_cpu_share']:.1f}% |")

if __name__ == "__main__":
    main()
