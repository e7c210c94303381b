"""What a ``select`` run tells the user about its inputs beyond the selection: files
that hold no documents, and (with ``--on-error skip``) the records it rejected."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pyarrow as pa

from dsir.io.paths import InputFile
from dsir.io.rejects import REJECTS_FILE, gather_rejects
from dsir.io.writers import is_remote, join_path
from dsir.pipeline.state import RunState

log = logging.getLogger("dsir")


def empty_file_warnings(raw_files: list[InputFile], summaries: list, target_files: list[InputFile],
                        target_results: list | None) -> list[str]:
    """A warning (logged, and kept for the manifest) for each input file with no documents.

    An empty file is not an error: a shard of a crawl may well be empty, and it is counted
    (0 documents) in the manifest. An empty target or raw pool *overall* is an error.
    """
    out = []
    named = [("raw", f, s.documents, getattr(s, "rejected", 0)) for f, s in zip(raw_files, summaries)]
    if target_results:
        named += [("target", f, r.documents, getattr(r, "rejected", 0)) for f, r in zip(target_files, target_results)]
    for role, f, docs, rejected in named:
        if docs == 0 and rejected == 0:
            msg = f"{f.path}: {role} file holds no documents"
            log.warning(msg)
            out.append(msg)
    return out


def report_rejects(manifest: dict, output_dir: str, state: RunState | None, on_error: str, summaries: list,
                   n_targets: int) -> None:
    """Add the error policy and per-file rejected counts to ``manifest``; with ``skip``,
    gather the units' rejected records into ``OUT/rejects.jsonl`` (before the manifest)."""
    manifest["parameters"]["on_error"] = on_error
    for entry, s in zip(manifest["inputs"], summaries):
        entry["rejected"] = s.rejected
    targets = (state.target_results if state else None) or []
    for entry, r in zip(manifest["targets"], targets):
        entry["documents"] = r.documents
        entry["rejected"] = r.rejected
    raw_rejected = sum(s.rejected for s in summaries)
    target_rejected = sum(r.rejected for r in targets)
    manifest["counts"]["rejected"] = raw_rejected
    manifest["fit"]["target_rejected"] = target_rejected
    if on_error != "skip" or is_remote(output_dir):
        return
    paths = [state.rejects_path("target", i) for i in range(n_targets if targets else 0)]
    paths += [state.rejects_path("score", i) for i in range(len(summaries))]
    n = gather_rejects(paths, join_path(output_dir, REJECTS_FILE))
    manifest["rejects"] = {"path": REJECTS_FILE, "records": n}
    if n:
        msg = (f"{n} bad records were skipped ({raw_rejected} raw, {target_rejected} target); "
               "each is listed with its file, line and reason in {}")
        log.warning(msg.format(os.path.join(output_dir, REJECTS_FILE)))
        manifest["warnings"].append(msg.format(REJECTS_FILE))


def rejected_mask(rejects_path: str, rows: int) -> pa.Array:
    """Which of a file's ``rows`` its rejects file lists."""
    mask = np.zeros(rows, dtype=bool)
    with open(rejects_path, encoding="utf-8") as fh:
        for line in fh:
            mask[json.loads(line)["row"]] = True
    return pa.array(mask)
