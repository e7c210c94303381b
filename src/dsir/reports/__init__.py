"""The selection report: ``report.json`` (every number), plots as PNG, and a self-contained
``report.html``, made from an output directory of ``dsir select``."""

from __future__ import annotations

import json
import math
import os

from dsir.io.writers import atomic_file
from dsir.reports.collect import ReportOptions, collect_report

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PLOTS_DIR = "report"
#: Names in an output directory that belong to the report (cleared by ``select --overwrite``).
REPORT_NAMES = (REPORT_JSON, REPORT_HTML, PLOTS_DIR)


def _finite(obj):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _write_atomic(path: str, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def write_report(output_dir: str, report: dict) -> dict[str, str]:
    """Render ``report`` into ``output_dir``: plots, then report.json, then report.html (each
    under a temporary name first). Returns the paths written."""
    from dsir.reports.html import render_html
    from dsir.reports.plots import all_plots

    report = _finite(report)
    plots = all_plots(report)
    plots_dir = os.path.join(output_dir, PLOTS_DIR)
    os.makedirs(plots_dir, exist_ok=True)
    paths = {}
    for name, png in plots.items():
        paths[name] = os.path.join(plots_dir, name)
        _write_atomic(paths[name], png)
    paths[REPORT_JSON] = os.path.join(output_dir, REPORT_JSON)
    _write_atomic(paths[REPORT_JSON], (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    paths[REPORT_HTML] = os.path.join(output_dir, REPORT_HTML)
    _write_atomic(paths[REPORT_HTML], render_html(report, plots).encode("utf-8"))
    return paths


def make_report(output_dir: str, engine=None, options: ReportOptions | None = None) -> dict:
    """Collect and write the report of the selection in ``output_dir``; return report.json's content."""
    report = collect_report(output_dir, engine, options)
    write_report(output_dir, report)
    return _finite(report)


__all__ = ["REPORT_HTML", "REPORT_JSON", "REPORT_NAMES", "ReportOptions", "collect_report", "make_report",
           "write_report"]
