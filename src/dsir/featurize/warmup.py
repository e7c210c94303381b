"""Compiling the featurizer in a second process while this one reads (a first run only).

A first run after an install spends most of its time compiling kernels, and numba compiles
one at a time under a process-wide lock. The biggest kernel, the featurizer, is needed only
after the first file has been read, whose reader is compiled first. So when a run's first
kernel compile shows that numba's cache is cold (``start_on_first_compile``), a child process
compiles the content hash and the featurizer into the same cache while this process compiles
the reader; the first featurizer call waits for the child (``wait_for_child``) and then
loads the kernel from the cache instead of compiling it again. Nothing of this happens when
the cache is warm, and a child that fails or is slow only costs the compile it would have
saved: the kernel then compiles here, as it would have anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

#: Longest wait for the child, in seconds, before this process compiles the kernel itself.
WAIT_SECONDS = 300

_lock = threading.Lock()
_armed_ngrams: int | None = None
_armed_features = "hashed-ngrams"
_child: subprocess.Popen | None = None


def start_on_first_compile(ngrams: int, features: str = "hashed-ngrams") -> None:
    """Arm the child for a run whose featurizer (``featurize.FEATURES``) is ``features`` of
    order ``ngrams``: it starts at the first compile of a dsir kernel other than the
    featurizer (see ``kernel_cache``)."""
    global _armed_ngrams, _armed_features
    _armed_ngrams, _armed_features = ngrams, features


#: The featurizers' batch kernels: when one of them is the first to compile, it is too late.
FEATURIZER_KERNELS = ("_block_batch", "_byte_loop_batch", "sha256_batch")


def on_compile(kernel: str) -> None:
    """Called with the name of the first dsir kernel that numba compiles in this process."""
    global _armed_ngrams, _child
    with _lock:
        ngrams, _armed_ngrams = _armed_ngrams, None
        if ngrams is None or kernel in FEATURIZER_KERNELS or os.environ.get("DSIR_NO_WARMUP"):
            return
        code = (f"from dsir.featurize.warmup import compile_kernels; "
                f"compile_kernels({int(ngrams)}, {str(_armed_features)!r})")
        try:
            _child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, "DSIR_NO_WARMUP": "1"})
        except OSError:
            _child = None  # no second process: everything compiles here, as without this module


def wait_for_child() -> None:
    """Wait until the child has compiled what it compiles (at once when there is none)."""
    global _child
    if _child is None:
        return
    with _lock:
        if _child is None:
            return
        try:
            _child.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            _child.kill()
        _child = None


def compile_kernels(ngrams: int, features: str = "hashed-ngrams") -> None:
    """The child's work: the content hash, then the featurizer ``features`` of order
    ``ngrams``, on a one-document batch made the way every batch is (so the kernels get the
    same argument types, the specialization the run will look up in the cache)."""
    import pyarrow as pa

    from dsir.featurize import FEATURES, content_hashes, make_featurizer

    texts = pa.array(["warm up"])
    content_hashes(texts)
    make_featurizer(features, ngrams, getattr(FEATURES.get(features), "BUCKETS", 2)).count(texts)
