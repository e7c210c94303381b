"""In-memory inputs and the files the Python data ecosystem writes (issue 13, items 1 and 2),
with the real libraries: pandas, pyarrow and Hugging Face ``datasets``."""

from __future__ import annotations

import json
import logging
import os

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dsir import DSIR
from dsir.cli.main import main
from dsir.errors import UsageError
from dsir.io.memory import spool_folder
from tests.pipeline.make_data import documents

TEXTS = documents(300, seed=5, sea_share=0.3)
TARGET = documents(20, seed=6, sea_share=1.0)
K = 12


@pytest.fixture
def files(tmp_path):
    """The same pool as a parquet file, and the target as jsonl."""
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"text": TEXTS, "n": list(range(len(TEXTS)))}), pool)
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in TARGET))
    return pool, target


@pytest.fixture
def expected(files, tmp_path):
    """The selection from the parquet file: every in-memory form must give exactly these rows."""
    pool, target = files
    DSIR(seed=3).select(str(pool), str(tmp_path / "from-file"), k=K, target=str(target), report=False)
    return pq.read_table(tmp_path / "from-file" / "part-00000.parquet").column("n").to_pylist()


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"text": TEXTS, "n": range(len(TEXTS))})


FORMS = {
    "texts": (lambda: list(TEXTS), lambda got: [TEXTS.index(t) for t in got], list),
    "records": (lambda: [{"text": t, "n": i} for i, t in enumerate(TEXTS)], lambda got: [r["n"] for r in got], list),
    "records-generator": (lambda: ({"text": t, "n": i} for i, t in enumerate(TEXTS)),
                          lambda got: [r["n"] for r in got], list),
    "arrow-table": (lambda: pa.Table.from_pandas(_frame(), preserve_index=False),
                    lambda got: got.column("n").to_pylist(), pa.Table),
    "arrow-reader": (lambda: pa.Table.from_pandas(_frame(), preserve_index=False).to_reader(max_chunksize=37),
                     lambda got: got.read_all().column("n").to_pylist(), pa.RecordBatchReader),
    "arrow-dataset": (lambda: pads.dataset(pa.Table.from_pandas(_frame(), preserve_index=False)),
                      lambda got: got.to_table().column("n").to_pylist(), pads.Dataset),
    "pandas": (_frame, lambda got: got["n"].tolist(), pd.DataFrame),
    "pandas-series": (lambda: _frame()["text"], lambda got: [TEXTS.index(t) for t in got], list),
    "hf-column": (lambda: datasets.Dataset.from_pandas(_frame(), preserve_index=False)["text"],
                  lambda got: [TEXTS.index(t) for t in got], list),
    "hf-dataset": (lambda: datasets.Dataset.from_pandas(_frame(), preserve_index=False),
                   lambda got: list(got["n"]), datasets.Dataset),
    "hf-iterable": (lambda: datasets.Dataset.from_pandas(_frame(), preserve_index=False).to_iterable_dataset(),
                    lambda got: [r["n"] for r in got], datasets.IterableDataset),
}


@pytest.mark.parametrize("form", FORMS)
def test_in_memory_raw_selects_the_rows_the_file_selects_in_its_own_type(form, files, expected):
    make, rows_of, kind = FORMS[form]
    _, target = files
    others = set(os.listdir(spool_folder()))  # failed calls of other tests keep theirs, for a resume
    got = DSIR(seed=3).select(make(), k=K, target=str(target))
    assert isinstance(got, kind)
    assert rows_of(got) == expected
    assert set(os.listdir(spool_folder())) == others  # the spooled copy is gone after success


def test_in_memory_target_and_fit_then_score_aligned_with_the_input(files, expected, tmp_path):
    pool, _ = files
    frame = _frame()
    d = DSIR(seed=3).fit(frame, list(TARGET))
    scores = d.score(frame)
    assert scores.num_rows == len(TEXTS) and scores.column("row").to_pylist() == list(range(len(TEXTS)))
    assert set(scores.column("file").to_pylist()) == {"<memory>"}
    from_file = DSIR(seed=3).fit(str(pool), list(TARGET)).score(str(pool))
    assert scores.column("key").to_pylist() == from_file.column("key").to_pylist()
    picked = d.select(frame, k=K)
    assert picked["n"].tolist() == expected


