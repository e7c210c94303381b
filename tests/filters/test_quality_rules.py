"""The Gopher and C4 quality rules: exact values at every threshold, every input form, the
Unicode definitions, and a randomized comparison with a plain pure-Python reference."""

from __future__ import annotations

import json
import random
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dsir.filters import quality_rules as qr
from dsir.filters.quality_rules import PRESETS, QualityRules

GOPHER = QualityRules("gopher")
C4 = QualityRules("c4")


def failing(rules: QualityRules, rule: str, texts: list[str | None]) -> list[bool]:
    """Row ``rule`` of ``rules.failures`` on ``texts`` (a string array), as a list."""
    return rules.failures(pa.array(texts, pa.string()))[rules.rule_names().index(rule)].tolist()


def stat(rules: QualityRules, key: str, texts: list[str | None]) -> list:
    return rules.statistics(pa.array(texts, pa.string()))[key].tolist()


# ----------------------------------------------------------------- the pure-Python reference

REF_STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}
REF_BULLETS = ("\u2022", "\u2023", "\u2043", "\u25e6", "-", "*")
REF_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
REF_CITATION = re.compile(r"\[[0-9]*]|\[edit]|\[citation needed]")
REF_TRAILING_CITATION = re.compile(r"(?:\[[0-9]*]|\[edit]|\[citation needed])\Z")
REF_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
REF_SENTENCE_END = re.compile(r"[.!?]+[\"']*(?=[" + re.escape(REF_SPACE) + r"]|\Z)")


def ref_fold(s: str) -> str:
    """pyarrow utf8_lower as far as ASCII phrases can tell (İ lowercases to a plain i there)."""
    return s.replace("\u0130", "i").lower()


def ref_gopher(text: str | None) -> list[bool]:
    """The Gopher rules, one line of plain Python each (see the module doc)."""
    text = text or ""
    words = text.split()
    n = len(words)
    lines = text.splitlines()
    mean = sum(len(w) for w in words) / n if n else 0.0
    hashes = text.count("#") / n if n else 0.0
    ellipses = (text.count("...") + text.count("\u2026")) / n if n else 0.0
    bullets = sum(line.lstrip().startswith(REF_BULLETS) for line in lines) / len(lines) if lines else 0.0
    ending = sum(line.rstrip().endswith(("...", "\u2026")) for line in lines) / len(lines) if lines else 0.0
    alpha = sum(any(c.isalpha() for c in w) for w in words) / n if n else 0.0
    stops = sum(ref_fold(w) in REF_STOP_WORDS for w in words)
    return [n < 50 or n > 100_000, mean < 3 or mean > 10, hashes > 0.1, ellipses > 0.1,
            bullets > 0.9, ending > 0.3, alpha < 0.8, stops < 2]


def ref_c4_sentences(text: str) -> int:
    """Sentences in the lines C4 keeps, written after datatrove's C4QualityFilter loop."""
    sentences = 0
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if any(len(w) > 1000 for w in words):
            continue
        cut = REF_CITATION.sub("", line)
        if not cut.endswith((".", "?", "!", '"', "'")) or cut.endswith("..."):
            continue
        if len(words) < 3:
            continue
        low = ref_fold(line)
        if "javascript" in low or any(p in low for p in REF_POLICY):
            continue
        core = line
        while m := REF_TRAILING_CITATION.search(core):
            core = core[: m.start()]
        sentences += max(len(REF_SENTENCE_END.findall(core)), 1)
    return sentences


def ref_c4(text: str | None) -> list[bool]:
    text = text or ""
    return ["lorem ipsum" in ref_fold(text), "{" in text, ref_c4_sentences(text) < 5]


REFERENCE = {"gopher": ref_gopher, "c4": ref_c4}


# ----------------------------------------------------------------- interface


def test_presets_and_rule_names() -> None:
    assert PRESETS == ("gopher", "c4")
    assert GOPHER.rule_names() == ("gopher_word_count", "gopher_mean_word_length", "gopher_hash_ratio",
                                   "gopher_ellipsis_ratio", "gopher_bullet_lines", "gopher_ellipsis_lines",
                                   "gopher_alpha_words", "gopher_stop_words")
    assert C4.rule_names() == ("c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences")


def test_bad_preset() -> None:
    with pytest.raises(ValueError, match="gopher, c4"):
        QualityRules("fineweb")


