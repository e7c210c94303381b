"""The fastText scorer: specs, errors, and scores that agree with fastText's own predictions.

The tests that need fastText skip without it (``pip install -e '.[fasttext]'``); the spec,
the fingerprint and the "not installed" message are tested without it. Models are made here:
written byte by byte (a tiny supervised model whose probabilities numpy computes too), or
trained on a small hand-written file.
"""

from __future__ import annotations

import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dsir.errors import InputError, UsageError
from dsir.sample.fasttext_scorer import (
    LABEL_PREFIX,
    MISSING_EXTRA,
    SCORER_PREFIX,
    FastTextScorer,
    ScorerSpec,
    _check_model_file,
    _label_probability,
)

# -- models written byte by byte (fastText's saveModel layout, file format 12) ----------------

WORDS = ["</s>", "good", "science", "spam", "click"]
LABELS = ["__label__hq", "__label__lq", "__label__mid"]


def _matrix(rows: np.ndarray) -> bytes:
    rows = np.ascontiguousarray(rows, dtype="<f4")
    return struct.pack("<qq", *rows.shape) + rows.tobytes()


def write_model(path: Path, words: list[str], labels: list[str], inputs: np.ndarray, outputs: np.ndarray, *,
                model: int = 3, version: int = 12) -> Path:
    """A fastText model file: softmax loss, no subwords or word n-grams; ``model`` 3 is supervised."""
    dim = inputs.shape[1]
    out = struct.pack("<ii", 793712314, version)
    out += struct.pack("<12id", dim, 5, 5, 1, 5, 1, 3, model, 0, 0, 0, 100, 1e-4)
    out += struct.pack("<iiiqq", len(words) + len(labels), len(words), len(labels), 100, -1)
    for name, kind in [(w, 0) for w in words] + [(label, 1) for label in labels]:
        out += name.encode() + b"\0" + struct.pack("<qb", 10, kind)
    out += b"\0" + _matrix(inputs) + b"\0" + _matrix(outputs)
    path.write_bytes(out)
    return path


def _weights(n_words: int, n_labels: int, dim: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_words, dim)), rng.normal(size=(n_labels, dim))


def expected_probabilities(text: str, words: list[str], inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """What fastText computes for one line: softmax of the output rows . the mean input row, plus its 1e-5.

    The words of the line that the model knows, and its end of line (``</s>``, once).
    """
    index = {w: i for i, w in enumerate(words)}
    ids = [index[t] for t in text.split() if t in index] + ([index["</s>"]] if "</s>" in index else [])
    if not ids:
        return np.zeros(len(outputs))
    hidden = inputs.astype(np.float32)[ids].astype(np.float64).mean(axis=0)
    logits = outputs.astype(np.float32).astype(np.float64) @ hidden
    p = np.exp(logits - logits.max())
    return p / p.sum() + 1e-5


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, np.ndarray, np.ndarray]:
    inputs, outputs = _weights(len(WORDS), len(LABELS))
    return write_model(tmp_path / "tiny.bin", WORDS, LABELS, inputs, outputs), inputs, outputs


# -- trained models --------------------------------------------------------------------------

TRAIN = {
    "hq": ["the study reports results of a careful analysis", "a clear proof of the theorem follows",
           "we measure the effect and report the evidence", "the method is described in detail below",
           "results are consistent with the earlier theory"],
    "lq": ["buy cheap pills now click here", "win a free prize click now", "best deal ever buy buy buy",
           "click here for free money now", "cheap offer limited time click"],
    "mid": ["my cat likes the sun", "we went to the park today", "dinner was fine and then we slept",
            "the weather is nice and warm", "i think the game was fun"],
}


def train(fasttext, path: Path, **options) -> Path:
    """A small supervised model trained on TRAIN (a few epochs: well under a second).

    thread=12, not 1: fasttext 0.9.3 (the PyPI sdist) fills only ``thread`` tenths of the
    input matrix with its random start and leaves the rest as uninitialized memory, so with
    fewer than 11 threads training fails ("Encountered NaN") or trains on garbage. More threads
    make training nondeterministic, which these tests do not need: they compare the scorer with
    fastText's predictions of the same model file.
    """
    data = path.with_suffix(".train.txt")
    lines = [f"{LABEL_PREFIX}{label} {text}" for label, texts in TRAIN.items() for text in texts]
    data.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")
    settings = dict(thread=12, seed=1, epoch=10, dim=16, wordNgrams=2, bucket=2000, minCount=1, verbose=0)
    settings.update(options)
    fasttext.train_supervised(str(data), **settings).save_model(str(path))
    return path


