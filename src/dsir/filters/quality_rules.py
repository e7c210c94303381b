"""Heuristic document-quality rules of Gopher and C4, as per-document statistics.

``QualityRules(preset).failures(texts)`` says, for every rule of the preset and every document
of an Arrow string array, whether the document fails the rule. The statistics behind the rules
are computed by two numba kernels (``_gopher_kernel``, ``_c4_kernel``) that walk the Arrow
buffers (offsets + UTF-8 data bytes) once per document batch; Python loops over the rules, never
over documents, lines or words. A null document is the empty document.

Definitions shared by both presets
----------------------------------
* **Words** are whitespace-separated tokens, as Python's ``str.split()`` makes them: maximal
  runs of characters that are not Unicode whitespace (the 29 code points for which
  ``str.isspace()`` is true, ``_WHITESPACE``; the same set as pyarrow's ``utf8_is_space``).
  Punctuation stays attached to its word (``"end."`` is one word of four characters). This is
  coarser than datatrove, which tokenizes with nltk and drops punctuation tokens.
* **Lines** are what Python's ``str.splitlines()`` makes: the text is cut at ``\\n``, ``\\r``,
  ``\\r\\n``, ``\\v``, ``\\f``, ``\\x1c``, ``\\x1d``, ``\\x1e``, ``\\x85``, U+2028 and U+2029; a
  final line break does not start an empty line, and the empty text has no lines. This is what
  both datatrove filters use.
* **Lengths** are in code points (Python's ``len``, pyarrow's ``utf8_length``).
* **Case folding** is pyarrow's ``utf8_lower`` restricted to what it can change in a match with
  the ASCII phrases below: ``A``-``Z`` to ``a``-``z``, U+0130 (``İ``) to ``i`` and U+212A
  (KELVIN SIGN) to ``k``, the only non-ASCII code points ``utf8_lower`` maps to ASCII (checked
  over all code points by the tests). The kernels fold on the fly instead of calling
  ``utf8_lower``, which would copy the whole batch.
* **Alphabetic** is pyarrow's ``utf8_is_alpha`` of the single code point (Unicode general
  categories Lu, Ll, Lt, Lm, Lo, what ``str.isalpha`` tests too; pyarrow's Unicode version may be
  newer than Python's, so it knows more letters), read once into a table of all code points.
* Malformed UTF-8 (Arrow does not always validate) never reads outside the document: each bad
  byte is a single U+FFFD, a non-alphabetic, non-space code point.
* A ratio whose denominator is 0 (no words, no lines) is 0.

Gopher (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", appendix A.1.1, quality filter of MassiveWeb; thresholds as datatrove's
``GopherQualityFilter`` defaults), rule names in order:

1. ``gopher_word_count``: fewer than 50 or more than 100,000 words.
2. ``gopher_mean_word_length``: mean word length (characters) below 3 or above 10; 0 without words.
3. ``gopher_hash_ratio``: ``#`` count / words > 0.1.
4. ``gopher_ellipsis_ratio``: (non-overlapping ``...`` count + ``…`` count) / words > 0.1, as
   ``text.count("...") + text.count("…")``.
5. ``gopher_bullet_lines``: more than 90% of the lines start, after leading whitespace, with a
   bullet: ``•`` U+2022, ``‣`` U+2023, ``⁃`` U+2043, ``◦`` U+25E6, ``-`` or ``*``. datatrove
   checks ``•`` and ``-``; the other four are the usual bullet characters, added here.
6. ``gopher_ellipsis_lines``: more than 30% of the lines end, before trailing whitespace, with
   ``...`` or ``…``.
7. ``gopher_alpha_words``: fewer than 80% of the words contain an alphabetic character.
8. ``gopher_stop_words``: fewer than 2 words are, case-folded, one of the stop words "the", "be",
   "to", "of", "and", "that", "have", "with" (occurrences are counted, as datatrove does;
   ``"The"`` counts, ``"the,"`` does not, since words keep their punctuation).

C4 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer", section 2.2; its code, tensorflow_datasets ``c4_utils._clean_page``; datatrove's
``C4QualityFilter`` defaults). C4 edits pages: it drops lines and then whole pages. This stage only
keeps or drops whole documents and never edits text, so the rules are the page-level
consequences, in order:

1. ``c4_lorem_ipsum``: the case-folded document contains ``lorem ipsum`` (paper: "removed any page
   where the phrase 'lorem ipsum' appeared"). Anywhere in the document, as in the paper; the C4
   code and datatrove only look in lines that survived the line filters below, but a document kept
   here keeps all its lines, so the paper's page-level reading is the one that fits.
2. ``c4_curly_bracket``: the document contains ``{`` (paper: "removed any pages that contained a
   curly bracket", to drop code); anywhere, for the same reason.
3. ``c4_too_few_sentences``: fewer than 5 sentences remain in the lines C4 would keep (paper:
   "discarded any page with fewer than 5 sentences"; datatrove ``min_num_sentences=5``). A line
   is stripped of surrounding whitespace and is *dropped* (counts no sentence) when

   * one of its words is longer than 1000 characters (C4 code, datatrove ``max_word_length``);
   * it does not end in terminal punctuation ``.``, ``?``, ``!``, ``"`` or ``'``, or ends in
     ``...``, once its Wikipedia citation marks (``[12]`` with ASCII digits, ``[]``, ``[edit]``,
     ``[citation needed]``, case-sensitive) are removed (paper: "only retained lines that ended
     in a terminal punctuation mark"; datatrove ``filter_no_terminal_punct`` and
     ``remove_citations``; as there, whitespace before a removed mark is not stripped again, so
     ``"Text. [1]"`` is dropped, and ``"dots..[1]."`` ends in ``...``);
   * it has fewer than 3 words (paper; datatrove ``min_words_per_line``; counted before citation
     marks are removed, as datatrove does);
   * its case-folded text contains ``javascript`` (paper; datatrove ``filter_javascript``);
   * its case-folded text contains one of the policy phrases "terms of use", "privacy policy",
     "cookie policy", "uses cookies", "use of cookies", "use cookies" (C4 code; datatrove
     ``filter_policy``).

   The phrases are looked for in the line as it is; datatrove looks after removing citation
   marks, which differs only for a phrase that a mark cuts in two (``java[1]script``).

   C4 counts the sentences of a kept line with nltk's punkt tokenizer; here a kept line has one
   sentence per run of ``.``, ``!`` or ``?`` that, after optional closing quotes (``"``, ``'``), is
   followed by whitespace or by the end of the line without the citation marks that end it, and
   at least one. Without punkt's abbreviation list, "Mr. Smith" counts as two; a mark inside the
   line hides a sentence end (``"Cited.[1] More."`` counts one).

Left out, and why: the bad-words page filter (the "List of Dirty, Naughty, Obscene or Otherwise
Bad Words"; datatrove implements it apart as ``C4BadWordsFilter``): it needs a downloaded word
list per language, this module has no data files or network, and the list is a content policy
rather than a text-quality heuristic. Also out: C4's language identification (langdetect, an
English filter of its own) and its deduplication of repeated three-sentence spans (a
deduplication stage, not a per-document rule). Lines dropped for javascript or policy phrases only
stop counting as sentences: the document keeps them, since text is never edited here.

Performance
-----------
Measured with ``time.process_time`` on one core, after one warm-up call, on 6.2 MB of generated
English-like text (``_benchmark``: 20,000 documents of about 310 bytes; 2,000 of about 3 KB gave
the same), on a shared 2-core AMD EPYC VM under load (load average ~3, so on the low side):
``failures`` ran at 95-135 MB/s for gopher and 85-115 MB/s for c4 over eight runs (kernel, buffer
views and threshold comparisons together). For comparison, on the same machine pyarrow's
``utf8_split_whitespace`` alone ran at ~86 MB/s, ``utf8_lower`` + ``match_substring`` at ~215 MB/s
and each ``count_substring``/``match_substring`` pass at ~350 MB/s, so a pyarrow-only path would
have been below 50 MB/s before any per-word or per-line statistic. The first call in a process
loads the compiled kernels from numba's cache (or compiles them once, ~20 s). Command::

    .venv/bin/python -c "from dsir.filters.quality_rules import _benchmark; _benchmark()"
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from dsir.featurize.kernels import _decode as decode_utf8

PRESETS = ("gopher", "c4")

# --- Gopher thresholds: Rae et al. 2021, appendix A.1.1; datatrove GopherQualityFilter defaults ---
#: Paper: remove documents with fewer than 50 or more than 100,000 words (datatrove min_doc_words=50).
GOPHER_MIN_WORDS = 50
#: Paper, same rule (datatrove max_doc_words=100000).
GOPHER_MAX_WORDS = 100_000
#: Paper: remove documents whose mean word length is outside 3 to 10 characters
#: (datatrove min_avg_word_length=3).
GOPHER_MIN_MEAN_WORD_LENGTH = 3
#: Paper, same rule (datatrove max_avg_word_length=10).
GOPHER_MAX_MEAN_WORD_LENGTH = 10
#: Paper: remove documents with a symbol-to-word ratio above 0.1 for the hash symbol or for the
#: ellipsis (datatrove max_symbol_word_ratio=0.1, for both).
GOPHER_MAX_SYMBOL_WORD_RATIO = 0.1
#: Paper: remove documents with more than 90% of lines starting with a bullet point
#: (datatrove max_bullet_lines_ratio=0.9).
GOPHER_MAX_BULLET_LINES_RATIO = 0.9
#: Paper: ... or more than 30% of lines ending with an ellipsis (datatrove max_ellipsis_lines_ratio=0.3).
GOPHER_MAX_ELLIPSIS_LINES_RATIO = 0.3
#: Paper: 80% of the words must contain at least one alphabetic character
#: (datatrove max_non_alpha_words_ratio=0.8, despite its name a minimum ratio of alphabetic words).
GOPHER_MIN_ALPHA_WORDS_RATIO = 0.8
#: Paper: remove documents without at least two of the stop words (datatrove min_stop_words=2).
GOPHER_MIN_STOP_WORDS = 2
#: The paper's list (datatrove STOP_WORDS).
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
#: Bullets a line may start with: datatrove's "•" and "-", plus "‣", "⁃", "◦", "*" (see module doc).
GOPHER_BULLETS = ("\u2022", "\u2023", "\u2043", "\u25e6", "-", "*")

# --- C4 thresholds: Raffel et al. 2020, section 2.2; tensorflow_datasets c4_utils; datatrove
# C4QualityFilter defaults ---
#: "We discarded any page with fewer than 5 sentences" (datatrove min_num_sentences=5).
C4_MIN_SENTENCES = 5
#: "only retained lines that contained at least 3 words" (datatrove min_words_per_line=3).
C4_MIN_WORDS_PER_LINE = 3
#: C4 code: drops lines with a word over 1000 characters (datatrove max_word_length=1000).
C4_MAX_WORD_LENGTH = 1000
#: "lines that ended in a terminal punctuation mark" (C4 code _END_MARKS; datatrove END_PUNCTUATION).
#: This and the next two are spelled out for the reader: the kernels compare their bytes.
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
#: C4 code and datatrove: a line ending in an ellipsis is not terminated.
C4_ELLIPSIS = "..."
#: "removed any line with the word Javascript" (datatrove filter_javascript).
C4_JAVASCRIPT = "javascript"
#: C4 code _POLICY_SUBSTRINGS (datatrove POLICY_SUBSTRINGS, filter_policy).
C4_POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                        "use of cookies", "use cookies")
#: "removed any page where the phrase 'lorem ipsum' appeared" (datatrove filter_lorem_ipsum).
C4_LOREM_IPSUM = "lorem ipsum"
#: "removed any pages that contained a curly bracket" (datatrove filter_curly_bracket).
C4_CURLY_BRACKET = "{"
#: Citation marks removed before the terminal-punctuation check: datatrove CITATION_REGEX
#: ``\[\d*]|\[edit]|\[citation needed]`` (remove_citations=True; ``\d`` as ASCII digits here).
C4_CITATIONS = ("[<digits>]", "[edit]", "[citation needed]")

# Unicode whitespace: the code points for which str.isspace() holds (and pyarrow utf8_is_space).
_WHITESPACE = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
               *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
# Line boundaries of str.splitlines() (\r\n, one boundary, is handled by the kernels).
_LINE_BREAKS = (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)
# Code-point class bits of the table the kernels read.
_SPACE, _BREAK, _ALPHA, _BULLET, _SYMBOL, _C4_MARK = 1, 2, 4, 8, 16, 32
_N_CODE_POINTS = 0x110000
# utf8_is_alpha is asked about planes 0-3 only: planes 4-16 hold no letters (and asking about
# them costs 100 times more).
_ALPHA_PLANES_END = 0x40000
_ELLIPSIS_CP = 0x2026
_LINE_NEEDLES = (C4_JAVASCRIPT, *C4_POLICY_SUBSTRINGS)


def _needle_table(phrases: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, lengths)``: the ASCII ``phrases`` as rows of a zero-padded uint8 matrix."""
    width = max(len(p) for p in phrases)
    table = np.zeros((len(phrases), width), dtype=np.uint8)
    for k, p in enumerate(phrases):
        table[k, : len(p)] = np.frombuffer(p.encode("ascii"), dtype=np.uint8)
    return table, np.array([len(p) for p in phrases], dtype=np.int64)