def test_params_are_json() -> None:
    for preset in PRESETS:
        rules = QualityRules(preset)
        params = json.loads(json.dumps(rules.params))
        assert params["preset"] == preset
        assert tuple(params["thresholds"]) == rules.rule_names()
    assert GOPHER.params["thresholds"] == {
        "gopher_word_count": [50, 100_000], "gopher_mean_word_length": [3, 10], "gopher_hash_ratio": 0.1,
        "gopher_ellipsis_ratio": 0.1, "gopher_bullet_lines": 0.9, "gopher_ellipsis_lines": 0.3,
        "gopher_alpha_words": 0.8, "gopher_stop_words": 2}
    assert C4.params["thresholds"] == {"c4_lorem_ipsum": "lorem ipsum", "c4_curly_bracket": "{",
                                       "c4_too_few_sentences": 5}


def test_shape_and_dtype() -> None:
    for rules in (GOPHER, C4):
        out = rules.failures(pa.array(["a b c", "x"]))
        assert out.shape == (len(rules.rule_names()), 2) and out.dtype == bool
        assert rules.failures(pa.array([], pa.string())).shape == (len(rules.rule_names()), 0)
        assert rules.failures(pa.array([None, None], pa.string())).shape == (len(rules.rule_names()), 2)


def test_not_a_string_array() -> None:
    with pytest.raises(TypeError):
        GOPHER.failures(pa.array([1, 2]))


# ----------------------------------------------------------------- Gopher, at each threshold


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def test_word_count() -> None:
    texts = [words(49), words(50), words(100_000), words(100_001)]
    assert stat(GOPHER, "words", texts) == [49, 50, 100_000, 100_001]
    assert failing(GOPHER, "gopher_word_count", texts) == [True, False, False, True]
    # Whitespace-separated tokens: punctuation stays attached, any Unicode whitespace splits.
    assert stat(GOPHER, "words", ["a, b . c", "a\u00a0b\u3000c\x1fd\te", "  ", "x\u200by"]) == [4, 5, 0, 1]


def test_mean_word_length() -> None:
    texts = [" ".join(["abc"] * 9 + ["ab"]), words(10, "abc"), words(10, "abcdefghij"),
             " ".join(["abcdefghij"] * 9 + ["abcdefghijk"])]
    assert stat(GOPHER, "mean_word_length", texts) == [2.9, 3.0, 10.0, 10.1]
    assert failing(GOPHER, "gopher_mean_word_length", texts) == [True, False, False, True]
    # Code points, not bytes: "café" is 4 characters, "日本語" 3, "…" 1.
    assert stat(GOPHER, "mean_word_length", ["café café", "日本語", "… …"]) == [4.0, 3.0, 1.0]


def test_hash_ratio() -> None:
    texts = [words(45) + " #a" * 5, words(44) + " #a" * 6, words(49) + " ##" * 1]
    assert stat(GOPHER, "hash_ratio", texts) == [0.1, 6 / 50, 2 / 50]
    assert failing(GOPHER, "gopher_hash_ratio", texts) == [False, True, False]


def test_ellipsis_ratio() -> None:
    texts = [words(45) + " so..." * 5, words(44) + " so..." * 6, words(45) + " so\u2026" * 5,
             words(44) + " so\u2026" * 6, words(47) + " ...... .... ..", words(47) + " ......... a…b …"]
    # "......" holds two non-overlapping "...", "...." one, ".." none (str.count).
    assert stat(GOPHER, "ellipsis_ratio", texts) == [0.1, 0.12, 0.1, 0.12, 3 / 50, 5 / 50]
    assert failing(GOPHER, "gopher_ellipsis_ratio", texts) == [False, True, False, True, False, False]


@pytest.mark.parametrize("bullet", ["\u2022", "\u2023", "\u2043", "\u25e6", "-", "*"])
def test_bullet_lines(bullet: str) -> None:
    pass_ = "\n".join([f"  {bullet} item"] * 9 + ["plain line"])
    fail = "\n".join([f"\t{bullet}item"] * 10 + ["plain line"])
    assert stat(GOPHER, "bullet_lines_ratio", [pass_, fail]) == [0.9, 10 / 11]
    assert failing(GOPHER, "gopher_bullet_lines", [pass_, fail]) == [False, True]


