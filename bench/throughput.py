"""Throughput, scaling and memory of dsir against the reference, measured side by side.

One command (from the repository root, after the quick-start install)::

    .venv/bin/python bench/throughput.py

does everything and prints one table per question (see bench/README.md, "Throughput"):

1. builds (or reuses) the 0.25, 1 and 2 GB pools (``bench/make_pool.py``) in jsonl.zst and parquet;
2. installs the reference ``data-selection==1.0.3`` in ``bench/.venv-reference`` (``bench/reference``);
3. kernel: featurize + score from text already in memory, single process, dsir vs the reference;
4. side by side: the reference and dsir on the same plain-jsonl slice (``--reference-mb``), same
   target, k and workers; per phase (fit, score, select+write) MB/s per core, documents/s per core
   and peak RSS of the whole process tree, and the ratio dsir/reference;
5. dsir end to end on the main pool (``--main-gb``) from jsonl.zst and parquet, with 1 and
   ``--workers`` workers: per-phase table, the read-and-decompress floor (pyarrow reading the same
   files), and the scaling from 1 to ``--workers`` workers;
6. memory: peak RSS of ``dsir select`` on every pool size;
7. where the time goes per format (read, decompress, line scan, JSON parse, kernel, hash, write).

MB are 10^6 bytes of the pool's uncompressed jsonl, whatever the format read, so that every
rate compares the same work. "Per core" divides by the number of worker processes. Results are
also written to ``bench/.work/throughput-results.json``. The machine may be shared: compare
the ratios measured in the same run; absolute numbers are context only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "src"))

from bench.make_pool import build_pools  # noqa: E402

WORK = REPO_ROOT / "bench" / ".work" / "throughput"
TARGET = REPO_ROOT.parent / "shared" / "corpus" / "target" / "legal.jsonl.zst"
PHASES = ("fit", "score", "select_write")


# ----------------------------------------------------------------------------- memory


def tree_rss_bytes(root: int) -> int:
    """Summed VmRSS of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(b")") + 2:].split()[1]), []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        stack.extend(children.get(pid, ()))
    return total


