"""Engines by name, and what the Ray engine ships to a cluster (no Ray needed here)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import pytest

import dsir
from dsir.engines import ENGINES, LocalEngine, make_engine
from dsir.engines.ray import RayEngine, dsir_runtime_env
from dsir.errors import UsageError


def test_make_engine_by_name():
    assert ENGINES == ("auto", "local", "processes", "ray")
    engine = make_engine("local", 3)
    assert isinstance(engine, LocalEngine) and engine.workers == 3 and not engine.processes
    procs = make_engine("processes", 2)
    assert isinstance(procs, LocalEngine) and procs.workers == 2 and procs.processes
    assert make_engine(None).workers == 1
    ray_engine = make_engine("ray", 2, "ray://head:10001")
    assert isinstance(ray_engine, RayEngine)
    assert (ray_engine.workers, ray_engine.address) == (2, "ray://head:10001")


def test_auto_is_threads_up_to_its_limit_then_processes():
    from dsir.engines import AUTO_THREADS_UP_TO

    assert AUTO_THREADS_UP_TO == 8
    for workers, processes in ((None, False), (1, False), (8, False), (9, True), (64, True)):
        engine = make_engine("auto", workers)
        assert isinstance(engine, LocalEngine) and engine.processes is processes
        assert engine.workers == (workers or 1)
    assert not make_engine(None, 8).processes and make_engine(None, 9).processes  # auto is the default


def test_make_engine_refuses_what_does_not_fit():
    with pytest.raises(UsageError, match="unknown engine 'spark': choose one of auto, local, processes, ray"):
        make_engine("spark")
    for name in ("local", "auto", "processes"):
        with pytest.raises(UsageError, match="--ray-address needs --engine ray"):
            make_engine(name, 2, "auto")
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


def test_local_and_ray_engines_are_engines():
    from dsir.engines import Engine

    for engine in (LocalEngine(2, progress=False), LocalEngine(2, processes=True), RayEngine(progress=False),
                   make_engine("local"), make_engine("ray", 2, "auto")):
        assert isinstance(engine, Engine)
    assert not isinstance(object(), Engine)


@dataclass(frozen=True)
class _Inner:
    table: np.ndarray
    small: np.ndarray
    name: str = "inner"


@dataclass(frozen=True)
class _Wrapper:
    fn_name: str
    task: _Inner
    again: np.ndarray  # the inner table once more: one reference, one copy on the worker
    rows: tuple = ()


class _FakeRay:
    """``put`` only: hands out numbered references and remembers what it was given."""

    def __init__(self):
        self.puts: list[np.ndarray] = []

    def put(self, value):
        self.puts.append(value)
        return f"ref-{len(self.puts) - 1}"


def test_large_arrays_of_nested_dataclasses_are_split_out_and_put_back():
    import pickle

    from dsir.engines.ray import SHARED_ARRAY_BYTES, _run_task, _split_shared_arrays

    table = np.arange(SHARED_ARRAY_BYTES // 8 * 2, dtype=np.float64)
    small = np.arange(10)
    fake, shared = _FakeRay(), {}
    tasks = [_Wrapper(f"w{i}", _Inner(table, small), table, (small,)) for i in range(3)]
    split = [_split_shared_arrays(t, shared, fake) for t in tasks]
    assert len(fake.puts) == 1 and fake.puts[0] is table  # once per map, by identity
    for (stripped, places, refs), task in zip(split, tasks):
        assert refs == ["ref-0"]
        assert sorted(places) == [(("again",), 0), (("task", "table"), 0)]
        assert stripped.task.table is None and stripped.again is None and stripped.task.small is small
        assert tasks[0].task.table is table  # the driver's tasks are not changed
        assert len(pickle.dumps(stripped)) < table.nbytes / 10  # what travels inside the task
        back = _run_task(lambda t: t, stripped, places, *[table] * len(refs))
        assert back.fn_name == task.fn_name and back.task.name == "inner"
        np.testing.assert_array_equal(back.task.table, table)
        assert back.task.table is back.again and back.task.table is not table  # one writable copy
        assert back.task.table.flags.writeable
    in_tuple = _Wrapper("t", _Inner(small, small), small, (table,))
    assert _split_shared_arrays(in_tuple, shared, fake)[0] is in_tuple  # arrays in a tuple stay in it
    assert _split_shared_arrays(5, shared, fake) == (5, (), [])
    assert _split_shared_arrays(_Inner(small, small), shared, fake)[1:] == ((), [])


def test_the_driver_computes_on_the_engines_workers_at_most_this_machines_cores(monkeypatch):
    import dsir.engines as engines

    monkeypatch.setattr(engines, "default_workers", lambda: 4)
    assert engines.driver_threads(make_engine("local", 1)) == 1
    assert engines.driver_threads(make_engine("local", 3)) == 3
    assert engines.driver_threads(make_engine("processes", 16)) == 4
    assert engines.driver_threads(make_engine("ray", None, "ray://head:10001")) == 4  # all of this machine's
    assert engines.driver_threads(make_engine("ray", 2)) == 2