def test_bullet_lines_other_characters() -> None:
    # An en dash, a middle dot and a bullet that is not first do not count.
    texts = ["\u2013 a\n\u00b7 b\nc \u2022 d\n\u2022 e"]
    assert stat(GOPHER, "bullet_lines_ratio", texts) == [0.25]


def test_ellipsis_lines() -> None:
    pass_ = "\n".join(["it goes on...  "] * 2 + ["and on\u2026"] + ["done."] * 7)
    fail = "\n".join(["it goes on..."] * 4 + ["done."] * 9)
    assert stat(GOPHER, "ellipsis_lines_ratio", [pass_, fail]) == [0.3, 4 / 13]
    assert failing(GOPHER, "gopher_ellipsis_lines", [pass_, fail]) == [False, True]
    # An ellipsis inside a line, or "..", does not end it.
    assert stat(GOPHER, "ellipsis_lines_ratio", ["a... b\nc..\nd.\u2026\n...."]) == [0.5]


def test_lines_are_splitlines() -> None:
    texts = ["", "a", "a\n", "a\n\n", "a\r\nb", "a\rb\nc", "a\x85b\u2028c\u2029d\x0be\x0cf\x1cg\x1dh\x1ei", "\n"]
    assert stat(GOPHER, "lines", texts) == [len(t.splitlines()) for t in texts] == [0, 1, 1, 2, 2, 3, 9, 1]


def test_alpha_words() -> None:
    pass_ = " ".join(["word"] * 40 + ["123"] * 10)
    fail = " ".join(["word"] * 39 + ["123"] * 11)
    assert stat(GOPHER, "alpha_words_ratio", [pass_, fail]) == [0.8, 0.78]
    assert failing(GOPHER, "gopher_alpha_words", [pass_, fail]) == [False, True]
    # One letter is enough; digits of any script, symbols and marks are not letters.
    assert stat(GOPHER, "alpha_words_ratio", ["1a café 日本 ٣٤ -- 3.14 \u0301 ½ é"]) == [4 / 9]


def test_stop_words() -> None:
    texts = ["The cat of mine", "the cat", "THE, of. to;", "tHe wİth", "there other", "to to"]
    assert stat(GOPHER, "stop_words", texts) == [2, 1, 0, 2, 0, 2]
    assert failing(GOPHER, "gopher_stop_words", texts) == [False, True, True, False, True, False]


def test_clean_gopher_document_passes() -> None:
    text = ("The quick brown fox jumps over the lazy dog and runs to the river with its friends. " * 4).strip()
    assert stat(GOPHER, "words", [text]) == [68]
    assert not GOPHER.failures(pa.array([text])).any()


# ----------------------------------------------------------------- C4, at each threshold

GOOD = "This line is fine."


def c4_doc(extra: str, good: int = 4) -> str:
    return "\n".join([GOOD] * good + [extra])


def test_sentences_threshold() -> None:
    texts = ["\n".join([GOOD] * 4), "\n".join([GOOD] * 5), "One two three. Four five six! Seven eight nine?\nA b c."]
    assert stat(C4, "sentences", texts) == [4, 5, 4]
    assert stat(C4, "kept_lines", texts) == [4, 5, 2]
    assert failing(C4, "c4_too_few_sentences", texts) == [True, False, True]


@pytest.mark.parametrize(("line", "kept"), [
    (GOOD, True),
    ("  Surrounding spaces are stripped.  \t", True),
    ("Only two.", False),  # fewer than 3 words
    ("No terminal punctuation here", False),
    ("It ends with a colon:", False),
    ("It ends with dots...", False),
    ("It ends with one\u2026", False),  # "…" is not terminal punctuation
    ('He said "yes"', True),
    ("It is 'quoted'", True),
    ("Is it a question?", True),
    ("What a line!", True),
    ("A line with citations.[1]", True),
    ("A line with citations.[12][edit][citation needed][]", True),
    ("A line with citations. [1]", False),  # the space before the citation stays
    ("It ends in dots..[1].", False),  # "..." once every citation mark is removed
    ("It ends in dots.[1][edit]..", False),
    ("It ends in two dots..[1]", True),
    ("A line with [1] citations[2]", False),
    ("A line [edit] ending with a mark[Edit]", False),  # citation marks are case-sensitive
    ("Please enable JavaScript to continue.", False),
    ("Please enable JAVASCRIPT to continue.", False),
    ("Read our Privacy Policy today.", False),
    ("See the terms of use here.", False),
    ("This site uses cookies a lot.", False),
    ("This site USES COOKIES a lot.", False),
    ("This site uses coo\u212aies a lot.", False),  # KELVIN SIGN lowercases to k
    ("We use of cookies here.", False),
    ("Java script is fine.", True),
    ("x " + "w" * 1000 + " long.", True),
    ("x " + "w" * 1001 + " long.", False),  # a word longer than 1000 characters
])
def test_c4_line_rules(line: str, kept: bool) -> None:
    text = c4_doc(line)
    assert stat(C4, "kept_lines", [text]) == [4 + kept]
    assert failing(C4, "c4_too_few_sentences", [text]) == [not kept]
    assert ref_c4(text)[2] == (not kept)


