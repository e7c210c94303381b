"""Selection quality of ``dsir`` versus the reference DSIR, one target domain at a time.

For every domain ``d`` of the benchmark corpus (``--corpus``, default
``../shared/corpus`` next to the repository) the raw pool (all eight domains
mixed) is resampled towards ``target/<d>.jsonl.zst`` with ``k`` = the number of
pool documents whose ground-truth domain is ``d`` (from ``manifest.json``):

* ``dsir``: ``dsir select --raw <shard 1> --raw <shard 2> ... --target <target>
  -k K -o DIR --seed S --workers W``, reading the compressed corpus directly;
* the reference: ``data-selection==1.0.3``'s ``HashedNgramDSIR`` (2-grams,
  10000 buckets, ``min_example_length=0``, ``num_tokens_to_fit='auto'``, Gumbel
  sampling seeded through numpy's global RNG) in its own venv, reading plain
  jsonl that was decompressed once beforehand (decompression not timed; the
  pool shards are concatenated into one file so the reference can split it
  over its workers).

Precision is the share of selected documents whose ``domain`` field equals
the target domain; since ``k`` equals the domain's pool size, precision equals
recall here. Seconds are the end-to-end wall time of each command (process
start-up included). Results go to ``bench/results/quality_vs_reference.md``
and ``.json`` (``--results-dir``).

Usage (from the repository root)::

    python bench/quality_vs_reference.py                      # everything
    python bench/quality_vs_reference.py --domains news quotes
    python bench/quality_vs_reference.py --skip-reference --reuse-reference
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench.reference` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import REPO_ROOT, WORK_DIR, concat_plain, ensure_venv, iter_jsonl, run_reference  # noqa: E402

DEFAULT_CORPUS: Path = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_RESULTS_DIR: Path = REPO_ROOT / "bench" / "results"
RESULTS_STEM = "quality_vs_reference"
QUALITY_WORK_DIR: Path = WORK_DIR / "quality"


# ------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class Corpus:
    """The benchmark corpus: pool shards, per-domain targets and pool counts."""

    root: Path
    pool_files: tuple[Path, ...]
    pool_docs: dict[str, int]  # domain -> number of pool documents, manifest order

    def target_file(self, domain: str) -> Path:
        """Return the path of the target sample of ``domain``."""
        return self.root / "target" / f"{domain}.jsonl.zst"


def load_corpus(root: Path) -> Corpus:
    """Read pool doc counts per domain (manifest.json, else stats.tsv) and list pool shards."""
    root = root.resolve()
    pool_docs: dict[str, int] = {}
    pool_files: list[Path] = []
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        for entry in manifest.get("domains", []):
            pool_docs[entry["domain"]] = int(entry["pool_docs"])
        pool_files = [root / f["path"] for f in manifest.get("files", {}).get("pool", [])]
    if not pool_docs:
        stats_path = root / "stats.tsv"
        lines = stats_path.read_text().splitlines()
        header = lines[0].split("\t")
        i_dom, i_pool = header.index("domain"), header.index("pool_docs")
        for line in lines[1:]:
            cells = line.split("\t")
            if len(cells) > max(i_dom, i_pool) and cells[i_dom] != "total":
                pool_docs[cells[i_dom]] = int(cells[i_pool])
    if not pool_files:
        pool_files = sorted((root / "pool").glob("*.jsonl*"))
    if not pool_files or not pool_docs:
        raise SystemExit(f"{root}: no pool files or no per-domain pool counts found")
    return Corpus(root=root, pool_files=tuple(pool_files), pool_docs=pool_docs)


# ----------------------------------------------------------------- measurement


@dataclass
class Outcome:
    """The result of one selector on one target domain."""

    status: str = "not run"  # "ok", "skipped", "error", "not run", "reused"
    seconds: float | None = None
    n_selected: int | None = None
    precision: float | None = None
    selected_domains: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of this outcome."""
        return {
            "status": self.status,
            "seconds": self.seconds,
            "n_selected": self.n_selected,
            "precision": self.precision,
            "selected_domains": self.selected_domains,
            "detail": self.detail,
            "error": self.error,
        }


def score_selection(files: Sequence[Path], target_domain: str, outcome: Outcome) -> None:
    """Fill ``outcome`` with the count, per-domain composition and precision of ``files``.

    Precision = (selected documents whose ``domain`` == ``target_domain``) /
    (selected documents).
    """
    counts: collections.Counter[str] = collections.Counter(str(doc.get("domain")) for doc in iter_jsonl(files))
    n = sum(counts.values())
    outcome.n_selected = n
    outcome.selected_domains = dict(counts.most_common())
    outcome.precision = counts[target_domain] / n if n else None


