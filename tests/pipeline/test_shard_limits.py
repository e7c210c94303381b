"""``--max-shard-docs`` and ``--max-shard-bytes`` (issue 13, item 3): a shard that would
exceed a limit is cut, in record order, into pieces ``part-NNNNN.MMMMM.<format>``; the
pieces concatenated are the unsplit shard, and resume, overwrite, named targets, chunks,
object stores, the report and ``datasets.load_dataset(OUT)`` all see the pieces."""

from __future__ import annotations

import gzip
import json
import os
import re

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main
from dsir.errors import UsageError
from dsir.io.writers import ShardLimits, SplitShardWriter, parse_size, piece_path, row_bytes
from tests.pipeline.make_data import documents, make_pool, make_target, output_bytes
from tests.pipeline.test_resume import TASKS, Crash, ScriptedEngine

K = 60
PIECE = re.compile(r"^part-(?:(?P<target>.+)-)?(?P<unit>\d{5})(?:\.(?P<piece>\d{5}))?"
                   r"\.(?P<fmt>jsonl(?:\.gz|\.zst)?|parquet)$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_pool(str(root / "pool"), files=3, docs_per_file=40)
    return str(root / "pool"), make_target(str(root / "target.jsonl"))


def select(corpus, out, engine=None, **kw):
    raw, target = corpus
    d = DSIR(raw_sample=50, engine=engine or ScriptedEngine())
    return d.select(raw, str(out), k=kw.pop("k", K), target=kw.pop("target", target), report=kw.pop("report", False),
                    **kw)


def cli(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def decoded(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def rows_of(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def by_shard(names) -> dict[str, list[str]]:
    """The unsplit shard name of every shard or piece, with its pieces in order."""
    out: dict[str, list[str]] = {}
    for name in names:
        m = PIECE.match(name)
        assert m, f"{name} is neither a shard nor a piece name"
        base = name if m["piece"] is None else name.replace(f".{m['piece']}.", ".", 1)
        out.setdefault(base, []).append(name)
    return {k: sorted(v) for k, v in out.items()}


def shards_of(files: dict[str, bytes]) -> dict[str, bytes]:
    return {n: d for n, d in files.items() if n.startswith("part-")}


def assert_pieces_concatenate(split: dict[str, bytes], whole: dict[str, bytes], fmt: str, out=None, base_out=None):
    """Every unsplit shard is its pieces concatenated: the same bytes (decompressed) for jsonl,
    the same rows and schema for parquet."""
    groups = by_shard(shards_of(split))
    assert sorted(groups) == sorted(shards_of(whole))
    for base, pieces in groups.items():
        if fmt == "parquet":
            tables = [pq.read_table(os.path.join(out, p)) for p in pieces]
            unsplit = pq.read_table(os.path.join(base_out, base))
            assert all(t.schema == unsplit.schema for t in tables)
            assert [r for t in tables for r in t.to_pylist()] == unsplit.to_pylist()
        else:
            assert b"".join(decoded(p, split[p]) for p in pieces) == decoded(base, whole[base])


# -- sizes and the writer --------------------------------------------------------------------


@pytest.mark.parametrize("text, n", [("123", 123), (7, 7), ("500MB", 500_000_000), ("1GiB", 2**30),
                                     ("1.5kb", 1500), ("2 KiB", 2048), ("7b", 7), ("3G", 3 * 10**9),
                                     ("1tib", 2**40)])
def test_sizes_parse(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "lots", "0", "-1", "10QB", "1e3", "MB", "1.5.0GB", "0.1B"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_bad_limits_are_one_line_usage_errors(corpus, tmp_path):
    raw, target = corpus
    for args, message in ((["--max-shard-bytes", "10QB"], "'10QB' is not a size"),
                          (["--max-shard-bytes", "0"], "at least 1 byte"),
                          (["--max-shard-docs", "0"], "--max-shard-docs")):
        r = cli("select", "--raw", raw, "--target", target, "-k", 5, "-o", tmp_path / "o", "--quiet", *args, ok=False)
        assert r.exit_code == 2 and "Invalid value for" in r.output and message in r.output, r.output
        assert not (tmp_path / "o").exists()
    for kw, message in (({"max_shard_docs": 0}, "max_shard_docs"), ({"max_shard_docs": 2.5}, "max_shard_docs"),
                        ({"max_shard_bytes": "big"}, "max_shard_bytes: 'big' is not a size")):
        with pytest.raises(UsageError, match=message):
            select(corpus, tmp_path / "o", **kw)
    with pytest.raises(UsageError, match="max_shard_docs, max_shard_bytes and zstd_frame_size need an output_dir"):
        DSIR().select(["a b c", "d e f"], k=1, target=["a b"], max_shard_docs=1)


def _cut(limits: ShardLimits, sizes: list[int], tmp_path, calls: int = 1) -> list[list[int]]:
    """The record sizes that each piece of a jsonl shard written in ``calls`` calls holds."""
    lines = [b"x" * (s - 1) + b"\n" for s in sizes]
    tmp_path = tmp_path / str(len(os.listdir(tmp_path)))
    tmp_path.mkdir()
    w = SplitShardWriter(str(tmp_path / "part-00000.jsonl"), "jsonl", limits)
    for part in np.array_split(np.arange(len(lines)), calls):
        w.write_jsonl(b"".join(lines[i] for i in part), len(part))
    shards = w.commit()
    return [[len(x) + 1 for x in open(s.path, "rb").read().split(b"\n")[:-1]] for s in shards]


@pytest.mark.parametrize("calls", [1, 3, 10])
def test_pieces_are_filled_greedily_in_order_whatever_the_calls(tmp_path, calls):
    sizes = [5, 5, 5, 30, 1, 1, 1, 1, 9, 10, 2]
    assert _cut(ShardLimits(max_bytes=10), sizes, tmp_path, calls) == [[5, 5], [5], [30], [1, 1, 1, 1], [9], [10],
                                                                        [2]]
    assert _cut(ShardLimits(max_documents=3), sizes, tmp_path, calls) == [[5, 5, 5], [30, 1, 1], [1, 1, 9], [10, 2]]
    assert _cut(ShardLimits(3, 10), sizes, tmp_path, calls) == [[5, 5], [5], [30], [1, 1, 1], [1, 9], [10], [2]]
    assert _cut(ShardLimits(max_bytes=1000), sizes, tmp_path, calls) == [sizes]
    names = sorted(os.listdir(tmp_path / "3"))
    assert names == ["part-00000.jsonl"], names  # one piece keeps the shard's name; no temporary file is left


def test_row_bytes_count_values_through_nesting():
    table = pa.table({
        "text": pa.array(["abc", None, ""]),
        "n": pa.array([1, 2, None], pa.int64()),
        "flag": pa.array([True, False, True]),
        "tags": pa.array([["ab", "c"], None, []]),
        "meta": pa.array([{"k": "xy", "v": 1.5}, {"k": None, "v": None}, None]),
        "kind": pa.array(["aa", "bbb", "aa"]).dictionary_encode(),
        "none": pa.nulls(3),
    })
    # text + n + flag + tags + meta (k, v) + kind
    assert row_bytes(table).tolist() == [3 + 8 + 1 + 3 + 2 + 8 + 2, 0 + 8 + 1 + 0 + 0 + 3, 0 + 0 + 1 + 0 + 0 + 2]
    assert row_bytes(table.slice(1)).tolist() == row_bytes(table).tolist()[1:]


def test_piece_names():
    assert piece_path("s3://b/out/part-00003.jsonl.gz", "jsonl.gz", 1) == "s3://b/out/part-00003.00001.jsonl.gz"
    assert piece_path("/o/part-a-1-00012.parquet", "parquet", 0) == "/o/part-a-1-00012.00000.parquet"


# -- through the CLI and the API -------------------------------------------------------------


@pytest.fixture(scope="module")
def unsplit(corpus, tmp_path_factory):
    """The unlimited run of each output format: its directory and files."""
    runs = {}
    for fmt in ("jsonl", "jsonl.gz", "jsonl.zst", "parquet"):
        out = tmp_path_factory.mktemp("unsplit") / fmt
        select(corpus, out, output_format=None if fmt == "jsonl" else fmt)
        runs[fmt] = (str(out), output_bytes(str(out)))
    return runs


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet"])
def test_max_shard_docs_splits_in_order_through_the_cli(corpus, unsplit, tmp_path, fmt):
    raw, target = corpus
    out = tmp_path / "out"
    cli("select", "--raw", raw, "--target", target, "-k", K, "-o", out, "--raw-sample", 50, "--workers", 1, "--quiet",
        "--no-report", "--max-shard-docs", 7, *([] if fmt == "jsonl" else ["--output-format", fmt]))
    base_out, whole = unsplit[fmt]
    split = output_bytes(str(out))
    assert_pieces_concatenate(split, whole, fmt, str(out), base_out)
    manifest = json.loads(split["manifest.json"])
    base_manifest = json.loads(whole["manifest.json"])
    for shard in base_manifest["outputs"]:
        n, name = shard["documents"], shard["path"]
        pieces = [o for o in manifest["outputs"] if by_shard([o["path"]]) == {name: [o["path"]]}]
        if n <= 7:
            assert [o["path"] for o in pieces] == [name] and pieces[0] == shard  # a shard that fits keeps its name
        else:
            want = [piece_path(name, fmt, i) for i in range(-(-n // 7))]
            assert [o["path"] for o in pieces] == want
            assert [o["documents"] for o in pieces] == [7] * (len(want) - 1) + [n - 7 * (len(want) - 1)]
    assert sorted(o["path"] for o in manifest["outputs"]) == sorted(shards_of(split))
    assert manifest["parameters"]["max_shard_docs"] == 7 and manifest["parameters"]["max_shard_bytes"] is None
    assert manifest["counts"] == base_manifest["counts"]
    assert len(manifest["outputs"]) > len(base_manifest["outputs"])


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_max_shard_bytes_and_a_record_larger_than_the_limit(corpus, unsplit, tmp_path, fmt):
    base_out, whole = unsplit[fmt]
    kw = {} if fmt == "jsonl" else {"output_format": fmt}
    out = tmp_path / "out"
    m = select(corpus, out, max_shard_bytes="1KB", **kw)
    split = output_bytes(str(out))
    assert_pieces_concatenate(split, whole, fmt, str(out), base_out)
    assert m["parameters"]["max_shard_bytes"] == 1000
    if fmt == "jsonl":  # exact: each piece is at most 1000 bytes, or one record
        for o in m["outputs"]:
            assert o["bytes"] <= 1000 or o["documents"] == 1
        assert max(o["bytes"] for o in m["outputs"]) > 500
    tiny = tmp_path / "tiny"
    m = select(corpus, tiny, max_shard_bytes=1, **kw)  # every record is larger: one per piece, none dropped
    assert [o["documents"] for o in m["outputs"]] == [1] * K
    assert_pieces_concatenate(output_bytes(str(tiny)), whole, fmt, str(tiny), base_out)


def test_parquet_input_with_nested_columns(tmp_path, corpus):
    _, target = corpus
    pool = tmp_path / "pool"
    pool.mkdir()
    texts = documents(80, seed=5)
    pq.write_table(pa.table({"text": texts, "n": list(range(80)), "tags": [["t"] * (i % 4) for i in range(80)],
                             "meta": [{"a": str(i), "b": float(i)} for i in range(80)]}), pool / "p.parquet",
                   row_group_size=13)
    whole = tmp_path / "whole"
    DSIR(raw_sample=50).select(str(pool), str(whole), k=30, target=target, report=False)
    for kw in ({"max_shard_bytes": "2kB"}, {"max_shard_docs": 4}):
        out = tmp_path / f"out-{next(iter(kw))}"
        m = DSIR(raw_sample=50, block_bytes=1 << 12).select(str(pool), str(out), k=30, target=target, report=False,
                                                             **kw)
        assert len(m["outputs"]) > 1
        assert_pieces_concatenate(output_bytes(str(out)), output_bytes(str(whole)), "parquet", str(out), str(whole))


def test_resume_gives_the_same_pieces(corpus, tmp_path):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    select(corpus, fresh, max_shard_docs=6)
    want = output_bytes(str(fresh))
    select(corpus, out, max_shard_docs=6)
    engine = ScriptedEngine()
    select(corpus, out, engine, max_shard_docs=6, resume=True)
    assert engine.computed == {} and output_bytes(str(out)) == want
    os.unlink(out / "part-00001.00002.jsonl")  # a piece its record vouches for is gone: that unit again
    engine = ScriptedEngine()
    select(corpus, out, engine, max_shard_docs=6, resume=True)
    assert engine.computed == {"write": 1} and output_bytes(str(out)) == want


@pytest.mark.parametrize("after", [False, True], ids=["before-unit", "after-unit-before-record"])
@pytest.mark.parametrize("write_unit", [0, 2])
def test_crash_in_the_write_phase_then_resume(corpus, tmp_path, write_unit, after):
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    select(corpus, fresh, max_shard_bytes=700)
    with pytest.raises(Crash):
        select(corpus, out, ScriptedEngine(TASKS - 3 + write_unit, after), max_shard_bytes=700)
    select(corpus, out, max_shard_bytes=700, resume=True)
    assert output_bytes(str(out)) == output_bytes(str(fresh))


def test_resume_and_overwrite_with_other_limits_leave_no_stale_piece(corpus, unsplit, tmp_path):
    out = tmp_path / "out"
    select(corpus, out, max_shard_docs=3)
    for i, limits in enumerate(({"max_shard_docs": 8}, {"max_shard_bytes": "900"}, {})):
        fresh = tmp_path / f"fresh-{i}"
        select(corpus, fresh, **limits)
        engine = ScriptedEngine()
        select(corpus, out, engine, resume=True, **limits)
        assert output_bytes(str(out)) == output_bytes(str(fresh))
        assert set(engine.computed) == {"write"}  # only the write units depend on the limits
    assert output_bytes(str(out)) == unsplit["jsonl"][1]
    (out / "part-notes.txt").write_text("mine")  # a user's file that looks like a shard stays
    select(corpus, out, max_shard_docs=2, overwrite=True)
    select(corpus, out, k=10, overwrite=True)
    names = {n for n in os.listdir(out) if n.startswith("part-")}
    assert names == {o["path"] for o in json.load(open(out / "manifest.json"))["outputs"]} | {"part-notes.txt"}


def test_pieces_left_by_an_interrupted_unit_are_removed(corpus, tmp_path):
    """A unit killed while it published its pieces leaves pieces no record names: the unit run
    again removes them before it writes, whatever its new limits."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    select(corpus, out, max_shard_docs=2)
    os.unlink(out / "_dsir" / "write-00000.rec")
    os.unlink(out / "manifest.json")  # killed before the end: no manifest names them either
    select(corpus, out, max_shard_docs=5, resume=True)
    select(corpus, fresh, max_shard_docs=5)
    assert output_bytes(str(out)) == output_bytes(str(fresh))


def test_named_targets_and_chunks(corpus, tmp_path):
    raw, target = corpus
    targets = [f"a={target}", f"a-1={os.path.join(raw, 'pool-000.jsonl')}"]  # a name ending in -digits
    whole, out = tmp_path / "whole", tmp_path / "out"
    select(corpus, whole, target=targets)
    m = select(corpus, out, target=targets, max_shard_docs=4)
    names = [o["path"] for o in m["outputs"]]
    assert any(n.startswith("part-a-00000.") for n in names) and any(n.startswith("part-a-1-00000.") for n in names)
    assert_pieces_concatenate(output_bytes(str(out)), output_bytes(str(whole)), "jsonl")
    for name in ("a", "a-1"):
        got = datasets.load_dataset(str(out), name=name, cache_dir=str(tmp_path / "hf"))["train"]
        per_target = next(t for t in m["per_target"] if t["name"] == name)
        assert got.num_rows == per_target["selected"]
    whole, out = tmp_path / "cwhole", tmp_path / "cout"
    chunks = DSIR(raw_sample=50, chunk_words=8, emit="chunks")
    chunks.select(raw, str(whole), k=K, target=target, report=False)
    m = chunks.select(raw, str(out), k=K, target=target, report=False, max_shard_bytes=600)
    assert m["counts"]["unit"] == "chunks" and len(m["outputs"]) > 3
    assert_pieces_concatenate(output_bytes(str(out)), output_bytes(str(whole)), "jsonl")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_load_dataset_reads_exactly_the_selection(corpus, unsplit, tmp_path, fmt):
    out = tmp_path / "out"
    m = select(corpus, out, max_shard_docs=5, output_format=None if fmt == "jsonl" else fmt)
    assert len(m["outputs"]) >= K // 5
    got = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))["train"]
    base_out, whole = unsplit[fmt]
    if fmt == "jsonl":
        want = [json.loads(line) for name in sorted(shards_of(whole)) for line in whole[name].splitlines()]
    else:
        want = [r for name in sorted(shards_of(whole)) for r in rows_of(os.path.join(base_out, name))]
    assert got.to_list() == want


def test_report_of_a_split_selection(corpus, tmp_path):
    raw, target = corpus
    out = tmp_path / "out"
    cli("select", "--raw", raw, "--target", target, "-k", K, "-o", out, "--raw-sample", 50, "--workers", 1,
        "--quiet", "--max-shard-docs", 9)
    first = json.loads((out / "report.json").read_text())
    cli("report", out, "--quiet", "--workers", 1)
    again = json.loads((out / "report.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    for r in (first, again):
        assert r["counts"]["selected_documents"] == K
        assert r["counts"]["selected_output_bytes"] == sum(o["bytes"] for o in manifest["outputs"])


def test_object_store_output(corpus, tmp_path):
    from tests.io.moto_s3 import make_bucket, require, running_s3_server

    require("s3fs")
    require("moto.server")
    local = tmp_path / "local"
    select(corpus, local, max_shard_docs=6)
    with running_s3_server():
        fs = make_bucket("dsir-limits")
        m = select(corpus, "s3://dsir-limits/out", max_shard_docs=6)
        files = {p.rsplit("/", 1)[-1]: p for p in fs.ls("dsir-limits/out", refresh=True)}
        want = shards_of(output_bytes(str(local)))
        assert {n for n in files if n.startswith("part-")} == set(want) == {o["path"] for o in m["outputs"]}
        for name, data in want.items():
            assert fs.cat_file(files[name]) == data
        select(corpus, "s3://dsir-limits/out", max_shard_docs=20, overwrite=True)
        names = {p.rsplit("/", 1)[-1] for p in fs.ls("dsir-limits/out", refresh=True)}
        fresh = tmp_path / "fresh"
        select(corpus, fresh, max_shard_docs=20)
        assert {n for n in names if n.startswith("part-")} == set(shards_of(output_bytes(str(fresh))))