@pytest.fixture(scope="module")
def fasttext():
    from tests.io.moto_s3 import require

    return require("fasttext")  # CI installs the extra: there it must be importable


@pytest.fixture(scope="module")
def trained(fasttext, tmp_path_factory) -> Path:
    return train(fasttext, tmp_path_factory.mktemp("fasttext") / "model.bin")


def reference(fasttext, path: Path, texts: list[str | None], label: str) -> np.ndarray:
    """fastText's probability of ``label`` for each text, one low-level predict call per text.

    The one-text ``f.predict`` (what ``model.predict(str)`` calls before its ``np.array(...,
    copy=False)``, which numpy 2 refuses); newlines as spaces, as the scorer does.
    """
    model = fasttext.load_model(str(path))
    out = []
    for text in texts:
        if text is None:
            out.append(np.nan)
            continue
        line = text.replace("\n", " ").replace("\r", " ") + "\n"
        out.append(dict((name, p) for p, name in model.f.predict(line, -1, 0.0, "strict")).get(label, 0.0))
    return np.array(out, dtype=np.float64)


TEXTS = ["a careful analysis of the results", "click here to buy cheap pills", "the cat sat in the sun",
         "", "   ", "words the model never saw", "proof\nof the\r\ntheorem", "free free free money", "ünïcödé 文字"]


def scorer(path: Path, label: str = "__label__hq", **options) -> FastTextScorer:
    return FastTextScorer(ScorerSpec.parse(f"{SCORER_PREFIX}{path}", label), **options)


# -- the spec --------------------------------------------------------------------------------


def test_parse():
    assert ScorerSpec.parse("fasttext:models/q.bin", "__label__hq") == ScorerSpec("models/q.bin", "__label__hq")
    assert ScorerSpec.parse("fasttext:/a/b c.ftz", "hq") == ScorerSpec("/a/b c.ftz", "hq")  # bare: resolved on load
    assert ScorerSpec.parse("fasttext:fasttext:x", "hq").path == "fasttext:x"  # only the first prefix is the kind


@pytest.mark.parametrize("spec, label, needle", [
    ("model.bin", "hq", "expected fasttext:MODEL.bin"),
    ("FastText:model.bin", "hq", "expected fasttext:MODEL.bin"),
    ("kenlm:model.bin", "hq", "expected fasttext:MODEL.bin"),
    ("", "hq", "expected fasttext:MODEL.bin"),
    ("fasttext:", "hq", "the model path is empty"),
    ("fasttext:   ", "hq", "the model path is empty"),
    ("fasttext:model.bin", None, "needs --scorer-label"),
    ("fasttext:model.bin", "", "needs --scorer-label"),
    ("fasttext:model.bin", "  ", "needs --scorer-label"),
    ("fasttext:model.bin", "__label__a b", "no whitespace"),
    ("fasttext:model.bin", " hq", "no whitespace"),
])
def test_parse_errors(spec, label, needle):
    with pytest.raises(UsageError, match=needle) as e:
        ScorerSpec.parse(spec, label)
    assert "\n" not in str(e.value)


def test_batch_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        FastTextScorer(ScorerSpec(str(tmp_path / "m.bin"), "hq"), batch_size=0)


# -- without fastText ------------------------------------------------------------------------


def test_fasttext_not_installed(monkeypatch, tiny):
    monkeypatch.setitem(sys.modules, "fasttext", None)  # `import fasttext` raises ModuleNotFoundError
    s = scorer(tiny[0])
    for call in (s.load, lambda: s.score(pa.array(["x"]))):
        with pytest.raises(UsageError) as e:
            call()
        assert str(e.value) == MISSING_EXTRA == "--scorer fasttext: needs the fasttext extra: pip install 'dsir[fasttext]'"
    assert len(s.fingerprint) == 64  # the fingerprint does not need fastText


