"""Run one hostile case through the CLI and check it ended in the documented behaviour.

A case builds its own inputs in a fresh folder and names the command to run. Its expected
outcome is one of:

- ``Refused``: the exit status of the error's kind (2 usage, 3 bad input, 4 output failure), a last line ``dsir: error: ...`` holding the expected text
  (file and line where there is one), no traceback, and nothing under OUT that could pass
  for output (only ``_dsir/``, the finished units kept for ``--resume``).
- ``Selected``: exit status 0, a manifest, the expected number of selected documents, every
  written record a byte-exact copy of an input record (rows never drift from lines), no
  record twice, the expected rejects (with their lines) and the expected warning.

Anything else (a traceback, another exit status, wrong or missing output) fails the case.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import zstandard
from click.testing import CliRunner, Result

from dsir.cli.main import EXIT_USAGE, exit_status, main
from dsir.errors import DsirError


@dataclass(frozen=True)
class Refused:
    """Exit with the status of the error's kind and one ``dsir: error:`` line containing
    ``message`` ({d} is the case's folder)."""

    message: str


@dataclass(frozen=True)
class Selected:
    """Exit 0 with ``count`` documents selected (None: do not check the number)."""

    count: int | None = None
    warning: str | None = None
    rejects: int = 0
    reject_lines: tuple[int, ...] | None = None
    check: Callable[[Path, dict], None] | None = None


Outcome = Refused | Selected


@dataclass(frozen=True)
class Case:
    """A hostile input or situation, the command to run on it, and what must happen."""

    name: str
    build: Callable[[Path], list[str]]
    expect: Outcome
    group: str = field(default="")


@dataclass
class Ran:
    """What a case's command did: its result, the log records at WARNING and above."""

    result: Result
    warnings: list[str]
    argv: list[str]
    before: set[str]  # what OUT held before the command

    @property
    def error_line(self) -> str:
        lines = self.result.stderr.strip().splitlines()
        return lines[-1] if lines else ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_case(case: Case, folder: Path) -> Ran:
    """Build the case's inputs in ``folder`` and run its command in this process."""
    argv = case.build(folder)
    out = _output_dir(argv)
    before = set(os.listdir(out)) if out is not None and out.is_dir() else set()
    collect = _Collect()
    logger = logging.getLogger("dsir")
    logger.addHandler(collect)
    try:
        result = CliRunner().invoke(main, argv)
    finally:
        logger.removeHandler(collect)
    return Ran(result, collect.messages, argv, before)


def _output_dir(argv: list[str]) -> Path | None:
    for flag in ("-o", "--output"):
        if flag in argv:
            return Path(argv[argv.index(flag) + 1])
    return None


def _inputs(argv: list[str]) -> list[Path]:
    """The raw files a command names, folders walked (links followed once, as dsir does)."""
    paths = []
    for i, a in enumerate(argv[:-1]):
        if a == "--raw":
            p = Path(argv[i + 1])
            if not p.is_dir():
                paths.append(p)
                continue
            seen = set()
            for dirpath, dirnames, filenames in os.walk(p, followlinks=True):
                if os.path.realpath(dirpath) in seen:
                    dirnames[:] = []
                    continue
                seen.add(os.path.realpath(dirpath))
                paths += [Path(dirpath, n) for n in filenames if Path(dirpath, n).is_file()]
    return paths


def _records(path: Path) -> list[bytes]:
    """The records of a jsonl(.gz/.zst) file as bytes, or of a parquet file as canonical JSON."""
    if _is_table(path):
        return [json.dumps(r, sort_keys=True, default=str).encode() for r in _table(path).to_pylist()]
    return _lines(path)


def _is_table(path: Path) -> bool:
    return path.name.endswith((".parquet", ".arrow", ".feather"))


def _table(path: Path):
    if path.name.endswith(".parquet"):
        return pq.read_table(path)
    import pyarrow.feather as feather

    return feather.read_table(path)


def _texts(path: Path) -> list[str]:
    """The text field of every record, whatever the format."""
    if _is_table(path):
        return _table(path).column("text").to_pylist()
    return [json.loads(line)["text"] for line in _lines(path)]


def _lines(path: Path) -> list[bytes]:
    name = path.name
    data = path.read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def check_outcome(case: Case, ran: Ran, folder: Path) -> None:
    """Assert that ``ran`` is ``case.expect``; the message says what happened instead."""
    res = ran.result
    said = f"argv={ran.argv}\nexit={res.exit_code}\nstderr={res.stderr[-2000:]}\nexception={res.exception!r}"
    assert "Traceback" not in res.output, said
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"raised {type(res.exception).__name__} instead of exiting\n{said}") from res.exception
    out = _output_dir(ran.argv)
    expect = case.expect
    if isinstance(expect, Refused):
        # the status of the error's kind: usage 2, bad input 3, output failure 4 (cli.main.exit_status);
        # sys.exit() inside the handler keeps the dsir error as the SystemExit's context
        cause = res.exception.__context__ if res.exception is not None else None
        assert res.exit_code == (exit_status(cause) if isinstance(cause, DsirError) else EXIT_USAGE), said
        line = ran.error_line
        assert line.startswith("dsir: error: ") or line.startswith("Error: "), said
        wanted = expect.message.format(d=folder)
        assert wanted in line, f"expected {wanted!r} in the error line\n{said}"
        if out is not None and out.is_dir():
            new = sorted(set(os.listdir(out)) - ran.before - {"_dsir"})
            assert not new, f"a refused run left {new} in {out}"
            assert ran.before <= set(os.listdir(out)), "a refused run deleted files it did not write"
        return
    assert res.exit_code == 0, said
    if expect.warning is not None:
        wanted = expect.warning.format(d=folder)
        assert any(wanted in w for w in ran.warnings), f"expected warning {wanted!r}, got {ran.warnings}\n{said}"
    if ran.argv[0] != "select":
        if expect.check:
            expect.check(folder, {})
        return
    manifest = json.loads((out / "manifest.json").read_text())
    written: list[bytes] = []
    for shard in manifest["outputs"]:
        written += _records(out / shard["path"])
    assert len(written) == manifest["counts"]["selected"], said
    if expect.count is not None:
        assert manifest["counts"]["selected"] == expect.count, (manifest["counts"], said)
    inputs = [p for p in _inputs(ran.argv) if re.search(r"\.(jsonl(\.gz|\.zst)?|json|parquet|arrow|feather)$", p.name)]
    same_format = {_is_table(p) for p in inputs} == {
        _is_table(Path(shard["path"])) for shard in manifest["outputs"]} or not manifest["outputs"]
    if same_format:  # records are copied whole: each must be an input record, byte for byte
        pool = Counter(r for p in inputs for r in _records(p))
    else:  # converted between formats: compare the texts
        pool = Counter(json.dumps(t).encode() for p in inputs for t in _texts(p))
        written = [json.dumps(t).encode() for shard in manifest["outputs"] for t in _texts(out / shard["path"])]
    drifted = [r for r in written if r not in pool]
    assert not drifted, f"written records that are no input record: {drifted[:3]}\n{said}"
    twice = [r for r, n in Counter(written).items() if n > pool[r]]
    assert not twice, f"a record written more often than it is in the pool: {twice[:3]}"
    assert manifest["counts"]["rejected"] + (manifest["fit"] or {}).get("target_rejected", 0) == expect.rejects, (
        manifest["counts"], said)
    rejects = out / "rejects.jsonl"
    if expect.rejects:
        listed = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert len(listed) == expect.rejects, listed
        if expect.reject_lines is not None:
            assert tuple(r["line"] for r in listed) == expect.reject_lines, listed
    if expect.check:
        expect.check(out, manifest)
