"""Output failures (disk full, file too large, read-only or vanished directory): a clear
error, and never a corrupt or half-written file under the output directory."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from dsir import DSIR
from dsir.engines.local import LocalEngine
from dsir.errors import OutputError
from tests.pipeline.make_data import documents, make_target, write_jsonl


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """About 1.3 MB of raw documents in 4 files, and a target."""
    root = tmp_path_factory.mktemp("data")
    raw = [write_jsonl(str(root / f"raw-{i}.jsonl"), documents(800, seed=i, words=60)) for i in range(4)]
    return raw, make_target(str(root / "target.jsonl"))


def assert_nothing_half_written(out: str) -> None:
    if not os.path.isdir(out):
        return
    names = os.listdir(out)
    work = os.path.join(out, "_dsir")
    inner = os.listdir(work) if os.path.isdir(work) else []
    assert not [n for n in names if n != "_dsir"], names  # no shard, manifest or rejects file
    assert not [n for n in inner if "tmp" in n], inner  # no temporary file either


@pytest.fixture
def tiny_fs(tmp_path):
    """A 512 KiB tmpfs (needs root and mount permission; skipped elsewhere)."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_on_a_tiny_filesystem(data, tiny_fs):
    raw, target = data
    out = os.path.join(tiny_fs, "out")
    d = DSIR(buckets=500, raw_sample=10_000)
    with pytest.raises(OutputError) as err:
        d.select(raw, out, fraction=1.0, target=target, report=False)
    assert str(err.value).startswith(f"{out}/")  # names the file that could not be written
    assert str(err.value).endswith(": cannot write output: no space left on the device")
    assert_nothing_half_written(out)


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write: chmod for a normal user, a read-only tmpfs for root."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield str(path), "permission denied"
        path.chmod(0o755)
        return
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(path)], capture_output=True)
    if made.returncode:
        pytest.skip(f"root ignores permissions and cannot mount a read-only tmpfs here: {made.stderr.decode()}")
    yield str(path), "the file system is read-only"
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_output_directory(data, read_only_dir):
    raw, target = data
    out, reason = read_only_dir
    with pytest.raises(OutputError) as err:
        DSIR(buckets=500).select(raw, out, k=5, target=target, report=False)
    assert str(err.value) == f"{out}: cannot write output: {reason}"
    assert os.listdir(out) == []


class VanishingEngine(LocalEngine):
    """Removes the output directory when phase ``desc`` starts, as a careless cleanup job would."""

    def __init__(self, out: str, desc: str):
        super().__init__(1, progress=False)
        self.out, self.desc = out, desc

    def map(self, fn, tasks, desc="", weights=None):
        if desc == self.desc:
            shutil.rmtree(self.out)
        return super().map(fn, tasks, desc, weights)


@pytest.mark.parametrize("phase", ["fit raw", "score", "write"])
def test_vanished_output_directory(data, tmp_path, phase):
    raw, target = data
    out = str(tmp_path / "out")
    with pytest.raises(OutputError, match="cannot write output: the output directory no longer exists"):
        DSIR(buckets=500, engine=VanishingEngine(out, phase)).select(raw, out, k=5, target=target, report=False)
    assert not os.path.exists(out)


def test_file_size_limit_in_a_real_process(data, tmp_path):
    """RLIMIT_FSIZE makes writes past 64 KiB fail with EFBIG: works without root anywhere."""
    raw, target = data
    DSIR(buckets=500, method="dsir").select(raw, str(tmp_path / "warm"), k=5, target=target, report=False)  # compile kernels

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    out = str(tmp_path / f"out-{uuid.uuid4().hex[:6]}")
    # the n-gram ratio's fit records are small, so the limit strikes the first output shard
    # (the classifier's bucket-id sample of a raw file is already larger than 64 KiB)
    args = [sys.executable, "-m", "dsir", "select", "--quiet", "--no-report", "--workers", "1", "--buckets", "500",
            "--method", "dsir",
            "--target", target, "--fraction", "1", "-o", out] + [a for r in raw for a in ("--raw", r)]
    proc = subprocess.run(args, capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert proc.returncode == 4, proc.stderr  # an output failure
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"dsir: error: {out}/part-00000.jsonl: cannot write output: ")
    assert last.endswith("the file is larger than this process may write (file size limit)")
    assert_nothing_half_written(out)
    # With the limit gone, --resume finishes the run from the recorded units.
    done = subprocess.run([a for a in args if a != "--quiet"] + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resume: score: 4 of 4 units already done" in done.stderr
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["counts"]["selected"] == manifest["counts"]["eligible"] == 3200
