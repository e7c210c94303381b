"""The compiled text-field reader against pyarrow's JSON reader, line by line.

The reader may leave any line to pyarrow, but a line it reads must be one pyarrow reads,
with the very same text.
"""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsir.io.json_text import extract_text_field
from dsir.io.paths import expand_paths
from dsir.io.readers import iter_line_blocks, parse_text_spans


def pyarrow_text(line: bytes, field: str = "text") -> str | None:
    """What pyarrow reads as ``field`` of this one line, or None if it refuses the line."""
    opts = pj.ParseOptions(explicit_schema=pa.schema([(field, pa.string())]), unexpected_field_behavior="ignore")
    try:
        line.decode("utf-8")
        table = pj.read_json(io.BytesIO(line + b"\n"), parse_options=opts)
        col = table.column(field)
        col.validate(full=True)
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    if table.num_rows != 1 or col.null_count:
        return None
    return col[0].as_py()


def compiled_text(line: bytes, field: str = "text") -> str | None:
    """What the compiled reader reads, or None if it leaves the line to pyarrow."""
    try:
        line.decode("utf-8")  # the caller's UTF-8 check
    except UnicodeDecodeError:
        return None
    buf = np.frombuffer(line + b"\0", dtype=np.uint8)
    got = extract_text_field(buf, np.array([0]), np.array([len(line)]), field)
    if isinstance(got, int):
        assert got == 0
        return None
    data, offsets = got
    return bytes(data[offsets[0]:offsets[1]]).decode("utf-8")


def agree(line: bytes, field: str = "text") -> str | None:
    got = compiled_text(line, field)
    if got is not None:
        assert pyarrow_text(line, field) == got, line
    return got


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=False, allow_infinity=False, width=32),
                      st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200),
       others=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "text"), json_value, max_size=4),
       position=st.integers(0, 4), ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]))
def test_records_read_like_pyarrow(text, others, position, ensure_ascii, indent):
    items = list(others.items())
    items.insert(min(position, len(items)), ("text", text))
    line = json.dumps(dict(items), ensure_ascii=ensure_ascii, indent=indent).replace("\n", " ").encode()
    got = agree(line)
    if not has_float(others) and indent is None and not any("\\" in json.dumps(k) for k in others):
        assert got == text  # ordinary records are read by the compiled reader, not left to pyarrow


def has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    return isinstance(value, list) and any(has_float(v) for v in value)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_damaged_records_are_never_misread(data):
    """Deleting, inserting or replacing bytes: whatever the compiled reader still accepts,
    pyarrow accepts too, with the same text."""
    base = json.dumps({"id": "a-1", "text": "Hello \"world\"\n\\ ünï 🙂 \u2028", "n": [1, -2.5, {"x": None}],
                       "ok": True, "no": False}, ensure_ascii=data.draw(st.booleans())).encode()
    line = bytearray(base)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["del", "ins", "sub"]))
        at = data.draw(st.integers(0, len(line) - 1 if line else 0))
        byte = data.draw(st.sampled_from(list(b'{}[]",:\\ \t0123456789eE.-+truefalsn\x00\x1f\x7f') + [0x80, 0xC3, 0xFF]))
        if op == "del" and line:
            del line[at]
        elif op == "ins":
            line.insert(at, byte)
        elif line:
            line[at] = byte
    agree(bytes(line))


@pytest.mark.parametrize("line,expected", [
    (b'{"text": "plain"}', "plain"),
    (b'  {"text":"a\\nb\\t\\"c\\"\\\\\\/\\b\\f\\r"}  ', "a\nb\t\"c\"\\/\b\f\r"),
    (b'{"text": "\\u00e9\\u4e2d\\ud83d\\ude42\\u0000"}', "é中🙂\0"),
    (b'{"a": {"text": "inner"}, "text": "outer"}', "outer"),
    (b'{"a": [1, 2.5, -0, 0.25, true, false, null, [], {}, [[{}]]], "text": ""}', ""),
    (b'{"text": "x", "b": "\xc3\xa9 \xf0\x9f\x99\x82"}', "x"),
])
def test_read_by_the_compiled_reader(line, expected):
    assert compiled_text(line) == expected
    assert pyarrow_text(line) == expected


