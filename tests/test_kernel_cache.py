"""dsir starts when numba's usual kernel caches cannot be written (issue 18, item 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dsir

DSIR_CLI = Path(sys.executable).with_name("dsir")
PACKAGE = Path(dsir.__file__).resolve().parent
# numba's kernels compile in a fresh cache; one small kernel proves the cache is used.
USE_ONE_KERNEL = (
    "import os, dsir, numba.core.config as c; from dsir.sample.gumbel import uniform_from_hashes; "
    "import numpy as np; uniform_from_hashes(np.arange(3, dtype=np.uint64), np.uint64(1)); "
    "print(c.CACHE_DIR); print(os.environ['NUMBA_CACHE_DIR'])"
)


def _unwritable(tmp_path: Path) -> Path:
    """A path that cannot be made a folder even by root: its parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "cache"


def test_an_unwritable_numba_cache_dir_falls_back_to_a_private_folder(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(_unwritable(tmp_path)), "TMPDIR": str(tmp_path)}
    version = subprocess.run([str(DSIR_CLI), "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"dsir, version {dsir.__version__}"
    assert version.stderr.count("KernelCacheWarning") == 1
    assert "is not writable" in version.stderr

    used = subprocess.run([sys.executable, "-c", USE_ONE_KERNEL], env=env, capture_output=True, text=True)
    assert used.returncode == 0, used.stderr
    folder = tmp_path / f"dsir-numba-cache-{os.getuid()}"
    assert used.stdout.split() == [str(folder), str(folder)]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert any(p.suffix == ".nbi" for p in folder.rglob("*")), "the kernel was not cached there"


def test_a_private_folder_someone_else_can_write_is_not_used(tmp_path):
    shared = tmp_path / f"dsir-numba-cache-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)  # numba loads pickled code from its cache: never from a folder others can write
    env = {**os.environ, "NUMBA_CACHE_DIR": str(_unwritable(tmp_path)), "TMPDIR": str(tmp_path)}
    used = subprocess.run([sys.executable, "-c", USE_ONE_KERNEL], env=env, capture_output=True, text=True)
    assert used.returncode == 0, used.stderr
    chosen = Path(used.stdout.split()[0])
    assert chosen != shared and chosen.parent == tmp_path and chosen.name.startswith("dsir-numba-cache-")
    assert list(shared.iterdir()) == []


def test_a_writable_numba_cache_dir_is_used_without_a_warning(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    version = subprocess.run([str(DSIR_CLI), "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0 and version.stderr == ""


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / /"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs `unshare -m` to mount folders read-only")
def test_a_read_only_install_and_home_still_start(tmp_path):
    """The issue's case itself: neither the package's __pycache__ nor $HOME is writable."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(tmp_path))
    script = f"mount --bind -o ro {PACKAGE} {PACKAGE} && mount --bind -o ro {home} {home} && exec {DSIR_CLI} --version"
    run = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"dsir, version {dsir.__version__}"
    assert run.stderr.count("KernelCacheWarning") == 1
    assert f"neither {PACKAGE} nor {home}" in run.stderr


COMPILING = "compiling the kernels (first run after an install only"


def test_compiling_is_announced_once_and_only_when_kernels_compile(tmp_path):
    """Issue 13, item 4: a cold cache says once that the kernels compile; a warm one is silent."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    script = "import logging; logging.basicConfig(level=logging.INFO); " + USE_ONE_KERNEL
    cold = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.count(COMPILING) == 1  # the kernel and its helpers compile: said once
    warm = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert warm.returncode == 0 and COMPILING not in warm.stderr, warm.stderr