# Row 0: the page phrase "lorem ipsum"; rows 1..: the phrases that drop a line.
_NEEDLES, _NEEDLE_LENGTHS = _needle_table((C4_LOREM_IPSUM, *_LINE_NEEDLES))


def _line_byte_table(phrases: tuple[str, ...]) -> np.ndarray:
    """uint8[256]: bit ``k`` set at the bytes a case-folded match of ASCII ``phrases[k]`` (at most
    7) can start with: its first letter in either case, and the lead byte of the non-ASCII code
    points that fold to it (U+0130 to "i": 0xC4; U+212A to "k": 0xE2); bit 7 at ``.``, ``!``, ``?``."""
    assert len(phrases) <= 7
    table = np.zeros(256, dtype=np.uint8)
    for k, p in enumerate(phrases):
        first = p[0]
        for char in {first, first.upper()}:
            table[ord(char)] |= 1 << k
        for cp, folded in ((0x130, "i"), (0x212A, "k")):
            if first == folded:
                table[chr(cp).encode("utf-8")[0]] |= 1 << k
    for char in ".!?":
        assert not table[ord(char)]
        table[ord(char)] |= 0x80
    return table


_LINE_BYTES = _line_byte_table(_LINE_NEEDLES)


def _stop_word_keys(words: tuple[str, ...]) -> np.ndarray:
    """Each ASCII word as the integer ``_word_key`` makes of it (bytes, big-endian)."""
    return np.array([int.from_bytes(w.encode("ascii"), "big") for w in words], dtype=np.int64)