@pytest.mark.parametrize("line", [
    b'{"text": "a", "text": "b"}',  # repeated field
    b'{"text": null}', b'{"text": 5}', b'{"text": ["a"]}', b'{"other": "a"}', b'{}',
    b'{"te\\u0078t": "escaped key"}',
    b'{"text": "lone \\ud800 surrogate"}', b'{"text": "lone \\udc00 surrogate"}',
    b'{"text": "a", "x": 1e400}', b'{"text": "a", "x": 1E5}', b'{"text": "a", "x": 12345678901234567890}',
    b'{"text": "a", "x": 01}', b'{"text": "a", "x": 1.}', b'{"text": "a", "x": .5}', b'{"text": "a", "x": +1}',
    b'{"text": "a",}', b'{"text": "a"} x', b'{"text": "a"}}', b'["text", "a"]', b'"text"', b'{"text": "a"',
    b'{"text": "raw \x01 control"}', b'{"text": "a", "x": tru}', b'{"text": "a", "x": nul}',
    b'{"text": "bad escape \\x"}', b'{"text": "short \\u12"}', b'{"text" "a"}', b"{'text': 'a'}",
    b'\xef\xbb\xbf{"text": "bom"}',
    b'{"text": "a", "deep": ' + b"[" * 600 + b"]" * 600 + b"}",
])
def test_left_to_pyarrow(line):
    """Lines the compiled reader does not read: whatever pyarrow then does is the behaviour."""
    assert compiled_text(line) is None


def test_parse_text_spans_reads_valid_blocks_and_names_bad_lines(tmp_path):
    from dsir.errors import InputError

    path = tmp_path / "p.jsonl"
    lines = [json.dumps({"id": i, "text": f"doc {i} \u00e9\n"}) for i in range(50)]
    path.write_text("\n".join(lines[:20]) + "\n\n" + "\n".join(lines[20:]) + "\n")
    file = expand_paths([str(path)])[0]
    block = next(iter_line_blocks(file))
    texts = parse_text_spans(file, block.buf, block.starts, block.ends, block.line_numbers, "text")
    assert texts.type == pa.string() and texts.to_pylist() == [f"doc {i} \u00e9\n" for i in range(50)]
    rows = np.array([3, 30])
    some = parse_text_spans(file, block.buf, block.starts[rows], block.ends[rows], block.line_numbers[rows], "text")
    assert some.to_pylist() == ["doc 3 \u00e9\n", "doc 30 \u00e9\n"]
    lines[30] = '{"id": 30, "text": null}'
    path.write_text("\n".join(lines[:20]) + "\n\n" + "\n".join(lines[20:]) + "\n")
    block = next(iter_line_blocks(file))
    with pytest.raises(InputError) as err:
        parse_text_spans(file, block.buf, block.starts, block.ends, block.line_numbers, "text")
    assert "p.jsonl:32:" in str(err.value) and "null" in str(err.value)  # a blank line sits before it
    lines[30] = '{"id": 30, "text": "\xff"}'
    path.write_bytes(("\n".join(lines[:30]) + "\n").encode() + b'{"id": 30, "text": "\xff"}\n')
    block = next(iter_line_blocks(file))
    with pytest.raises(InputError) as err:
        parse_text_spans(file, block.buf, block.starts, block.ends, block.line_numbers, "text")
    assert "p.jsonl:31:" in str(err.value) and "UTF-8" in str(err.value)
    # rows that skip the bad line are read; the bad bytes between them do not matter
    rows = np.array([0, 29])
    ok = parse_text_spans(file, block.buf, block.starts[rows], block.ends[rows], block.line_numbers[rows], "text")
    assert ok.to_pylist() == ["doc 0 \u00e9\n", "doc 29 \u00e9\n"]


def test_random_records_in_bulk():
    rng = random.Random(3)
    words = ["alpha", "Σίσυφος", "東京", "🙂", "tab\there", 'quote"s', "back\\slash", "nl\nx", "\u2028", "\x00"]
    lines = []
    for i in range(2000):
        rec = {"id": f"d{i}", "text": " ".join(rng.choice(words) for _ in range(rng.randint(0, 60))),
               "meta": {"n": rng.randint(-5, 5), "f": round(rng.random(), 3), "tags": ["a", None, True]}}
        lines.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5).encode())
    raw = b"\n".join(lines)
    buf = np.frombuffer(raw + b"\0", dtype=np.uint8)
    ends = np.cumsum([len(x) + 1 for x in lines]) - 1
    starts = ends - np.array([len(x) for x in lines])
    data, offsets = extract_text_field(buf, starts, ends, "text")
    got = [bytes(data[offsets[i]:offsets[i + 1]]).decode() for i in range(len(lines))]
    assert got == [json.loads(x)["text"] for x in lines]
