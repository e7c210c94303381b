"""The Ray engine gives the local engine's results, byte for byte, and keeps its contract.

One local Ray instance (2 CPUs) serves the whole module: ``ray.init`` takes seconds. It is
started after the loopback S3 server (when s3fs and moto are installed), so that its workers
find that server's endpoint and credentials in their environment, as a cluster's workers
find a real store's.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main as cli
from dsir.errors import InputError
from tests.io.moto_s3 import make_bucket, require, running_s3_server
from tests.synthetic_corpus import output_files, write_corpus

ray = require("ray")

from dsir.engines.ray import RayEngine  # noqa: E402


@pytest.fixture(scope="module")
def s3_endpoint():
    try:
        require("s3fs")
        require("moto.server")
    except pytest.skip.Exception:
        yield None
        return
    with running_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ray_instance(s3_endpoint):
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("corpus")))


def _select(engine, raw, target, out, **kw):
    d = DSIR(seed=7, raw_sample=100, engine=engine, **kw.pop("dsir", {}))
    with d.engine:
        return d.select(raw, out, target=target, overwrite=True, **kw)


@pytest.mark.parametrize("options", [
    {"k": 101},
    {"fraction": 0.3, "output_format": "parquet", "dsir": {"top_k": True, "min_length": 5, "id_field": "id"}},
])
def test_ray_selection_is_byte_identical_to_local(ray_instance, corpus, tmp_path, options):
    raw, target = corpus
    local = _select("local", raw, target, str(tmp_path / "local"), **dict(options))
    on_ray = _select(RayEngine(progress=False), raw, target, str(tmp_path / "ray"), **dict(options))
    assert on_ray == local
    assert on_ray["counts"]["selected"] == local["counts"]["requested"]
    assert len(local["outputs"]) == 4
    assert output_files(str(tmp_path / "ray")) == output_files(str(tmp_path / "local"))


def test_cli_engine_ray_matches_local(ray_instance, corpus, tmp_path):
    raw, target = corpus
    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = str(tmp_path / engine)
        r = CliRunner().invoke(cli, ["select", "--raw", raw, "--target", target, "-k", "50", "-o", outs[engine],
                                     "--engine", engine, "--workers", "2", "--quiet"])
        assert r.exit_code == 0, r.output
    assert output_files(outs["ray"]) == output_files(outs["local"])
    assert ray.is_initialized()  # the engine used the running instance and left it running


def _slow_square(x: int) -> int:
    time.sleep(0.05 * (4 - x))  # the first tasks finish last
    return x * x


def test_map_returns_results_in_task_order(ray_instance):
    with RayEngine(progress=False) as engine:
        assert engine.map(_slow_square, [0, 1, 2, 3], "squares") == [0, 1, 4, 9]
        assert engine.map(_slow_square, []) == []


@dataclass(frozen=True)
class _DotTask:
    unit: int
    weights: np.ndarray


def _dot(task: _DotTask) -> float:
    assert task.weights.flags.writeable
    return float(task.weights.sum() * task.unit)


def test_large_shared_array_is_put_once(ray_instance, monkeypatch):
    weights = np.arange(20_000, dtype=np.float64)  # 160 kB: over SHARED_ARRAY_BYTES
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    with RayEngine(progress=False) as engine:
        result = engine.map(_dot, [_DotTask(u, weights) for u in range(5)])
    assert result == [float(weights.sum() * u) for u in range(5)]
    assert len(puts) == 1


@dataclass(frozen=True)
class _Wrapped:
    """A task wrapped as ``DurableUnit`` wraps one: the array sits a level down."""

    fn: object
    task: _DotTask
    label: str


def _run_wrapped(unit: _Wrapped) -> tuple[str, float]:
    return unit.label, unit.fn(unit.task)


def test_large_array_of_a_nested_task_is_put_once_and_not_shipped_in_the_tasks(ray_instance, monkeypatch):
    import pickle

    from dsir.engines import ray as ray_engine

    weights = np.arange(1 << 17, dtype=np.float64)  # 1 MB
    puts, shipped = [], []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    real_split = ray_engine._split_shared_arrays

    def spy_split(task, shared, ray_module):
        stripped, places, refs = real_split(task, shared, ray_module)
        shipped.append(len(pickle.dumps(stripped)))
        return stripped, places, refs

    monkeypatch.setattr(ray_engine, "_split_shared_arrays", spy_split)
    units = [_Wrapped(_dot, _DotTask(u, weights), f"unit {u}") for u in range(6)]
    with RayEngine(progress=False) as engine:
        result = engine.map(_run_wrapped, units, "score")
    assert result == [(f"unit {u}", float(weights.sum() * u)) for u in range(6)]
    assert len(puts) == 1 and puts[0] is weights
    assert len(shipped) == 6 and max(shipped) < 10_000  # the tasks travel without the array
    assert all(u.task.weights is weights for u in units)  # the driver's tasks are untouched


def test_task_error_is_raised_as_the_task_raised_it(ray_instance, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bad.jsonl").write_text('{"text": "ship sail"}\n{"text": "tide"}\n{"text": 3}\n')
    target = tmp_path / "target.jsonl"
    target.write_text('{"text": "ship sail wave"}\n')
    with pytest.raises(InputError) as info:
        _select(RayEngine(progress=False), str(raw), str(target), str(tmp_path / "out"), k=1)
    assert type(info.value) is InputError
    assert str(info.value).startswith(f"{raw / 'bad.jsonl'}:3: text field 'text' is a number")


def _die_once(marker: str) -> str:
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # the worker process dies mid-task, as on a lost node
    return "done"


def test_task_of_a_dead_worker_is_retried(ray_instance, tmp_path):
    with RayEngine(progress=False) as engine:
        assert engine.map(_die_once, [str(tmp_path / "a"), str(tmp_path / "b")]) == ["done", "done"]
    with RayEngine(progress=False, max_retries=0) as engine, pytest.raises(ray.exceptions.RayError):
        engine.map(_die_once, [str(tmp_path / "c")])


def test_ray_reads_and_writes_an_object_store(ray_instance, s3_endpoint, corpus, tmp_path):
    if s3_endpoint is None:
        pytest.skip("s3fs and moto[server] are not installed")
    raw, target = corpus
    fs = make_bucket("dsir-ray")
    fs.put(raw, "dsir-ray/pool", recursive=True)
    fs.put_file(target, "dsir-ray/target.jsonl")
    local = _select("local", raw, target, str(tmp_path / "local"), k=80, report=False)
    remote = _select(RayEngine(progress=False), "s3://dsir-ray/pool", "s3://dsir-ray/target.jsonl",
                     "s3://dsir-ray/out", k=80, report=False)
    assert remote["counts"] == local["counts"]
    assert remote["outputs"] == local["outputs"]
    for name, data in output_files(str(tmp_path / "local")).items():
        if name != "manifest.json":
            assert fs.cat_file(f"dsir-ray/out/{name}") == data
    assert json.loads(fs.cat_file("dsir-ray/out/manifest.json")) == remote


def test_ray_tasks_record_their_input_opens_in_the_phase_of_their_map(ray_instance, monkeypatch, tmp_path):
    from dsir.io.paths import expand_paths
    from dsir.io.readers import count_rows
    from dsir.io.trace import TRACE_ENV, read_trace

    for name, rows in (("a", 2), ("b", 3)):
        (tmp_path / f"{name}.jsonl").write_text("".join(f'{{"text": "doc {i}"}}\n' for i in range(rows)))
    files = expand_paths([str(tmp_path / "*.jsonl")])
    trace = tmp_path / "opens.jsonl"
    # set after the Ray workers started: the engine itself carries the trace file to them
    monkeypatch.setenv(TRACE_ENV, str(trace))
    with RayEngine(progress=False) as engine:
        assert engine.map(count_rows, files + files[:1], "count") == [2, 3, 2]
    assert read_trace(str(trace)) == {"count": {files[0].path: 2, files[1].path: 1}}


def test_a_cluster_that_cannot_be_reached_is_one_line(monkeypatch, tmp_path):
    """ray.init's ConnectionError (a wrong --ray-address, a cluster that is down) is a usage
    error naming the address, not a traceback."""
    from dsir.errors import UsageError

    def refuse(*args, **kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(UsageError, match=r"cannot connect to the Ray cluster at 10.0.0.9:6379: Failed to connect"):
        RayEngine(address="10.0.0.9:6379", progress=False)._connect()
