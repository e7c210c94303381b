"""Engines by name, and what the Ray engine ships to a cluster (no Ray needed here)."""

from __future__ import annotations

import os
import sys

import pytest

import dsir
from dsir.engines import ENGINES, LocalEngine, make_engine
from dsir.engines.ray import RayEngine, dsir_runtime_env
from dsir.errors import UsageError


def test_make_engine_by_name():
    assert ENGINES == ("local", "processes", "ray")
    engine = make_engine("local", 3)
    assert isinstance(engine, LocalEngine) and engine.workers == 3 and not engine.processes
    procs = make_engine("processes", 2)
    assert isinstance(procs, LocalEngine) and procs.workers == 2 and procs.processes
    assert make_engine(None).workers == 1
    ray_engine = make_engine("ray", 2, "ray://head:10001")
    assert isinstance(ray_engine, RayEngine)
    assert (ray_engine.workers, ray_engine.address) == (2, "ray://head:10001")


def test_make_engine_refuses_what_does_not_fit():
    with pytest.raises(UsageError, match="unknown engine 'spark': choose one of local, processes, ray"):
        make_engine("spark")
    with pytest.raises(UsageError, match="--ray-address needs --engine ray"):
        make_engine("local", 2, "auto")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        RayEngine(0)


def test_ray_engine_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'dsir\[ray\]'"):
        RayEngine(progress=False).map(abs, [1])


def test_runtime_env_ships_this_dsir_without_caches():
    env = dsir_runtime_env({"env_vars": {"AWS_ENDPOINT_URL": "http://minio:9000"}})
    assert env["py_modules"] == [os.path.dirname(os.path.abspath(dsir.__file__))]
    assert os.path.exists(os.path.join(env["py_modules"][0], "engines", "ray.py"))
    assert "__pycache__" in env["excludes"]
    assert env["env_vars"] == {"AWS_ENDPOINT_URL": "http://minio:9000"}
