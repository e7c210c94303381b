"""The selection report: ``report.json`` (every number), plots as PNG, and a self-contained
``report.html``, made from an output directory of ``dsir select`` (local or object store)."""

from __future__ import annotations

import json
import math

from dsir.io.storage import write_bytes
from dsir.pipeline.output_dir import PLOTS_DIR, REPORT_HTML, REPORT_JSON, REPORT_NAMES, OutputDir
from dsir.reports.collect import ReportOptions, collect_report, keep_target_eval, plan_samples


def _finite(obj):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_report(output_dir: str, report: dict) -> dict[str, str]:
    """Render ``report`` into ``output_dir``: plots, then report.json, then report.html (each
    published whole). Returns the paths written."""
    from dsir.reports.html import render_html
    from dsir.reports.plots import all_plots

    out = OutputDir(output_dir)
    report = _finite(report)
    plots = all_plots(report)
    out.makedirs()
    if not out.remote:
        import os

        os.makedirs(out.path(PLOTS_DIR), exist_ok=True)
    paths = {}
    for name, png in plots.items():
        paths[name] = out.path(f"{PLOTS_DIR}/{name}")
        write_bytes(paths[name], png)
    paths[REPORT_JSON] = out.path(REPORT_JSON)
    write_bytes(paths[REPORT_JSON], (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    paths[REPORT_HTML] = out.path(REPORT_HTML)
    write_bytes(paths[REPORT_HTML], render_html(report, plots).encode("utf-8"))
    return paths


def make_report(output_dir: str, engine=None, options: ReportOptions | None = None,
                group_by: str | None = None, allocation=None, target_eval: list[str] | None = None) -> dict:
    """Collect and write the report of the selection in ``output_dir``; return report.json's content.

    ``allocation``: the select that just made the selection hands its own, so the keys are not
    allocated a second time. ``target_eval``: ``--target-eval`` values (``reports.target_eval``),
    checked and kept in place of those the run kept."""
    with OutputDir(output_dir).locked():  # not while a select (or another report) writes there
        if target_eval:
            keep_target_eval(OutputDir(output_dir), target_eval)
        report = collect_report(output_dir, engine, options, group_by, allocation)
        write_report(output_dir, report)
    return _finite(report)


__all__ = ["REPORT_HTML", "REPORT_JSON", "REPORT_NAMES", "ReportOptions", "collect_report", "make_report",
           "plan_samples", "write_report"]
