"""The report's plots, drawn from ``report.json`` alone with matplotlib's Agg backend (PNG bytes)."""

from __future__ import annotations

import io
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: the report is made on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

POOL, SELECTED, TARGET, RAW = "#9aa5b1", "#1f77b4", "#d62728", "#7f7f7f"
DPI = 110


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # margins are fixed in inches (``_margins``): a layout engine measures every text twice,
    # which made up half of the report's fixed CPU cost
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _margins(fig, left: float, right: float, bottom: float, top: float, wspace: float = 0.0) -> None:
    """Fixed margins in inches (``wspace``: the gap between panels, in inches too)."""
    w, h = fig.get_size_inches()
    n = len(fig.axes)
    panel = (w - left - right - wspace * (n - 1)) / n
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=wspace / panel if n > 1 else 0.2)


def _label(names: list[str], bucket: int, width: int = 38) -> str:
    text = " | ".join(names) if names else f"bucket {bucket}"
    return textwrap.shorten(text, width, placeholder="…")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def weights_plot(report: dict) -> bytes:
    """Histogram of the eligible pool's log-weights, the selection's on top, the top-k cut marked."""
    w = report["weights"]
    h = w["histogram"]
    edges = np.asarray(h["edges"])
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.stairs(h["pool"], edges, fill=True, color=POOL, label="pool (eligible)")
    ax.stairs(h["selected"], edges, fill=True, color=SELECTED, label="selected")
    if w["kth_largest_log_weight"] is not None:
        top_k = report["parameters"].get("top_k")
        ax.axvline(w["kth_largest_log_weight"], color=TARGET, lw=1.6, ls="-" if top_k else "--",
                   label="selection threshold" if top_k else "k-th largest weight (top-k cut)")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel(_wrap(f"weight the selection ranked on: {w['what']}", 90), fontsize=8)
    ax.set_ylabel(report.get("unit", "documents"))
    ess = w["effective_sample_size"]
    ax.set_title("Weights of the pool" + ("" if ess is None else
                 f"  ·  effective sample size {ess:,.1f} ({100 * w['effective_sample_size_fraction']:.2g}% of eligible)"),
                 fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    _margins(fig, 0.8, 0.2, 0.8, 0.35)
    return _png(fig)


def lengths_plot(report: dict) -> bytes:
    """Share of documents per length bin (log-spaced) for target, pool and selection."""
    h = report["lengths"]["histogram"]
    edges = np.asarray(h["edges"])
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for key, color, label in (("pool", POOL, "pool"), ("selected", SELECTED, "selected"), ("target", TARGET, "target")):
        counts = np.asarray(h[key], dtype=float)
        if counts.sum() == 0:
            continue
        ax.stairs(counts / counts.sum(), edges, color=color, lw=2, label=f"{label} (median "
                  f"{report['lengths'][key]['median']:,.0f})", fill=key == "pool", alpha=0.6 if key == "pool" else 1)
    ax.set_xscale("log")
    ax.set_xlabel("document length (tokens, log scale)")
    ax.set_ylabel("share of documents")
    ax.set_title("Document lengths", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    _margins(fig, 0.8, 0.2, 0.55, 0.35)
    return _png(fig)


def why_plot(report: dict) -> bytes:
    """The buckets whose n-grams raise and lower a document's weight the most, named by their n-grams."""
    why = report["why"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.32 * max(len(why["raising"]), 4) + 1.2))
    for ax, rows, color, title in ((axes[0], why["raising"], SELECTED, "n-grams that raise the weight"),
                                   (axes[1], why["lowering"], TARGET, "n-grams that lower the weight")):
        rows = rows[::-1]
        ax.barh(range(len(rows)), [r["log_ratio"] for r in rows], color=color)
        ax.set_yticks(range(len(rows)), [_label(r["names"], r["bucket"]) for r in rows], fontsize=8)
        ax.set_xlabel("log p_target / p_raw of the bucket")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.25)
    _margins(fig, 2.3, 0.2, 0.55, 0.35, wspace=2.4)
    return _png(fig)


def kl_plot(report: dict) -> bytes:
    """KL(target || raw) against KL(target || selected), and how concentrated the reduction is."""
    kl = report["kl"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.4]})
    if kl["reduction"] is None:
        for a in (ax, ax2):
            a.text(0.5, 0.5, "nothing selected: no KL to compare", ha="center", va="center", transform=a.transAxes)
            a.set_axis_off()
        return _png(fig)
    bars = ax.bar(["target ‖ raw", "target ‖ selected"], [kl["kl_target_raw"], kl["kl_target_selected"]],
                  color=[RAW, SELECTED])
    ax.bar_label(bars, fmt="%.3f", fontsize=9)
    ax.set_ylabel("KL divergence (nats)")
    ax.set_title(f"KL reduction {kl['reduction']:.3f} nats ({100 * kl['relative_reduction']:.0f}%)", fontsize=10)
    ax.margins(y=0.15)
    c = kl["cumulative_share"]
    if kl["reduction"] <= 0:
        ax2.text(0.5, 0.5, "the selection is farther from the target than the pool:\nno reduction to share out",
                 ha="center", va="center", transform=ax2.transAxes, fontsize=10)
        ax2.set_axis_off()
        _margins(fig, 0.8, 0.2, 0.55, 0.35, wspace=0.9)
        return _png(fig)
    share = np.asarray([np.nan if s is None else s for s in c["share"]], dtype=float)
    ax2.plot(c["buckets"], 100 * share, color=SELECTED, lw=2)
    ax2.set_xscale("log")
    ax2.axhline(100, color="k", lw=0.8, ls=":")
    ax2.set_xlabel("top m buckets (by their contribution)")
    ax2.set_ylabel("% of the KL reduction")
    ax2.set_title("Share of the reduction carried by the top buckets", fontsize=10)
    ax2.grid(alpha=0.25)
    _margins(fig, 0.8, 0.2, 0.55, 0.35, wspace=0.9)
    return _png(fig)


def composition_plot(comp: dict, max_groups: int = 20) -> bytes:
    """Share of the pool and of the selection per value of the group-by field."""
    rows = comp["groups"][:max_groups][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.34 * max(len(rows), 3) + 1.2))
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [100 * r["pool_share"] for r in rows], height=0.4, color=POOL, label="pool")
    ax.barh(y - 0.2, [100 * r["selected_share"] for r in rows], height=0.4, color=SELECTED, label="selected")
    ax.set_yticks(y, [textwrap.shorten(r["value"], 30, placeholder="…") for r in rows], fontsize=8)
    ax.set_xlabel("% of documents")
    ax.set_title(f"Composition by {comp['field']}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.25)
    _margins(fig, 2.0, 0.2, 0.55, 0.35)
    return _png(fig)


def all_plots(report: dict) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` of every plot of the report."""
    with warnings.catch_warnings():
        # n-gram labels may hold emoji or CJK that the bundled font lacks: they show as boxes
        # in the plot (and in full in the HTML tables), which is no reason to warn the user.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        return _all_plots(report)


def _all_plots(report: dict) -> dict[str, bytes]:
    plots = {"kl.png": kl_plot(report), "weights.png": weights_plot(report), "lengths.png": lengths_plot(report),
             "why.png": why_plot(report)}
    for comp in report.get("compositions", []):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in comp["field"])
        plots[f"composition-{safe}.png"] = composition_plot(comp)
    return plots
