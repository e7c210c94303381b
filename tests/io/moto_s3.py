"""A real S3-compatible server (moto's server mode) on loopback, started and stopped by a test.

Only 127.0.0.1 is used; credentials are dummies set in the environment, where s3fs (and
the Ray workers started after it) find them as they would find real ones.
"""

from __future__ import annotations

import logging
import importlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENV = {
    "AWS_ACCESS_KEY_ID": "dsir-test-key-id",
    "AWS_SECRET_ACCESS_KEY": "dsir-test-secret-never-logged",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def require(module: str):
    """Import an optional test dependency; skip without it, unless CI says it must be there."""
    if os.environ.get("DSIR_TEST_REQUIRE_EXTRAS"):
        return importlib.import_module(module)  # __import__("a.b") would return the package a
    return pytest.importorskip(module)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_s3_server(timeout_s: float = 20.0) -> Iterator[str]:
    """Start moto's S3 server on a free loopback port; yield its endpoint URL; stop it.

    While it runs, ``AWS_ENDPOINT_URL`` and dummy credentials are set in ``os.environ``.
    """
    require("s3fs")
    moto_server = require("moto.server")
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the test output
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV, AWS_ENDPOINT_URL=endpoint)
    try:
        deadline = time.monotonic() + timeout_s
        while True:  # bounded wait until the server answers
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on 127.0.0.1:{port}") from None
                time.sleep(0.05)
        s3fs.S3FileSystem.clear_instance_cache()
        yield endpoint
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_bucket(name: str):
    """Create bucket ``name`` on the running server; return an s3fs file system."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(name)
    return fs
