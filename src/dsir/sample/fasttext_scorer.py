"""Document scores from a fastText classifier: the probability it gives one label, per text.

``--scorer fasttext:MODEL.bin --scorer-label __label__hq`` scores each document with a
supervised fastText model (``.bin``, or a quantized ``.ftz``): the score of a text is the
probability the model gives the label, as fastText's own ``predict(text, k=-1)`` reports it.
So it is what fastText computes: the softmax (or sigmoid, for ``-loss ova``; the tree path's
product, for ``-loss hs``) over the labels of the mean of the text's word and n-gram vectors,
with fastText's 1e-5 smoothing (a softmax prediction is ``exp(log(p + 1e-5))``, so a score
can be 1.00001), in float32, then given as float64. A label fastText leaves out of its
predictions (``-loss hs`` prunes the ones below about 1e-5; a text with no known word and a
model without ``</s>`` has none) scores 0.0; a null text is NaN.

fastText reads one line per prediction and stops at the first newline, so every ``\\n`` and
``\\r`` of a text is replaced by a space first (with Arrow, over the whole batch): a
document scores as the one line of all its words.

The model is loaded lazily (:meth:`FastTextScorer.load`, or the first :meth:`~FastTextScorer.score`)
and is not part of the object's pickled state, so a scorer travels to worker processes (or
Ray tasks) as its spec and fingerprint, and each worker loads the model once.

fastText is an optional extra: ``pip install 'dsir[fasttext]'``. Nothing here imports it
until a model is loaded.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import InputError, UsageError

__all__ = ["SCORER_PREFIX", "LABEL_PREFIX", "DEFAULT_BATCH_SIZE", "ScorerSpec", "FastTextScorer"]

SCORER_PREFIX = "fasttext:"
# fastText's default label prefix: a bare --scorer-label hq means __label__hq when the
# model has that label (and no label "hq").
LABEL_PREFIX = "__label__"
# Texts per call into fastText: one call per batch, and a bounded list of Python strings.
DEFAULT_BATCH_SIZE = 4096

MISSING_EXTRA = "--scorer fasttext: needs the fasttext extra: pip install 'dsir[fasttext]'"
_LISTED_LABELS = 10
# Labels are decoded from the model's bytes; a model trained on bytes that are not UTF-8
# still scores (its labels compare as decoded with U+FFFD), instead of failing every batch.
_UNICODE_ERRORS = "replace"
# Versions what the fingerprint covers beyond the model's bytes and the label: the scoring
# rules above (newlines to spaces, 0.0 for a left-out label). Change it when they change.
_FINGERPRINT_TAG = b"dsir.fasttext_scorer/1\0"


@dataclass(frozen=True)
class ScorerSpec:
    """Which model scores, and which of its labels: ``--scorer fasttext:PATH --scorer-label LABEL``.

    ``label`` is kept as given; :meth:`FastTextScorer.load` resolves a bare ``hq`` to the
    model's ``__label__hq``.
    """

    path: str
    label: str

    @classmethod
    def parse(cls, spec: str, label: str | None) -> ScorerSpec:
        """The spec of ``--scorer SPEC --scorer-label LABEL``; UsageError (one line) if unusable.

        SPEC is ``fasttext:`` and a local path to the model; LABEL is one of the model's
        labels, with or without fastText's ``__label__`` prefix (checked against the model
        when it is loaded, not here).
        """
        if not isinstance(spec, str) or not spec.startswith(SCORER_PREFIX):
            raise UsageError(f"--scorer {spec!r}: expected {SCORER_PREFIX}MODEL.bin (a fastText classifier)")
        path = spec[len(SCORER_PREFIX):]
        if not path.strip():
            raise UsageError(f"--scorer {spec!r}: the model path is empty: expected {SCORER_PREFIX}MODEL.bin")
        if label is None or not label.strip():
            raise UsageError(f"--scorer {spec} needs --scorer-label: the model's label to score (e.g. __label__hq)")
        if label != label.strip() or any(c.isspace() for c in label):
            raise UsageError(f"--scorer-label {label!r}: a fastText label has no whitespace")
        return cls(path=path, label=label)


class FastTextScorer:
    """Scores texts with a fastText classifier: the probability of one label (see the module doc).

    ``spec`` says the model and the label; ``batch_size`` is how many texts go to fastText
    per call. The model is loaded on the first :meth:`score` (or by :meth:`load`, to see
    its errors early) and dropped from the pickled state.
    """

    def __init__(self, spec: ScorerSpec, *, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.spec = spec
        self.batch_size = int(batch_size)
        self._fingerprint: str | None = None
        self._model: Any = None  # fasttext's model object, once loaded
        self._label: str | None = None  # the model's label that spec.label names
        self._batched = True  # whether the binding's multilinePredict is right (see _batched_predict_is_right)

    def __repr__(self) -> str:
        return f"FastTextScorer({self.spec.path!r}, label={self.spec.label!r})"

    # -- pickling: the spec and the fingerprint travel, the model does not ------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_model=None, _label=None, _batched=True)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- loading -----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded in this process."""
        return self._model is not None

    def load(self) -> None:
        """Load the model (once per process) and resolve the label; a no-op when loaded.

        UsageError: fastText is not installed; the model is not a supervised classifier; the
        label is not one of the model's (the message lists up to 10 of them).
        InputError (naming the path): no such file, or not a complete fastText model file.
        """
        if self._model is not None:
            return
        fasttext = _import_fasttext()
        path = self.spec.path
        # fastText reads a model without checking for the file's end: on a truncated file
        # it loads garbage or loops forever. So the layout is checked first, in Python.
        model_kind, nlabels = _check_model_file(path)
        if model_kind != _SUPERVISED:
            kind = _MODEL_KINDS.get(model_kind, f"unknown kind {model_kind}")
            raise UsageError(f"--scorer {SCORER_PREFIX}{path}: a fastText {kind} model, not a supervised "
                             "classifier: it has no labels to score")
        if nlabels == 0:
            raise UsageError(f"--scorer {SCORER_PREFIX}{path}: the fastText model has no labels to score")
        model = _load_quietly(fasttext, path)
        labels = list(model.f.getLabels(_UNICODE_ERRORS)[0])
        if not labels:
            raise UsageError(f"--scorer {SCORER_PREFIX}{path}: the fastText model has no labels to score")
        label = _resolve_label(self.spec.label, labels, path)
        self._batched = _batched_predict_is_right(model.f)
        self._model, self._label = model, label

    @property
    def label(self) -> str:
        """The model's label that is scored (``spec.label``, resolved: ``hq`` may be ``__label__hq``); loads."""
        self.load()
        assert self._label is not None
        return self._label

    @property
    def fingerprint(self) -> str:
        """What shapes the scores, as a hex sha256: of the model file's bytes, and the label.

        The label as given (``hq`` and ``__label__hq`` fingerprint apart even where they
        name the same label: a resumed run then scores again, never reuses wrongly). Reads
        the whole file once per object (cached, and pickled with it); does not need fastText.
        InputError (naming the path) if the file cannot be read.
        """
        if self._fingerprint is None:
            path = self.spec.path
            try:
                with open(path, "rb") as f:
                    file_digest = hashlib.file_digest(f, "sha256").digest()
            except FileNotFoundError:
                raise InputError("no such fastText model file", path=path) from None
            except IsADirectoryError:
                raise InputError("a directory, not a fastText model file", path=path) from None
            except OSError as e:
                raise InputError(f"cannot read the fastText model: {e.strerror or e}", path=path) from None
            h = hashlib.sha256(_FINGERPRINT_TAG)
            h.update(file_digest)
            h.update(self.spec.label.encode("utf-8"))
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    # -- scoring -----------------------------------------------------------------------------

    def score(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The label's probability for each text, as float64 (NaN for a null text); loads the model.

        ``texts``: an Arrow string, large_string or string_view array (or a chunked one); a
        null-typed array scores all NaN. The result has one entry per text, in order.
        """
        if isinstance(texts, pa.ChunkedArray):
            self.load()
            parts = [self.score(chunk) for chunk in texts.chunks]
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
        if not isinstance(texts, pa.Array):
            raise TypeError(f"score() takes an Arrow string array, not {type(texts).__name__}")
        kind = texts.type
        if not (pa.types.is_null(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_string_view(kind)):
            raise TypeError(f"score() takes an Arrow string array, not one of {kind}")
        self.load()
        out = np.full(len(texts), np.nan, dtype=np.float64)
        if pa.types.is_null(kind):
            return out
        for start in range(0, len(texts), self.batch_size):
            batch = texts.slice(start, self.batch_size)
            if batch.null_count == len(batch):
                continue
            lines = _one_line_each(batch)
            scores = self._predict(lines)
            if batch.null_count:
                valid = batch.is_valid().to_numpy(zero_copy_only=False)
                out[start:start + len(batch)][valid] = scores
            else:
                out[start:start + len(batch)] = scores
        return out

    def _predict(self, lines: list[str]) -> np.ndarray:
        """The label's probability for each line (each ending in its one ``\\n``), float64."""
        f, label = self._model.f, self._label
        if self._batched:
            labels, probs = f.multilinePredict(lines, -1, 0.0, _UNICODE_ERRORS)
            return _label_probability(labels, probs, label)
        # a binding whose multilinePredict is wrong: one call per text, no numpy arrays
        out = np.zeros(len(lines), dtype=np.float64)
        for i, line in enumerate(lines):
            for prob, name in f.predict(line, -1, 0.0, _UNICODE_ERRORS):
                if name == label:
                    out[i] = prob
                    break
        return out


# -- the parts -------------------------------------------------------------------------------


def _import_fasttext() -> Any:
    """The fasttext module; UsageError if it is not installed (or does not import)."""
    try:
        import fasttext
    except ModuleNotFoundError as e:
        if e.name in ("fasttext", "fasttext_pybind"):
            raise UsageError(MISSING_EXTRA) from None
        raise UsageError(f"--scorer fasttext: the fasttext package does not import: {e}") from None
    except ImportError as e:
        raise UsageError(f"--scorer fasttext: the fasttext package does not import: {e}") from None
    return fasttext


def _load_quietly(fasttext: Any, path: str) -> Any:
    """``fasttext.load_model(path)`` without its stderr warning (0.9.2 prints one); InputError if it fails."""
    module = getattr(fasttext, "FastText", None)
    eprint = getattr(module, "eprint", None)
    if eprint is not None:
        module.eprint = lambda *args, **kwargs: None
    try:
        return fasttext.load_model(path)
    except (ValueError, RuntimeError, MemoryError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"fastText cannot load the model: {message}", path=path) from None
    finally:
        if eprint is not None:
            module.eprint = eprint


def _resolve_label(label: str, labels: list[str], path: str) -> str:
    """The model's label that ``label`` names: itself, or ``__label__`` + it; UsageError if neither."""
    if label in labels:
        return label
    if not label.startswith(LABEL_PREFIX) and LABEL_PREFIX + label in labels:
        return LABEL_PREFIX + label
    shown = ", ".join(labels[:_LISTED_LABELS])
    more = f" (and {len(labels) - _LISTED_LABELS} more)" if len(labels) > _LISTED_LABELS else ""
    raise UsageError(f"--scorer-label {label!r} is not a label of the fastText model {path}; "
                     f"its labels: {shown}{more}")


def _batched_predict_is_right(f: Any) -> bool:
    """Whether the binding's ``multilinePredict`` gives what its one-text ``predict`` gives.

    fasttext-wheel 0.9.2 (built with a pybind11 older than numpy 2) returns arrays that repeat
    the first probability under numpy 2: silently wrong scores. The one-text ``predict``
    returns Python floats, right with any numpy; so a model whose labels' probabilities differ
    on an empty line shows the fault, and the scorer then calls ``predict`` once per text.
    """
    probe = "\n"
    labels, probs = f.multilinePredict([probe], -1, 0.0, _UNICODE_ERRORS)
    pairs = f.predict(probe, -1, 0.0, _UNICODE_ERRORS)
    batched = dict(zip(labels[0], np.asarray(probs[0], dtype=np.float64).tolist()))
    single = {name: float(prob) for prob, name in pairs}
    return batched.keys() == single.keys() and all(abs(batched[k] - single[k]) <= 1e-6 for k in single)


def _one_line_each(texts: pa.Array) -> list[str]:
    """The non-null texts as fastText lines: ``\\n`` and ``\\r`` made spaces, then one ``\\n`` at the end."""
    if pa.types.is_string_view(texts.type):  # replace_substring has no string_view kernel
        texts = texts.cast(pa.large_string())
    texts = pc.replace_substring(texts, "\n", " ")
    texts = pc.replace_substring(texts, "\r", " ")
    if texts.null_count:
        texts = pc.drop_null(texts)
    texts = pc.binary_join_element_wise(texts, pa.scalar("", texts.type), pa.scalar("\n", texts.type))
    return texts.to_pylist()


def _label_probability(labels: list[list[str]], probs: list[Any], label: str) -> np.ndarray:
    """Per text, the probability of ``label`` among that text's predicted (label, probability) pairs; 0.0 if absent.

    ``labels`` and ``probs``: what ``multilinePredict`` returns, one list of labels and one
    array of probabilities per text.
    """
    n = len(labels)
    out = np.zeros(n, dtype=np.float64)
    counts = np.fromiter(map(len, labels), dtype=np.intp, count=n)
    total = int(counts.sum())
    if total == 0:
        return out
    names = np.fromiter(chain.from_iterable(labels), dtype=object, count=total)
    values = np.concatenate(probs).astype(np.float64, copy=False)
    hit = names == label
    rows = np.repeat(np.arange(n), counts)
    out[rows[hit]] = values[hit]
    return out


# -- the model file's layout -------------------------------------------------------------------
#
# What fastText's saveModel writes (src/fasttext.cc, 0.9.x; little-endian): magic, version;
# the Args (12 int32 and a double); the Dictionary (counts, then per entry its bytes, a NUL,
# an int64 count and an int8 type; then the prune index); a bool (quantized input) and the
# input matrix; a bool (quantized output) and the output matrix. A dense matrix is int64 m,
# int64 n and m*n float32; a quantized one is a bool (qnorm), int64 m, int64 n, int32
# codesize, the codes, a product quantizer (4 int32 and dim*256 float32), and with qnorm,
# m norm codes and a second quantizer.

_MAGIC = 793712314
_NEWEST_VERSION = 12
_SUPERVISED = 3
_MODEL_KINDS = {1: "cbow word-vector", 2: "skipgram word-vector", 3: "supervised"}
_HEADER = struct.Struct("<ii")
_ARGS = struct.Struct("<12id")  # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate; t
_DICTIONARY = struct.Struct("<iiiqq")  # size nwords nlabels ntokens pruneidx_size
_DENSE = struct.Struct("<qq")  # m n
_QUANT = struct.Struct("<?qqi")  # qnorm m n codesize
_QUANTIZER = struct.Struct("<iiii")  # dim nsubq dsub lastdsub
_CENTROIDS_PER_DIM = 256  # ksub: 2 ** 8


class _Layout:
    """A cursor over the model file's bytes that says where the file ends too soon."""

    def __init__(self, data: mmap.mmap | bytes, path: str):
        self.data, self.pos, self.path = data, 0, path

    def bad(self, what: str) -> InputError:
        return InputError(f"not a fastText model file, or a truncated one ({what}, at byte {self.pos} "
                          f"of {len(self.data)})", path=self.path)

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self.bad(f"it ends inside {what}")
        self.pos += n

    def read(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        start = self.pos
        self.skip(layout.size, what)
        return layout.unpack_from(self.data, start)

    def matrix(self, quantized: bool, what: str) -> None:
        if not quantized:
            m, n = self.read(_DENSE, what)
            if m < 0 or n < 0:
                raise self.bad(f"{what} has {m} x {n} entries")
            self.skip(m * n * 4, what)
            return
        qnorm, m, n, codesize = self.read(_QUANT, what)
        if m < 0 or n < 0 or codesize < 0:
            raise self.bad(f"{what} has {m} x {n} entries, {codesize} codes")
        self.skip(codesize, what)
        self.quantizer(what)
        if qnorm:
            self.skip(m, what)
            self.quantizer(what)

    def quantizer(self, what: str) -> None:
        dim, _, _, _ = self.read(_QUANTIZER, what)
        if dim < 0:
            raise self.bad(f"{what}'s quantizer has dimension {dim}")
        self.skip(dim * _CENTROIDS_PER_DIM * 4, what)


def _check_model_file(path: str) -> tuple[int, int]:
    """(model kind, number of labels) of a complete fastText model file; InputError naming the path if not one.

    Walks the file's layout (without reading the matrices) so that fastText, which does not
    check for the end of the file, is only given complete ones.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such fastText model file", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read the fastText model: {e.strerror or e}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("a directory, not a fastText model file", path=path)
    if info.st_size < _HEADER.size:
        raise InputError(f"not a fastText model file ({info.st_size} bytes)", path=path)
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _walk(_Layout(data, path))
    except OSError as e:
        raise InputError(f"cannot read the fastText model: {e.strerror or e}", path=path) from None


def _walk(layout: _Layout) -> tuple[int, int]:
    magic, version = layout.read(_HEADER, "the header")
    if magic != _MAGIC:
        raise InputError("not a fastText model file (no fastText magic number at its start)", path=layout.path)
    if version > _NEWEST_VERSION:
        raise InputError(f"a fastText model of file format {version}, newer than fastText reads "
                         f"({_NEWEST_VERSION})", path=layout.path)
    model_kind = layout.read(_ARGS, "the model's arguments")[7]
    size, nwords, nlabels, _, pruned = layout.read(_DICTIONARY, "the dictionary")
    if nwords < 0 or nlabels < 0 or size != nwords + nlabels or pruned < -1:
        raise layout.bad(f"a dictionary of {size} entries: {nwords} words and {nlabels} labels")
    find, length, pos = layout.data.find, len(layout.data), layout.pos
    for _ in range(size):  # each entry: its bytes, a NUL, an int64 count, an int8 type
        end = find(b"\0", pos)
        if end < 0 or end + 10 > length:
            layout.pos = pos
            raise layout.bad("it ends inside the dictionary")
        pos = end + 10
    layout.pos = pos
    layout.skip(8 * max(pruned, 0), "the dictionary's prune index")
    (quantized_input,) = layout.read(struct.Struct("<?"), "the input matrix")
    layout.matrix(quantized_input, "the input matrix")
    (quantized_output,) = layout.read(struct.Struct("<?"), "the output matrix")
    layout.matrix(quantized_input and quantized_output, "the output matrix")
    return model_kind, nlabels