class RssSampler:
    """Samples the process tree's RSS every 50 ms: ``peak(t0, t1)`` is the largest sample in between."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), tree_rss_bytes(os.getpid())))
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, t0: float, t1: float) -> int:
        return max((r for t, r in self.samples if t0 - 0.05 <= t <= t1 + 0.05), default=0)


# ------------------------------------------------------------- one dsir run (a child)


def child_select(config: dict) -> dict:
    """Run one ``DSIR.select`` with per-phase timings and peak RSS (in a fresh process)."""
    from dsir import DSIR
    from dsir.engines.local import LocalEngine

    marks: list[tuple[str, float, float]] = []

    class TimedEngine(LocalEngine):
        def map(self, fn, tasks, desc="", weights=None):
            t0 = time.perf_counter()
            try:
                return super().map(fn, tasks, desc, weights)
            finally:
                marks.append((desc, t0, time.perf_counter()))

    engine = TimedEngine(config["workers"], progress=False, processes=config.get("processes", False))
    with RssSampler() as rss:
        t_start = time.perf_counter()
        manifest = DSIR(workers=config["workers"], engine=engine).select(
            config["raw"], config["out"], k=config["k"], target=config["target"], overwrite=True,
            report=False)  # the selection only, as the reference does; the report is extra work
        t_end = time.perf_counter()
        engine.close()
    ends = {d: t1 for d, _, t1 in marks}
    starts = {d: t0 for d, t0, _ in marks}
    fit_end = ends["fit raw"]
    write_start = starts.get("write", t_end)
    bounds = {"fit": (t_start, fit_end), "score": (fit_end, write_start), "select_write": (write_start, t_end)}
    return {
        "phases": {p: {"wall_s": t1 - t0, "peak_rss_mb": rss.peak(t0, t1) / 2**20} for p, (t0, t1) in bounds.items()},
        "maps": {d: t1 - t0 for d, t0, t1 in marks},
        "total_s": t_end - t_start,
        "peak_rss_mb": max((r for _, r in rss.samples), default=0) / 2**20,
        "documents": manifest["counts"]["documents"],
        "selected": manifest["counts"]["selected"],
        "outputs": [(o["path"], o["sha256"]) for o in manifest["outputs"]],
    }


PROCESSES = False  # --engine processes: worker processes instead of the local engine's threads


def run_dsir(raw: list[str], target: str, k: int, workers: int, name: str) -> dict:
    """``child_select`` in a fresh interpreter (numba's cache load and imports included in ``process_s``)."""
    config = {"raw": raw, "target": target, "k": k, "workers": workers, "out": str(WORK / "out" / name),
              "processes": PROCESSES}
    t0, c0 = time.perf_counter(), children_cpu_s()
    proc = subprocess.run([sys.executable, __file__, "_child", json.dumps(config)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"dsir run {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    result["cpu_s"] = children_cpu_s() - c0
    return result


def children_cpu_s() -> float:
    """User + system CPU seconds of all finished descendants (workers included once reaped)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- floors


def read_floor(files: list[str]) -> float:
    """Seconds to read and decompress ``files`` with pyarrow, single thread, every column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    t0 = time.perf_counter()
    for path in files:
        if path.endswith(".parquet"):
            for _ in pq.ParquetFile(path).iter_batches(batch_size=4096, use_threads=False):
                pass
        else:
            compression = "zstd" if path.endswith(".zst") else None
            raw = pa.OSFile(path, "rb")
            stream = pa.CompressedInputStream(raw, compression) if compression else raw
            while stream.read(16 << 20):
                pass
            stream.close()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ where time goes


def profile_format(files: list[str], fmt: str, jsonl_bytes: int) -> dict[str, float]:
    """Seconds per component of the work on ``files``, single process (see the module docstring)."""
    import numpy as np
    import pyarrow as pa

    from dsir.featurize import HashedNgramFeaturizer, content_hashes
    from dsir.io.paths import expand_paths
    from dsir.io.readers import iter_line_blocks, iter_record_tables, iter_text_batches, parse_block
    from dsir.io.writers import ShardWriter

    pa.set_cpu_count(1)
    f = HashedNgramFeaturizer()
    log_ratio = np.random.default_rng(0).normal(size=f.buckets)
    f.score(pa.array(["warm up"]), log_ratio)
    f.count(pa.array(["warm up"]))
    content_hashes(pa.array(["warm up"]))
    inputs = expand_paths(files)
    t: dict[str, float] = {}

    def add(key: str, dt: float) -> None:
        t[key] = t.get(key, 0.0) + dt

    texts = []
    if fmt == "parquet":
        add("read + decompress (text column)", read_floor_columns(files, ["text"]))
        add("read + decompress (all columns)", read_floor(files))
        for file in inputs:
            for b in iter_text_batches(file):
                texts.append(b.texts)
    else:
        add("read + decompress", read_floor(files))
        for file in inputs:
            t0 = time.perf_counter()
            blocks = list(iter_line_blocks(file))
            add("line scan", time.perf_counter() - t0)
            for b in blocks:
                t0 = time.perf_counter()
                table = parse_block(file, b, ["text"])
                add("JSON parse (text field)", time.perf_counter() - t0)
                texts.append(table.column(0).combine_chunks())
            del blocks
        t["line scan"] -= t["read + decompress"]  # iter_line_blocks decompresses too
    for name, fn in (("kernel: score", lambda x: f.score(x, log_ratio)), ("kernel: count", f.count),
                     ("content hash", content_hashes)):
        t0 = time.perf_counter()
        for x in texts:
            fn(x)
        add(name, time.perf_counter() - t0)
    del texts
    # Writing 10% of the documents, the way write_task does (jsonl: copy lines; parquet: filter rows).
    out = WORK / f"profile-write.{ 'parquet' if fmt == 'parquet' else 'jsonl.zst'}"
    writer = ShardWriter(str(out), "parquet" if fmt == "parquet" else "jsonl.zst")
    t0 = time.perf_counter()
    for file in inputs:
        if fmt == "parquet":
            for _, table in iter_record_tables(file):
                keep = np.zeros(table.num_rows, dtype=bool)
                keep[::10] = True
                writer.write_table(table.filter(pa.array(keep)))
        else:
            for b in iter_line_blocks(file):
                rows = np.arange(0, len(b), 10)
                writer.write_jsonl(b.gather(rows), len(rows))
    writer.commit()
    add("write 10% (re-read + copy + compress)", time.perf_counter() - t0)
    os.unlink(out)
    return t


def read_floor_columns(files: list[str], columns: list[str]) -> float:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    for path in files:
        for _ in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=columns, use_threads=False):
            pass
    return time.perf_counter() - t0


def kernel_side_by_side(text_file: Path, mb: float, ref_python: Path) -> dict:
    """Featurize + score from memory: dsir (Arrow buffers) vs the reference (Python strings)."""
    import numpy as np
    import pyarrow as pa

    from dsir.featurize import HashedNgramFeaturizer
    from dsir.io.paths import expand_paths
    from dsir.io.readers import iter_text_batches

    texts = pa.concat_arrays([b.texts for b in iter_text_batches(expand_paths([str(text_file)])[0])])
    n_bytes = len(texts.buffers()[2]) if texts.offset == 0 else None
    f = HashedNgramFeaturizer()
    log_ratio = np.random.default_rng(0).normal(size=f.buckets)
    f.score(texts.slice(0, 10), log_ratio)
    walls: dict[str, list[float]] = {"score": [], "count": []}
    cpus: dict[str, list[float]] = {"score": [], "count": []}
    for _ in range(5):  # alternating, best of five: the first seconds of a run are often slower
        for name, fn in (("score", lambda: f.score(texts, log_ratio)), ("count", lambda: f.count(texts))):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    best = {name: {"wall_s": min(walls[name]), "cpu_s": min(cpus[name])} for name in walls}
    # The reference on the first ~mb MB of the same documents (it is ~100x slower).
    small = WORK / "kernel-slice.jsonl"
    with open(text_file, "rb") as src, open(small, "wb") as dst:
        size = 0
        for line in src:
            dst.write(line)
            size += len(line)
            if size >= mb * 1e6:
                break
    env = dict(os.environ, NLTK_DATA=str(WORK / "no-nltk-data"))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(ref_python), str(REPO_ROOT / "bench" / "kernel_reference.py"), str(small)],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    ref = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"dsir_text_bytes": int(n_bytes or 0), "dsir": best, "reference": ref}