def test_sentence_counting() -> None:
    texts = ["Mr. Smith went home. He slept.", 'She said "Stop!" Then left.', "Wait... what? Yes.",
             "Pi is 3.14 exactly.", "One.Two three four.", "Ends in a quote.' And more words here.",
             "Dots . . . count alone.", "A b c.\u00a0D e f.", "Cited.[1] Then more.[2]"]
    assert stat(C4, "sentences", texts) == [3, 2, 3, 1, 1, 2, 4, 2, 1]
    assert stat(C4, "sentences", texts) == [ref_c4_sentences(t) for t in texts]


def test_lorem_ipsum() -> None:
    texts = [c4_doc("Lorem Ipsum dolor sit amet."), c4_doc("LOREM IPSUM"), "xlorem ipsumx",
             c4_doc("lorem  ipsum dolor."), "lorem\nipsum", "lorem İpsum", "lorem"]
    assert failing(C4, "c4_lorem_ipsum", texts) == [True, True, True, False, False, True, False]
    # The definition: pyarrow's utf8_lower, then a substring match.
    expected = pc.match_substring(pc.utf8_lower(pa.array(texts)), "lorem ipsum").to_pylist()
    assert failing(C4, "c4_lorem_ipsum", texts) == expected


def test_curly_bracket() -> None:
    texts = [c4_doc("function() { return x; }"), c4_doc("a } b."), "{", "no brackets"]
    assert failing(C4, "c4_curly_bracket", texts) == [True, False, True, False]
    # Anywhere in the document, also in lines C4 would drop anyway.
    assert failing(C4, "c4_curly_bracket", [c4_doc("var x = {", good=6)]) == [True]


def test_clean_c4_document_passes() -> None:
    text = "\n".join(f"Sentence number {i} is a proper one." for i in range(6))
    assert not C4.failures(pa.array([text])).any()


# ----------------------------------------------------------------- input forms

SAMPLE = [
    "The cat sat on the mat. " * 12,
    None,
    "",
    "lorem ipsum {\n" + "A b c.\n" * 6,
    "café naïve … … #x\n• a\n• b",
    "   \n\n\t",
    "\u2022 " + words(60, "the") + "...",
    "Ünïcode wİth the text. Another one here. And a third one.\nMore text here! Fine.",
]


@pytest.mark.parametrize("preset", PRESETS)
def test_nulls_are_empty_documents(preset: str) -> None:
    out = QualityRules(preset).failures(pa.array(["x y z", None, ""], pa.string()))
    assert (out[:, 1] == out[:, 2]).all()
    assert out[:, 1].tolist() == REFERENCE[preset]("")


@pytest.mark.parametrize("preset", PRESETS)
def test_matches_reference_on_samples(preset: str) -> None:
    out = QualityRules(preset).failures(pa.array(SAMPLE, pa.string()))
    assert out.T.tolist() == [REFERENCE[preset](t) for t in SAMPLE]


@pytest.mark.parametrize("preset", PRESETS)
def test_string_types_and_slices(preset: str) -> None:
    rules = QualityRules(preset)
    whole = rules.failures(pa.array(SAMPLE, pa.string()))
    for type_ in (pa.string(), pa.large_string(), pa.string_view()):
        arr = pa.array(SAMPLE, type_)
        assert (rules.failures(arr) == whole).all()
        for start, length in ((1, 4), (3, 5), (7, 1), (8, 0)):
            sliced = arr.slice(start, length)
            assert sliced.offset == start
            assert (rules.failures(sliced) == whole[:, start:start + length]).all()
    chunked = pa.chunked_array([pa.array(SAMPLE[:3]), pa.array(SAMPLE[3:])])
    assert (rules.failures(chunked) == whole).all()


