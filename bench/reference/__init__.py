"""Helpers to run the reference DSIR implementation (``data-selection==1.0.3``).

The reference runs in its own virtual environment (``bench/.venv-reference``,
see :mod:`setup_env`) and reads plain, uncompressed jsonl only. This module

* decompresses ``.jsonl.zst`` corpus files once into ``bench/.work/plain/``
  (:func:`plain_jsonl`, :func:`concat_plain`);
* runs ``run_reference.py`` inside that venv and returns its per-phase timings
  plus the path of the selected documents (:func:`run_reference`);
* reads jsonl / jsonl.zst / jsonl.gz files (:func:`iter_jsonl`), which the
  benchmarks use to score selections.

Only the standard library is required; ``zstandard`` is used when importable,
otherwise the ``zstd`` command-line tool.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from .setup_env import REPO_ROOT, REQUIREMENTS, VENV_DIR, ensure_venv, venv_python

__all__ = [
    "PLAIN_DIR",
    "REPO_ROOT",
    "REQUIREMENTS",
    "RUN_REFERENCE_SCRIPT",
    "VENV_DIR",
    "WORK_DIR",
    "concat_plain",
    "ensure_venv",
    "iter_jsonl",
    "open_text",
    "plain_jsonl",
    "reference_weights",
    "run_reference",
    "venv_python",
]

#: Scratch space for benchmarks (git-ignored).
WORK_DIR: Path = REPO_ROOT / "bench" / ".work"

#: Where decompressed corpus files are cached.
PLAIN_DIR: Path = WORK_DIR / "plain"

#: The script executed inside the reference venv.
RUN_REFERENCE_SCRIPT: Path = Path(__file__).resolve().parent / "run_reference.py"


# --------------------------------------------------------------------------- I/O


def _zstd_reader(path: Path) -> io.BufferedIOBase:
    """Return a binary stream of the decompressed content of the zstd file ``path``.

    Uses the ``zstandard`` package when importable, else pipes ``zstd -dc``.
    """
    try:
        import zstandard
    except ImportError:
        zstd = shutil.which("zstd")
        if zstd is None:
            raise RuntimeError(f"cannot read {path}: install the 'zstandard' package or the zstd CLI") from None
        return _ProcStream(subprocess.Popen([zstd, "-dc", "--", str(path)], stdout=subprocess.PIPE))
    return zstandard.ZstdDecompressor().stream_reader(  # type: ignore[no-any-return]
        open(path, "rb"), read_across_frames=True, closefd=True
    )


class _ProcStream(io.BufferedIOBase):
    """Binary reader over a subprocess's stdout that checks its exit status on EOF/close."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        assert proc.stdout is not None
        # Popen's stdout is an io.BufferedReader with the default bufsize.
        self._out = cast(io.BufferedReader, proc.stdout)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._out.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._out.read1(size)

    def readinto(self, b: Any) -> int:
        return self._out.readinto(b)

    def close(self) -> None:
        if not self.closed:
            self._out.close()
            rc = self._proc.wait()
            if rc not in (0, -13):  # -13: SIGPIPE when closed before EOF
                raise RuntimeError(f"zstd exited with status {rc}")
        super().close()


def open_binary(path: str | os.PathLike[str]) -> io.BufferedIOBase:
    """Open ``path`` for reading decompressed bytes (.zst, .gz or plain by suffix)."""
    p = Path(path)
    if p.suffix == ".zst":
        return _zstd_reader(p)
    if p.suffix == ".gz":
        return gzip.open(p, "rb")
    return open(p, "rb")


def open_text(path: str | os.PathLike[str]) -> io.TextIOWrapper:
    """Open ``path`` as UTF-8 text, decompressing .zst / .gz transparently."""
    return io.TextIOWrapper(cast(Any, open_binary(path)), encoding="utf-8", newline="\n")