def test_fingerprint(tmp_path, tiny):
    path = tiny[0]
    a = scorer(path, "__label__hq")
    assert a.fingerprint == scorer(path, "__label__hq").fingerprint == a.fingerprint
    assert len(a.fingerprint) == 64 and int(a.fingerprint, 16) >= 0
    assert scorer(path, "__label__lq").fingerprint != a.fingerprint  # the label
    assert scorer(path, "hq").fingerprint != a.fingerprint  # the label as given (conservative)
    copy = tmp_path / "copy.bin"
    copy.write_bytes(path.read_bytes())
    assert scorer(copy).fingerprint == a.fingerprint  # the bytes, not the path
    changed = bytearray(path.read_bytes())
    changed[-1] ^= 1  # one bit of the output matrix
    other = tmp_path / "other.bin"
    other.write_bytes(bytes(changed))
    assert scorer(other).fingerprint != a.fingerprint
    assert pickle.loads(pickle.dumps(a)).fingerprint == a.fingerprint
    with pytest.raises(InputError, match="no such fastText model file") as e:
        _ = scorer(tmp_path / "missing.bin").fingerprint
    assert str(tmp_path / "missing.bin") in str(e.value)
    with pytest.raises(InputError, match="a directory"):
        _ = scorer(tmp_path).fingerprint


def test_label_probability():
    labels = [["a", "b", "c"], ["c", "a"], [], ["b"], ["c", "b", "a"]]
    probs = [np.array(p, dtype=np.float32) for p in ([0.5, 0.3, 0.2], [0.9, 0.1], [], [1.0], [0.6, 0.25, 0.125])]
    got = _label_probability(labels, probs, "a")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [0.5, np.float32(0.1), 0.0, 0.0, 0.125])  # 0.0 where "a" is not predicted
    assert _label_probability([[], []], [np.empty(0, np.float32)] * 2, "a").tolist() == [0.0, 0.0]
    assert _label_probability([], [], "a").shape == (0,)


# -- the model file's layout (no fastText needed) --------------------------------------------


def test_layout_of_written_model(tiny):
    assert _check_model_file(str(tiny[0])) == (3, len(LABELS))


def test_every_truncation_is_an_input_error(tmp_path, tiny):
    data = tiny[0].read_bytes()
    cut = tmp_path / "cut.bin"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(InputError) as e:
            _check_model_file(str(cut))
        assert str(cut) in str(e.value), n


@pytest.mark.parametrize("content, needle", [
    (b"", "not a fastText model file (0 bytes)"),
    (b"__label__hq some training text\n" * 3, "no fastText magic number"),
    (struct.pack("<ii", 793712314, 13) + bytes(100), "file format 13, newer than fastText reads (12)"),
    (struct.pack("<ii", 793712314, 12) + bytes(20), "ends inside the model's arguments"),
])
def test_not_a_model(tmp_path, content, needle):
    path = tmp_path / "not-a-model.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
        _check_model_file(str(path))
    assert str(e.value).startswith(f"{path}: ")


def test_inconsistent_dictionary(tmp_path, tiny):
    data = bytearray(tiny[0].read_bytes())
    struct.pack_into("<i", data, 8 + 56, 99)  # the dictionary's size, not words + labels
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="a dictionary of 99 entries"):
        _check_model_file(str(path))


# -- scores ----------------------------------------------------------------------------------


def test_scores_are_what_fasttext_computes(fasttext, tiny):
    path, inputs, outputs = tiny
    texts = ["good science", "spam click click", "", "unknown words only", "good\nspam", "science\r\nclick"]
    for i, label in enumerate(LABELS):
        got = scorer(path, label).score(pa.array(texts))
        want = [expected_probabilities(t.replace("\n", " ").replace("\r", " "), WORDS, inputs, outputs)[i]
                for t in texts]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        np.testing.assert_allclose(got, reference(fasttext, path, texts, label), rtol=0, atol=1e-6)