def test_null_slot_with_nonempty_offsets() -> None:
    """A null whose offsets span bytes (Arrow allows it) is still the empty document."""
    values = pa.array(["x y z", "lorem ipsum {", "a b c"])
    bufs = values.buffers()
    mask = pa.array([True, False, True]).buffers()[1]
    arr = pa.Array.from_buffers(pa.string(), 3, [mask, bufs[1], bufs[2]], null_count=1)
    assert arr.to_pylist() == ["x y z", None, "a b c"]
    assert C4.failures(arr)[:, 1].tolist() == [False, False, True]


def test_malformed_utf8_stays_inside_the_document() -> None:
    raw = [b"\xe2\x80", b"ab\xff\xfe cd", b"\xf0\x9f\x98", b"the of\xc3"]
    offsets = np.cumsum([0] + [len(r) for r in raw]).astype(np.int32)
    arr = pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(offsets.tobytes()),
                                                          pa.py_buffer(b"".join(raw))])
    stats = GOPHER.statistics(arr)
    assert stats["words"].tolist() == [1, 2, 1, 2]
    assert stats["stop_words"].tolist() == [0, 0, 0, 1]
    assert C4.failures(arr).shape == (3, 4)


# ----------------------------------------------------------------- the Unicode definitions


def test_whitespace_is_python_isspace() -> None:
    python = {c for c in range(0x110000) if chr(c).isspace()}
    assert set(qr._WHITESPACE) == python
    table = qr.char_classes()
    assert set(np.flatnonzero(table & qr._SPACE).tolist()) == python


def test_line_breaks_are_splitlines() -> None:
    breaks = {c for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) == 2}
    assert set(qr._LINE_BREAKS) == breaks
    assert set(np.flatnonzero(qr.char_classes() & qr._BREAK).tolist()) == breaks


def test_alphabetic_is_isalpha_where_python_knows_the_code_point() -> None:
    table = (qr.char_classes() & qr._ALPHA) != 0
    assigned = [c for c in range(0x110000) if unicodedata.category(chr(c)) != "Cn"]
    mismatched = [c for c in assigned if table[c] != chr(c).isalpha()]
    assert mismatched == []


def test_case_folding_is_utf8_lower() -> None:
    """The only non-ASCII code points utf8_lower maps to something with ASCII in it."""
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    lowered = pc.utf8_lower(pa.array([chr(c) for c in cps])).to_pylist()
    to_ascii = {c: low for c, low in zip(cps, lowered) if any(ord(x) < 0x80 for x in low)}
    assert to_ascii == {0x130: "i", 0x212A: "k"}


# ----------------------------------------------------------------- randomized against the reference

VOCAB = {
    "normal": ["the", "The", "THE", "of", "and", "to", "be", "that", "have", "with", "wİth", "data", "model",
               "language", "café", "naïve", "日本語", "Ünïcode", "selection", "weights", "river", "friends",
               "İstanbul", "\u212aelvin", "JavaScript", "cookies", "privacy", "policy", "lorem", "ipsum", "Lorem",
               "terms", "use", "uses", "cookie"],
    "short": ["a", "x", "ab", "to", "of", "I", "é", "…", "#"],
    "long": ["internationalization", "abcdefghijkl", "representation", "characteristically"],
    "symbols": ["123", "3.14", "--", "١٢٣", "#", "##", "#tag", "...", "so...", "a...b", "wait\u2026", "\u2026",
                "{x}", "}", "[1]", "\u0301", "½", "=>"],
}
PHRASES = ["lorem ipsum", "Lorem Ipsum", "privacy policy", "uses cookies", "use of cookies", "terms of use",
           "cookie policy", "use cookies", "enable javascript", "lorem İpsum"]
PREFIXES = ["", "", "", "  ", "\u2022 ", "- ", "* ", "\t\u25e6", "\u2023", "\u2043 ", "\u2013 "]
ENDINGS = ["", ".", ".", "!", "?", '"', "'", ".'", "...", "\u2026", ".[1]", ". [2]", ".[edit]", "[citation needed]",
           ":", ". ", "\u2026  ", ".\u00a0", "?!"]
