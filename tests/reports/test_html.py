"""The report as a person sees it: report.html rendered by headless Chromium.

The page is screenshotted twice, as written and with every plot made invisible
(``visibility: hidden`` keeps the layout). The pixels that differ are where the plots
are drawn: there must be one band per plot, as tall as that plot is displayed, holding
the plots' own colours. A broken image, a plot that failed to load or one drawn at the
wrong size fails this.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from dsir import DSIR
from dsir.reports.screenshot import find_chromium, screenshot

WIDTH, HEIGHT = 1200, 9000
CONTENT_WIDTH = 1120  # main's max-width (see reports/html.py CSS); images have a 1px border around it
BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it when apt works)")


def _pixels(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def _bands(rows: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive True rows as (first, last)."""
    bands, start = [], None
    for y, on in enumerate(rows.tolist() + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            bands.append((start, y - 1))
            start = None
    return bands


def _has_colour(pixels: np.ndarray, rgb, tol: int = 6) -> int:
    return int((np.abs(pixels - np.array(rgb)).max(axis=2) <= tol).sum())


@pytest.fixture(scope="module")
def shots(toy, tmp_path_factory):
    from PIL import Image

    out = tmp_path_factory.mktemp("html") / "out"
    DSIR(ngrams=2, buckets=500, seed=1).select(toy["pool"], str(out), k=30, target=toy["target"], group_by="domain")
    page = (out / "report.html").read_text()
    hidden = out / "hidden.html"
    hidden.write_text(page.replace("<img ", '<img style="visibility:hidden" '))
    screenshot(str(out / "report.html"), str(out / "shown.png"), WIDTH, HEIGHT)
    screenshot(str(hidden), str(out / "hidden.png"), WIDTH, HEIGHT)
    names = ["kl.png", "weights.png", "lengths.png", "why.png", "composition-domain.png"]  # page order
    sizes = [Image.open(io.BytesIO((out / "report" / n).read_bytes())).size for n in names]
    return out, _pixels(out / "shown.png"), _pixels(out / "hidden.png"), names, sizes


def test_every_plot_is_displayed_at_its_size(shots):
    out, shown, hidden, names, sizes = shots
    diff = np.abs(shown - hidden).max(axis=2) > 0
    bands = _bands(diff.any(axis=1))
    assert len(bands) == len(names), bands
    assert bands[-1][1] < HEIGHT - 50, "the page is longer than the screenshot"
    for (top, bottom), (w, h), name in zip(bands, sizes, names):
        shown_h = h * min(w, CONTENT_WIDTH) / w + 2
        assert abs((bottom - top + 1) - shown_h) <= 2, (name, top, bottom, shown_h)
        cols = np.flatnonzero(diff[top:bottom + 1].any(axis=0))
        assert abs((cols[-1] - cols[0] + 1) - (min(w, CONTENT_WIDTH) + 2)) <= 2, name
        # a plot is not blank: a good part of its pixels are ink, not white paper
        region = shown[top:bottom + 1, cols[0]:cols[-1] + 1]
        ink = (region.min(axis=2) < 200).mean()
        assert ink > 0.03, (name, ink)


def test_plots_show_their_data_colours(shots):
    _, shown, hidden, names, _ = shots
    diff = np.abs(shown - hidden).max(axis=2) > 0
    bands = dict(zip(names, _bands(diff.any(axis=1))))

    def region(name):
        top, bottom = bands[name]
        return shown[top:bottom + 1]

    assert _has_colour(region("kl.png"), BLUE) > 500  # the KL(target || selected) bar and the share curve
    assert _has_colour(region("weights.png"), BLUE) > 500  # the selected documents' histogram
    assert _has_colour(region("weights.png"), RED) > 50  # the threshold line
    assert _has_colour(region("why.png"), BLUE) > 2000 and _has_colour(region("why.png"), RED) > 2000
    assert _has_colour(region("composition-domain.png"), BLUE) > 500
    # outside the plots the page has none of the selected-blue fill (only thin borders)
    outside = shown[~diff.any(axis=1)]
    assert _has_colour(outside, BLUE) < 0.2 * _has_colour(region("why.png"), BLUE)


def test_text_of_the_page_is_rendered(shots):
    out, shown, hidden, _, _ = shots
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["selected_documents"] == 30
    # text and tables above the first plot: dark pixels on the light page
    first_plot = np.flatnonzero((np.abs(shown - hidden).max(axis=2) > 0).any(axis=1))[0]
    header = shown[:first_plot]
    assert (header.max(axis=2) < 80).sum() > 2000