def test_in_memory_raw_into_an_output_directory_and_resume(files, expected, tmp_path):
    _, target = files
    out = tmp_path / "out"
    manifest = DSIR(seed=3).select(_frame(), str(out), k=K, target=str(target), report=False)
    assert manifest["counts"]["selected"] == K
    assert pq.read_table(out / "part-00000.parquet").column("n").to_pylist() == expected
    again = DSIR(seed=3).select(_frame(), str(out), k=K, target=str(target), report=False, resume=True)
    assert again["outputs"] == manifest["outputs"]


def test_a_failed_call_keeps_its_spooled_input_for_the_resume(files, expected, tmp_path, caplog):
    _, target = files
    (tmp_path / "a-file").write_text("")
    others = set(os.listdir(spool_folder()))
    with pytest.raises(UsageError, match="not a directory"):
        DSIR(seed=3).select(_frame(), str(tmp_path / "a-file"), k=K, target=str(target), report=False)
    (left,) = set(os.listdir(spool_folder())) - others
    before = os.stat(os.path.join(spool_folder(), left))
    out = tmp_path / "out"
    first = DSIR(seed=3)
    first.engine = _Dying(first.engine)  # dies in the score pass, after the count and fit units are recorded
    with pytest.raises(RuntimeError, match="killed"):
        first.select(_frame(), str(out), k=K, target=str(target), report=False)
    after = os.stat(os.path.join(spool_folder(), left))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # reused, not rewritten
    caplog.set_level(logging.INFO, logger="dsir")
    manifest = DSIR(seed=3).select(_frame(), str(out), k=K, target=str(target), report=False, resume=True)
    assert "resume: count raw: 1 of 1 units already done" in caplog.text
    assert "resume: fit raw: 1 of 1 units already done" in caplog.text
    assert pq.read_table(out / "part-00000.parquet").column("n").to_pylist() == expected
    assert manifest["counts"]["selected"] == K and set(os.listdir(spool_folder())) == others