def iter_jsonl(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    """Yield the JSON object of every non-blank line of every file in ``paths``."""
    for path in paths:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def _plain_name(src: Path) -> str:
    """Return the file name of the decompressed copy of ``src`` (suffix dropped)."""
    return src.name[: -len(src.suffix)] if src.suffix in (".zst", ".gz") else src.name


def _is_fresh(dest: Path, sources: Sequence[Path]) -> bool:
    """True if ``dest`` exists and is at least as new as every file in ``sources``."""
    if not dest.is_file():
        return False
    mtime = dest.stat().st_mtime
    return all(src.stat().st_mtime <= mtime for src in sources)


def plain_jsonl(src: str | os.PathLike[str], cache_dir: str | os.PathLike[str] = PLAIN_DIR) -> Path:
    """Return a plain-jsonl copy of ``src``, decompressing it once into ``cache_dir``.

    The copy is ``cache_dir/<parent dir name>/<name without .zst/.gz>`` (the
    parent directory name keeps ``pool/`` and ``target/`` files apart). It is
    rebuilt only when missing or older than ``src``; it is written to a
    temporary file and renamed, so an interrupted run never leaves a truncated
    copy behind. A plain ``.jsonl`` source is returned unchanged.
    """
    src_p = Path(src).resolve()
    if src_p.suffix not in (".zst", ".gz"):
        return src_p
    dest = Path(cache_dir) / src_p.parent.name / _plain_name(src_p)
    if _is_fresh(dest, [src_p]):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    with open_binary(src_p) as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    os.replace(tmp, dest)
    return dest


def concat_plain(
    sources: Sequence[str | os.PathLike[str]],
    name: str,
    cache_dir: str | os.PathLike[str] = PLAIN_DIR,
) -> Path:
    """Return one plain jsonl file ``cache_dir/name`` holding all ``sources`` in order.

    Sources may be compressed (.zst/.gz) or plain; blank lines are dropped and
    every line ends with a newline. Rebuilt only when missing or older than a
    source. Used to give the reference a single pool file: with ``num_proc``
    workers and ``f`` input files it assigns ``num_proc // f`` workers to each
    file, so a pool split into one large and one tiny shard would otherwise run
    almost serially.
    """
    srcs = [Path(s).resolve() for s in sources]
    dest = Path(cache_dir) / name
    if _is_fresh(dest, srcs):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fout:
        for src in srcs:
            with open_text(src) as fin:
                for line in fin:
                    if line.strip():
                        fout.write(line if line.endswith("\n") else line + "\n")
    os.replace(tmp, dest)
    return dest


# ----------------------------------------------------------------------- running


def run_reference(
    raw_paths: Sequence[str | os.PathLike[str]],
    target_paths: Sequence[str | os.PathLike[str]],
    k: int,
    out_dir: str | os.PathLike[str],
    workers: int = 2,
    *,
    min_length: int = 0,
    seed: int = 0,
    top_k: bool = False,
    python: str | os.PathLike[str] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Run reference DSIR on ``raw_paths`` -> ``k`` documents for ``target_paths``.

    Compressed inputs are first decompressed into :data:`PLAIN_DIR` (once).
    ``run_reference.py`` then runs in the reference venv (created on first use
    unless ``python`` names an interpreter) with ``out_dir`` wiped first. Its
    stdout/stderr (tqdm progress bars) go to ``out_dir.log``.

    Returns the content of ``out_dir/reference_timings.json``: per-phase
    timings under ``"phases"`` (``fit``, ``score``, ``select_write``, each with
    ``wall_s``, CPU seconds and peak memory), ``"total_s"`` (sum of phases),
    ``"selected_path"`` (a single jsonl of the selected documents, lines
    verbatim from the raw input), ``"selected_shards"`` (the reference's own
    output files) and ``"n_selected"``; plus ``"process_wall_s"``, the wall
    time of the whole subprocess (interpreter start-up and imports included).
    Raises ``RuntimeError`` (with the log's tail) if the run fails.
    """
    raw_plain = [plain_jsonl(p) for p in raw_paths]
    target_plain = [plain_jsonl(p) for p in target_paths]
    py = Path(python) if python is not None else ensure_venv()
    out = Path(out_dir).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    cmd = [
        str(py),
        str(RUN_REFERENCE_SCRIPT),
        "--raw",
        *map(str, raw_plain),
        "--target",
        *map(str, target_plain),
        "-k",
        str(k),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--min-length",
        str(min_length),
        "--seed",
        str(seed),
        "--overwrite",
    ]
    if top_k:
        cmd.append("--top-k")

    log_path = out.with_name(out.name + ".log")
    # The reference needs no nltk data (WordPunctTokenizer is a regex); point
    # NLTK_DATA at a directory that does not exist so that nothing is fetched.
    env = dict(os.environ, NLTK_DATA=str(WORK_DIR / "no-nltk-data"), PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, check=False, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"reference run failed (exit {proc.returncode}); log {log_path}:\n{tail}")

    result: dict[str, Any] = json.loads((out / "reference_timings.json").read_text())
    result["process_wall_s"] = round(wall, 4)
    result["log_path"] = str(log_path)
    return result


def reference_weights(cache: str | os.PathLike[str], n_docs: int, workers: int):
    """The reference's log-weight of every line of a one-file pool, from its ``cache`` folder:
    it splits the file over ``workers`` virtual shards, line ``j`` in shard ``j % workers`` at
    position ``j // workers``."""
    import numpy as np  # the helpers above run without numpy

    out = np.empty(n_docs)
    for i in range(workers):
        out[i::workers] = np.load(Path(cache) / "log_importance_weights" / f"{i}.npy")
    return out