_STOP_KEYS = _stop_word_keys(GOPHER_STOP_WORDS)
# Whether a stop word may start with a byte: its first letter in either case (none of them
# starts with "i" or "k", the letters non-ASCII code points fold to).
_STOP_FIRST_BYTES = np.zeros(256, dtype=np.uint8)
_STOP_FIRST_BYTES[[ord(c) for w in GOPHER_STOP_WORDS for c in (w[0], w[0].upper())]] = 1
assert not {w[0] for w in GOPHER_STOP_WORDS} & {"i", "k"}
_STOP_MIN_CHARS = min(len(w) for w in GOPHER_STOP_WORDS)
_STOP_MAX_CHARS = max(len(w) for w in GOPHER_STOP_WORDS)

_CLASSES: np.ndarray | None = None


def _alphabetic_code_points() -> np.ndarray:
    """Bool array over code points ``0 .. _ALPHA_PLANES_END``: pyarrow's ``utf8_is_alpha`` of each.

    Vectorized: all code points but the surrogates become one Arrow string array (UTF-32 decoded
    to ``str``, encoded to UTF-8, offsets from the per-code-point UTF-8 lengths).
    """
    cps = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, _ALPHA_PLANES_END)]).astype(np.uint32)
    data = cps.astype("<u4").tobytes().decode("utf-32-le").encode("utf-8")
    lengths = np.where(cps < 0x80, 1, np.where(cps < 0x800, 2, np.where(cps < 0x10000, 3, 4)))
    offsets = np.zeros(len(cps) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    chars = pa.StringArray.from_buffers(len(cps), pa.py_buffer(offsets), pa.py_buffer(data))
    alpha = np.zeros(_ALPHA_PLANES_END, dtype=bool)
    alpha[cps] = pc.utf8_is_alpha(chars).to_numpy(zero_copy_only=False)
    return alpha


def char_classes() -> np.ndarray:
    """uint8 table over all code points: bits ``_SPACE`` (whitespace), ``_BREAK`` (line break),
    ``_ALPHA``, ``_BULLET``, ``_SYMBOL`` (``#``, ``.``, ``…``, which Gopher counts) and
    ``_C4_MARK`` (``{`` and the first letter of "lorem ipsum" in either case: C4's page rules).

    Built on first use (a few milliseconds) and kept.
    """
    global _CLASSES
    if _CLASSES is None:
        table = np.zeros(_N_CODE_POINTS, dtype=np.uint8)
        table[:_ALPHA_PLANES_END][_alphabetic_code_points()] |= _ALPHA
        table[list(_WHITESPACE)] |= _SPACE
        table[list(_LINE_BREAKS)] |= _BREAK
        table[[ord(b) for b in GOPHER_BULLETS]] |= _BULLET
        table[[ord("#"), ord("."), _ELLIPSIS_CP]] |= _SYMBOL
        table[[ord("{"), ord(C4_LOREM_IPSUM[0]), ord(C4_LOREM_IPSUM[0].upper())]] |= _C4_MARK
        _CLASSES = table
    return _CLASSES


def text_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(data, starts, ends)``: zero-copy UTF-8 bytes and each document's byte span in them.

    Accepts string, large_string and string_view arrays (the last cast to large_string), chunked
    or not, sliced or not. A null document gets an empty span, whatever its offsets say.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if pa.types.is_string_view(texts.type):
        texts = texts.cast(pa.large_string())
    if pa.types.is_string(texts.type):
        off_type = np.int32
    elif pa.types.is_large_string(texts.type):
        off_type = np.int64
    else:
        raise TypeError(f"expected an Arrow string array, got {texts.type}")
    n = len(texts)
    bufs = texts.buffers()
    if n == 0 or bufs[1] is None:
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        offsets = np.frombuffer(bufs[1], dtype=off_type, count=texts.offset + n + 1)[texts.offset:]
        offsets = offsets.astype(np.int64)
    # Always read-only uint8 data: a writable array would compile every kernel once more.
    data = np.frombuffer(bufs[2] if len(bufs) > 2 and bufs[2] is not None and bufs[2].size else b"\0",
                         dtype=np.uint8)
    data.flags.writeable = False  # an Arrow buffer may be mutable
    starts, ends = offsets[:-1].copy(), offsets[1:].copy()
    if texts.null_count:
        null = np.asarray(texts.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        ends[null] = starts[null]
    return data, starts, ends


# ----------------------------------------------------------------------------- numba kernels


@njit(cache=True, nogil=True, inline="always")
def _decode(data, i, end):
    """``(code point, byte length)`` of the UTF-8 sequence at ``data[i]`` (``i < end``): the
    featurizer's decoder, so both read malformed bytes alike (one U+FFFD per bad byte, never
    at ``end`` or past)."""
    cp, nxt = decode_utf8(data, i, end)
    return cp, nxt - i


@njit(cache=True, nogil=True, inline="always")
def _fold(cp):
    """The case-folded ASCII code of ``cp`` (utf8_lower, see module doc), or -1 if not ASCII."""
    if cp < 0x80:
        if cp >= 0x41 and cp <= 0x5A:
            return cp + 32
        return cp
    if cp == 0x130:
        return np.int64(0x69)  # İ -> i
    if cp == 0x212A:
        return np.int64(0x6B)  # KELVIN SIGN -> k
    return np.int64(-1)


@njit(cache=True, nogil=True)
def _matches_at(data, i, end, needles, lengths, k):
    """Whether the case-folded text at byte ``i`` (up to ``end``) starts with ASCII ``needles[k]``."""
    p = i
    for j in range(lengths[k]):
        if p >= end:
            return False
        cp, n = _decode(data, p, end)
        if _fold(cp) != needles[k, j]:
            return False
        p += n
    return True


@njit(cache=True, nogil=True)
def _word_key(data, start, end, max_chars):
    """The case-folded ASCII word ``data[start:end]`` as a big-endian integer; -1 if it has a
    non-ASCII code point (after folding) or more than ``max_chars`` code points."""
    key = np.int64(0)
    i = start
    chars = 0
    while i < end:
        cp, n = _decode(data, i, end)
        f = _fold(cp)
        chars += 1
        if f < 0 or chars > max_chars:
            return np.int64(-1)
        key = key * 256 + f
        i += n
    return key


# Rows of the Gopher kernel's output.
_G_WORDS, _G_WORD_CHARS, _G_ALPHA_WORDS, _G_STOP_WORDS, _G_HASHES, _G_ELLIPSES = 0, 1, 2, 3, 4, 5
_G_LINES, _G_BULLET_LINES, _G_ELLIPSIS_LINES = 6, 7, 8
_G_ROWS = 9


@njit(cache=True, nogil=True)
def _ends_in_ellipsis(data, first, last):
    """Whether the non-space bytes ``first:last`` of a line end with "..." or "…" (3 bytes each)."""
    if first < 0 or last - first < 3:
        return False
    a, b, c = data[last - 3], data[last - 2], data[last - 1]
    return (a == 0x2E and b == 0x2E and c == 0x2E) or (a == 0xE2 and b == 0x80 and c == 0xA6)


@njit(cache=True, nogil=True)
def _gopher_kernel(data, starts, ends, classes, stop_first, stop_keys, stop_min, stop_max, out):
    """Per document ``d`` (bytes ``starts[d]:ends[d]``), the Gopher counts into ``out[:, d]``.

    Rows: words, code points in words, words with an alphabetic code point, stop-word
    occurrences, ``#`` count, ``...`` (non-overlapping) + ``…`` count, lines, lines starting with
    a bullet, lines ending in an ellipsis (see the module doc for each definition).
    ``stop_first[byte]``: whether a stop word may start with that byte.
    """
    for d in range(len(starts)):
        s = starts[d]
        e = ends[d]
        words = 0
        word_chars = 0
        alpha_words = 0
        stop_words = 0
        hashes = 0
        ellipses = 0
        lines = 0
        bullet_lines = 0
        ellipsis_lines = 0
        dots = 0  # length of the run of "." that ends at byte dot_end
        dot_end = -1
        line_start = s
        first = -1  # the line's first non-space byte, -1 before it
        last = -1  # end of the line's last non-space code point
        i = s
        while True:
            # Whitespace up to the next word; each line break closes a line.
            while i < e:
                c = data[i]
                if c < 0x80:
                    cp = np.int64(c)
                    n = 1
                else:
                    cp, n = _decode(data, i, e)
                cls = classes[cp]
                if not cls & 1:
                    break
                if cls & 2:
                    if cp == 0x0D and i + 1 < e and data[i + 1] == 0x0A:
                        n = 2
                    lines += 1
                    if first >= 0:
                        if classes[_decode(data, first, e)[0]] & 8:
                            bullet_lines += 1
                        if _ends_in_ellipsis(data, first, last):
                            ellipsis_lines += 1
                    first = -1
                    line_start = i + n
                i += n
            if i >= e:
                break
            # One word.
            word_start = i
            if first < 0:
                first = i
            chars = 0
            seen = 0
            while i < e:
                c = data[i]
                if c < 0x80:
                    cp = np.int64(c)
                    n = 1
                else:
                    cp, n = _decode(data, i, e)
                cls = classes[cp]
                if cls & 1:
                    break
                chars += 1
                seen |= cls
                if cls & 16:  # "#", "." or "…"
                    if cp == 0x2E:
                        dots = dots + 1 if i == dot_end else 1
                        dot_end = i + 1
                        if dots % 3 == 0:
                            ellipses += 1
                    elif cp == 0x23:
                        hashes += 1
                    else:
                        ellipses += 1
                i += n
            last = i
            words += 1
            word_chars += chars
            if seen & 4:
                alpha_words += 1
            if chars >= stop_min and chars <= stop_max and stop_first[data[word_start]]:
                key = _word_key(data, word_start, i, stop_max)
                for k in range(len(stop_keys)):
                    if key == stop_keys[k]:
                        stop_words += 1
                        break
        if line_start < e:
            lines += 1
            if first >= 0:
                if classes[_decode(data, first, e)[0]] & 8:
                    bullet_lines += 1
                if _ends_in_ellipsis(data, first, last):
                    ellipsis_lines += 1
        out[0, d] = words
        out[1, d] = word_chars
        out[2, d] = alpha_words
        out[3, d] = stop_words
        out[4, d] = hashes
        out[5, d] = ellipses
        out[6, d] = lines
        out[7, d] = bullet_lines
        out[8, d] = ellipsis_lines


@njit(cache=True, nogil=True)
def _is_space_at(data, j, end, classes):
    """Whether the code point at byte ``j`` (``j < end``) is whitespace."""
    cp, n = _decode(data, j, end)
    return (classes[cp] & 1) != 0


_CITATION_NEEDED = np.frombuffer(b"citation needed]", dtype=np.uint8).copy()


@njit(cache=True, nogil=True)
def _strip_citations(data, a, b):
    """End of ``data[a:b]`` once the citation marks (``[digits]``, ``[edit]``, ``[citation needed]``)
    that end it are removed, one after the other. Marks hold no other bracket, so they never
    overlap and ``re.sub`` (datatrove's ``CITATION_REGEX.sub``) removes every one of them: the
    text it leaves ends where this one does."""
    while b > a and data[b - 1] == 0x5D:  # "]"
        k = b - 2
        while k >= a and data[k] >= 0x30 and data[k] <= 0x39:
            k -= 1
        if k >= a and data[k] == 0x5B:  # "[" + digits + "]"
            b = k
            continue
        # "[edit]" (6 bytes) or "[citation needed]" (17 bytes)
        if b - a >= 6 and data[b - 6] == 0x5B and data[b - 5] == 0x65 and data[b - 4] == 0x64 \
                and data[b - 3] == 0x69 and data[b - 2] == 0x74:
            b -= 6
            continue
        if b - a >= 17 and data[b - 17] == 0x5B:
            ok = True
            for j in range(16):
                if data[b - 16 + j] != _CITATION_NEEDED[j]:
                    ok = False
                    break
            if ok:
                b -= 17
                continue
        break
    return b


@njit(cache=True, nogil=True)
def _ends_in_dots(data, a, t):
    """Whether ``data[a:t]`` ends in "..." once all citation marks are removed (the marks that
    end at ``t`` are already): removing every mark, as ``re.sub`` does, can join dots, as in
    ``"..[1]."``."""
    dots = 0
    k = t
    while dots < 3 and k > a:
        j = _strip_citations(data, a, k)
        if j < k:
            k = j
        elif data[k - 1] == 0x2E:
            dots += 1
            k -= 1
        else:
            break
    return dots == 3


@njit(cache=True, nogil=True)
def _kept_line_sentences(data, a, b, words, too_long, classes, needles, lengths, line_bytes,
                         min_words):
    """Sentences the stripped line ``data[a:b]`` adds to C4's count: 0 when C4 drops the line
    (long word, no terminal punctuation, too few words, javascript or policy phrase), else the
    number of sentence ends (see module doc), at least 1.

    ``line_bytes[byte]`` (``_line_byte_table``): bit ``k`` (k < 7) set when ``needles[1 + k]``
    may start at a byte of that value; bit 7 for the sentence-ending ``.``, ``!`` and ``?``.
    """
    if too_long or b <= a or words < min_words:
        return 0
    t = _strip_citations(data, a, b)
    if t <= a:
        return 0
    last = data[t - 1]
    if not (last == 0x2E or last == 0x3F or last == 0x21 or last == 0x22 or last == 0x27):
        return 0
    if last == 0x2E and _ends_in_dots(data, a, t):
        return 0
    # One pass: a dropping phrase anywhere in a:b; sentence ends (a run of . ! ? then optional
    # closing quotes, then whitespace or t). No phrase starts with . ! ? or a quote, and the
    # citation marks in t:b hold none of . ! ?, so a run starts before t and is cut at t.
    sentences = 0
    i = a
    while i < b:
        m = line_bytes[data[i]]
        if m == 0:
            i += 1
        elif m & 0x80:
            j = i + 1
            while j < t and line_bytes[data[j]] & 0x80:
                j += 1
            while j < t and (data[j] == 0x22 or data[j] == 0x27):
                j += 1
            if j == t or _is_space_at(data, j, t, classes):
                sentences += 1
            i = j
        else:
            for k in range(len(lengths) - 1):
                if (m >> k) & 1 and _matches_at(data, i, b, needles, lengths, k + 1):
                    return 0
            i += 1
    return max(sentences, 1)


# Rows of the C4 kernel's output.
_C_LINES, _C_KEPT_LINES, _C_SENTENCES, _C_LOREM, _C_CURLY = 0, 1, 2, 3, 4
_C_ROWS = 5


@njit(cache=True, nogil=True)
def _c4_kernel(data, starts, ends, classes, needles, lengths, line_bytes, min_words, max_word_chars, out):
    """Per document ``d`` (bytes ``starts[d]:ends[d]``), the C4 counts into ``out[:, d]``.

    Rows: lines, lines C4 keeps, sentences in kept lines, contains case-folded "lorem ipsum"
    (0/1), contains "{" (0/1). ``needles[0]`` is "lorem ipsum", the other rows the phrases that
    drop a line; ``line_bytes``: see ``_kept_line_sentences``.
    """
    for d in range(len(starts)):
        s = starts[d]
        e = ends[d]
        lines = 0
        kept = 0
        sentences = 0
        lorem = False
        curly = False
        first = -1  # the line's first non-space byte, -1 before it
        last = -1  # end of its last non-space code point
        words = 0
        too_long = False
        line_start = s
        i = s
        while True:
            # Whitespace up to the next word; each line break closes a line.
            while i < e:
                c = data[i]
                if c < 0x80:
                    cp = np.int64(c)
                    n = 1
                else:
                    cp, n = _decode(data, i, e)
                cls = classes[cp]
                if not cls & 1:
                    break
                if cls & 2:
                    if cp == 0x0D and i + 1 < e and data[i + 1] == 0x0A:
                        n = 2
                    lines += 1
                    got = _kept_line_sentences(data, first, last, words, too_long, classes, needles,
                                               lengths, line_bytes, min_words)
                    if got:
                        kept += 1
                        sentences += got
                    first = -1
                    last = -1
                    words = 0
                    too_long = False
                    line_start = i + n
                i += n
            if i >= e:
                break
            # One word.
            if first < 0:
                first = i
            words += 1
            chars = 0
            while i < e:
                c = data[i]
                if c < 0x80:
                    cp = np.int64(c)
                    n = 1
                else:
                    cp, n = _decode(data, i, e)
                cls = classes[cp]
                if cls & 1:
                    break
                chars += 1
                if cls & 32:  # "{", "l" or "L"
                    if c == 0x7B:
                        curly = True
                    elif not lorem:
                        lorem = _matches_at(data, i, e, needles, lengths, 0)
                i += n
            last = i
            if chars > max_word_chars:
                too_long = True
        if line_start < e:
            lines += 1
            got = _kept_line_sentences(data, first, last, words, too_long, classes, needles,
                                       lengths, line_bytes, min_words)
            if got:
                kept += 1
                sentences += got
        out[0, d] = lines
        out[1, d] = kept
        out[2, d] = sentences
        out[3, d] = lorem
        out[4, d] = curly


# ----------------------------------------------------------------------------- the rules


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise as float64, 0 where ``den`` is 0."""
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def gopher_statistics(texts: pa.Array) -> dict[str, np.ndarray]:
    """Per-document Gopher statistics of ``texts`` (see the module doc for the definitions).

    Keys: ``words``, ``lines``, ``stop_words`` (int64 counts); ``mean_word_length``,
    ``hash_ratio``, ``ellipsis_ratio``, ``bullet_lines_ratio``, ``ellipsis_lines_ratio``,
    ``alpha_words_ratio`` (float64; 0 where the denominator is 0).
    """
    data, starts, ends = text_buffers(texts)
    out = np.zeros((_G_ROWS, len(starts)), dtype=np.int64)
    _gopher_kernel(data, starts, ends, char_classes(), _STOP_FIRST_BYTES, _STOP_KEYS, _STOP_MIN_CHARS,
                   _STOP_MAX_CHARS, out)
    words, lines = out[_G_WORDS], out[_G_LINES]
    return {
        "words": words,
        "mean_word_length": _ratio(out[_G_WORD_CHARS], words),
        "hash_ratio": _ratio(out[_G_HASHES], words),
        "ellipsis_ratio": _ratio(out[_G_ELLIPSES], words),
        "lines": lines,
        "bullet_lines_ratio": _ratio(out[_G_BULLET_LINES], lines),
        "ellipsis_lines_ratio": _ratio(out[_G_ELLIPSIS_LINES], lines),
        "alpha_words_ratio": _ratio(out[_G_ALPHA_WORDS], words),
        "stop_words": out[_G_STOP_WORDS],
    }


def c4_statistics(texts: pa.Array) -> dict[str, np.ndarray]:
    """Per-document C4 statistics of ``texts`` (see the module doc for the definitions).

    Keys: ``lines``, ``kept_lines`` (lines C4 would keep), ``sentences`` (in kept lines), int64;
    ``lorem_ipsum``, ``curly_bracket``, bool.
    """
    data, starts, ends = text_buffers(texts)
    out = np.zeros((_C_ROWS, len(starts)), dtype=np.int64)
    _c4_kernel(data, starts, ends, char_classes(), _NEEDLES, _NEEDLE_LENGTHS, _LINE_BYTES,
               C4_MIN_WORDS_PER_LINE, C4_MAX_WORD_LENGTH, out)
    return {
        "lines": out[_C_LINES],
        "kept_lines": out[_C_KEPT_LINES],
        "sentences": out[_C_SENTENCES],
        "lorem_ipsum": out[_C_LOREM].astype(bool),
        "curly_bracket": out[_C_CURLY].astype(bool),
    }


_Stats = dict[str, np.ndarray]
# Per preset: (rule name, threshold for the manifest, the documents failing it given the stats).
_RULES: dict[str, tuple[tuple[str, object, Callable[[_Stats], np.ndarray]], ...]] = {
    "gopher": (
        ("gopher_word_count", [GOPHER_MIN_WORDS, GOPHER_MAX_WORDS],
         lambda s: (s["words"] < GOPHER_MIN_WORDS) | (s["words"] > GOPHER_MAX_WORDS)),
        ("gopher_mean_word_length", [GOPHER_MIN_MEAN_WORD_LENGTH, GOPHER_MAX_MEAN_WORD_LENGTH],
         lambda s: (s["mean_word_length"] < GOPHER_MIN_MEAN_WORD_LENGTH)
         | (s["mean_word_length"] > GOPHER_MAX_MEAN_WORD_LENGTH)),
        ("gopher_hash_ratio", GOPHER_MAX_SYMBOL_WORD_RATIO,
         lambda s: s["hash_ratio"] > GOPHER_MAX_SYMBOL_WORD_RATIO),
        ("gopher_ellipsis_ratio", GOPHER_MAX_SYMBOL_WORD_RATIO,
         lambda s: s["ellipsis_ratio"] > GOPHER_MAX_SYMBOL_WORD_RATIO),
        ("gopher_bullet_lines", GOPHER_MAX_BULLET_LINES_RATIO,
         lambda s: s["bullet_lines_ratio"] > GOPHER_MAX_BULLET_LINES_RATIO),
        ("gopher_ellipsis_lines", GOPHER_MAX_ELLIPSIS_LINES_RATIO,
         lambda s: s["ellipsis_lines_ratio"] > GOPHER_MAX_ELLIPSIS_LINES_RATIO),
        ("gopher_alpha_words", GOPHER_MIN_ALPHA_WORDS_RATIO,
         lambda s: s["alpha_words_ratio"] < GOPHER_MIN_ALPHA_WORDS_RATIO),
        ("gopher_stop_words", GOPHER_MIN_STOP_WORDS,
         lambda s: s["stop_words"] < GOPHER_MIN_STOP_WORDS),
    ),
    "c4": (
        ("c4_lorem_ipsum", C4_LOREM_IPSUM, lambda s: s["lorem_ipsum"]),
        ("c4_curly_bracket", C4_CURLY_BRACKET, lambda s: s["curly_bracket"]),
        ("c4_too_few_sentences", C4_MIN_SENTENCES, lambda s: s["sentences"] < C4_MIN_SENTENCES),
    ),
}
_STATISTICS: dict[str, Callable[[pa.Array], _Stats]] = {"gopher": gopher_statistics, "c4": c4_statistics}


@dataclass(frozen=True)
class QualityRules:
    """The heuristic quality rules of one preset, ``"gopher"`` or ``"c4"`` (see the module doc).

    ``failures(texts)`` is a bool matrix, one row per rule (``rule_names()``), one column per
    document: True where the document fails the rule. A document passes the preset when its
    column holds no True.
    """

    preset: str

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown quality preset {self.preset!r}; the presets are {', '.join(PRESETS)}")

    def rule_names(self) -> tuple[str, ...]:
        """The preset's rule names, in the order of ``failures``' rows."""
        return tuple(name for name, _, _ in _RULES[self.preset])

    def statistics(self, texts: pa.Array) -> dict[str, np.ndarray]:
        """The per-document statistics the preset's rules compare with their thresholds."""
        return _STATISTICS[self.preset](texts)

    def failures(self, texts: pa.Array) -> np.ndarray:
        """bool array ``(len(rule_names()), len(texts))``: True where document ``d`` fails rule ``r``.

        ``texts``: an Arrow string, large_string or string_view array (or chunked array), maybe
        sliced, maybe with nulls (a null is the empty document).
        """
        stats = self.statistics(texts)
        rules = _RULES[self.preset]
        out = np.zeros((len(rules), len(texts)), dtype=bool)
        for r, (_, _, fails) in enumerate(rules):
            out[r] = fails(stats)
        return out

    @property
    def params(self) -> dict:
        """``{"preset": ..., "thresholds": {rule: value or [lo, hi]}}``, JSON-serializable."""
        return {"preset": self.preset,
                "thresholds": {name: (list(t) if isinstance(t, list) else t) for name, t, _ in _RULES[self.preset]}}


def _benchmark(megabytes: float = 8.0, documents: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Print and return MB/s per preset on about ``megabytes`` of generated text cut into
    ``documents`` documents (one core, process time, after one warm-up call). The text: words
    drawn from a small English-like vocabulary (stop words, accented words, ``#tag``, ``...``,
    ``…``, bullets), a space after most, a period or a line break after some."""
    rng = np.random.default_rng(seed)
    vocab = np.array("the of and to a in is that for it with as was on be have by this are from "
                     "data model café naïve language #tag ... … - • train select weight value".split())
    n_words = int(megabytes * 1e6 / 6)
    tokens = rng.choice(vocab, n_words)
    seps = rng.choice(np.array([" ", " ", " ", " ", " ", " ", " ", ". ", ".\n", "\n"]), n_words)
    data = np.frombuffer("".join(np.char.add(tokens, seps).tolist()).encode("utf-8"), dtype=np.uint8)
    # Cut into documents at code point boundaries (offsets into the one buffer, no copies).
    boundaries = np.flatnonzero((data & 0xC0) != 0x80)[1:]
    cuts = np.sort(rng.choice(boundaries, documents - 1, replace=False))
    offsets = np.concatenate([[0], cuts, [len(data)]]).astype(np.int32)
    arr = pa.StringArray.from_buffers(documents, pa.py_buffer(offsets), pa.py_buffer(data))
    mb = len(data) / 1e6
    result = {}
    for preset in PRESETS:
        rules = QualityRules(preset)
        rules.failures(arr)  # warm-up (compiles or loads the kernels)
        t = time.process_time()
        rules.failures(arr)
        result[preset] = mb / (time.process_time() - t)
        print(f"{preset}: {result[preset]:.0f} MB/s on {mb:.1f} MB")
    return result