class _Dying:
    """An engine that runs every phase but the score pass, which it kills."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def map(self, fn, tasks, desc="", *args, **kwargs):
        if desc.startswith("score"):
            raise RuntimeError("killed")
        return self._engine.map(fn, tasks, desc, *args, **kwargs)


def test_named_targets_come_back_by_name(files):
    sea = [t for t in TEXTS if "ship" in t][:10]
    got = DSIR(seed=3).select(list(TEXTS), k=6, target=[f"sea={files[1]}", f"all={files[0]}"])
    assert set(got) == {"sea", "all"} and sum(len(v) for v in got.values()) == 6
    assert not set(got["sea"]) & set(got["all"]) and sea


def test_lists_are_paths_or_documents_never_a_guess(files):
    pool, target = files
    with pytest.raises(UsageError, match="a list of paths or a list of documents, not both"):
        DSIR().select([str(pool), "a real document here"], k=2, target=str(target))
    with pytest.raises(UsageError, match="needs an output_dir"):
        DSIR().select(str(pool), k=2, target=str(target))
    with pytest.raises(UsageError, match=r"item 2 is a int; every item must be a str"):
        DSIR().select(["one text", "two texts", 3], k=1, target=str(target))
    with pytest.raises(UsageError, match="several splits"):
        DSIR().select(datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})}), k=1,
                      target=str(target))
    with pytest.raises(UsageError, match="no documents"):
        DSIR().select(iter([]), k=1, target=str(target))


def test_records_keep_every_field_even_one_the_first_record_lacks(files):
    records = [{"text": t} if i == 0 else {"text": t, "extra": i} for i, t in enumerate(TEXTS)]
    got = DSIR(seed=3).select(records, k=K, target=str(files[1]))
    assert all(set(r) == {"text", "extra"} for r in got)


# -- files the ecosystem writes ----------------------------------------------------------------

def _select_cli(*args: str):
    return CliRunner().invoke(main, ["select", "--quiet", "--no-report", "--workers", "1", *args])


def test_a_save_to_disk_folder_and_arrow_files_are_read_as_the_parquet_file(files, expected, tmp_path):
    pool, target = files
    datasets.Dataset.from_pandas(_frame(), preserve_index=False).save_to_disk(str(tmp_path / "saved"))
    feather.write_feather(pa.Table.from_pandas(_frame(), preserve_index=False), tmp_path / "pool.feather")
    for source in (tmp_path / "saved", tmp_path / "pool.feather"):
        out = tmp_path / f"out-{source.name}"
        result = _select_cli("--raw", str(source), "--target", str(target), "-k", str(K), "-o", str(out),
                             "--seed", "3")
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert [os.path.basename(i["path"]) for i in manifest["inputs"]] == (
            ["data-00000-of-00001.arrow"] if source.name == "saved" else ["pool.feather"])
        assert pq.read_table(out / "part-00000.parquet").column("n").to_pylist() == expected


def test_a_saved_dataset_dict_names_its_splits(files, tmp_path):
    ds = datasets.Dataset.from_dict({"text": TEXTS[:10]})
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dd"))
    result = _select_cli("--raw", str(tmp_path / "dd"), "--target", str(files[1]), "-k", "2", "-o",
                         str(tmp_path / "out"))
    assert result.exit_code == 3  # bad input
    assert result.stderr.strip().endswith(f"{tmp_path}/dd: raw directory holds a saved datasets.DatasetDict; give "
                                          f"one split's folder ({tmp_path}/dd/train, {tmp_path}/dd/test)")


@pytest.mark.parametrize("column", ["dictionary", "large_string", "string_view"])
def test_text_columns_of_every_string_type(files, expected, tmp_path, column):
    arr = {"dictionary": pa.array(TEXTS).dictionary_encode(), "large_string": pa.array(TEXTS, pa.large_string()),
           "string_view": pa.array(TEXTS, pa.string_view())}[column]
    pq.write_table(pa.table({"text": arr, "n": list(range(len(TEXTS)))}), tmp_path / "pool.parquet")
    out = tmp_path / "out"
    result = _select_cli("--raw", str(tmp_path / "pool.parquet"), "--target", str(files[1]), "-k", str(K), "-o",
                         str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out / "part-00000.parquet").column("n").to_pylist() == expected


def test_the_target_text_field_can_differ_from_the_raw_one(tmp_path, expected):
    pool = tmp_path / "content.jsonl"
    pool.write_text("".join(json.dumps({"content": t, "n": i}) + "\n" for i, t in enumerate(TEXTS)))
    target = tmp_path / "body.jsonl"
    target.write_text("".join(json.dumps({"body": t}) + "\n" for t in TARGET))
    out = tmp_path / "out"
    result = _select_cli("--raw", str(pool), "--target", str(target), "--text-field", "content",
                         "--target-text-field", "body", "-k", str(K), "-o", str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    picked = [json.loads(line)["n"] for line in (out / "part-00000.jsonl").read_text().splitlines()]
    assert picked == expected  # the rows the "text" fields select
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["target_text_field"] == "body"
    wrong = _select_cli("--raw", str(pool), "--target", str(target), "--text-field", "content", "-k", "2", "-o",
                        str(tmp_path / "o2"))
    assert wrong.exit_code == 3 and f"{target}:1: missing text field 'content'" in wrong.stderr
    in_memory = DSIR(seed=3, text_field="content", target_text_field="body").select(
        [{"content": t, "n": i} for i, t in enumerate(TEXTS)], k=K, target=list(TARGET))
    assert [r["n"] for r in in_memory] == expected