def test_label_left_out_of_the_predictions_scores_zero(fasttext, tmp_path):
    # no </s> in the dictionary: a line of unknown words has no input, and fastText predicts nothing
    words = ["good", "spam"]
    inputs, outputs = _weights(len(words), len(LABELS))
    path = write_model(tmp_path / "no-eos.bin", words, LABELS, inputs, outputs)
    got = scorer(path).score(pa.array(["nothing known", "", "good"]))
    assert got[:2].tolist() == [0.0, 0.0] and 0 < got[2] < 1.0001


def test_scores_agree_with_fasttext(fasttext, trained):
    for label in ("__label__hq", "__label__lq", "__label__mid"):
        s = scorer(trained, label)
        got = s.score(pa.array(TEXTS))
        assert got.dtype == np.float64 and got.shape == (len(TEXTS),)
        np.testing.assert_allclose(got, reference(fasttext, trained, TEXTS, label), rtol=0, atol=1e-6)
    hq = scorer(trained, "hq").score(pa.array(TEXTS))
    lq = scorer(trained, "lq").score(pa.array(TEXTS))
    assert hq[0] > lq[0] and lq[1] > hq[1]  # the model learned something


def test_labels_sum_to_one(fasttext, trained):
    total = sum(scorer(trained, label).score(pa.array(TEXTS)) for label in ("hq", "lq", "mid"))
    np.testing.assert_allclose(total, 1 + 3e-5, atol=1e-5)  # softmax, plus fastText's 1e-5 per label


def test_nulls_are_nan(fasttext, trained):
    texts = [None, "click here now", None, "a careful analysis", None]
    got = scorer(trained).score(pa.array(texts))
    assert np.isnan(got[[0, 2, 4]]).all() and not np.isnan(got[[1, 3]]).any()
    np.testing.assert_array_equal(got[[1, 3]], scorer(trained).score(pa.array([texts[1], texts[3]])))
    assert np.isnan(scorer(trained).score(pa.array([None, None], type=pa.string()))).all()
    assert np.isnan(scorer(trained).score(pa.nulls(3))).all()


def test_newlines_score_as_spaces(fasttext, trained):
    s = scorer(trained)
    with_newlines = s.score(pa.array(["click here\nto buy\n\ncheap pills\r\nnow\n", "\n", "\r"]))
    with_spaces = s.score(pa.array(["click here to buy  cheap pills  now ", " ", " "]))
    np.testing.assert_array_equal(with_newlines, with_spaces)
    # without the replacement fastText would read only "click here" (up to the first newline)
    assert with_newlines[0] != s.score(pa.array(["click here"]))[0]


def test_empty_array(fasttext, trained):
    for empty in (pa.array([], type=pa.string()), pa.array([], type=pa.large_string()),
                  pa.chunked_array([], type=pa.string())):
        got = scorer(trained).score(empty)
        assert got.dtype == np.float64 and got.shape == (0,)


def test_batches_equal_one_at_a_time(fasttext, trained):
    rng = np.random.default_rng(0)
    vocabulary = " ".join(t for texts in TRAIN.values() for t in texts).split() + ["unseen", "\n"]
    texts = [None if rng.random() < 0.1 else " ".join(rng.choice(vocabulary, size=rng.integers(0, 30)))
             for _ in range(500)]
    array = pa.array(texts)
    whole = scorer(trained).score(array)
    np.testing.assert_array_equal(whole, scorer(trained, batch_size=7).score(array))
    np.testing.assert_array_equal(whole, scorer(trained, batch_size=1).score(array))
    one = scorer(trained)
    alone = np.concatenate([one.score(array.slice(i, 1)) for i in range(len(texts))])
    np.testing.assert_array_equal(whole, alone)
    np.testing.assert_allclose(whole, reference(fasttext, trained, texts, "__label__hq"), rtol=0, atol=1e-6)


def test_array_types_and_slices(fasttext, trained):
    s = scorer(trained)
    want = s.score(pa.array(TEXTS))
    for kind in (pa.large_string(), pa.string_view()):
        np.testing.assert_array_equal(s.score(pa.array(TEXTS, type=kind)), want)
    chunked = pa.chunked_array([TEXTS[:4], TEXTS[4:5], [], TEXTS[5:]])
    np.testing.assert_array_equal(s.score(chunked), want)
    padded = pa.array([None, "x"] + TEXTS + ["y"]).slice(2, len(TEXTS))  # an offset into the buffers
    np.testing.assert_array_equal(s.score(padded), want)


