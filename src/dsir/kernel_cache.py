"""Where numba keeps dsir's compiled kernels, chosen before any kernel is defined.

Every kernel is compiled with ``cache=True``. numba looks for a writable place next to
the source (``__pycache__``), then in the user's cache directory; when neither is
writable (a read-only install in a container, a service account without a home) it
refuses to define the kernel at all, so ``import dsir`` would fail. Here dsir checks
those places first and, when none is writable, points numba at a private folder in the
temporary directory and says so once.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# The folders whose modules define cached kernels; numba writes next to each.
_KERNEL_FOLDERS = ("featurize", "sample", "estimate", "io", "filters", "dedup", ".")


class KernelCacheWarning(UserWarning):
    """No writable place for numba's kernel cache: dsir uses a temporary one."""


def _writable(folder: Path) -> bool:
    """Whether files can be created in *folder* (made if missing), tried for real."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _user_cache_folder() -> Path:
    """numba's user-wide cache folder, as its UserWideCacheLocator computes it."""
    from numba.misc.appdirs import user_cache_dir

    return Path(user_cache_dir(appname="numba", appauthor=False))


def _private_temporary_folder() -> str:
    """A kernel cache folder in the temporary directory that only this user can write.

    Reused across runs so kernels compile once per machine, not once per run. numba
    loads pickled code from its cache, so a folder someone else owns or can write to
    is never used: a fresh private one is made instead.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"dsir-numba-cache-{uid}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = folder.lstat()
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022
    if private and _writable(folder):
        return str(folder)
    return tempfile.mkdtemp(prefix="dsir-numba-cache-")


def ensure_kernel_cache() -> str | None:
    """Make sure numba has a writable kernel cache; returns the temporary one if made.

    Honours ``NUMBA_CACHE_DIR`` when it is writable. Otherwise, when neither the
    in-tree ``__pycache__`` folders nor the user's cache folder can be written,
    sets ``NUMBA_CACHE_DIR`` to a private folder in the temporary directory
    (inherited by worker processes) and warns once.
    """
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured and _writable(Path(configured)):
        return None
    if not configured:
        in_tree = all(_writable(_PACKAGE / name / "__pycache__") for name in _KERNEL_FOLDERS)
        if in_tree or _writable(_user_cache_folder()):
            return None
    try:
        folder = _private_temporary_folder()
    except OSError as error:
        sys.stderr.write(
            "dsir: error: no writable directory for numba's compiled kernels "
            f"(package folders, the user cache, NUMBA_CACHE_DIR and the temporary "
            f"directory all refused: {error}); set NUMBA_CACHE_DIR to a writable folder\n"
        )
        raise SystemExit(2) from None
    where = f"NUMBA_CACHE_DIR={configured!r} is not writable" if configured else (
        f"neither {_PACKAGE} nor {_user_cache_folder()} is writable"
    )
    os.environ["NUMBA_CACHE_DIR"] = folder
    if "numba.core.config" in sys.modules:
        sys.modules["numba.core.config"].CACHE_DIR = folder
    warnings.warn(
        f"{where}: compiled kernels are cached in {folder} instead; set NUMBA_CACHE_DIR "
        "to a writable folder to choose where",
        KernelCacheWarning,
        stacklevel=2,
    )
    return folder


def announce_compiling() -> None:
    """Log once per process, at the first dsir kernel that numba compiles instead of loading
    it from its cache, that the kernels are being compiled, and let ``featurize.warmup``
    compile the featurizer in parallel.

    A first run after an install spends most of its time there with nothing else to show.
    """
    from numba.core import event

    class _FirstCompile(event.Listener):
        said = False

        def on_start(self, ev) -> None:
            if self.said or not getattr(ev.data["dispatcher"].py_func, "__module__", "").startswith("dsir."):
                return
            self.said = True
            logging.getLogger("dsir").info(
                "compiling the kernels (first run after an install only: they are cached for the next runs)")
            from dsir.featurize import warmup

            warmup.on_compile(ev.data["dispatcher"].py_func.__name__)

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", _FirstCompile())
