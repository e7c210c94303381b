"""The hostile-input suite's cases: malformed and odd files, odd file systems, parameters at
their limits, and the output directory misused. Each builds its own inputs (a few KB) in a
fresh folder; ``test_hostile.py`` runs them and ``python -m tests.hostile.table`` prints the
README's "Bad input" table from what they actually said."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from tests.hostile.harness import Case, Refused, Selected
from tests.pipeline.make_data import documents

GOOD = [json.dumps({"text": t}) for t in documents(12, seed=1)]
TARGET = [json.dumps({"text": t}) for t in documents(5, seed=2)]
CASES: list[Case] = []


def case(name: str, expect, group: str = "") -> callable:
    def register(build):
        CASES.append(Case(name, build, expect, group))
        return build

    return register


def jsonl(d: Path, name: str, lines: list[str], end: bytes = b"\n", tail: bytes = b"") -> str:
    """Write ``lines`` joined by ``end`` (and ``end`` after the last), then ``tail`` bytes."""
    path = d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line.encode("utf-8", "surrogatepass") + end for line in lines) + tail)
    return str(path)


def target(d: Path) -> str:
    return jsonl(d, "target.jsonl", TARGET)


def select(d: Path, *raw: str, k: int | str = 3, extra: tuple[str, ...] = (), target_path: str | None = None,
           out: str = "out") -> list[str]:
    argv = ["select", "--quiet", "--no-report", "--workers", "1"]
    for r in raw:
        argv += ["--raw", r]
    argv += ["--target", target_path or target(d), "-k", str(k), "-o", str(d / out), *extra]
    return argv


def raw_table(texts: list) -> pa.Table:
    return pa.table({"text": pa.array(texts, pa.string()), "n": list(range(len(texts)))})


# ---------------------------------------------------------------------------------------
# Malformed records: each stops the run naming file and line, and under --on-error skip
# becomes one reject of that line (the other documents are selected as usual).
BAD_RECORDS = [
    ("trailing-comma", '{"text": "a b c",}', "malformed JSON: Expecting property name enclosed in double quotes"),
    ("unterminated-string", '{"text": "a b c', "malformed JSON: Unterminated string"),
    ("truncated-object", '{"text": "a b c"', "malformed JSON"),
    ("single-quotes", "{'text': 'a b c'}", "malformed JSON"),
    ("bare-word", "hello world", "malformed JSON"),
    ("not-an-object-list", '["text", "x"]', "expected a JSON object, got a list"),
    ("not-an-object-string", '"just a string"', "expected a JSON object, got a string"),
    ("not-an-object-number", "42", "expected a JSON object, got a number"),
    ("not-an-object-null", "null", "expected a JSON object, got null"),
    ("missing-text", '{"body": "no text here"}', "missing text field 'text'"),
    ("text-null", '{"text": null}', "text field 'text' is null, expected a string"),
    ("text-number", '{"text": 42}', "text field 'text' is a number, expected a string"),
    ("text-float", '{"text": 1.5}', "text field 'text' is a number, expected a string"),
    ("text-bool", '{"text": true}', "text field 'text' is a boolean, expected a string"),
    ("text-list", '{"text": ["a", "b"]}', "text field 'text' is a list, expected a string"),
    ("text-object", '{"text": {"a": 1}}', "text field 'text' is an object, expected a string"),
    ("two-records-one-line", '{"text": "a b"}{"text": "c d"}', "more than one JSON value on the line"),
    ("record-then-garbage", '{"text": "a b"} trailing', "more than one JSON value on the line"),
    ("lone-surrogate", '{"text": "bad \\ud800 here"}', "cannot parse the record: The surrogate pair in string is invalid"),
    ("duplicate-text-key", '{"text": "a b", "text": "c d"}', "cannot parse the record: Column(/text) was specified twice"),
    ("number-overflow", '{"text": "a b", "score": 1e400}', "cannot parse the record: Number too big to be stored in double"),
    ("deep-text", '{"text": ' + "[" * 1000 + "]" * 1000 + "}", "JSON nested too deeply to read"),
    ("raw-control-character", '{"text": "a\tb"}', "malformed JSON"),
]
BAD_LINE = 4  # the bad record is the file's 4th line


def _bad_record_cases() -> None:
    for name, line, why in BAD_RECORDS:
        lines = GOOD[:3] + [line] + GOOD[3:]

        @case(f"record/{name}/stop", Refused("{d}/raw.jsonl:4: " + why), "malformed records")
        def _stop(d, lines=lines):
            return select(d, jsonl(d, "raw.jsonl", lines))

        @case(f"record/{name}/skip", Selected(3, rejects=1, reject_lines=(BAD_LINE,)), "malformed records")
        def _skip(d, lines=lines):
            return select(d, jsonl(d, "raw.jsonl", lines), extra=("--on-error", "skip"))


_bad_record_cases()


@case("record/invalid-utf8/stop", Refused("{d}/raw.jsonl:4: invalid UTF-8 at byte"), "malformed records")
def _(d):
    path = jsonl(d, "raw.jsonl", GOOD[:3])
    with open(path, "ab") as fh:
        fh.write(b'{"text": "Caf\xe9"}\n' + "\n".join(GOOD[3:]).encode() + b"\n")
    return select(d, path)


@case("record/invalid-utf8/skip", Selected(3, rejects=1, reject_lines=(4,)), "malformed records")
def _(d):
    path = jsonl(d, "raw.jsonl", GOOD[:3])
    with open(path, "ab") as fh:
        fh.write(b'{"text": "Caf\xe9"}\n' + "\n".join(GOOD[3:]).encode() + b"\n")
    return select(d, path, extra=("--on-error", "skip"))


@case("record/bare-cr-separators/stop", Refused("{d}/raw.jsonl:1: more than one JSON value on the line"),
      "malformed records")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD, end=b"\r"))


@case("record/bad-target-line", Refused("{d}/target.jsonl:3: missing text field 'text'"), "malformed records")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), target_path=jsonl(d, "target.jsonl", TARGET[:2] + ['{"txt": 1}']))


@case("record/target-all-rejected-under-skip", Refused("no documents"), "malformed records")
def _(d):
    t = jsonl(d, "target.jsonl", ['{"body": "x"}'] * 4)
    return select(d, jsonl(d, "raw.jsonl", GOOD), target_path=t, extra=("--on-error", "skip"))


@case("record/bad-line-after-many", Refused("{d}/raw.jsonl:2501: malformed JSON"), "malformed records")
def _(d):
    many = [json.dumps({"text": f"doc {i} sail ship"}) for i in range(2500)]
    return select(d, jsonl(d, "raw.jsonl", many + ['{"text": '] + many[:5]))


# ---------------------------------------------------------------------------------------
# Odd but valid jsonl: read as documented.
@case("valid/no-final-newline", Selected(3), "odd but valid files")
def _(d):
    path = jsonl(d, "raw.jsonl", GOOD[:-1], tail=GOOD[-1].encode())
    return select(d, path)


@case("valid/crlf-line-ends", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD, end=b"\r\n"))


@case("valid/blank-and-space-lines", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD[:4] + ["", "   ", "\t"] + GOOD[4:]))


@case("valid/blank-lines-count-for-line-numbers", Refused("{d}/raw.jsonl:6: text field 'text' is a number"),
      "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD[:2] + ["", "   ", ""] + ['{"text": 1.5}'] + GOOD[2:]))


@case("valid/unicode-texts", Selected(3), "odd but valid files")
def _(d):
    texts = ["ship sail 🚢 wave", "مرحبا ship sail", "e\u0301te\u0301 harbour", "中文 anchor storm", "ÅNGSTRÖM deck"]
    return select(d, jsonl(d, "raw.jsonl", GOOD + [json.dumps({"text": t}, ensure_ascii=False) for t in texts]))


@case("valid/escaped-nul-and-controls", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + [json.dumps({"text": "a\u0000b ship\u0007 sail\u001b"})]))


@case("valid/empty-texts-never-eligible", Selected(12), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + ['{"text": ""}'] * 5 + ['{"text": "  ...  "}']), k=12)


@case("valid/k-above-eligible-selects-all", Selected(12, warning="more than the 12 eligible documents"),
      "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + ['{"text": ""}']), k=500)


@case("valid/very-long-document", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + [json.dumps({"text": "ship sail wave " * 400_000})]))


@case("valid/one-document", Selected(1), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD[:1]), k=1)


@case("valid/duplicate-documents", Selected(8), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD[:4] * 3), k=8)


@case("valid/nul-in-other-field", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", [json.dumps({"text": json.loads(g)["text"], "x": "\u0000"}) for g in GOOD]))


@case("valid/extra-fields-copied-whole", Selected(3), "odd but valid files")
def _(d):
    lines = [json.dumps({"meta": {"deep": [1, {"a": None}]}, "text": json.loads(g)["text"], "n": 1e300}) for g in GOOD]
    return select(d, jsonl(d, "raw.jsonl", lines))


@case("valid/deep-nesting-in-another-field", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + ['{"text": "a b", "meta": ' + "[" * 1000 + "]" * 1000 + "}"]))


@case("valid/nan-literal-in-another-field", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD + ['{"text": "a b", "score": NaN}']))


@case("valid/a-selection-read-as-a-pool", Selected(2, check=lambda out, m: _inputs_are(m, ["part-00000.jsonl"])),
      "odd but valid files")
def _(d):
    from click.testing import CliRunner

    from dsir.cli.main import main

    first = select(d, jsonl(d, "raw.jsonl", GOOD), k=5, out="first")
    first.remove("--no-report")
    assert CliRunner().invoke(main, first).exit_code == 0
    return select(d, str(d / "first"), k=2)


def _inputs_are(manifest: dict, names: list[str]) -> None:
    assert [os.path.basename(i["path"]) for i in manifest["inputs"]] == names, manifest["inputs"]


@case("valid/an-unfinished-selection-read-as-a-pool", Refused("holds an unfinished dsir run"), "odd but valid files")
def _(d):
    jsonl(d, "first/part-00000.jsonl", GOOD[:3])
    (d / "first" / "_dsir").mkdir()
    return select(d, str(d / "first"))


@case("valid/json-extension", Selected(3), "odd but valid files")
def _(d):
    return select(d, jsonl(d, "raw.json", GOOD))


@case("valid/text-field-other-name", Selected(3), "odd but valid files")
def _(d):
    lines = [json.dumps({"content": json.loads(g)["text"]}) for g in GOOD]
    t = jsonl(d, "target.jsonl", [json.dumps({"content": json.loads(g)["text"]}) for g in TARGET])
    return select(d, jsonl(d, "raw.jsonl", lines), target_path=t, extra=("--text-field", "content"))


# ---------------------------------------------------------------------------------------
# Empty inputs.
@case("empty/pool", Refused("{d}/raw.jsonl: the raw pool has no documents"), "empty inputs")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", []))


@case("empty/blank-lines-only-pool", Refused("the raw pool has no documents"), "empty inputs")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", ["", " ", ""]))


@case("empty/target", Refused("{d}/empty.jsonl: the target has no documents"), "empty inputs")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), target_path=jsonl(d, "empty.jsonl", []))


@case("empty/one-file-among-others", Selected(3, warning="{d}/pool/b.jsonl: raw file holds no documents"),
      "empty inputs")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    jsonl(d, "pool/b.jsonl", [])
    return select(d, str(d / "pool"))


@case("empty/gzip-of-nothing", Selected(3, warning="raw file holds no documents"), "empty inputs")
def _(d):
    (d / "e.jsonl.gz").write_bytes(gzip.compress(b""))
    return select(d, jsonl(d, "raw.jsonl", GOOD), str(d / "e.jsonl.gz"))


@case("empty/parquet-no-rows", Selected(3, warning="raw file holds no documents"), "empty inputs")
def _(d):
    pq.write_table(raw_table([]), d / "e.parquet")
    pq.write_table(raw_table([json.loads(g)["text"] for g in GOOD]), d / "a.parquet")
    return select(d, str(d / "a.parquet"), str(d / "e.parquet"))


@case("empty/all-texts-empty", Refused("raw.jsonl: the raw sample has no n-grams: each of its 4 documents has no tokens, so the classifier has no raw text to learn from"),
      "empty inputs")
def _(d):
    return select(d, jsonl(d, "raw.jsonl", ['{"text": ""}'] * 4))


# ---------------------------------------------------------------------------------------
# Compressed files.
def _gz(d: Path, name: str, lines: list[str]) -> Path:
    path = d / name
    path.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode(), mtime=0))
    return path


def _zst(d: Path, name: str, lines: list[str]) -> Path:
    path = d / name
    path.write_bytes(zstandard.ZstdCompressor().compress("".join(x + "\n" for x in lines).encode()))
    return path


@case("compressed/truncated-gz", Refused("{d}/cut.jsonl.gz: cannot decompress (gzip)"), "compressed files")
def _(d):
    data = _gz(d, "cut.jsonl.gz", GOOD * 20).read_bytes()
    (d / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    return select(d, str(d / "cut.jsonl.gz"))


@case("compressed/truncated-zst", Refused("{d}/cut.jsonl.zst: cannot decompress (zstd)"), "compressed files")
def _(d):
    data = _zst(d, "cut.jsonl.zst", GOOD * 20).read_bytes()
    (d / "cut.jsonl.zst").write_bytes(data[: len(data) // 2])
    return select(d, str(d / "cut.jsonl.zst"))


@case("compressed/truncated-gz-under-skip", Refused("{d}/cut.jsonl.gz: cannot decompress (gzip)"),
      "compressed files")
def _(d):
    data = _gz(d, "cut.jsonl.gz", GOOD * 20).read_bytes()
    (d / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    return select(d, str(d / "cut.jsonl.gz"), extra=("--on-error", "skip"))


@case("compressed/plain-text-named-gz", Refused("{d}/fake.jsonl.gz: cannot decompress (gzip)"), "compressed files")
def _(d):
    return select(d, jsonl(d, "fake.jsonl.gz", GOOD))


@case("compressed/plain-text-named-zst", Refused("{d}/fake.jsonl.zst: cannot decompress (zstd)"),
      "compressed files")
def _(d):
    return select(d, jsonl(d, "fake.jsonl.zst", GOOD))


@case("compressed/zero-byte-gz", Refused("{d}/z.jsonl.gz"), "compressed files")
def _(d):
    (d / "z.jsonl.gz").write_bytes(b"")
    return select(d, str(d / "z.jsonl.gz"))


@case("compressed/garbage-after-gz", Refused("{d}/g.jsonl.gz: cannot decompress (gzip)"), "compressed files")
def _(d):
    path = _gz(d, "g.jsonl.gz", GOOD)
    path.write_bytes(path.read_bytes() + b"\x00garbage")
    return select(d, str(path))


@case("compressed/concatenated-gzip-members", Selected(24), "compressed files")
def _(d):
    path = d / "multi.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(GOOD) + "\n").encode()) + gzip.compress(("\n".join(GOOD) + "\n").encode()))
    return select(d, str(path), k=24)


@case("compressed/multi-frame-zstd", Selected(24), "compressed files")
def _(d):
    c = zstandard.ZstdCompressor()
    path = d / "multi.jsonl.zst"
    path.write_bytes(c.compress(("\n".join(GOOD) + "\n").encode()) + c.compress(("\n".join(GOOD) + "\n").encode()))
    return select(d, str(path), k=24)


@case("compressed/bad-record-inside-gz", Refused("{d}/bad.jsonl.gz:5: malformed JSON"), "compressed files")
def _(d):
    return select(d, str(_gz(d, "bad.jsonl.gz", GOOD[:4] + ["{oops"] + GOOD[4:])))


@case("compressed/bz2-and-xz-in-a-folder-are-named", Selected(3, warning="pool.jsonl.bz2"), "compressed files")
def _(d):
    import bz2
    import lzma

    jsonl(d, "pool/a.jsonl", GOOD)
    (d / "pool" / "pool.jsonl.bz2").write_bytes(bz2.compress(b"{}"))
    (d / "pool" / "pool.jsonl.xz").write_bytes(lzma.compress(b"{}"))
    return select(d, str(d / "pool"))


@case("compressed/bz2-given-explicitly", Refused("unsupported file type"), "compressed files")
def _(d):
    import bz2

    (d / "a.jsonl.bz2").write_bytes(bz2.compress(("\n".join(GOOD) + "\n").encode()))
    return select(d, str(d / "a.jsonl.bz2"))


# ---------------------------------------------------------------------------------------
# Parquet.
PARQUET_TEXTS = [json.loads(g)["text"] for g in GOOD]


@case("parquet/corrupt-bytes", Refused("{d}/bad.parquet"), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS * 50), d / "bad.parquet", compression="snappy")
    data = bytearray((d / "bad.parquet").read_bytes())
    data[200:400] = b"\xff" * 200
    (d / "bad.parquet").write_bytes(bytes(data))
    return select(d, str(d / "bad.parquet"))


@case("parquet/truncated", Refused("{d}/cut.parquet"), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS), d / "cut.parquet")
    data = (d / "cut.parquet").read_bytes()
    (d / "cut.parquet").write_bytes(data[: len(data) - 20])
    return select(d, str(d / "cut.parquet"))


@case("parquet/zero-bytes", Refused("{d}/zero.parquet"), "parquet")
def _(d):
    (d / "zero.parquet").write_bytes(b"")
    return select(d, str(d / "zero.parquet"))


@case("parquet/jsonl-named-parquet", Refused("{d}/fake.parquet"), "parquet")
def _(d):
    return select(d, jsonl(d, "fake.parquet", GOOD))


@case("parquet/null-text/stop", Refused("{d}/nulls.parquet (row 2): text column 'text' is null"), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS[:2] + [None] + PARQUET_TEXTS[2:]), d / "nulls.parquet")
    return select(d, str(d / "nulls.parquet"))


@case("parquet/null-text/skip", Selected(3, rejects=1), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS[:2] + [None] + PARQUET_TEXTS[2:]), d / "nulls.parquet")
    return select(d, str(d / "nulls.parquet"), extra=("--on-error", "skip"))


@case("parquet/missing-text-column", Refused("{d}/notext.parquet"), "parquet")
def _(d):
    pq.write_table(pa.table({"body": PARQUET_TEXTS}), d / "notext.parquet")
    return select(d, str(d / "notext.parquet"))


@case("parquet/integer-text-column", Refused("{d}/ints.parquet"), "parquet")
def _(d):
    pq.write_table(pa.table({"text": list(range(12))}), d / "ints.parquet")
    return select(d, str(d / "ints.parquet"))


@case("parquet/large-string-column", Selected(3), "parquet")
def _(d):
    pq.write_table(pa.table({"text": pa.array(PARQUET_TEXTS, pa.large_string())}), d / "large.parquet")
    return select(d, str(d / "large.parquet"))


@case("parquet/dictionary-text-column", Selected(3), "parquet")
def _(d):
    pq.write_table(pa.table({"text": pa.array(PARQUET_TEXTS).dictionary_encode()}), d / "dict.parquet")
    return select(d, str(d / "dict.parquet"))


@case("parquet/string-view-column", Selected(3), "parquet")
def _(d):
    pq.write_table(pa.table({"text": pa.array(PARQUET_TEXTS, pa.string_view())}), d / "view.parquet")
    return select(d, str(d / "view.parquet"))


@case("parquet/many-row-groups", Selected(30), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS * 40), d / "groups.parquet", row_group_size=7)
    return select(d, str(d / "groups.parquet"), k=30)


@case("parquet/binary-column-to-jsonl-is-base64", Selected(3), "parquet")
def _(d):
    table = pa.table({"text": PARQUET_TEXTS, "blob": pa.array([b"\x00\xff"] * 12, pa.binary())})
    pq.write_table(table, d / "bin.parquet")
    return select(d, str(d / "bin.parquet"), extra=("--output-format", "jsonl"))


@case("parquet/struct-text-column", Refused("{d}/struct.parquet"), "parquet")
def _(d):
    pq.write_table(pa.table({"text": [{"a": t} for t in PARQUET_TEXTS]}), d / "struct.parquet")
    return select(d, str(d / "struct.parquet"))


@case("parquet/mixed-with-jsonl", Selected(6), "parquet")
def _(d):
    pq.write_table(raw_table(PARQUET_TEXTS), d / "a.parquet")
    return select(d, str(d / "a.parquet"), jsonl(d, "b.jsonl", GOOD), k=6)


# ---------------------------------------------------------------------------------------
# Paths and file systems.
@case("paths/missing-file", Refused("raw path does not exist"), "paths and file systems")
def _(d):
    return select(d, str(d / "nowhere.jsonl"))


@case("paths/glob-matches-nothing", Refused("raw glob matches no readable file"), "paths and file systems")
def _(d):
    return select(d, str(d / "shards" / "*.jsonl"))


@case("paths/glob-characters-taken-literally", Selected(3, check=lambda out, m: _only_input(m, "a[1].jsonl")),
      "paths and file systems")
def _(d):
    jsonl(d, "a1.jsonl", [json.dumps({"text": "a1 decoy " + str(i)}) for i in range(12)])
    return select(d, jsonl(d, "a[1].jsonl", GOOD))


def _only_input(manifest: dict, name: str) -> None:
    assert [os.path.basename(i["path"]) for i in manifest["inputs"]] == [name], manifest["inputs"]


@case("paths/same-file-twice", Refused("the same file is given twice"), "paths and file systems")
def _(d):
    p = jsonl(d, "a.jsonl", GOOD)
    return select(d, p, p)


@case("paths/same-file-through-a-symlink", Refused("the same file is given twice"), "paths and file systems")
def _(d):
    p = jsonl(d, "a.jsonl", GOOD)
    os.symlink(p, d / "b.jsonl")
    return select(d, p, str(d / "b.jsonl"))


@case("paths/symlinked-subfolder-followed", Selected(6, check=lambda out, m: len(m["inputs"]) == 2 or _fail(m)),
      "paths and file systems")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    jsonl(d, "elsewhere/b.jsonl", GOOD[::-1][:6] + [json.dumps({"text": "other " + t}) for t in PARQUET_TEXTS[:6]])
    os.symlink(d / "elsewhere", d / "pool" / "linked")
    return select(d, str(d / "pool"), k=6)


def _fail(manifest: dict) -> None:
    raise AssertionError(manifest["inputs"])


@case("paths/symlink-loop-folder", Selected(3), "paths and file systems")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    os.symlink(d / "pool", d / "pool" / "loop")
    return select(d, str(d / "pool"))


@case("paths/dangling-symlink-in-folder", Refused("broken symbolic link"), "paths and file systems")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    os.symlink(d / "gone.jsonl", d / "pool" / "gone.jsonl")
    return select(d, str(d / "pool"))


@case("paths/self-looping-symlink", Refused("broken symbolic link (or a link loop)"), "paths and file systems")
def _(d):
    os.symlink(d / "self.jsonl", d / "self.jsonl")
    return select(d, jsonl(d, "a.jsonl", GOOD), str(d / "self.jsonl"))


@case("paths/fifo-given-explicitly", Refused("is not a regular file"), "paths and file systems")
def _(d):
    os.mkfifo(d / "pipe.jsonl")
    return select(d, jsonl(d, "a.jsonl", GOOD), str(d / "pipe.jsonl"))


@case("paths/fifo-in-a-folder-is-named-not-read", Selected(3, warning="pipe.jsonl"), "paths and file systems")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    os.mkfifo(d / "pool" / "pipe.jsonl")
    return select(d, str(d / "pool"))


@case("paths/folder-without-inputs", Refused("{d}/pool"), "paths and file systems")
def _(d):
    (d / "pool").mkdir()
    (d / "pool" / "notes.txt").write_text("x")
    return select(d, str(d / "pool"))


@case("paths/unsupported-extension", Refused("unsupported file type"), "paths and file systems")
def _(d):
    (d / "notes.csv").write_text("text\nhello\n")
    return select(d, str(d / "notes.csv"))


@case("paths/odd-file-names", Selected(6), "paths and file systems")
def _(d):
    return select(d, jsonl(d, "with space é.jsonl", GOOD), jsonl(d, "-dash.jsonl", GOOD[:6]), k=6)


@case("paths/newline-in-file-name", Selected(3), "paths and file systems")
def _(d):
    return select(d, jsonl(d, "new\nline.jsonl", GOOD))


@case("paths/hidden-and-private-entries-are-named-not-read", Selected(3, warning=".hidden.jsonl (hidden)"),
      "paths and file systems")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    jsonl(d, "pool/.hidden.jsonl", ["{not json"])
    jsonl(d, "pool/_private/x.jsonl", ["{not json"])
    jsonl(d, "pool/.git/y.jsonl", ["{not json"])
    return select(d, str(d / "pool"))


@case("paths/target-also-in-pool", Selected(3, warning="target file"), "paths and file systems")
def _(d):
    t = jsonl(d, "pool/t.jsonl", TARGET)
    jsonl(d, "pool/a.jsonl", GOOD)
    return select(d, str(d / "pool"), target_path=t)


@case("paths/target-path-missing", Refused("target path does not exist"), "paths and file systems")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), target_path=str(d / "no-target.jsonl"))


@case("paths/raw-is-a-device", Refused("is not a regular file"), "paths and file systems")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), "/dev/null")


# ---------------------------------------------------------------------------------------
# The output directory misused.
@case("output/inside-the-pool", Refused("the output directory is inside the input {d}/pool"), "output directory")
def _(d):
    jsonl(d, "pool/a.jsonl", GOOD)
    return select(d, str(d / "pool"), out="pool/out")


@case("output/pool-inside-the-output", Refused("{d}/out"), "output directory")
def _(d):
    return select(d, jsonl(d, "out/a.jsonl", GOOD))


@case("output/target-inside-the-output", Refused("{d}/out"), "output directory")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), target_path=jsonl(d, "out/t.jsonl", TARGET))


@case("output/is-a-file", Refused("{d}/out: the output path exists and is not a directory"), "output directory")
def _(d):
    (d / "out").write_text("a file")
    return select(d, jsonl(d, "a.jsonl", GOOD))


@case("output/not-empty-without-a-run", Refused("output directory is not empty"), "output directory")
def _(d):
    (d / "out").mkdir()
    (d / "out" / "mine.txt").write_text("x")
    return select(d, jsonl(d, "a.jsonl", GOOD))


@case("output/overwrite-without-a-run-keeps-user-files", Refused("holds no dsir run"), "output directory")
def _(d):
    (d / "out").mkdir()
    (d / "out" / "part-00000.jsonl").write_text("my own file\n")
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--overwrite",))


@case("output/resume-into-missing-folder-starts", Selected(3), "output directory")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume",))


@case("output/resume-into-a-non-dsir-folder", Refused("{d}/out"), "output directory")
def _(d):
    (d / "out").mkdir()
    (d / "out" / "mine.txt").write_text("x")
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume",))


@case("output/resume-and-overwrite-together", Refused("--resume"), "output directory")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume", "--overwrite"))


@case("output/held-by-a-live-run", Refused("another dsir run"), "output directory")
def _(d):
    import socket
    import subprocess

    holder = subprocess.Popen(["sleep", "60"])
    (d / "out").mkdir()
    (d / "out" / ".dsir.lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                      "started": "2026-12-01 00:00:00"}))
    _HOLDERS.append(holder)
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume",))


_HOLDERS: list = []


@case("output/stale-lock-of-a-dead-run-taken-over", Selected(3, warning="lock"), "output directory")
def _(d):
    import socket

    (d / "out").mkdir()
    (d / "out" / ".dsir.lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(),
                                                      "started": "2026-12-01 00:00:00"}))
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume",))


@case("output/lock-of-another-host", Refused("another dsir run"), "output directory")
def _(d):
    (d / "out").mkdir()
    (d / "out" / ".dsir.lock").write_text(json.dumps({"pid": 1, "host": "some-other-host",
                                                      "started": "2026-12-01 00:00:00"}))
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--resume",))


# ---------------------------------------------------------------------------------------
# Parameters at and beyond their limits.
LIMITS = [
    ("k-zero", ("-k", "0"), Refused("k must be a positive number")),
    ("k-negative", ("-k", "-3"), Refused("k must be a positive number")),
    ("k-not-a-number", ("-k", "many"), Refused("'many' is not a valid integer")),
    ("fraction-zero", ("--fraction", "0"), Refused("fraction must be in (0, 1]")),
    ("fraction-above-one", ("--fraction", "1.5"), Refused("fraction must be in (0, 1]")),
    ("fraction-nan", ("--fraction", "nan"), Refused("fraction must be in (0, 1]")),
    ("seed-negative", ("--seed", "-1"), Refused("seed must be an integer from 0 to 2**64 - 1")),
    ("seed-2-to-the-64", ("--seed", str(2**64)), Refused("seed must be an integer from 0 to 2**64 - 1")),
    ("buckets-zero", ("--buckets", "0"), Refused("--buckets")),
    ("buckets-beyond-memory", ("--buckets", "2147483647"), Refused("buckets")),
    ("ngrams-zero", ("--ngrams", "0"), Refused("--ngrams")),
    ("ngrams-nine", ("--ngrams", "9"), Refused("--ngrams")),
    ("temperature-zero", ("--temperature", "0"), Refused("temperature")),
    ("temperature-negative", ("--temperature", "-1"), Refused("temperature")),
    ("temperature-nan", ("--temperature", "nan"), Refused("temperature")),
    ("temperature-infinite", ("--temperature", "inf"), Refused("temperature")),
    ("smoothing-negative", ("--smoothing", "-1"), Refused("smoothing")),
    ("smoothing-nan", ("--smoothing", "nan"), Refused("smoothing")),
    ("min-length-negative", ("--min-length", "-1"), Refused("--min-length")),
    ("raw-sample-zero", ("--raw-sample", "0"), Refused("--raw-sample")),
    ("workers-zero", ("--workers", "0"), Refused("--workers")),
    ("chunk-words-zero", ("--chunk-words", "0"), Refused("--chunk-words")),
    ("emit-chunks-without-chunk-words", ("--emit", "chunks"), Refused("--chunk-words")),
    ("text-field-empty", ("--text-field", ""), Refused("text")),
    ("min-length-above-every-document", ("--min-length", "100000"), Refused("fewer than 100000 tokens")),
]


def _limit_cases() -> None:
    for name, extra, expect in LIMITS:
        k = () if "--fraction" in extra or "-k" in extra else None

        @case(f"limits/{name}", expect, "parameters at their limits")
        def _(d, extra=extra, k=k):
            argv = select(d, jsonl(d, "a.jsonl", GOOD), extra=extra)
            if k is not None:  # the case gives its own -k or --fraction
                i = argv.index("-k")
                del argv[i:i + 2]
            return argv


_limit_cases()


@case("limits/seed-largest", Selected(3), "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--seed", str(2**64 - 1)))


@case("limits/buckets-one", Selected(3), "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--buckets", "1"))


@case("limits/ngrams-eight", Selected(3), "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--ngrams", "8"))


@case("limits/raw-sample-one", Selected(3), "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--raw-sample", "1"))


@case("limits/k-and-fraction-together", Refused("fraction"), "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--fraction", "0.5"))


def select_tokens(d: Path, tokens: str, *extra: str) -> list[str]:
    """``select`` of the good pool by a token budget instead of -k."""
    argv = select(d, jsonl(d, "a.jsonl", GOOD))
    at = argv.index("-k")
    return argv[:at] + ["--tokens", tokens, *extra] + argv[at + 2:]


def _reaches_budget(budget: int):
    def check(out: Path, manifest: dict) -> None:
        c = manifest["counts"]
        assert c["requested_tokens"] == budget and c["selected_tokens"] >= budget
    return check


@case("limits/tokens-and-k-together", Refused("exactly one of -k, --fraction and --tokens"),
      "parameters at their limits")
def _(d):
    return select(d, jsonl(d, "a.jsonl", GOOD), extra=("--tokens", "100"))


@case("limits/tokens-zero", Refused("is not a positive number of tokens"), "parameters at their limits")
def _(d):
    return select_tokens(d, "0")


@case("limits/tokens-not-a-count", Refused("is not a number of tokens"), "parameters at their limits")
def _(d):
    return select_tokens(d, "many")


@case("limits/tokens-one", Selected(1, check=_reaches_budget(1)), "parameters at their limits")
def _(d):
    return select_tokens(d, "1")


@case("limits/tokens-beyond-the-pool", Selected(12, warning="tokens of the 12 eligible documents: selecting all"),
      "parameters at their limits")
def _(d):
    return select_tokens(d, "1T")


@case("limits/workers-many", Selected(3), "parameters at their limits")
def _(d):
    argv = select(d, jsonl(d, "a.jsonl", GOOD))
    argv[argv.index("--workers") + 1] = "64"
    return argv


@case("limits/named-targets-same-name-join", Selected(3, check=lambda out, m: _one_target_of(m, "a", 2)),
      "parameters at their limits")
def _(d):
    t, other = target(d), jsonl(d, "other.jsonl", TARGET[:3])
    return select(d, jsonl(d, "a.jsonl", GOOD), target_path=f"a={t}", extra=("--target", f"a={other}"))


def _one_target_of(manifest: dict, name: str, files: int) -> None:
    assert [(t["name"], len(t["paths"])) for t in manifest["per_target"]] == [(name, files)], manifest["per_target"]


@case("limits/named-and-unnamed-targets-mixed", Refused("--target"), "parameters at their limits")
def _(d):
    t, other = target(d), jsonl(d, "other.jsonl", TARGET[:3])
    return select(d, jsonl(d, "a.jsonl", GOOD), target_path=f"a={t}", extra=("--target", other))


@case("limits/named-target-proportion-invalid", Refused("proportion"), "parameters at their limits")
def _(d):
    t = target(d)
    return select(d, jsonl(d, "a.jsonl", GOOD), target_path=f"a={t}:-1", extra=("--target", f"b={t}"))


@case("limits/model-file-truncated", Refused("{d}/model.npz"), "parameters at their limits")
def _(d):
    (d / "model.npz").write_bytes(b"PK\x03\x04 truncated")
    argv = select(d, jsonl(d, "a.jsonl", GOOD))
    i = argv.index("--target")
    argv[i:i + 2] = ["--model", str(d / "model.npz")]
    return argv


@case("limits/model-file-missing", Refused("{d}/model.npz: model file does not exist"), "parameters at their limits")
def _(d):
    argv = select(d, jsonl(d, "a.jsonl", GOOD))
    i = argv.index("--target")
    argv[i:i + 2] = ["--model", str(d / "model.npz")]
    return argv


# ---------------------------------------------------------------------------------------
# Ids and --group-by fields.
def _with(field: str, values: list) -> list[str]:
    return [json.dumps({"text": json.loads(g)["text"], field: v}) for g, v in zip(GOOD, values)]


@case("ids/missing-id/stop", Refused("{d}/a.jsonl:4: id field 'id' is missing or null"), "ids and metadata")
def _(d):
    lines = _with("id", list(range(12)))
    lines[3] = json.dumps({"text": "no id here"})
    return select(d, jsonl(d, "a.jsonl", lines), extra=("--id-field", "id"))


@case("ids/missing-id/skip", Selected(3, rejects=1, reject_lines=(4,)), "ids and metadata")
def _(d):
    lines = _with("id", list(range(12)))
    lines[3] = json.dumps({"text": "no id here"})
    return select(d, jsonl(d, "a.jsonl", lines), extra=("--id-field", "id", "--on-error", "skip"))


@case("ids/object-ids", Refused("{d}/a.jsonl:1: id field 'id'"), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", [{"a": i} for i in range(12)])), extra=("--id-field", "id"))


@case("ids/type-changes/stop", Refused("{d}/a.jsonl:7: a field changes its type at this record: Column(/id) changed from number to string"), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", list(range(6)) + [f"s{i}" for i in range(6)])),
                  extra=("--id-field", "id"))


@case("ids/type-changes/skip", Selected(3, rejects=6), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", list(range(6)) + [f"s{i}" for i in range(6)])),
                  extra=("--id-field", "id", "--on-error", "skip"))


@case("ids/null-id", Refused("{d}/a.jsonl:3: id field 'id'"), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", [0, 1, None] + list(range(3, 12)))), extra=("--id-field", "id"))


@case("ids/duplicate-ids-are-allowed", Selected(3), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", [7] * 12)), extra=("--id-field", "id"))


@case("ids/huge-integer-id", Selected(3), "ids and metadata")
def _(d):
    return select(d, jsonl(d, "a.jsonl", _with("id", [2**70 + i for i in range(12)])), extra=("--id-field", "id"))


@case("group-by/missing-field-counted", Selected(3), "ids and metadata")
def _(d):
    argv = select(d, jsonl(d, "a.jsonl", _with("domain", ["a", "b"] * 5 + [None, None])), extra=("--group-by", "domain"))
    argv.remove("--no-report")
    return argv


@case("group-by/deeply-nested-field", Selected(3), "ids and metadata")
def _(d):
    deep = json.loads("[" * 900 + "]" * 900)
    argv = select(d, jsonl(d, "a.jsonl", _with("domain", [deep] * 12)), extra=("--group-by", "domain"))
    argv.remove("--no-report")
    return argv


@case("group-by/object-values", Selected(3), "ids and metadata")
def _(d):
    argv = select(d, jsonl(d, "a.jsonl", _with("domain", [{"x": i % 2} for i in range(12)])),
                  extra=("--group-by", "domain"))
    argv.remove("--no-report")
    return argv


# ---------------------------------------------------------------------------------------
# Held-out target documents (--target-eval): checked before anything is read or written.
EVAL = "held-out documents (--target-eval)"


def _eval_select(d: Path, lines: list[str] | None, *extra: str, value: str = "{e}") -> list[str]:
    e = d / "eval.jsonl"
    if lines is not None:
        jsonl(d, "eval.jsonl", lines)
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--target-eval", value.format(e=e), *extra))


@case("target-eval/missing-file", Refused("{d}/eval.jsonl: target-eval path does not exist"), EVAL)
def _(d):
    return _eval_select(d, None)


@case("target-eval/malformed-record/stop", Refused("{d}/eval.jsonl:2: malformed JSON"), EVAL)
def _(d):
    return _eval_select(d, TARGET[:1] + ['{"text": "a b",}'] + TARGET[1:])


def _one_skipped(out: Path, manifest: dict) -> None:
    perplexity = json.loads((out / "report.json").read_text())["perplexity"]
    assert perplexity["eval"]["rejected"] == 1 and perplexity["eval"]["documents"] == len(TARGET), perplexity


@case("target-eval/malformed-record/skip", Selected(3, check=_one_skipped), EVAL)
def _(d):
    argv = _eval_select(d, TARGET[:1] + ['{"text": "a b",}'] + TARGET[1:], "--on-error", "skip")
    argv.remove("--no-report")
    return argv


@case("target-eval/empty-file", Refused("{d}/eval.jsonl: the held-out documents (--target-eval) hold no word"), EVAL)
def _(d):
    return _eval_select(d, [])


@case("target-eval/no-words", Refused("hold no word: no perplexity can be measured on them"), EVAL)
def _(d):
    return _eval_select(d, [json.dumps({"text": t}) for t in ["", "   ", "\n"]])


@case("target-eval/name-without-named-targets", Refused("the target has no name, so no NAME="), EVAL)
def _(d):
    return _eval_select(d, TARGET, value="law={e}")


@case("target-eval/unknown-target-name", Refused("no target is named 'med' (the targets: law)"), EVAL)
def _(d):
    argv = _eval_select(d, TARGET, value="med={e}")
    i = argv.index("--target")
    argv[i + 1] = "law=" + argv[i + 1]
    return argv


# ---------------------------------------------------------------------------------------
# The other commands on hostile input.
@case("report/not-a-selection", Refused("{d}/nothing"), "other commands")
def _(d):
    (d / "nothing").mkdir()
    return ["report", str(d / "nothing")]


@case("report/manifest-corrupt", Refused("{d}/out"), "other commands")
def _(d):
    (d / "out").mkdir()
    (d / "out" / "manifest.json").write_text('{"counts": ')
    return ["report", str(d / "out")]


@case("score/malformed-record", Refused("{d}/a.jsonl:4: malformed JSON"), "other commands")
def _(d):
    return ["score", "--quiet", "--workers", "1", "--raw", jsonl(d, "a.jsonl", GOOD[:3] + ["{x"] + GOOD[3:]),
            "--target", target(d), "-o", str(d / "scores.parquet")]


@case("fit/empty-target", Refused("the target has no documents"), "other commands")
def _(d):
    return ["fit", "--quiet", "--workers", "1", "--raw", jsonl(d, "a.jsonl", GOOD),
            "--target", jsonl(d, "t.jsonl", []), "-o", str(d / "model.npz")]


# ---------------------------------------------------------------------------------------
# Arrow IPC files and folders other tools wrote.
@case("arrow/corrupt-bytes", Refused("{d}/bad.arrow: not a readable Arrow IPC file"), "arrow and saved datasets")
def _(d):
    (d / "bad.arrow").write_bytes(b"ARROW1\x00\x00garbage" * 10)
    return select(d, str(d / "bad.arrow"))


@case("arrow/truncated-stream", Refused("{d}/cut.arrow"), "arrow and saved datasets")
def _(d):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, raw_table(PARQUET_TEXTS * 30).schema) as w:
        w.write_table(raw_table(PARQUET_TEXTS * 30))
    data = sink.getvalue().to_pybytes()
    (d / "cut.arrow").write_bytes(data[: len(data) // 2])
    return select(d, str(d / "cut.arrow"))


@case("arrow/no-text-column", Refused("{d}/notext.arrow: no column named 'text'"), "arrow and saved datasets")
def _(d):
    import pyarrow.feather as feather

    feather.write_feather(pa.table({"body": PARQUET_TEXTS}), d / "notext.arrow")
    return select(d, str(d / "notext.arrow"))


@case("arrow/zero-rows", Selected(3, warning="raw file holds no documents"), "arrow and saved datasets")
def _(d):
    import pyarrow.feather as feather

    feather.write_feather(raw_table([]), d / "empty.arrow")
    feather.write_feather(raw_table(PARQUET_TEXTS), d / "a.arrow")
    return select(d, str(d / "a.arrow"), str(d / "empty.arrow"))


@case("arrow/saved-dataset-state-unreadable", Refused("state.json cannot be read"), "arrow and saved datasets")
def _(d):
    (d / "saved").mkdir()
    (d / "saved" / "state.json").write_text("{not json")
    return select(d, str(d / "saved"))


@case("arrow/missing-folder-is-never-a-document", Refused("{d}/pool: raw path does not exist"),
      "arrow and saved datasets")
def _(d):
    return select(d, str(d / "pool"))


# ---------------------------------------------------------------------------------------
# Decontamination files (--decontaminate): read and checked before anything is written.
DECON = "decontamination files (--decontaminate)"


def _decon_select(d: Path, lines: list[str] | None, *extra: str) -> list[str]:
    b = d / "bench.jsonl"
    if lines is not None:
        jsonl(d, "bench.jsonl", lines)
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--decontaminate", str(b), *extra))


@case("decontaminate/missing-file", Refused("{d}/bench.jsonl: decontaminate path does not exist"), DECON)
def _(d):
    return _decon_select(d, None)


@case("decontaminate/malformed-record/stop", Refused("{d}/bench.jsonl:2: malformed JSON"), DECON)
def _(d):
    return _decon_select(d, GOOD[:1] + ['{"text": "a b",}'] + GOOD[1:2])


def _decon_one_skipped(out: Path, manifest: dict) -> None:
    files = manifest["filters"]["decontaminate"]["files"]
    assert files[0]["rejected"] == 1 and files[0]["documents"] == 2, files
    assert manifest["filters"]["decontaminate"]["excluded_documents"] == 2  # GOOD[0] and GOOD[1] themselves


@case("decontaminate/malformed-record/skip", Selected(3, check=_decon_one_skipped), DECON)
def _(d):
    return _decon_select(d, GOOD[:1] + ['{"text": "a b",}'] + GOOD[1:2], "--on-error", "skip")


@case("decontaminate/empty-file", Refused("{d}/bench.jsonl: the decontamination file holds no text of 13 words or "
                                          "more (0 documents, 0 of them shorter)"), DECON)
def _(d):
    return _decon_select(d, [])


@case("decontaminate/only-short-texts", Refused("{d}/bench.jsonl: the decontamination file holds no text of 13 "
                                                "words or more (2 documents, 2 of them shorter)"), DECON)
def _(d):
    return _decon_select(d, [json.dumps({"text": "what is the capital of France?"}), json.dumps({"text": ""})])


@case("decontaminate/zero-words", Refused("--decontaminate-words"), DECON)
def _(d):
    return _decon_select(d, GOOD[:1], "--decontaminate-words", "0")


DEDUP = "near-duplicate options (--dedup)"


@case("dedup/bands-do-not-divide-permutations",
      Refused("--dedup-bands must divide --dedup-permutations (128), got 30"), DEDUP)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--dedup", "near", "--dedup-bands", "30"))


@case("dedup/threshold-zero", Refused("--dedup-threshold"), DEDUP)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--dedup", "near", "--dedup-threshold", "0"))


MIX = "mixtures (--mix)"


@case("mix/no-proportion", Refused("--mix part 'news' must be VALUE:PROPORTION"), MIX)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--mix", "domain=news"))


@case("mix/several-targets", Refused("--mix splits one target's selection over a field's values"), MIX)
def _(d):
    argv = select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--mix", "domain=news:1"))
    at = argv.index("--target")
    return argv[:at] + ["--target", "a=" + argv[at + 1], "--target", "b=" + argv[at + 1]] + argv[at + 2:]


BALANCE = "balanced selection (--balance-field, --balance-entries)"


def _entries_select(d: Path, content: bytes, *extra: str) -> list[str]:
    (d / "entries.txt").write_bytes(content)
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--balance-entries", str(d / "entries.txt"), *extra))


@case("balance/entry-twice", Refused("{d}/entries.txt:3: the entry 'sea' repeats line 1 (entries are matched "
                                     "lowercased)"), BALANCE)
def _(d):
    return _entries_select(d, b"sea\nland\nSea\n")


@case("balance/entries-not-utf8", Refused("{d}/entries.txt:2: not UTF-8 text"), BALANCE)
def _(d):
    return _entries_select(d, b"sea\n\xff\xfeland\n")


@case("balance/no-entries", Refused("{d}/entries.txt: the entries file has no entries (one per line)"), BALANCE)
def _(d):
    return _entries_select(d, b"\n  \n")


@case("balance/entries-missing", Refused("{d}/nope.txt: no such file (--balance-entries)"), BALANCE)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--balance-entries", str(d / "nope.txt")))


@case("balance/nothing-matches", Refused("or matches no balance entry): nothing to select"), BALANCE)
def _(d):
    return _entries_select(d, b"zzzzqqq\n")


@case("balance/field-and-entries", Refused("a balance needs exactly one of --balance-field and --balance-entries"),
      BALANCE)
def _(d):
    return _entries_select(d, b"sea\n", "--balance-field", "domain")


@case("balance/with-mix", Refused("--mix and a balance both set the selection's composition"), BALANCE)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--balance-field", "domain", "--mix", "domain=a:1"))


@case("balance/cap-alone", Refused("--balance-cap caps the entries of --balance-field or --balance-entries"),
      BALANCE)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--balance-cap", "3"))


SCORER = "a fastText scorer (--scorer)"


@case("scorer/no-label", Refused("--scorer fasttext:{d}/model.bin needs --scorer-label"), SCORER)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--scorer", f"fasttext:{d}/model.bin", "--score-weight", "1"))


@case("scorer/not-fasttext", Refused("expected fasttext:MODEL.bin (a fastText classifier)"), SCORER)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--scorer", f"{d}/model.bin", "--scorer-label", "hq",
                                                         "--score-weight", "1"))


@case("scorer/with-scores", Refused("--scores reads scores made elsewhere and --scorer makes them"), SCORER)
def _(d):
    jsonl(d, "scores.jsonl", [json.dumps({"file": str(d / "raw.jsonl"), "row": 0, "q": 1.0})])
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--scores", str(d / "scores.jsonl"), "--score-column", "q",
                                                         "--scorer", f"fasttext:{d}/m.bin", "--scorer-label", "hq"))


SCORES = "outside scores (--scores)"


def _scores_select(d: Path, lines: list[str], *extra: str) -> list[str]:
    raw = jsonl(d, "raw.jsonl", GOOD)
    jsonl(d, "scores.jsonl", lines)
    argv = select(d, raw, extra=("--scores", str(d / "scores.jsonl"), *extra))
    at = argv.index("--target")
    return argv[:at] + argv[at + 2:]


@case("scores/no-score-column", Refused("--scores needs --score-column"), SCORES)
def _(d):
    return _scores_select(d, [json.dumps({"file": "x", "row": 0, "q": 1.0})])


@case("scores/missing-column", Refused("{d}/scores.jsonl: the scores file has no column 'q'"), SCORES)
def _(d):
    return _scores_select(d, [json.dumps({"file": str(d / "raw.jsonl"), "row": 0, "quality": 1.0})],
                          "--score-column", "q")


@case("scores/scored-twice", Refused("more than one score: give one score per document"), SCORES)
def _(d):
    line = json.dumps({"file": str(d / "raw.jsonl"), "row": 0, "q": 1.0})
    return _scores_select(d, [line, line], "--score-column", "q")


PARTS = "files read in parts (--unit-size) and seekable zstd (--zstd-frame-size)"
LONG = [json.dumps({"text": t}) for t in documents(60, seed=3)]


@case("parts/bad-record-in-a-later-part", Refused("{d}/raw.jsonl:52: malformed JSON"), PARTS)
def _(d):
    lines = LONG[:51] + ['{"text": "cut short'] + LONG[51:]
    return select(d, jsonl(d, "raw.jsonl", lines), extra=("--unit-size", "2kB"))


@case("parts/bad-record-in-a-later-part/skip", Selected(3, rejects=1, reject_lines=(52,)), PARTS)
def _(d):
    lines = LONG[:51] + ['{"text": "cut short'] + LONG[51:]
    return select(d, jsonl(d, "raw.jsonl", lines), extra=("--unit-size", "2kB", "--on-error", "skip"))


@case("parts/one-line-longer-than-the-unit", Selected(3), PARTS)
def _(d):
    lines = LONG[:20] + [json.dumps({"text": " ".join(documents(40, seed=4))})] + LONG[20:]
    return select(d, jsonl(d, "raw.jsonl", lines), extra=("--unit-size", "500B"))


@case("parts/unit-size-zero", Refused("Invalid value for '--unit-size': '0' is not a size of at least 1 byte"), PARTS)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--unit-size", "0"))


@case("parts/seekable-zstd-truncated", Refused("{d}/raw.jsonl.zst: cannot decompress (zstd): the file is truncated"),
      PARTS)
def _(d):
    from dsir.io.seekable_zstd import SeekableFrames

    sink = (d / "whole.zst").open("wb")
    frames = SeekableFrames(sink, 500)
    frames.write("".join(line + "\n" for line in LONG).encode())
    frames.close()
    sink.close()
    data = (d / "whole.zst").read_bytes()
    (d / "whole.zst").unlink()
    (d / "raw.jsonl.zst").write_bytes(data[: len(data) // 2])  # the seek table is gone: read whole, and it ends early
    return select(d, str(d / "raw.jsonl.zst"), extra=("--unit-size", "1kB"))


@case("parts/zstd-frame-size-with-parquet-output",
      Refused("--zstd-frame-size writes seekable jsonl.zst shards, and these would be parquet: give --output-format "
              "jsonl.zst"), PARTS)
def _(d):
    return select(d, jsonl(d, "raw.jsonl", GOOD), extra=("--zstd-frame-size", "1MB", "--output-format", "parquet"))
