"""The sdist and the wheel, built for real: what each ships, and the metadata they carry.

The build runs ``python -m build --no-isolation`` (sdist first, then the wheel built from
that sdist, as pip does from PyPI), so it needs no network: ``build`` and ``hatchling`` are
in the ``test`` extra.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import dsir

ROOT = Path(__file__).resolve().parent.parent
# Never in a distribution: numba's kernel caches, bytecode, test databases, environments.
CACHE = re.compile(r"(^|/)(__pycache__|\.hypothesis|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.venv[^/]*)(/|$)"
                   r"|\.(nbi|nbc|pyc|pyo)$|(^|/)bench/\.work(/|$)")
# .gitignore: hatchling always ships it, so a build from the unpacked sdist ignores caches too
SDIST_TOP = {"PKG-INFO", ".gitignore", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "constraints.txt",
             "src", "tests", "examples", "docs"}


def _require(module: str) -> None:
    """A test-extra build tool: skip without it, unless CI says every extra must be there."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("DSIR_TEST_REQUIRE_EXTRAS"):
            raise ImportError(f"{module} is missing; install the test extra: pip install -e '.[test]'")
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")


def _source_files(folder: Path) -> set[str]:
    """Files under *folder* (relative to ROOT) that a distribution should carry: no caches."""
    found = {p.relative_to(ROOT).as_posix() for p in folder.rglob("*") if p.is_file()}
    return {f for f in found if not CACHE.search(f)}


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    _require("build")
    _require("hatchling")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return sdists[0], wheels[0]


def _metadata(text: str):
    return Parser().parsestr(text)


def test_wheel_files(dists):
    _, wheel = dists
    assert wheel.name == f"dsir-{dsir.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    info = f"dsir-{dsir.__version__}.dist-info"
    assert {n.split("/")[0] for n in names} == {"dsir", info}
    assert [n for n in names if CACHE.search(n)] == []
    package = {n for n in names if n.startswith("dsir/")}
    assert {"dsir/__init__.py", "dsir/py.typed", "dsir/cli/main.py"} <= package
    # exactly the package's source files, nothing else of the repository
    assert package == {f.removeprefix("src/") for f in _source_files(ROOT / "src" / "dsir")}
    assert f"{info}/licenses/LICENSE" in names
    assert {f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD", f"{info}/entry_points.txt"} <= set(names)


def test_wheel_metadata(dists):
    _, wheel = dists
    info = f"dsir-{dsir.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as z:
        meta = _metadata(z.read(f"{info}/METADATA").decode())
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert meta["Name"] == "dsir" and meta["Version"] == dsir.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    # PEP 639: License-Expression replaces the License :: classifiers (PyPI refuses both together)
    assert [c for c in classifiers if c.startswith("License ::")] == []
    requires = meta.get_all("Requires-Dist")
    specs = {r: r.split(";")[0] for r in requires}  # without the environment marker (extra == 'ray')
    assert [r for r, spec in specs.items() if "==" in spec] == []
    # every requirement, extras' included, is a range: a lower bound and an upper one
    assert [r for r, spec in specs.items() if not (">=" in spec and re.search(r"<(?!=)", spec))] == []
    base = sorted(re.split(r"[<>=!~\[ ;]", r)[0] for r in requires if "extra ==" not in r)
    assert base == ["ahocorasick-rs", "click", "fsspec", "llvmlite", "matplotlib", "numba", "numpy", "pyarrow", "pyyaml", "tqdm",
                    "zstandard"]
    assert set(meta.get_all("Provides-Extra")) == {"test", "ray", "s3", "fasttext", "neural"}
    # torch's range admits one release (a wider one pulls a CUDA build of several GB)
    assert [spec for spec in specs.values() if spec.startswith("torch")] == ["torch<2.13.1,>=2.13.0"]
    assert "dsir = dsir.cli.main:main" in entry_points


def test_sdist_files(dists):
    sdist, _ = dists
    top = f"dsir-{dsir.__version__}"
    assert sdist.name == f"{top}.tar.gz"
    with tarfile.open(sdist) as t:
        members = [m for m in t.getmembers() if m.isfile()]
        names = [m.name for m in members]
        pkg_info = _metadata(t.extractfile(f"{top}/PKG-INFO").read().decode())
    assert all(n.startswith(f"{top}/") for n in names)
    rel = {n.removeprefix(f"{top}/") for n in names}
    assert [n for n in rel if CACHE.search(n)] == []
    assert {n.split("/")[0] for n in rel} == SDIST_TOP
    assert {"LICENSE", "CHANGELOG.md", "pyproject.toml", "constraints.txt", "src/dsir/py.typed",
            "src/dsir/__init__.py", "tests/test_packaging.py"} <= rel
    # the source, tests, examples and docs whole; nothing from bench/, .ci/ or the caches
    for folder in ("src", "tests", "examples", "docs"):
        assert {n for n in rel if n.startswith(f"{folder}/")} == _source_files(ROOT / folder), folder
    assert pkg_info["Version"] == dsir.__version__ and pkg_info["Requires-Python"] == ">=3.11"


def test_installed_version_is_the_source_version():
    """One source for the version: hatchling reads ``dsir.__version__`` into the metadata."""
    assert importlib.metadata.version("dsir") == dsir.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", dsir.__version__)
