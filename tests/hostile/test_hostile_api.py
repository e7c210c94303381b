"""The hostile suite's Python API cases: odd types and values are refused when ``DSIR`` is
made (naming the parameter), or accepted as the documented equivalent; never a traceback
from deep inside a run, and never a run that writes shards and then fails."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from dsir import DSIR
from dsir.errors import DsirError, UsageError
from tests.hostile.cases import GOOD, TARGET

# (name, DSIR keyword arguments, expected message or None when it must work)
PARAMETERS = [
    ("ngrams-float", {"ngrams": 2.5}, "ngrams must be an integer, got 2.5"),
    ("ngrams-string", {"ngrams": "2"}, "ngrams must be an integer"),
    ("buckets-bool", {"buckets": True}, "buckets must be an integer, got True"),
    ("buckets-string", {"buckets": "10"}, "buckets must be an integer, got '10'"),
    ("seed-none", {"seed": None}, "seed must be an integer, got None"),
    ("seed-negative", {"seed": -1}, "seed must be an integer from 0 to 2**64 - 1"),
    ("seed-too-large", {"seed": 2**64}, "seed must be an integer from 0 to 2**64 - 1"),
    ("text-field-none", {"text_field": None}, "text_field must be a non-empty string"),
    ("temperature-zero", {"temperature": 0}, "temperature must be a positive number"),
    ("smoothing-negative", {"smoothing": -1}, "smoothing must be a positive number"),
    ("on-error-unknown", {"on_error": "ignore"}, "on_error must be 'stop' or 'skip'"),
    ("method-unknown", {"method": "bm25"}, "method must be one of dsir, classifier, discriminative, random"),
    ("weighting-unknown", {"weighting": "max"}, "weighting must be one of mean, sum"),
    ("workers-zero", {"workers": 0}, "workers must be a positive integer, got 0"),
    ("workers-float", {"workers": 1.5}, "workers must be a positive integer"),
    ("numpy-seed", {"seed": np.int64(3)}, None),
    ("numpy-buckets", {"buckets": np.int32(1000)}, None),
    ("numpy-ngrams", {"ngrams": np.int16(2)}, None),
    ("numpy-min-length", {"min_length": np.uint8(1)}, None),
    ("numpy-temperature", {"temperature": np.float32(0.5)}, None),
]


@pytest.mark.parametrize("kwargs, message", [c[1:] for c in PARAMETERS], ids=[c[0] for c in PARAMETERS])
def test_parameters(tmp_path, kwargs, message):
    if message is not None:
        with pytest.raises(UsageError, match=message.replace("*", r"\*").replace("(", r"\(")):
            DSIR(**kwargs)
        return
    manifest = _select_with(tmp_path, DSIR(**kwargs, workers=1), lambda r, t: {})
    assert manifest["counts"]["selected"] == 3
    json.dumps(manifest["parameters"])  # the manifest holds plain JSON numbers


def _pool(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    raw, target = tmp_path / "raw.jsonl", tmp_path / "target.jsonl"
    raw.write_text("".join(g + "\n" for g in GOOD))
    target.write_text("".join(t + "\n" for t in TARGET))
    return raw, target


# (name, select arguments as a function of (raw, target), expected message or None)
ARGUMENTS = [
    ("k-numpy", lambda r, t: {"k": np.int64(3)}, None),
    ("k-float", lambda r, t: {"k": 2.5}, "k must be an integer"),
    ("k-string", lambda r, t: {"k": "3"}, "k must be an integer"),
    ("raw-pathlib", lambda r, t: {"raw": r}, None),
    ("raw-list-of-pathlib", lambda r, t: {"raw": [r]}, None),
    ("target-pathlib", lambda r, t: {"target": t}, None),
    ("raw-empty-list", lambda r, t: {"raw": []}, "raw: no paths given"),
    ("raw-none", lambda r, t: {"raw": None}, "raw: expected paths or in-memory data"),
    ("raw-numbers", lambda r, t: {"raw": [3]}, "raw: expected texts (str) or records (dict), got int at item 0"),
    ("raw-path-and-number", lambda r, t: {"raw": [r, 3]}, "raw: expected a path (str or pathlib.Path), got int"),
    ("raw-path-and-document", lambda r, t: {"raw": [str(r), "a document, not a path"]},
     "raw: a list of paths or a list of documents, not both"),
    ("raw-missing-file-names", lambda r, t: {"raw": ["nowhere/a.jsonl", "b.parquet"]}, "raw path does not exist"),
    ("target-empty-list", lambda r, t: {"target": []}, "target: no paths given"),
    ("output-inside-raw-folder", lambda r, t: {"raw": str(r.parent), "output_dir": str(r.parent / "o")},
     "inside the input"),
]


@pytest.mark.parametrize("arguments, message", [c[1:] for c in ARGUMENTS], ids=[c[0] for c in ARGUMENTS])
def test_select_arguments(tmp_path, arguments, message):
    dsir = DSIR(workers=1)
    if message is not None:
        with pytest.raises(DsirError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _select_with(tmp_path, dsir, arguments)
        assert not (tmp_path / "out" / "manifest.json").exists()
        return
    assert _select_with(tmp_path, dsir, arguments)["counts"]["selected"] == 3


def _select_with(tmp_path, dsir: DSIR, arguments) -> dict:
    raw, target = _pool(tmp_path)
    args = {"raw": str(raw), "target": str(target), "k": 3, "output_dir": str(tmp_path / "out"), "report": False}
    args.update(arguments(raw, target))
    return dsir.select(**args)


def test_a_truncated_model_file_is_refused_by_name(tmp_path):
    model = tmp_path / "model.npz"
    model.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DsirError, match=f"{model}: not a dsir model file"):
        DSIR().load_model(str(model))
