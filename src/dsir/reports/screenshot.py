"""Render an HTML file to PNG with headless Chromium (Debian's ``chromium`` package).

Used by the tests to check that the report displays its plots, and to make the README's
screenshot. Every network feature Chromium has is switched off; the page needs none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium binary on PATH (``$DSIR_CHROMIUM`` first), or None."""
    env = os.environ.get("DSIR_CHROMIUM")
    if env:
        return shutil.which(env) or (env if os.access(env, os.X_OK) else None)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html_path: str, png_path: str, width: int = 1200, height: int = 3000, timeout: float = 120.0,
               chromium: str | None = None) -> None:
    """Write a ``width`` x ``height`` screenshot of ``html_path`` to ``png_path``."""
    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium found on PATH (install Debian's 'chromium' package)")
    with tempfile.TemporaryDirectory(prefix="dsir-chromium-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
               f"--user-data-dir={profile}", f"--screenshot={os.path.abspath(png_path)}",
               f"--window-size={width},{height}", "file://" + os.path.abspath(html_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=profile)
    if proc.returncode != 0 or not os.path.exists(png_path):
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