def test_not_strings(fasttext, trained):
    s = scorer(trained)
    with pytest.raises(TypeError, match="string array"):
        s.score(pa.array([1, 2]))
    with pytest.raises(TypeError, match="string array"):
        s.score(pa.array([b"x"]))
    with pytest.raises(TypeError, match="string array"):
        s.score(["a list"])


def test_quantized_model(fasttext, trained, tmp_path):
    model = fasttext.load_model(str(trained))
    model.quantize(qnorm=True, cutoff=0, retrain=False)
    path = tmp_path / "model.ftz"
    model.save_model(str(path))
    assert _check_model_file(str(path)) == (3, 3)
    got = scorer(path).score(pa.array(TEXTS))
    np.testing.assert_allclose(got, reference(fasttext, path, TEXTS, "__label__hq"), rtol=0, atol=1e-6)


# -- labels ----------------------------------------------------------------------------------


def test_bare_label(fasttext, trained):
    bare, full = scorer(trained, "lq"), scorer(trained, "__label__lq")
    assert bare.label == full.label == "__label__lq"
    np.testing.assert_array_equal(bare.score(pa.array(TEXTS)), full.score(pa.array(TEXTS)))


def test_exact_label_first(fasttext, tmp_path):
    # a model whose labels have another prefix: "hq" is a label itself, "__label__hq" is too
    labels = ["hq", "__label__hq", "__class__lq"]
    inputs, outputs = _weights(len(WORDS), len(labels))
    path = write_model(tmp_path / "m.bin", WORDS, labels, inputs, outputs)
    assert scorer(path, "hq").label == "hq"
    assert scorer(path, "__label__hq").label == "__label__hq"
    assert scorer(path, "__class__lq").label == "__class__lq"
    with pytest.raises(UsageError, match="'lq' is not a label"):
        scorer(path, "lq").load()  # only fastText's default prefix is added


def test_unknown_label(fasttext, trained, tmp_path):
    with pytest.raises(UsageError) as e:
        scorer(trained, "__label__spam").load()
    message = str(e.value)
    assert "'__label__spam' is not a label of the fastText model" in message and str(trained) in message
    assert all(label in message for label in ("__label__hq", "__label__lq", "__label__mid"))
    assert "more" not in message and "\n" not in message
    labels = [f"__label__c{i:02d}" for i in range(25)]
    inputs, outputs = _weights(len(WORDS), len(labels))
    many = write_model(tmp_path / "many.bin", WORDS, labels, inputs, outputs)
    with pytest.raises(UsageError) as e:
        scorer(many, "nope").load()
    assert ", ".join(labels[:10]) + " (and 15 more)" in str(e.value) and labels[10] not in str(e.value)


# -- errors of load --------------------------------------------------------------------------


def test_missing_file(fasttext, tmp_path):
    path = tmp_path / "missing.bin"
    s = scorer(path)
    with pytest.raises(InputError) as e:
        s.load()
    assert str(e.value) == f"{path}: no such fastText model file" and e.value.path == str(path)
    with pytest.raises(InputError):
        s.score(pa.array(["x"]))
    with pytest.raises(InputError, match="a directory"):
        scorer(tmp_path).load()


