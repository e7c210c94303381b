"""The featurizer is pinned to Unicode 14.0.0 (Python 3.11's ``re`` and ``str.lower``) on
every Python: its tables ship with dsir and are never derived from the running interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from dsir.featurize import HashedNgramFeaturizer, kernels
from dsir.featurize import make_unicode_tables as make
from dsir.featurize.hashed_ngrams import arrow_buffers
from dsir.featurize import unicode_tables as ut
from tests.featurize import reference as R

THIS_PYTHON_IS_THE_REFERENCE = unicodedata.unidata_version == ut.UNICODE_VERSION


def ids_of(texts: list[str], tables: ut.UnicodeTables | None = None, ngrams: int = 2, buckets: int = 10_000):
    """Bucket ids per text, with the featurizer's tables or with ``tables``."""
    if tables is None:
        indptr, ids = HashedNgramFeaturizer(ngrams, buckets).buckets_of(pa.array(texts))
    else:
        data, offsets = arrow_buffers(pa.array(texts))  # the featurizer's own argument types
        indptr = np.empty(len(texts) + 1, dtype=np.int64)
        ids = np.empty(ngrams * 3 * len(data) + 1, dtype=np.int64)
        kernels.emit_batch(data, offsets, ngrams, buckets, tables.lower, tables.flags, tables.expansions, indptr, ids)
    return [ids[indptr[d]:indptr[d + 1]].tolist() for d in range(len(texts))]


def test_the_featurizer_records_the_pinned_unicode_version():
    assert ut.UNICODE_VERSION == "14.0.0"
    assert ut.TABLES_FILE.name == "unicode-14.0.0.npz" and ut.TABLES_FILE.is_file()
    assert ut.unicode_tables().unicode_version == "14.0.0"
    assert HashedNgramFeaturizer(2, 10_000).params == {
        "name": "hashed-ngrams-v1", "ngrams": 2, "buckets": 10_000, "unicode_version": "14.0.0"}


@pytest.mark.skipif(not THIS_PYTHON_IS_THE_REFERENCE,
                    reason=f"this Python has Unicode {unicodedata.unidata_version}, not {ut.UNICODE_VERSION}: "
                           "its str methods legitimately give other tables")
def test_the_shipped_tables_are_this_pythons_derivation_byte_for_byte():
    derived, shipped = make.derive(), ut.unicode_tables()
    np.testing.assert_array_equal(shipped.lower, derived.lower)
    np.testing.assert_array_equal(shipped.flags, derived.flags)
    np.testing.assert_array_equal(shipped.expansions, derived.expansions)
    assert shipped.unicode_version == derived.unicode_version == "14.0.0"
    assert ut.TABLES_FILE.read_bytes() == make.file_bytes(derived)  # regenerating changes nothing


def test_the_file_format_round_trips_and_loads_fast(tmp_path):
    tables = ut.unicode_tables()
    path = tmp_path / "t.npz"
    path.write_bytes(make.file_bytes(tables))
    again = ut.load_tables(path)
    for name in ("lower", "flags", "expansions"):
        a, b = getattr(again, name), getattr(tables, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous and a.flags.writeable
        np.testing.assert_array_equal(a, b)
    assert ut.TABLES_FILE.stat().st_size < 64_000
    import timeit
    assert min(timeit.repeat(ut.load_tables, number=1, repeat=5)) < 0.05  # about 1 ms here


def test_featurizing_never_consults_the_running_interpreters_unicode():
    """A fresh process where ``unicodedata`` claims Unicode 15.0.0 and the derivation cannot
    run (as if the tables were wrong for this Python) featurizes exactly as this one does."""
    code = r"""
import json, sys, unicodedata
unicodedata.unidata_version = "15.0.0"  # what Python 3.12 reports
sys.modules["dsir.featurize.make_unicode_tables"] = None  # importing the derivation fails
import pyarrow as pa
from dsir.featurize import HashedNgramFeaturizer
f = HashedNgramFeaturizer(2, 10_000)
indptr, ids = f.buckets_of(pa.array(sys.argv[1:]))
print(json.dumps([ids.tolist(), indptr.tolist(), f.params["unicode_version"]]))
"""
    texts = ["a\U00011f04b", "A\u03a3\U0001e030b", "\u0130stanbul \u039f\u0394\u03a5\u03a3 caf\u00e9"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code, *texts], capture_output=True, text=True, check=True, env=env)
    ids, indptr, version = json.loads(out.stdout)
    assert [ids[indptr[d]:indptr[d + 1]] for d in range(len(texts))] == ids_of(texts)
    assert version == "14.0.0"