def find_dsir_command(explicit: str | None) -> list[str] | None:
    """Return the command prefix that runs the dsir CLI, or None if there is none.

    ``explicit`` (from ``--dsir``) is split like a shell command line; otherwise
    the ``dsir`` executable next to ``sys.executable`` is preferred, then the
    one on ``PATH``.
    """
    if explicit:
        return shlex.split(explicit)
    beside = Path(sys.executable).parent / ("dsir.exe" if os.name == "nt" else "dsir")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("dsir")
    return [found] if found else None


def dsir_output_files(out_dir: Path) -> list[Path]:
    """Return the selected-document shards the dsir CLI wrote into ``out_dir``."""
    files: list[Path] = []
    for pattern in ("*.jsonl.zst", "*.jsonl.gz", "*.jsonl"):
        files.extend(p for p in out_dir.glob(pattern) if p.is_file())
    return sorted(set(files))


def run_dsir(
    cmd_prefix: list[str],
    corpus: Corpus,
    domain: str,
    k: int,
    out_dir: Path,
    *,
    seed: int,
    workers: int,
    timeout_s: float,
) -> Outcome:
    """Run ``dsir select`` for ``domain`` and score what it selected.

    Never raises for a failing CLI: failures are reported in the outcome
    (status ``"error"``, with the tail of its output) so that the other domains
    and the reference still get measured.
    """
    outcome = Outcome()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        *cmd_prefix,
        "select",
        # The CLI is click-based: a repeatable option takes one value per flag.
        *(arg for path in corpus.pool_files for arg in ("--raw", str(path))),
        "--target",
        str(corpus.target_file(domain)),
        "-k",
        str(k),
        "-o",
        str(out_dir),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
    ]
    outcome.detail["command"] = shlex.join(cmd)
    log_path = out_dir.with_name(out_dir.name + ".log")
    outcome.detail["log_path"] = str(log_path)
    t0 = time.perf_counter()
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, check=False, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        outcome.status, outcome.error = "error", f"timed out after {timeout_s:.0f}s"
        return outcome
    except OSError as exc:
        outcome.status, outcome.error = "error", f"could not start dsir: {exc}"
        return outcome
    outcome.seconds = round(time.perf_counter() - t0, 3)
    if proc.returncode != 0:
        outcome.status = "error"
        outcome.error = f"exit status {proc.returncode}: " + log_path.read_text(errors="replace")[-2000:]
        return outcome

    files = dsir_output_files(out_dir)
    if not files:
        outcome.status, outcome.error = "error", f"no *.jsonl[.zst|.gz] output in {out_dir}"
        return outcome
    try:
        score_selection(files, domain, outcome)
    except (ValueError, OSError, RuntimeError) as exc:
        outcome.status, outcome.error = "error", f"could not read output: {exc}"
        return outcome
    manifest = out_dir / "manifest.json"
    if manifest.is_file() and manifest.stat().st_size <= 64 * 1024:
        try:
            outcome.detail["manifest"] = json.loads(manifest.read_text())
        except ValueError:
            outcome.detail["manifest"] = "unparseable"
    outcome.detail["output_files"] = [str(p) for p in files]
    outcome.status = "ok"
    if outcome.n_selected != k:
        outcome.detail["warning"] = f"selected {outcome.n_selected} documents, expected {k}"
    return outcome