def test_not_a_model_file(fasttext, tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("__label__hq some text\n" * 10)
    with pytest.raises(InputError) as e:
        scorer(path).load()
    assert e.value.path == str(path) and "not a fastText model file" in str(e.value)


def test_truncated_model(fasttext, trained, tmp_path):
    data = trained.read_bytes()
    cut = tmp_path / "cut.bin"
    # fastText itself loads some of these as garbage and loops forever on others
    for n in sorted({9, 40, 64, 70, 100, 500, 1000, len(data) // 2, len(data) - 4, len(data) - 1}):
        cut.write_bytes(data[:n])
        with pytest.raises(InputError, match="truncated") as e:
            scorer(cut).load()
        assert e.value.path == str(cut)


def test_word_vector_model(fasttext, tmp_path):
    inputs, outputs = _weights(len(WORDS), len(WORDS))
    written = write_model(tmp_path / "sg.bin", WORDS, [], inputs, outputs, model=2)
    with pytest.raises(UsageError, match="a fastText skipgram word-vector model, not a supervised classifier"):
        scorer(written).load()
    data = tmp_path / "text.txt"
    data.write_text("one two three four five six\n" * 20)
    trained = tmp_path / "cbow.bin"
    fasttext.train_unsupervised(str(data), model="cbow", dim=4, epoch=1, minCount=1, bucket=100,
                                thread=12, verbose=0).save_model(str(trained))
    with pytest.raises(UsageError, match="cbow word-vector model, not a supervised classifier"):
        scorer(trained).load()


def test_supervised_without_labels(fasttext, tmp_path):
    inputs, outputs = _weights(len(WORDS), 0)
    path = write_model(tmp_path / "nolabels.bin", WORDS, [], inputs, outputs)
    with pytest.raises(UsageError, match="has no labels"):
        scorer(path).load()


# -- pickling, loading once ------------------------------------------------------------------


def test_pickle_round_trip(fasttext, trained):
    s = scorer(trained, "hq")
    want = s.score(pa.array(TEXTS))
    assert s.loaded
    fingerprint = s.fingerprint
    data = pickle.dumps(s)
    assert len(data) < 2000  # the spec and the fingerprint; not the model
    again = pickle.loads(data)
    assert not again.loaded and again.spec == s.spec and again.fingerprint == fingerprint
    np.testing.assert_array_equal(again.score(pa.array(TEXTS)), want)
    assert again.loaded and again.label == "__label__hq"
    assert s.loaded  # pickling does not unload the original


def test_loads_once(fasttext, trained, monkeypatch):
    calls = []
    real = fasttext.load_model
    monkeypatch.setattr(fasttext, "load_model", lambda path: calls.append(path) or real(path))
    s = scorer(trained)
    s.load()
    s.load()
    s.score(pa.array(TEXTS))
    assert calls == [str(trained)]


def test_load_warning_is_silenced(fasttext, trained, monkeypatch, capfd):
    # fasttext 0.9.2 prints "Warning : `load_model` does not return WordVectorModel ..." on load
    module = fasttext.FastText
    noisy = lambda *args, **kwargs: print(*args, file=sys.stderr, **kwargs)  # noqa: E731
    monkeypatch.setattr(module, "eprint", noisy, raising=False)
    real = fasttext.load_model

    def load_model(path):
        module.eprint("Warning : `load_model` does not return WordVectorModel or SupervisedModel any more")
        return real(path)

    monkeypatch.setattr(fasttext, "load_model", load_model)
    scorer(trained).load()
    assert capfd.readouterr().err == ""
    assert module.eprint is noisy  # restored after the load


class _RepeatsFirstProbability:
    """A binding whose multilinePredict repeats each text's first probability: fasttext-wheel 0.9.2 under numpy 2."""

    def __init__(self, f):
        self._f = f
        self.batched_calls = 0

    def multilinePredict(self, lines, k, threshold, errors):  # noqa: N802 (the binding's name)
        self.batched_calls += 1
        labels, probs = self._f.multilinePredict(lines, k, threshold, errors)
        return labels, [np.full_like(p, p[0]) if len(p) else p for p in probs]

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_wrong_batched_binding_falls_back(fasttext, trained, monkeypatch):
    real = fasttext.load_model

    def load_model(path):
        model = real(path)
        model.f = _RepeatsFirstProbability(model.f)
        return model

    monkeypatch.setattr(fasttext, "load_model", load_model)
    s = scorer(trained, "mid")
    got = s.score(pa.array(TEXTS))
    assert s._batched is False and s._model.f.batched_calls == 1  # the probe only
    np.testing.assert_allclose(got, reference(fasttext, trained, TEXTS, "__label__mid"), rtol=0, atol=1e-6)


def test_right_binding_is_batched(fasttext, trained):
    s = scorer(trained)
    s.load()
    assert s._batched is True