def _as_in_unicode_15(tables: ut.UnicodeTables) -> ut.UnicodeTables:
    """What deriving on Python 3.12 (Unicode 15.0.0) gives for two of its new blocks: Kawi
    letters are word characters, Cyrillic Extended-D modifier letters word characters that
    are both cased and case-ignorable (filed as case-ignorable, see ``derive``)."""
    flags = tables.flags.copy()
    flags[0x11F04:0x11F11] = ut.WORD  # KAWI LETTER A .. KAWI LETTER O
    flags[0x1E030:0x1E06E] = ut.WORD | ut.CASE_IGNORABLE  # MODIFIER LETTER CYRILLIC SMALL A ..
    return ut.UnicodeTables(tables.lower, flags, tables.expansions, "15.0.0")


def test_another_pythons_derivation_would_change_buckets_but_dsir_does_not():
    texts = ["a\U00011f04b", "A\u03a3\U0001e030b", "x\U0001e030 \U00011f05\U00011f06 y"]
    shipped = ut.unicode_tables()
    as_15 = ids_of(texts, _as_in_unicode_15(shipped))
    # Python 3.12's own definition, spelled out: one token each where 14.0 sees three.
    assert as_15[0] == [R.bucket("a\U00011f04b", 10_000)]
    assert as_15[1] == [R.bucket("a\u03c3\U0001e030b", 10_000)]
    pinned = ids_of(texts)
    assert pinned == ids_of(texts, shipped) == ids_of(texts, ut.load_tables())
    assert all(p != q for p, q in zip(pinned, as_15))


def test_code_points_new_in_unicode_15_get_the_14_treatment():
    """Kawi (U+11F00..) and Cyrillic Extended-D (U+1E030..) are new in Unicode 15.0; at 14.0
    they are unassigned: not word characters, not spaces, not cased, their own lowercase."""
    t = ut.unicode_tables()
    for cp in (0x11F04, 0x11F05, 0x1E030, 0x1E06D, 0x31350):  # 0x31350: CJK Extension H, also 15.0
        assert t.flags[cp] == 0 and t.lower[cp] == cp, hex(cp)
    texts = ["a\U00011f04b", "A\u03a3\U0001e030b", "x\U00031350 y"]
    # At 14.0 the new letter is a run of "other" characters between two words, and a capital
    # sigma before it is word-final (it is not case-ignorable, so the look-ahead stops there).
    tokens = [["a", "\U00011f04", "b"], ["a\u03c2", "\U0001e030", "b"], ["x", "\U00031350", "y"]]
    expected = [[8315, 2928, 1334, 6704, 5875], [6216, 5761, 7799, 6704, 3296], [7621, 9766, 1431, 1469, 9941]]
    assert ids_of(texts) == expected
    for toks, want in zip(tokens, expected):
        strings = [toks[0], toks[1], " ".join(toks[:2]), toks[2], " ".join(toks[1:])]
        assert [R.bucket(s, 10_000) for s in strings] == want
    _, n_tokens = HashedNgramFeaturizer(2, 10_000).count(pa.array(texts))
    assert n_tokens.tolist() == [3, 3, 3]
    if THIS_PYTHON_IS_THE_REFERENCE:
        assert [R.tokens(s) for s in texts] == tokens


def test_the_generator_refuses_a_python_of_another_unicode_version(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(make.unicodedata, "unidata_version", "15.0.0")
    monkeypatch.setattr(make, "derive", lambda: pytest.fail("derived on the wrong Python"))
    assert make.main(["--output", str(tmp_path / "t.npz")]) == 2
    assert "has Unicode 15.0.0; the featurizer is pinned to Unicode 14.0.0" in capsys.readouterr().err
    assert not (tmp_path / "t.npz").exists()