def make_slice(pool_files: list[str], mb: float, parts: int) -> list[Path]:
    """The first ``mb`` MB of the pool as ``parts`` plain jsonl files of about equal size.

    Both implementations get one file per worker: the reference gives ``num_proc // files``
    workers to each file and dsir one task per file, so each can use every worker.
    """
    paths = [WORK / f"slice-{mb:g}MB-{i}-of-{parts}.jsonl" for i in range(parts)]
    if all(p.exists() for p in paths):
        return paths
    from bench.reference import concat_plain

    per_part = mb * 1e6 / parts
    part, size, dst = 0, 0, open(paths[0].with_suffix(".tmp"), "wb")
    try:
        for path in pool_files:
            with open(concat_plain([path], f"throughput-{Path(path).name}.jsonl"), "rb") as src:
                for line in src:
                    if size >= per_part:
                        dst.close()
                        os.replace(paths[part].with_suffix(".tmp"), paths[part])
                        part, size = part + 1, 0
                        if part == parts:
                            return paths
                        dst = open(paths[part].with_suffix(".tmp"), "wb")
                    dst.write(line)
                    size += len(line)
        raise SystemExit(f"the pool holds less than {mb} MB")
    finally:
        dst.close()


# ----------------------------------------------------------------------------- tables


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "| " + " | ".join(str(x).rjust(w) for x, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([f"\n### {title}\n", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *map(line, rows)])


def per_core(mb: float, seconds: float, workers: int) -> float:
    return mb / max(seconds, 1e-9) / workers


def phase_rows(runs: list[tuple[str, dict, float, int, int]], reference: dict | None = None) -> list[list[str]]:
    """Rows (one per phase and run): MB/s/core, docs/s/core, peak RSS; ratio to ``reference``'s run."""
    rows = []
    for phase in (*PHASES, "total"):
        for name, run, mb, docs, workers in runs:
            if phase == "total":
                wall = run["total_s"]
                rss = run["peak_rss_mb"] if "peak_rss_mb" in run else run.get("peak_rss_tree_mb", 0)
            else:
                ph = run["phases"][phase]
                wall = ph["wall_s"]
                rss = ph.get("peak_rss_mb", ph.get("peak_rss_tree_mb", 0))
            ratio = ""
            if reference is not None and run is not reference[1]:
                ref_wall = reference[1]["total_s"] if phase == "total" else reference[1]["phases"][phase]["wall_s"]
                ref_rate = per_core(reference[2], ref_wall, reference[4])
                ratio = f"{per_core(mb, wall, workers) / ref_rate:.0f}x"
            rows.append([phase, name, f"{wall:.1f}", f"{per_core(mb, wall, workers):.2f}",
                         f"{docs / wall / workers:,.0f}", f"{rss:,.0f}", ratio])
    return rows


PHASE_HEADER = ["phase", "run", "wall s", "MB/s/core", "docs/s/core", "peak RSS MB", "dsir/ref per core"]


# ------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description="dsir throughput benchmark (see bench/README.md)")
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 1.0, 2.0], help="pools for the memory curve")
    ap.add_argument("--main-gb", type=float, default=1.0, help="pool for the end-to-end and scaling runs")
    ap.add_argument("--reference-mb", type=float, default=200, help="size of the slice the reference runs on")
    ap.add_argument("--kernel-reference-mb", type=float, default=5, help="text the reference kernel scores")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--k-fraction", type=float, default=0.1, help="k as a fraction of the documents")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--repeats", type=int, default=1,
                    help="end-to-end runs per configuration, alternating; the fastest is reported (noisy machines)")
    ap.add_argument("--engine", choices=["local", "processes"], default="local",
                    help="dsir's local engine: threads of one process (default) or worker processes")
    ap.add_argument("--parts", nargs="+", default=["kernel", "slice", "e2e", "memory", "profile"],
                    choices=["kernel", "slice", "e2e", "memory", "profile"], help="run only these parts")
    args = ap.parse_args()
    global PROCESSES
    PROCESSES = args.engine == "processes"
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": vars(args), "cpu_count": os.cpu_count(),
                     "loadavg_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    out: list[str] = []

    def emit(text: str) -> None:
        print(text, flush=True)
        out.append(text)

    sizes = sorted(set(args.sizes_gb) | {args.main_gb})
    print(f"building pools {sizes} GB ...", flush=True)
    pools = build_pools(sizes)
    main_pool = pools[args.main_gb]
    mb_main = main_pool["jsonl_bytes"] / 1e6
    from bench.reference import concat_plain, ensure_venv, plain_jsonl, run_reference

    ref_python = None if args.skip_reference else ensure_venv()
    target_plain = str(plain_jsonl(TARGET))

    # A plain-jsonl slice of the main pool, the same file for both implementations.
    shard0 = concat_plain([main_pool["files"]["jsonl.zst"][0]], f"throughput-{Path(main_pool['files']['jsonl.zst'][0]).name}.jsonl")
    slice_paths = make_slice(main_pool["files"]["jsonl.zst"], args.reference_mb, args.workers)
    slice_mb = sum(p.stat().st_size for p in slice_paths) / 1e6
    slice_docs = 0
    for path in slice_paths:
        with open(path, "rb") as fh:
            slice_docs += sum(1 for line in fh if line.strip())

    # 1. Kernel from memory.
    if "kernel" in args.parts:
        if ref_python is not None:
            print("kernel side by side ...", flush=True)
            kern = kernel_side_by_side(shard0, args.kernel_reference_mb, ref_python)
            results["kernel"] = kern
            ref_rate = kern["reference"]["text_bytes"] / 1e6 / kern["reference"]["cpu_s"]
            rows = []
            for name in ("score", "count"):
                d = kern["dsir"][name]
                rate = kern["dsir_text_bytes"] / 1e6 / d["cpu_s"]
                rows.append([f"dsir {name}", f"{kern['dsir_text_bytes'] / 1e6:.0f}", f"{rate:.1f}",
                             f"{kern['dsir_text_bytes'] / 1e6 / d['wall_s']:.1f}", f"{rate / ref_rate:.0f}x"])
            rows.append(["reference featurize+score", f"{kern['reference']['text_bytes'] / 1e6:.1f}", f"{ref_rate:.2f}",
                         f"{kern['reference']['text_bytes'] / 1e6 / kern['reference']['wall_s']:.2f}", "1x"])
            emit(table("Featurize + score from text in memory, single process (MB of text)",
                       ["what", "MB", "MB/s (CPU time)", "MB/s (wall)", "vs reference"], rows))

    # 2. Side by side on the slice.
    ref = None
    if "slice" in args.parts:
        k_slice = max(1, int(args.k_fraction * slice_docs))
        print(f"dsir on the {slice_mb:.0f} MB slice ...", flush=True)
        dsir_slice = run_dsir([str(p) for p in slice_paths], target_plain, k_slice, args.workers, "slice")
        results["slice"] = {"mb": slice_mb, "documents": slice_docs, "k": k_slice, "dsir": dsir_slice}
        runs = [("dsir", dsir_slice, slice_mb, slice_docs, args.workers)]
        ref = None
        if ref_python is not None:
            print(f"reference on the {slice_mb:.0f} MB slice (slow) ...", flush=True)
            c0 = children_cpu_s()
            ref_run = run_reference(slice_paths, [target_plain], k_slice, WORK / "out" / "reference",
                                    workers=args.workers, python=ref_python)
            ref_run["cpu_s"] = children_cpu_s() - c0
            results["slice"]["reference"] = ref_run
            ref = ("reference", ref_run, slice_mb, slice_docs, args.workers)
            runs.append(ref)
        emit(table(f"Side by side: {slice_mb:.0f} MB plain jsonl slice in {len(slice_paths)} files "
                   f"({slice_docs:,} documents), k = {k_slice:,}, "
                   f"{args.workers} workers each", PHASE_HEADER, phase_rows(runs, ref)))
        emit(table("Same runs by CPU time (whole process tree, start-up included; less sensitive to a shared machine)",
                   ["run", "CPU s", "MB per CPU-second", "vs reference"],
                   [[name, f"{run['cpu_s']:.1f}", f"{mb / run['cpu_s']:.2f}",
                     f"{(mb / run['cpu_s']) / (ref[2] / ref[1]['cpu_s']):.0f}x" if ref else ""]
                    for name, run, mb, _, _ in runs]))

    # 3. End to end on the main pool, both formats, 1 and N workers, with the floor.
    e2e: dict = {}
    if "e2e" in args.parts:
        e2e = {}
        rows, floor_rows, scale_rows = [], [], []
        k_main = max(1, int(args.k_fraction * main_pool["documents"]))
        for fmt in ("jsonl.zst", "parquet"):
            files = main_pool["files"][fmt]
            floor_s = read_floor(files)
            for rep in range(args.repeats):  # 1 and N workers alternate; the fastest run of each is kept
                for w in sorted({1, args.workers}):
                    print(f"dsir select {args.main_gb:g} GB {fmt} workers={w} (run {rep + 1}) ...", flush=True)
                    run = run_dsir(files, target_plain, k_main, w, f"main-{fmt}-{w}")
                    run["all_total_s"] = e2e.get((fmt, w), {}).get("all_total_s", []) + [run["total_s"]]
                    if (fmt, w) not in e2e or run["total_s"] < e2e[(fmt, w)]["total_s"]:
                        e2e[(fmt, w)] = run
                    else:
                        e2e[(fmt, w)]["all_total_s"] = run["all_total_s"]
            for w in sorted({1, args.workers}):
                run = e2e[(fmt, w)]
                rows += [[fmt, w] + r[:1] + r[2:6] for r in phase_rows([("", run, mb_main, main_pool["documents"], w)])]
            one, many = e2e[(fmt, 1)], e2e[(fmt, args.workers)]
            assert one["outputs"] == many["outputs"], "outputs differ between 1 and N workers"
            e2e_rate = per_core(mb_main, one["total_s"], 1)
            floor_rate = mb_main / floor_s
            floor_rows.append([fmt, f"{main_pool['file_bytes'][fmt] / 1e6:.0f}", f"{floor_s:.1f}", f"{floor_rate:.0f}",
                               f"{e2e_rate:.1f}", f"{floor_rate / e2e_rate:.1f}x", f"{mb_main / one['cpu_s']:.1f}"])
            scale_rows.append([fmt, f"{one['total_s']:.1f}", f"{many['total_s']:.1f}",
                               f"{one['total_s'] / many['total_s']:.2f}x"]
                              + [f"{one['phases'][p]['wall_s'] / many['phases'][p]['wall_s']:.2f}x" for p in PHASES]
                              + [" / ".join(f"{t:.1f}" for t in one["all_total_s"]),
                                 " / ".join(f"{t:.1f}" for t in many["all_total_s"])])
            results.setdefault("e2e", {})[fmt] = {"floor_s": floor_s, "runs": {w: e2e[(fmt, w)] for w in {1, args.workers}}}
        emit(table(f"dsir select on the {args.main_gb:g} GB pool ({mb_main:,.0f} MB jsonl, "
                   f"{main_pool['documents']:,} documents), k = {k_main:,}",
                   ["format", "workers", "phase", "wall s", "MB/s/core", "docs/s/core", "peak RSS MB"], rows))
        emit(table("Read-and-decompress floor (pyarrow, one thread, every column) vs dsir select with 1 worker",
                   ["format", "file MB", "floor s", "floor MB/s", "dsir MB/s/core", "dsir / floor time",
                    "dsir MB per CPU-s"], floor_rows))
        emit(table(f"Scaling: 1 -> {args.workers} workers (speed-up of the fastest wall times; byte-identical "
                   "outputs checked)",
                   ["format", "1 worker s", f"{args.workers} workers s", "total", *PHASES,
                    "all runs, 1 worker (s)", f"all runs, {args.workers} workers (s)"], scale_rows))
        if ref is not None:
            emit(table("Per phase, per byte: dsir on the main pool vs the reference on its slice (same run)",
                       PHASE_HEADER, phase_rows(
                           [(f"dsir {fmt} {w}w", r, mb_main, main_pool["documents"], w) for (fmt, w), r in e2e.items()]
                           + [ref], ref)))
            ref_rate = per_core(slice_mb, ref[1]["total_s"], args.workers)
            ref_cpu_rate = slice_mb / ref[1]["cpu_s"]
            emit(table("End to end per core vs the reference (its slice run above)",
                       ["run", "MB/s/core (wall)", "vs reference", "MB per CPU-s", "vs reference (CPU)"],
                       [[f"dsir {fmt}, {w} worker(s)", f"{per_core(mb_main, r['total_s'], w):.1f}",
                         f"{per_core(mb_main, r['total_s'], w) / ref_rate:.0f}x", f"{mb_main / r['cpu_s']:.1f}",
                         f"{mb_main / r['cpu_s'] / ref_cpu_rate:.0f}x"] for (fmt, w), r in e2e.items()]
                       + [["reference (slice)", f"{ref_rate:.2f}", "1x", f"{ref_cpu_rate:.2f}", "1x"]]))

    # 4. Memory curve, with 1 and N workers.
    if "memory" in args.parts:
        mem_rows = []
        for w in sorted({1, args.workers}):
            for gb in sorted(args.sizes_gb):
                pool = pools[gb]
                if gb == args.main_gb and ("jsonl.zst", w) in e2e:
                    run = e2e[("jsonl.zst", w)]
                else:
                    print(f"dsir select {gb:g} GB jsonl.zst workers={w} ...", flush=True)
                    run = run_dsir(pool["files"]["jsonl.zst"], target_plain,
                                   max(1, int(args.k_fraction * pool["documents"])), w, f"mem-{gb}-{w}")
                results.setdefault("memory", {})[f"{gb}-{w}"] = run
                mem_rows.append([f"{gb:g}", w, f"{pool['documents']:,}", f"{pool['jsonl_bytes'] / 1e9:.2f}",
                                 f"{run['total_s']:.1f}", f"{run['peak_rss_mb']:,.0f}"]
                                + [f"{run['phases'][p]['peak_rss_mb']:,.0f}" for p in PHASES])
        emit(table("Memory: peak RSS of the dsir select process tree (jsonl.zst, k = 10%)",
                   ["pool GB", "workers", "documents", "jsonl GB", "wall s", "peak RSS MB",
                    *[f"{p} MB" for p in PHASES]], mem_rows))

    # 5. Where the time goes.
    if "profile" in args.parts:
        prof_files = {fmt: main_pool["files"][fmt][:2] for fmt in ("jsonl.zst", "parquet")}
        shard_bytes = json.loads((REPO_ROOT / "bench" / ".work" / "pools" / "shards.json").read_text())["shards"]
        prof_mb = sum(s["jsonl_bytes"] for s in shard_bytes[:2]) / 1e6
        prof_rows = []
        for fmt, files in prof_files.items():
            print(f"profiling {fmt} ...", flush=True)
            parts = profile_format(files, fmt, int(prof_mb * 1e6))
            results.setdefault("profile", {})[fmt] = parts
            for name, s in parts.items():
                prof_rows.append([fmt, name, f"{s:.2f}", f"{s * 1000 / prof_mb:.1f}", f"{prof_mb / s:.0f}"])
        emit(table(f"Where the time goes, single process, {prof_mb:.0f} MB of jsonl (2 shards)",
                   ["format", "component", "s", "ms per MB", "MB/s"], prof_rows))

    results["loadavg_end"] = os.getloadavg()
    emit(f"\nload average at start {results['loadavg_start'][0]:.1f}, at end {results['loadavg_end'][0]:.1f} "
         f"on {os.cpu_count()} CPUs")
    suffix = "" if len(args.parts) == 5 else "-" + "-".join(args.parts)
    (WORK / f"throughput-results{suffix}.json").write_text(json.dumps(results, indent=1, default=str))
    (WORK / f"throughput-tables{suffix}.md").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_child":
        print(json.dumps(child_select(json.loads(sys.argv[2]))))
    else:
        main()
