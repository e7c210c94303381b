"""A compiled reader for one string field of jsonl records: validates and unescapes in one pass.

pyarrow's JSON reader builds a whole table (about 230 MB/s here) when dsir needs one string
column. ``extract_text_field`` walks each line once instead (about 780 MB/s): it checks the
line against the JSON grammar (RFC 8259) and copies the unescaped value of the top-level text
field into an Arrow-layout buffer, eight bytes at a time between escapes. UTF-8 is checked
before, by the caller (``dsir.io.readers.parse_text_spans``, with Arrow's validator).

A dotted field (``meta.text``) is read by the rule of ``dsir.io.fields``: the top-level key
``meta.text`` when it holds a string, else (no such key, or null there) key ``text`` of the
object under the top-level key ``meta``. The walk keeps the depth of the innermost open object
that is on that path, so following it costs one comparison per key.

It is deliberately narrower than JSON readers in general: anything it is not certain about
makes it give up on the batch, and the caller then parses those lines with pyarrow, which
either reads them or raises the error that names the bad line. So it never accepts a line
pyarrow would refuse, and never reads a different text. It gives up on a line that is not a
valid JSON object, whose text field is missing, repeated or not a string, whose path holds
something else than an object (unless the exact key holds a string) or a key of it twice, a
key written with escapes where it
might spell a part of the field (top level, or an object on the path), a string escape for a
lone surrogate, a number with an exponent or of more than 15 characters (pyarrow refuses
numbers too big for a double), or nesting deeper than 512.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsir.featurize.kernels import put_utf8
from dsir.io.fields import path_of
from dsir.native import load_u64, store_u64, trailing_zeros

_MAX_DEPTH = 512
_MAX_NUMBER_CHARS = 15

# Byte classes inside a JSON string (bytes >= 0x80 are plain: UTF-8 is checked by the caller).
_PLAIN, _QUOTE, _BACKSLASH, _CONTROL = 0, 1, 2, 3


def _string_classes() -> np.ndarray:
    cls = np.zeros(256, dtype=np.uint8)
    cls[:0x20] = _CONTROL
    cls[ord('"')] = _QUOTE
    cls[ord("\\")] = _BACKSLASH
    return cls


_STRING_CLASSES = _string_classes()


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_QUOTES = np.uint64(0x2222222222222222)
_BACKSLASHES = np.uint64(0x5C5C5C5C5C5C5C5C)
_SPACES = np.uint64(0x2020202020202020)
_U3 = np.uint64(3)


@njit(cache=True, nogil=True, inline="always")
def _special_bytes(w):
    """High bit set in the byte of ``w`` that is a quote, a backslash or below 0x20 (the
    lowest flagged byte is exact; bytes above it may be flagged spuriously)."""
    q = w ^ _QUOTES
    b = w ^ _BACKSLASHES
    return (((q - _ONES) & ~q) | ((b - _ONES) & ~b) | ((w - _SPACES) & ~w)) & _HIGHS


@njit(cache=True, nogil=True, inline="always")
def _skip_ws(buf, i, end):
    while i < end:
        b = buf[i]
        if b != 32 and b != 9 and b != 10 and b != 13:
            break
        i += 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _hex4(buf, i, end):
    """The value of 4 hex digits at ``buf[i:i+4]``, or -1."""
    if i + 4 > end:
        return -1
    v = 0
    for j in range(i, i + 4):
        b = buf[j]
        if 48 <= b <= 57:
            d = b - 48
        elif 97 <= b <= 102:
            d = b - 87
        elif 65 <= b <= 70:
            d = b - 55
        else:
            return -1
        v = (v << 4) | d
    return v


# Whether _string copies the string out, as int64 values rather than True/False literals, which
# numba would compile _string for once each.
_NO_COPY, _COPY = np.int64(0), np.int64(1)


@njit(cache=True, nogil=True)
def _string(buf, i, end, classes, out, o, copy):
    """Read the JSON string whose opening quote is at ``buf[i - 1]``.

    Returns ``(position after the closing quote, next free slot of out, had escapes)``, or a
    position of -1 if the string is not valid. With ``copy``, the unescaped bytes go to
    ``out[o:]``.
    """
    escaped = False
    while i < end:
        # Eight bytes at a time while none is a quote, a backslash or a control character;
        # the word holding the first such byte is stored whole (``out`` has 8 bytes of
        # slack) and only the bytes before it are kept.
        while i + 8 <= end:
            w = load_u64(buf, i)
            m = _special_bytes(w)
            if copy:
                store_u64(out, o, w)
            if m != 0:
                n = np.int64(trailing_zeros(m) >> _U3)
                i += n
                o += n if copy else 0
                break
            i += 8
            o += 8 if copy else 0
        if i >= end:
            break
        b = buf[i]
        c = classes[b]
        if c == _PLAIN:
            if copy:
                out[o] = b
                o += 1
            i += 1
        elif c == _QUOTE:
            return i + 1, o, escaped
        elif c == _BACKSLASH:
            escaped = True
            if i + 1 >= end:
                return -1, o, escaped
            e = buf[i + 1]
            i += 2
            if e == 117:  # \uXXXX
                cp = _hex4(buf, i, end)
                if cp < 0:
                    return -1, o, escaped
                i += 4
                if 0xD800 <= cp <= 0xDBFF:
                    if i + 6 > end or buf[i] != 92 or buf[i + 1] != 117:
                        return -1, o, escaped
                    lo = _hex4(buf, i + 2, end)
                    if lo < 0xDC00 or lo > 0xDFFF:
                        return -1, o, escaped
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    i += 6
                elif 0xDC00 <= cp <= 0xDFFF:
                    return -1, o, escaped
                if copy:
                    o = put_utf8(out, o, cp)
                continue
            if e == 34 or e == 92 or e == 47:
                v = e
            elif e == 98:
                v = 8
            elif e == 102:
                v = 12
            elif e == 110:
                v = 10
            elif e == 114:
                v = 13
            elif e == 116:
                v = 9
            else:
                return -1, o, escaped
            if copy:
                out[o] = v
                o += 1
        else:  # a raw control character
            return -1, o, escaped
    return -1, o, escaped


@njit(cache=True, nogil=True, inline="always")
def _literal(buf, i, end, word):
    """Position after ``word`` if it is spelled at ``buf[i:]``, else -1."""
    if i + len(word) > end:
        return -1
    for j in range(len(word)):
        if buf[i + j] != word[j]:
            return -1
    return i + len(word)


@njit(cache=True, nogil=True)
def _number(buf, i, end):
    """Position after the JSON number at ``buf[i]``, or -1 (also for the forms we leave to pyarrow)."""
    s = i
    if i < end and buf[i] == 45:  # -
        i += 1
    if i >= end:
        return -1
    if buf[i] == 48:  # a leading 0 stands alone
        i += 1
    elif 49 <= buf[i] <= 57:
        while i < end and 48 <= buf[i] <= 57:
            i += 1
    else:
        return -1
    if i < end and buf[i] == 46:  # .
        i += 1
        d = i
        while i < end and 48 <= buf[i] <= 57:
            i += 1
        if i == d:
            return -1
    if i < end and (buf[i] == 101 or buf[i] == 69):  # an exponent: pyarrow decides
        return -1
    if i - s > _MAX_NUMBER_CHARS:
        return -1
    return i


_TRUE = np.frombuffer(b"true", dtype=np.uint8)
_FALSE = np.frombuffer(b"false", dtype=np.uint8)
_NULL = np.frombuffer(b"null", dtype=np.uint8)


@njit(cache=True, nogil=True, inline="always")
def _key_is(buf, k0, k1, key, a, b):
    """Whether ``buf[k0:k1]`` spells ``key[a:b]``."""
    if k1 - k0 != b - a:
        return False
    for j in range(b - a):
        if buf[k0 + j] != key[a + j]:
            return False
    return True


# What a key is to the field being read (see _line).
_OTHER, _STEP, _LEAF, _EXACT = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _line(buf, i, end, key, parts, classes, out, o, stack, true_, false_, null_):
    """Validate one line and copy its text field; returns the next free slot of ``out``, or -1.

    The field is ``key``; its path's part ``j`` is ``key[parts[j]:parts[j + 1] - 1]`` (one part
    for a flat field, which is then also the exact key).
    """
    i = _skip_ws(buf, i, end)
    if i >= end or buf[i] != 123:  # the record must be an object
        return -1
    i += 1
    depth = 1
    stack[0] = 123
    n = len(parts) - 1
    on = 1  # depth of the innermost open object on the path (the record itself is)
    left = False  # a key of the path was read and left: a later one is a repeat
    broken = False  # the path holds something else than an object, or a non-string at its end
    found = False  # the path's string was read
    exact = False  # a string under the top-level key spelled like the whole dotted field was read
    exact_seen = False
    o0 = o
    first = True  # nothing read yet in the innermost container
    while True:
        i = _skip_ws(buf, i, end)
        if i >= end:
            return -1
        b = buf[i]
        top = stack[depth - 1]
        if first and ((top == 123 and b == 125) or (top == 91 and b == 93)):  # {} or []
            i += 1
            depth -= 1
            if depth < on:
                on, left = depth, True
            first = False
        else:
            role = _OTHER
            if top == 123:  # a member: "key": value
                if b != 34:
                    return -1
                k0 = i + 1
                i, _, escaped = _string(buf, k0, end, classes, out, o, _NO_COPY)
                if i < 0 or (escaped and depth == on):  # an escaped key here might spell a part of the field
                    return -1
                if depth == on and depth <= n and _key_is(buf, k0, i - 1, key, parts[depth - 1], parts[depth] - 1):
                    if left or found:  # a repeated key of the path: pyarrow decides
                        return -1
                    role = _LEAF if depth == n else _STEP
                elif n > 1 and depth == 1 and _key_is(buf, k0, i - 1, key, 0, len(key)):
                    if exact_seen:
                        return -1
                    exact_seen = True
                    role = _EXACT
                i = _skip_ws(buf, i, end)
                if i >= end or buf[i] != 58:  # :
                    return -1
                i = _skip_ws(buf, i + 1, end)
                if i >= end:
                    return -1
                b = buf[i]
            if (role == _LEAF and b != 34) or (role == _STEP and b != 123):
                # the rule ignores the path when the exact key holds a string; else pyarrow decides
                broken, left, role = True, True, _OTHER
            if role == _LEAF or (role == _EXACT and b == 34):
                if role == _LEAF:
                    found = True
                    copy = _NO_COPY if exact else _COPY  # the exact key's string wins
                else:
                    exact, o, copy = True, o0, _COPY  # over a path's string read before it, too
                i, o, _ = _string(buf, i + 1, end, classes, out, o, copy)
                if i < 0:
                    return -1
            elif role == _EXACT and b != 110:
                return -1  # neither a string nor null: pyarrow decides
            elif b == 34:
                i, _, _ = _string(buf, i + 1, end, classes, out, o, _NO_COPY)
                if i < 0:
                    return -1
            elif b == 123 or b == 91:
                if depth == _MAX_DEPTH:
                    return -1
                stack[depth] = b
                depth += 1
                if role == _STEP:
                    on = depth
                i += 1
                first = True
                continue
            elif b == 116:
                i = _literal(buf, i, end, true_)
            elif b == 102:
                i = _literal(buf, i, end, false_)
            elif b == 110:
                i = _literal(buf, i, end, null_)
            else:
                i = _number(buf, i, end)
            if i < 0:
                return -1
            first = False
        # after a value (or a closed container): ',' or the close of the container
        while depth > 0:
            i = _skip_ws(buf, i, end)
            if i >= end:
                return -1
            b = buf[i]
            top = stack[depth - 1]
            if b == 44:  # ,
                i += 1
                break
            if (top == 123 and b == 125) or (top == 91 and b == 93):
                i += 1
                depth -= 1
                if depth < on:
                    on, left = depth, True
                continue
            return -1
        if depth == 0:
            break
    if _skip_ws(buf, i, end) != end or not (exact or (found and not broken)):
        return -1
    return o


@njit(cache=True, nogil=True)
def _extract(buf, starts, ends, key, parts, classes, out, offsets, true_, false_, null_):
    stack = np.empty(_MAX_DEPTH, dtype=np.uint8)
    o = np.int64(0)  # one type for every call: each distinct argument type is another compile
    offsets[0] = 0
    for r in range(len(starts)):
        o = _line(buf, starts[r], ends[r], key, parts, classes, out, o, stack, true_, false_, null_)
        if o < 0:
            return r
        offsets[r + 1] = o
    return -1


def extract_text_field(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                       field: str) -> tuple[np.ndarray, np.ndarray] | int:
    """The unescaped UTF-8 of string ``field`` (flat or dotted) of each line ``buf[starts[r]:ends[r]]``.

    Returns ``(data, offsets)`` in Arrow's string layout (int64 offsets), or the index of the
    first line this reader leaves to pyarrow (see the module docstring).
    """
    encoded = field.encode("utf-8")
    key = np.frombuffer(encoded, dtype=np.uint8)
    # where each part of the path starts, and one past the end: a "." is one byte in UTF-8
    cuts = [0] + [j + 1 for j, c in enumerate(encoded) if c == 0x2E] if path_of(field) else [0]
    parts = np.array(cuts + [len(encoded) + 1], dtype=np.int64)
    total = int((ends - starts).sum()) if len(starts) else 0
    out = np.empty(total + 8, dtype=np.uint8)  # unescaping never lengthens a string; 8 bytes of slack
    offsets = np.empty(len(starts) + 1, dtype=np.int64)
    bad = _extract(buf, starts, ends, key, parts, _STRING_CLASSES, out, offsets, _TRUE, _FALSE, _NULL)
    if bad >= 0:
        return int(bad)
    return out, offsets
