"""Checks of a run's inputs against its output, before any work."""

from __future__ import annotations

import logging
import os

from dsir.errors import UsageError
from dsir.io.paths import InputFile
from dsir.pipeline.output_dir import OutputDir

log = logging.getLogger("dsir")


def targets_in_pool(raw_files: list[InputFile], targets: list) -> list[str]:
    """A warning for each target file that is also a raw file: its documents then weigh on
    both models (and are likely selected), which is seldom what a user meant."""
    def key(f: InputFile) -> str:
        return os.path.realpath(f.path.removeprefix("file://")) if f.is_local else f.path

    pool = {key(f) for f in raw_files}
    out = []
    for t in targets:
        for f in t.files:
            if key(f) in pool:
                msg = f"{f.path}: this target file is also in the raw pool (its documents are likely to be selected)"
                log.warning(msg)
                out.append(msg)
    return out


def check_apart(out: OutputDir, patterns: list[str], files: list[InputFile]) -> None:
    """Refuse an output directory inside an input directory, or an input inside the output:
    a later run would read the selection (or dsir's own files) as input, and --overwrite or
    --resume would delete input."""
    from dsir.pipeline.targets import parse_target

    def norm(path: str) -> str:
        return path.rstrip("/") if out.remote else os.path.realpath(path)

    root = norm(out.root)
    sep = "/" if out.remote else os.sep
    for f in files:
        if f.is_local != (not out.remote):
            continue
        if norm(f.path if out.remote else f.path.removeprefix("file://")).startswith(root + sep):
            raise UsageError(f"{f.path}: this input file is inside the output directory {out.root}: "
                             "use an output directory outside every input")
    for pattern in patterns:
        for path in parse_target(pattern).paths:
            local = path.removeprefix("file://")
            if out.remote != ("://" in path and not path.startswith("file://")):
                continue
            if not out.remote and not os.path.isdir(local):
                continue
            d = norm(local)
            if root == d or root.startswith(d + sep):
                raise UsageError(f"{out.root}: the output directory is inside the input {path}: a later run would "
                                 "read the selection as input; use an output directory outside every input")
