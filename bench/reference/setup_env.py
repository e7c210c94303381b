"""Create the virtual environment that runs the reference DSIR implementation.

The reference is the PyPI package ``data-selection==1.0.3`` (module
``data_selection``, class ``HashedNgramDSIR``). It must run with
``nltk==3.8.1`` (newer nltk releases crash its joblib/loky worker processes),
so it lives in its own virtual environment at ``bench/.venv-reference/``
(git-ignored), separate from the project's environment.

This module is deliberately self-contained (standard library only) so that it
works both as a script::

    python bench/reference/setup_env.py          # prints the venv's python

and as ``bench.reference.setup_env.ensure_venv()``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

#: Root of the git repository (``bench/reference/setup_env.py`` -> repo root).
REPO_ROOT: Path = Path(__file__).resolve().parents[2]

#: Default location of the reference virtual environment.
VENV_DIR: Path = REPO_ROOT / "bench" / ".venv-reference"

#: Exact pins. ``data-selection`` itself only asks for numpy>=1.21.6,
#: tqdm>=4.62.3, joblib>=1.1.0 and nltk>=3.8.1; everything is pinned here so the
#: reference run is reproducible. numpy 1.26.4 is the last 1.x release (the
#: package predates numpy 2), joblib 1.3.2 / nltk 3.8.1 / regex / click / tqdm
#: are versions contemporary with data-selection 1.0.3 (late 2023) and were
#: verified to work together on Python 3.11.
REQUIREMENTS: tuple[str, ...] = (
    "data-selection==1.0.3",
    "nltk==3.8.1",
    "numpy==1.26.4",
    "joblib==1.3.2",
    "tqdm==4.66.4",
    "regex==2023.12.25",
    "click==8.1.7",
)

#: File written into the venv after a successful install; it records the pins,
#: so a change to ``REQUIREMENTS`` triggers a reinstall.
_STAMP_NAME = "dsir-reference-requirements.json"


def venv_python(venv_dir: Path = VENV_DIR) -> Path:
    """Return the path of the python interpreter inside ``venv_dir``."""
    if os.name == "nt":  # pragma: no cover - the benchmarks target Linux
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _stamp_ok(venv_dir: Path) -> bool:
    """Return True if ``venv_dir`` holds a completed install of ``REQUIREMENTS``."""
    stamp = venv_dir / _STAMP_NAME
    if not stamp.is_file() or not venv_python(venv_dir).exists():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded.get("requirements") == list(REQUIREMENTS))


def ensure_venv(venv_dir: Path = VENV_DIR, *, force: bool = False, quiet: bool = True) -> Path:
    """Create (idempotently) the reference venv and return its python path.

    If the venv already holds exactly ``REQUIREMENTS`` (checked through a stamp
    file written after the last successful install) nothing is done. Otherwise
    the venv is created with ``python -m venv`` (using the interpreter running
    this code) and the pinned packages are installed with pip; finally the
    import of ``data_selection`` is smoke-tested.
    """
    venv_dir = Path(venv_dir)
    py = venv_python(venv_dir)
    if not force and _stamp_ok(venv_dir):
        return py

    if force or not py.exists():
        # `venv.EnvBuilder(clear=True)` is what `python -m venv --clear` does.
        venv.EnvBuilder(with_pip=True, clear=True).create(str(venv_dir))

    stamp = venv_dir / _STAMP_NAME
    stamp.unlink(missing_ok=True)
    pip_cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip_cmd.append("--quiet")
    subprocess.run([*pip_cmd, *REQUIREMENTS], check=True)

    # Smoke test: the package imports, and the tokenizer it uses by default
    # (nltk's WordPunctTokenizer, a pure regex) needs no downloaded nltk data.
    check = (
        "import data_selection, nltk, numpy; "
        "from nltk.tokenize import WordPunctTokenizer; "
        "assert WordPunctTokenizer().tokenize('a b, c') == ['a', 'b', ',', 'c']; "
        "print(data_selection.__version__, nltk.__version__, numpy.__version__)"
    )
    env = dict(os.environ, NLTK_DATA=str(venv_dir / "no-nltk-data"))
    subprocess.run([str(py), "-c", check], check=True, env=env, stdout=subprocess.DEVNULL)

    stamp.write_text(json.dumps({"requirements": list(REQUIREMENTS)}, indent=1) + "\n")
    return py


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ensure the venv exists and print its python."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=VENV_DIR, help="venv directory (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="recreate the venv from scratch")
    parser.add_argument("--verbose", action="store_true", help="show pip's output")
    args = parser.parse_args(argv)
    print(ensure_venv(args.venv, force=args.force, quiet=not args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