def run_reference_for(
    pool_plain: Path,
    corpus: Corpus,
    domain: str,
    k: int,
    out_dir: Path,
    *,
    seed: int,
    workers: int,
    python: Path,
    timeout_s: float,
) -> Outcome:
    """Run the reference DSIR for ``domain`` (min_example_length=0) and score it."""
    outcome = Outcome()
    try:
        res = run_reference(
            [pool_plain],
            [corpus.target_file(domain)],
            k,
            out_dir,
            workers,
            min_length=0,
            seed=seed,
            python=python,
            timeout_s=timeout_s,
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        outcome.status, outcome.error = "error", str(exc)[-2000:]
        return outcome
    outcome.seconds = res["process_wall_s"]
    outcome.detail = {
        "phases": res["phases"],
        "phases_total_s": res["total_s"],
        "cpu_s": round(sum(ph["cpu_user_s"] + ph["cpu_sys_s"] for ph in res["phases"].values()), 2),
        "peak_rss_tree_mb": res["peak_rss_tree_mb"],
        "versions": res["versions"],
        "n_raw_docs": res["n_raw_docs"],
        "selected_path": res["selected_path"],
    }
    score_selection([Path(res["selected_path"])], domain, outcome)
    outcome.status = "ok"
    if outcome.n_selected != k:
        outcome.detail["warning"] = f"selected {outcome.n_selected} documents, expected {k}"
    return outcome


# --------------------------------------------------------------------- report


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the non-None values (None if there are none)."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _loadavg() -> float | None:
    """Return the 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _fmt(value: float | None, digits: int) -> str:
    """Format a number for the table; missing values become 'n/a'."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """Return the markdown report: one row per domain plus the mean row."""
    lines = [
        "# dsir vs reference DSIR: selection precision per target domain",
        "",
        "| domain | k | dsir precision | reference precision | dsir seconds | reference seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        d, r = row["dsir"], row["reference"]
        lines.append(
            f"| {row['domain']} | {row['k']} | {_fmt(d['precision'], 4)} | {_fmt(r['precision'], 4)} "
            f"| {_fmt(d['seconds'], 1)} | {_fmt(r['seconds'], 1)} |"
        )
    m = meta["mean"]
    lines.append(
        f"| **mean** | | {_fmt(m['dsir_precision'], 4)} | {_fmt(m['reference_precision'], 4)} "
        f"| {_fmt(m['dsir_seconds'], 1)} | {_fmt(m['reference_seconds'], 1)} |"
    )
    lines += [
        "",
        (
            "Precision: share of the k selected pool documents whose ground-truth domain is the target "
            f"domain (k = that domain's pool size, so precision = recall). Seed {meta['seed']}, "
            f"{meta['workers']} workers, {meta['cpu_count']} CPUs, Python {meta['python']}, {meta['date']}."
        ),
        (
            "Seconds: end-to-end wall time of each command. dsir reads the .jsonl.zst corpus directly; the "
            "reference (data-selection 1.0.3, HashedNgramDSIR, 2-grams, 10000 buckets, min_example_length=0, "
            "Gumbel sampling) reads plain jsonl decompressed beforehand (not timed)."
        ),
        (
            f"1-minute load average at start / end: {_fmt(meta['loadavg_1min_start'], 2)} / "
            f"{_fmt(meta['loadavg_1min_end'], 2)} on {meta['cpu_count']} CPUs (wall times are only "
            "comparable when it stays below the CPU count; the JSON also has the reference's CPU seconds)."
        ),
    ]
    problems = [
        f"- {row['domain']} / {who}: {row[who]['status']}"
        + (f" ({row[who]['error'].splitlines()[0][:200]})" if row[who].get("error") else "")
        for row in rows
        for who in ("dsir", "reference")
        if row[who]["status"] not in ("ok", "reused")
    ]
    if problems:
        lines += ["", "Not measured:", *problems]
    return "\n".join(lines) + "\n"


def load_previous_reference(path: Path, seed: int, workers: int, corpus_root: Path) -> dict[str, dict[str, Any]]:
    """Return {domain: reference outcome} from an earlier results JSON with the same settings."""
    if not path.is_file():
        return {}
    try:
        prev = json.loads(path.read_text())
    except ValueError:
        return {}
    meta = prev.get("meta", {})
    if meta.get("seed") != seed or meta.get("workers") != workers or meta.get("corpus") != str(corpus_root):
        return {}
    return {
        row["domain"]: dict(row["reference"], k=row["k"])
        for row in prev.get("rows", [])
        if row.get("reference", {}).get("status") in ("ok", "reused")
    }


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description="dsir vs reference DSIR: precision per target domain.")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="benchmark corpus (default: ../shared/corpus)")
    p.add_argument("--domains", nargs="+", help="subset of domains (space- or comma-separated); default all")
    p.add_argument("--workers", type=int, default=2, help="workers for both implementations (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed for both implementations (default: 0)")
    p.add_argument("--skip-reference", action="store_true", help="do not run the reference")
    p.add_argument("--skip-dsir", action="store_true", help="do not run dsir")
    p.add_argument(
        "--reuse-reference",
        action="store_true",
        help="take reference results from the previous results JSON when seed, workers, corpus and k match",
    )
    p.add_argument("--dsir", metavar="CMD", help="command that runs the dsir CLI (default: find `dsir`)")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where to write the .md/.json")
    p.add_argument("--work-dir", type=Path, default=QUALITY_WORK_DIR, help="scratch dir for selections")
    p.add_argument("--timeout", type=float, default=3600.0, help="per-run timeout in seconds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both selectors on every requested domain and write the report."""
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_start = _loadavg()
    corpus = load_corpus(args.corpus)

    domains = list(corpus.pool_docs)
    if args.domains:
        wanted = [d for item in args.domains for d in item.split(",") if d]
        unknown = sorted(set(wanted) - set(domains))
        if unknown:
            raise SystemExit(f"unknown domain(s) {unknown}; known: {domains}")
        domains = [d for d in domains if d in wanted]

    results_json = args.results_dir / f"{RESULTS_STEM}.json"
    previous = (
        load_previous_reference(results_json, args.seed, args.workers, corpus.root) if args.reuse_reference else {}
    )

    dsir_cmd: list[str] | None = None
    if not args.skip_dsir:
        dsir_cmd = find_dsir_command(args.dsir)
        if dsir_cmd is None:
            print("dsir: no `dsir` executable next to python or on PATH; dsir half not run", file=sys.stderr)

    need_reference = not args.skip_reference and any(d not in previous for d in domains)
    ref_python: Path | None = None
    pool_plain: Path | None = None
    if need_reference:
        ref_python = ensure_venv()
        print("reference: decompressing the pool (once)...", file=sys.stderr, flush=True)
        pool_plain = concat_plain(corpus.pool_files, "pool/pool.jsonl")

    rows: list[dict[str, Any]] = []
    for domain in domains:
        k = corpus.pool_docs[domain]
        print(f"== {domain} (k={k})", file=sys.stderr, flush=True)

        if args.skip_dsir:
            dsir_out = Outcome(status="skipped")
        elif dsir_cmd is None:
            dsir_out = Outcome(status="skipped", error="dsir executable not found")
        else:
            dsir_out = run_dsir(
                dsir_cmd,
                corpus,
                domain,
                k,
                args.work_dir / "dsir" / domain,
                seed=args.seed,
                workers=args.workers,
                timeout_s=args.timeout,
            )
            print(
                f"   dsir: {dsir_out.status} precision={_fmt(dsir_out.precision, 4)} "
                f"seconds={_fmt(dsir_out.seconds, 1)}",
                file=sys.stderr,
                flush=True,
            )

        prev = previous.get(domain)
        if prev is not None and prev.get("k") == k:
            ref_json = {key: val for key, val in prev.items() if key != "k"}
            ref_json["status"] = "reused"
        elif args.skip_reference:
            ref_json = Outcome(status="skipped").to_json()
        else:
            assert ref_python is not None and pool_plain is not None
            ref_out = run_reference_for(
                pool_plain,
                corpus,
                domain,
                k,
                args.work_dir / "reference" / domain,
                seed=args.seed,
                workers=args.workers,
                python=ref_python,
                timeout_s=args.timeout,
            )
            ref_json = ref_out.to_json()
        print(
            f"   reference: {ref_json['status']} precision={_fmt(ref_json['precision'], 4)} "
            f"seconds={_fmt(ref_json['seconds'], 1)}",
            file=sys.stderr,
            flush=True,
        )

        rows.append({"domain": domain, "k": k, "dsir": dsir_out.to_json(), "reference": ref_json})

    meta: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "corpus": str(corpus.root),
        "pool_files": [str(p) for p in corpus.pool_files],
        "seed": args.seed,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "dsir_command": shlex.join(dsir_cmd) if dsir_cmd else None,
        "mean": {
            "dsir_precision": _mean([r["dsir"]["precision"] for r in rows]),
            "reference_precision": _mean([r["reference"]["precision"] for r in rows]),
            "dsir_seconds": _mean([r["dsir"]["seconds"] for r in rows]),
            "reference_seconds": _mean([r["reference"]["seconds"] for r in rows]),
        },
        "benchmark_wall_s": round(time.perf_counter() - t_start, 1),
        "loadavg_1min_start": load_start,
        "loadavg_1min_end": _loadavg(),
    }
    markdown = render_markdown(rows, meta)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{RESULTS_STEM}.md").write_text(markdown)
    results_json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(markdown)
    print(
        f"wrote {args.results_dir / (RESULTS_STEM + '.md')} and .json ({meta['benchmark_wall_s']:.0f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