SEPARATORS = [" ", " ", " ", " ", "  ", "\t", "\u00a0", "\u3000", ". ", "! ", "? ", ", ", "\x1f"]
LINE_BREAKS = ["\n", "\n", "\r\n", "\r", "\n\n", "\x85", "\u2028", "\x0c", "\x1e", "\x0b"]


def random_document(rng: random.Random) -> str:
    """A document of 0-14 lines whose mix of words, bullets and endings varies per document, so
    that every rule's threshold is crossed in both directions across a few hundred of them."""
    weights = [rng.random() for _ in VOCAB]
    styles = list(VOCAB)
    p_phrase = rng.choice([0, 0, 0.02, 0.1])
    p_bullet = rng.choice([0, 0.1, 0.5, 0.95, 1.0])
    p_long = rng.choice([0] * 20 + [0.2])
    line_break = rng.choice(LINE_BREAKS)
    lines = []
    for _ in range(rng.choice([0, 1, 3, 5, 6, 8, 10, 14])):
        tokens = []
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 9, 12])):
            if rng.random() < p_phrase:
                tokens.append(rng.choice(PHRASES))
            elif rng.random() < p_long:
                tokens.append("w" * rng.choice([999, 1000, 1001, 1200]))
            else:
                tokens.append(rng.choice(VOCAB[rng.choices(styles, weights)[0]]))
        seps = [rng.choice(SEPARATORS) for _ in tokens[1:]]
        body = tokens[0] if tokens else ""
        for sep, tok in zip(seps, tokens[1:]):
            body += sep + tok
        prefix = rng.choice(PREFIXES[4:]) if rng.random() < p_bullet else rng.choice(PREFIXES[:4])
        lines.append(prefix + body + rng.choice(ENDINGS))
    text = line_break.join(lines)
    if rng.random() < 0.3:
        text += line_break
    return text


def random_documents(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    docs: list[str | None] = [random_document(rng) for _ in range(n)]
    for i in rng.sample(range(n), 5):
        docs[i] = None
    return docs


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("seed", [0, 1])
def test_randomized_against_reference(preset: str, seed: int) -> None:
    docs = random_documents(300, seed)
    rules = QualityRules(preset)
    out = rules.failures(pa.array(docs, pa.large_string() if seed else pa.string()))
    expected = np.array([REFERENCE[preset](t) for t in docs]).T
    for r, name in enumerate(rules.rule_names()):
        bad = np.flatnonzero(out[r] != expected[r])
        assert not len(bad), f"{name}: document {bad[0]} {docs[bad[0]]!r}"
        # The documents cross every threshold both ways, or the comparison would say little.
        assert 0 < out[r].sum() < len(docs), name


def test_randomized_statistics_against_reference() -> None:
    docs = random_documents(300, 2)
    arr = pa.array(docs)
    g, c = GOPHER.statistics(arr), C4.statistics(arr)
    texts = [t or "" for t in docs]
    assert g["words"].tolist() == [len(t.split()) for t in texts]
    assert g["lines"].tolist() == [len(t.splitlines()) for t in texts]
    assert g["stop_words"].tolist() == [sum(ref_fold(w) in REF_STOP_WORDS for w in t.split()) for t in texts]
    assert c["sentences"].tolist() == [ref_c4_sentences(t) for t in texts]
    assert c["lorem_ipsum"].tolist() == pc.fill_null(pc.match_substring(pc.utf8_lower(arr), "lorem ipsum"),
                                                      False).to_pylist()
    assert c["curly_bracket"].tolist() == pc.fill_null(pc.match_substring(arr, "{"), False).to_pylist()
    counted = pc.fill_null(pc.add(pc.count_substring(arr, "..."), pc.count_substring(arr, "\u2026")), 0)
    counted = np.asarray(counted, dtype=np.float64)
    assert g["ellipsis_ratio"].tolist() == [k / n if n else 0.0 for k, n in zip(counted, g["words"])]


def test_benchmark_runs() -> None:
    result = qr._benchmark(megabytes=0.05, documents=200)
    assert set(result) == set(PRESETS) and all(v > 0 for v in result.values())
