"""Specification: every select configuration works with every run option, through the CLI.

Rows (configurations ``CONFIGS``): the default dsir selection, ``--chunk-words 64``,
``--chunk-words 64 --emit chunks``, two named targets, ``--method classifier``,
``--method discriminative`` (the default method, in its 2^18-bucket space), ``--method random`` and the reference-exact mode (``reference``: ``--features sha256-ngrams
--method reference --weighting sum --temperature 1``), a token budget (``tokens``:
``--tokens 2k`` instead of ``-k``) and held-out target documents (``targeteval``: the two
named targets, each with ``--target-eval NAME=PATH``; the report cells check each target's
perplexity, every other cell that it leaves the selection as it is) and the pre-selection
filters (``filters``: ``--decontaminate`` with 20-word runs of 12 pool documents, matched at
8 words, and ``--quality-rules gopher``; the baseline holds none of the documents they exclude) and
near-duplicate-aware selection (``dedup``: ``--dedup near``; pool files 3 to 5 hold near copies of
long sea documents of files 0 to 2, and the baseline holds no two documents whose 5-word shingle
sets have a Jaccard similarity of 0.8 or more) and a mixture (``mix``: ``--mix
source=harbour-gazette:0.6,farmers-weekly:0.4``, so 24 and 16 of the K documents) and outside
scores (``scores``: a jsonl of a score per pool id, ``--score-weight 2`` beside the target's
weights; the baseline is the top K of key + 2 * score) and a balance (``balance``: ``--balance-entries``
of six words, one capitalized, matched as lowercased substrings; the baseline is the K first
units in balance order, computed from ``dsir score``'s keys) and a fastText scorer (``scorer``:
a sea-against-land classifier trained by the fixture, ``--score-weight 2`` beside the target's
weights; the baseline is the top K of key + 2 * P(sea), from fastText's own predictions) and files
read in parts (``parts``: ``--unit-size 4kB``, five or more byte-range parts per pool file; the
baseline is the default row's selection, byte for byte) and seekable zstd shards (``seekable``:
``--output-format jsonl.zst --zstd-frame-size 2kB``; the baseline is the default row's
selection once decompressed, each shard a seekable file of frames ending at line ends; its
``maxshard`` cell compares the pieces decompressed) and the static MiniLM feature space (``minilm``:
``--features minilm-static --method discriminative``, a logistic regression on mean piece
vectors). Columns (options ``OPTIONS``): resume after a SIGKILL, ``--on-error
skip`` over a pool with a bad record, an ``s3://`` output on a loopback moto server,
``--group-by source``, a later ``dsir report OUT``, ``--engine ray``, the pool as
Arrow IPC files (as ``datasets.save_to_disk`` writes them) with the text in another field
(``--text-field``, ``--target-text-field``), ``--max-shard-docs 3`` (``maxshard``: shards
cut into pieces ``part-[NAME-]NNNNN.MMMMM.jsonl``), a replay of the baseline's manifest
(``--config OUT/manifest.json``, ``replay``) and ``--dry-run``. Each cell is one
test with the id ``CONFIG-OPTION`` (``default-resume``, ``chunks-s3``, ...), so that
``-k`` selects cells. Every cell is a real ``python -m dsir`` subprocess with ``--quiet
--workers 2`` on a small pool of 6 jsonl files of 60 documents.

Where the option must not change the selection, the cell's shards are compared byte for
byte with the uninterrupted local run of the same configuration (``baselines``, computed
once per configuration, with ``--no-report``); a ``maxshard`` cell compares each baseline
shard with its pieces concatenated.

A cell that is meant to be refused is listed in ``REFUSED`` with the substring of its
one-line error: it must then exit with status 2 and that message on stderr, and no
traceback. The table is empty: every combination is meant to work.

``test_resume_recomputes_changed_option`` checks that ``--resume`` with a changed option
gives the fresh run of that option, never the old selection.
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.io.moto_s3 import make_bucket, require, running_s3_server
from tests.pipeline.make_data import COMMON, LAND, SEA, documents, output_bytes, write_jsonl

FILES = 6
DOCS_PER_FILE = 60
K = 40
TOKENS = 2000  # the budget of the tokens configuration
GROUP_FIELD = "source"
BAD_FILE = 2  # pool file of the bad-record pool that holds the bad record
BAD_LINE = 31  # its 1-based line number there
BAD_MARKER = "BAD-RECORD-MARKER"

#: Configurations (rows): extra ``dsir select`` arguments; ``{TA}``/``{TB}`` are the targets.
CONFIGS: dict[str, list[str]] = {
    "default": ["--target", "{TA}"],
    "chunkwords": ["--target", "{TA}", "--chunk-words", "64"],
    "chunks": ["--target", "{TA}", "--chunk-words", "64", "--emit", "chunks"],
    "targets": ["--target", "a={TA}", "--target", "b={TB}"],
    "classifier": ["--target", "{TA}", "--method", "classifier"],
    "discriminative": ["--target", "{TA}", "--method", "discriminative"],
    "random": ["--method", "random"],
    "reference": ["--target", "{TA}", "--features", "sha256-ngrams", "--method", "reference", "--weighting", "sum",
                  "--temperature", "1"],
    "tokens": ["--target", "{TA}", "--tokens", "2k"],  # TOKENS, written with a suffix
    "targeteval": ["--target", "a={TA}", "--target", "b={TB}", "--target-eval", "a={EA}", "--target-eval", "b={EB}"],
    "filters": ["--target", "{TA}", "--decontaminate", "{DC}", "--decontaminate-words", "8", "--quality-rules",
                "gopher"],
    "dedup": ["--target", "{TA}", "--dedup", "near"],
    "mix": ["--target", "{TA}", "--mix", "source=harbour-gazette:0.6,farmers-weekly:0.4"],
    "scores": ["--target", "{TA}", "--id-field", "id", "--scores", "{SC}", "--score-column", "q", "--score-weight",
               "2"],
    "balance": ["--target", "{TA}", "--balance-entries", "{BE}"],
    "scorer": ["--target", "{TA}", "--scorer", "fasttext:{FT}", "--scorer-label", "sea", "--score-weight", "2"],
    "parts": ["--target", "{TA}", "--unit-size", "4kB"],
    "seekable": ["--target", "{TA}", "--output-format", "jsonl.zst", "--zstd-frame-size", "2kB"],
    "minilm": ["--target", "{TA}", "--features", "minilm-static", "--method", "discriminative"],
}
BALANCE_ENTRIES = ["Harbour", "storm", "wheat", "barn", "gull", "mill"]
COPIES = 6  # near copies per pool file 3, 4, 5 (of long sea documents of files 0, 1, 2)
EVAL_DOCS = 10  # held-out documents of each target (targeteval)
#: Run options (columns).
OPTIONS = ["resume", "skip", "s3", "groupby", "report", "ray", "arrow", "maxshard", "replay", "dryrun"]

#: (config, option) -> substring of the one-line error of a cell that is refused (exit 2).
#: Empty: the goal is that every option works with every configuration.
REFUSED: dict[tuple[str, str], str] = {}

TIMEOUT = 120  # seconds, for one subprocess


def expected_selected(config: str, manifest: dict) -> int:
    """K, or for the token budget what the manifest says was selected, once it is checked to
    reach the budget (and to fall short of it without its last unit: at most one over)."""
    if config != "tokens":
        return K
    c = manifest["counts"]
    assert c["requested_tokens"] == TOKENS and c["selected_tokens"] >= TOKENS
    assert c["requested"] is None and manifest["parameters"]["tokens"] == TOKENS
    return c["selected"]


# --------------------------------------------------------------------------- data


def _pool_records(f: int) -> list[dict]:
    """Documents of pool file ``f``: sea or land vocabulary, lengths from 2 to 200 words (so
    that --min-length and --chunk-words 64 matter), an ``id``, a ``source`` and a ``meta``.
    The last ``COPIES`` documents of files 3 to 5 are near copies of the longest sea documents
    of file ``f - 3``: another first line and the last word changed (shingle Jaccard about 0.9)."""
    records = _original_records(f)
    if f >= 3:
        sea = [r for r in _original_records(f - 3) if r["source"] == "harbour-gazette" and r["text"]]
        longest = sorted(sea, key=lambda r: (-len(r["text"].split()), r["id"]))[:COPIES]
        for j, r in enumerate(longest):
            i = DOCS_PER_FILE - COPIES + j
            words = r["text"].split()[1:]
            words[-1] = "harbour."
            records[i] = {**r, "id": f"pool-{f}-{i}", "text": f"{f}-{i}: " + " ".join(words),
                          "meta": {"file": f, "n": i, "copy_of": r["id"]}}
    return records


def _original_records(f: int) -> list[dict]:
    rng = random.Random(7000 + f)
    records = []
    for i in range(DOCS_PER_FILE):
        sea = rng.random() < 0.5
        topic, other = (SEA, LAND) if sea else (LAND, SEA)
        n = rng.choice([2, 4, 12, 30, 70, 140, 200])
        words = []
        for _ in range(n):
            r = rng.random()
            words.append(rng.choice(topic if r < 0.6 else COMMON if r < 0.88 else other))
        if rng.random() < 0.8:
            source = "harbour-gazette" if sea else "farmers-weekly"
        else:
            source = "misc-digest"
        text = "" if (f, i) == (0, 7) else f"{f}-{i}: " + " ".join(words) + "."  # one empty document
        records.append({"id": f"pool-{f}-{i}", "text": text, GROUP_FIELD: source, "meta": {"file": f, "n": i}})
    return records


def _write_lines(path: str, lines: list[str]) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Paths of the pool, of the pool with one bad record, and of the two targets."""
    root = tmp_path_factory.mktemp("matrix")
    pool, bad = root / "pool", root / "pool-bad"
    pool.mkdir()
    bad.mkdir()
    bad_record = ('{"id": "%s", "text": "ship sail wave tide harbour anchor storm captain deck mast ocean", '
                  '"source": "harbour-gazette",}' % BAD_MARKER)  # malformed JSON (trailing comma), target-like
    for f in range(FILES):
        lines = [json.dumps(r, ensure_ascii=False) for r in _pool_records(f)]
        _write_lines(str(pool / f"pool-{f:03d}.jsonl"), lines)
        if f == BAD_FILE:
            lines = lines[:BAD_LINE - 1] + [bad_record] + lines[BAD_LINE - 1:]
        _write_lines(str(bad / f"pool-{f:03d}.jsonl"), lines)
    ta = write_jsonl(str(root / "target-a.jsonl"), documents(25, 101, sea_share=0.95, words=60), extra=False)
    tb = write_jsonl(str(root / "target-b.jsonl"), documents(25, 202, sea_share=0.05, words=60), extra=False)
    ea = write_jsonl(str(root / "eval-a.jsonl"), documents(EVAL_DOCS, 303, sea_share=0.95, words=60), extra=False)
    eb = write_jsonl(str(root / "eval-b.jsonl"), documents(EVAL_DOCS, 404, sea_share=0.05, words=60), extra=False)
    # decontaminate: 20 words from the middle of the 12 longest documents of pool files 1 and 4
    long = sorted((r for f in (1, 4) for r in _pool_records(f)), key=lambda r: (-len(r["text"]), r["id"]))[:12]
    dc = _write_lines(str(root / "benchmark.jsonl"),
                      [json.dumps({"text": " ".join(r["text"].split()[20:40])}) for r in long])
    rng = random.Random(11)  # scores: one per pool id (every pool variant has the same ids)
    sc = _write_lines(str(root / "scores.jsonl"), [json.dumps({"id": r["id"], "q": round(rng.random(), 4)})
                                                   for f in range(FILES) for r in _pool_records(f)])
    be = _write_lines(str(root / "entries.txt"), BALANCE_ENTRIES)
    ft = _train_scorer(root)
    arrow = root / "pool-arrow"
    arrow.mkdir()
    for f in range(FILES):  # the text under another name: the arrow cells also take --text-field
        table = pa.Table.from_pylist([{("body" if k == "text" else k): v for k, v in r.items()}
                                      for r in _pool_records(f)])
        with pa.ipc.new_stream(str(arrow / f"pool-{f:03d}.arrow"), table.schema) as writer:
            writer.write_table(table, max_chunksize=17)
    return {"root": str(root), "pool": str(pool), "bad_pool": str(bad), "arrow_pool": str(arrow),
            "bad_file": str(bad / f"pool-{BAD_FILE:03d}.jsonl"), "TA": ta, "TB": tb, "EA": ea, "EB": eb,
            "DC": dc, "DC_IDS": sorted(r["id"] for r in long), "SC": sc, "BE": be, "FT": ft}


def _train_scorer(root) -> str:
    """A fastText classifier of sea (``__label__sea``) against land texts, for the scorer row."""
    fasttext = require("fasttext")
    rng = random.Random(13)
    lines = [f"__label__{name} " + " ".join(rng.choice(words) for _ in range(12))
             for _ in range(60) for name, words in (("sea", SEA), ("land", LAND))]
    _write_lines(str(root / "scorer-train.txt"), lines)
    # thread=12: fastText 0.9.3 starts from uninitialized weights with fewer (tests/sample/test_fasttext_scorer.py)
    model = fasttext.train_supervised(str(root / "scorer-train.txt"), thread=12, epoch=5, dim=8, minCount=1,
                                      verbose=0)
    model.save_model(str(root / "scorer.bin"))
    return str(root / "scorer.bin")


# --------------------------------------------------------------------------- running dsir


def _env() -> dict[str, str]:
    # os.environ at call time: holds the moto endpoint and dummy credentials while it runs.
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def select_args(data: dict, config: str, out: str, *extra: str, pool: str | None = None,
                report: bool = False) -> list[str]:
    """The ``dsir select`` command of ``config`` into ``out`` (with ``--no-report`` unless
    ``report``), followed by ``extra``."""
    conf = [a.format(TA=data["TA"], TB=data["TB"], EA=data["EA"], EB=data["EB"], DC=data["DC"], SC=data["SC"],
                     BE=data["BE"], FT=data["FT"])
            for a in CONFIGS[config]]
    return [sys.executable, "-m", "dsir", "select", "--quiet", "--workers", "2", "--raw", pool or data["pool"],
            *conf, *([] if "--tokens" in conf else ["-k", str(K)]), "-o", out, *([] if report else ["--no-report"]),
            *extra]


def report_args(out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dsir", "report", out, "--quiet", "--workers", "2", *extra]


def run(args: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_env())


def ok(args: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    done = run(args, timeout)
    assert done.returncode == 0, f"exit {done.returncode}: {' '.join(args[3:])}\n{done.stderr[-3000:]}"
    return done


def check_refused(config: str, option: str, args: list[str]) -> bool:
    """For a cell in ``REFUSED``: ``args`` must exit 2 with its one-line message. False otherwise."""
    message = REFUSED.get((config, option))
    if message is None:
        return False
    done = run(args)
    assert done.returncode == 2, f"expected exit 2 ({message!r}), got {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("dsir: error:")]
    assert len(errors) == 1 and message in errors[0], f"expected one error line with {message!r}, got {errors}"
    return True


def manifest_of(out: str) -> dict:
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as fh:
        return json.load(fh)


def shards(files: dict[str, bytes]) -> dict[str, bytes]:
    """The output shards (``part-*``) of an ``output_bytes`` mapping."""
    return {name: data for name, data in files.items() if name.startswith("part-")}


REPORT_FILES = ("report.json", "report.html")


def without_report(files: dict[str, bytes]) -> dict[str, bytes]:
    return {n: d for n, d in files.items() if n not in REPORT_FILES and not n.startswith("report" + os.sep)}


def records_of(files: dict[str, bytes]) -> list[str]:
    """Every record line of the (jsonl, or jsonl.zst) shards."""
    return [line for name, data in sorted(shards(files).items()) for line in plain(name, data).decode().splitlines()
            if line]


class Baselines:
    """The uninterrupted local ``--no-report`` run of each configuration, made once."""

    def __init__(self, data: dict, root: str):
        self.data, self.root, self.runs = data, root, {}

    def get(self, config: str) -> dict:
        if config not in self.runs:
            out = os.path.join(self.root, f"baseline-{config}")
            ok(select_args(self.data, config, out))
            files = output_bytes(out)
            manifest = manifest_of(out)
            assert shards(files), f"the {config} baseline selected nothing"
            assert manifest["counts"]["selected"] == expected_selected(config, manifest)
            self.runs[config] = {"out": out, "files": files, "manifest": manifest}
        return self.runs[config]


@pytest.fixture(scope="module")
def baselines(data, tmp_path_factory) -> Baselines:
    return Baselines(data, str(tmp_path_factory.mktemp("baselines")))


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 with an empty bucket; started by the first s3 cell."""
    with running_s3_server():
        yield make_bucket("dsir-matrix")


def check_perplexity(config: str, report: dict) -> None:
    """The targeteval row's report holds each target's perplexity on its held-out documents
    (kept by a --no-report select for a later dsir report), the sea target's selection
    predicting its sea documents better than the pool does."""
    if config != "targeteval":
        return
    for t in report["targets"]:
        pp = t["perplexity"]
        assert pp["note"] is None and pp["eval"]["documents"] == EVAL_DOCS, pp
        assert 0 < pp["selected"] and 0 < pp["pool"] and pp["train_words"] == t["equal_text"]["words"] > 0
    assert report["targets"][0]["perplexity"]["ratio"] < 1


def assert_same_selection(files: dict[str, bytes], manifest: dict, base: dict) -> None:
    """Shards byte for byte, and the manifest's outputs (names, counts, sha256s), as the baseline."""
    assert sorted(shards(files)) == sorted(shards(base["files"]))
    for name, data in shards(base["files"]).items():
        assert files[name] == data, f"{name} differs from the baseline"
    assert manifest["outputs"] == base["manifest"]["outputs"]
    assert manifest["counts"] == base["manifest"]["counts"]


# --------------------------------------------------------------------------- the cells


def _records(out: str, phase: str) -> int:
    return len(glob.glob(os.path.join(out, "_dsir", f"{phase}-*.rec")))


def kill_in(args: list[str], out: str, phases: tuple[str, ...], more_than: int = 0) -> bool:
    """Run ``args`` in its own process group and SIGKILL the group as soon as more than
    ``more_than`` unit records of ``phases`` exist. False when it finished first (then it must
    have succeeded)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env=_env())
    deadline = time.monotonic() + TIMEOUT
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if sum(_records(out, p) for p in phases) > more_than:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        else:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"{' '.join(args[3:])} ran past {TIMEOUT} s")
    except ProcessLookupError:
        pass
    code = proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    if code == -signal.SIGKILL:
        return True
    assert code == 0, f"exit {code}: {' '.join(args[3:])}\n{stderr[-3000:]}"
    return False


def cell_resume(config, data, baselines, tmp_path, request):
    """Killed (process group, SIGKILL) in the score or write phase, resumed with the same
    command and --resume: the output equals the uninterrupted run byte for byte."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out)
    if check_refused(config, "resume", args + ["--resume"]):
        return
    base = baselines.get(config)
    killed = []
    for attempt in range(3):  # a unit can finish faster than the watcher: start again on a miss
        shutil.rmtree(out, ignore_errors=True)
        if kill_in(args, out, ("score", "write")):
            killed.append(f"score ({_records(out, 'score')} units recorded), write ({_records(out, 'write')})")
            break
        assert glob.glob(os.path.join(out, "_dsir", "*.rec")), (
            "the run records no units (OUT/_dsir/*.rec): there is nothing a --resume could reuse")
    assert killed, ("the run finished three times before a score or write unit record (OUT/_dsir/score-*.rec, "
                    "write-*.rec) could be seen: no kill, nothing resumed")
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    # Once more, in the write phase of the resumed run when it is caught there.
    if kill_in(args + ["--resume"], out, ("write",), more_than=_records(out, "write")):
        killed.append(f"write of the resumed run ({_records(out, 'write')} units recorded)")
    ok(args + ["--resume"])
    print(f"{config}-resume: killed in {killed}")
    assert not [n for n in os.listdir(os.path.join(out, "_dsir")) if "tmp" in n]
    assert output_bytes(out) == base["files"], f"resumed output (killed in {killed}) differs from the baseline"


def cell_skip(config, data, baselines, tmp_path, request):
    """--on-error skip over a pool with one bad (malformed, target-like) record: it is listed
    in rejects.jsonl with its file and line, counted as rejected, and never selected."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--on-error", "skip", pool=data["bad_pool"])
    if check_refused(config, "skip", args):
        return
    ok(args)
    with open(os.path.join(out, "rejects.jsonl"), encoding="utf-8") as fh:
        rejects = [json.loads(line) for line in fh if line.strip()]
    assert len(rejects) == 1, rejects
    (reject,) = rejects
    assert os.path.abspath(reject["file"]) == os.path.abspath(data["bad_file"])
    assert reject["line"] == BAD_LINE and reject["row"] == BAD_LINE - 1
    assert reject["reason"].startswith("malformed JSON")
    assert BAD_MARKER in reject["record"]
    manifest = manifest_of(out)
    assert manifest["counts"]["rejected"] == 1
    by_path = {os.path.abspath(i["path"]): i for i in manifest["inputs"]}
    assert by_path[os.path.abspath(data["bad_file"])]["rejected"] == 1
    assert sum(i["rejected"] for i in manifest["inputs"]) == 1
    files = output_bytes(out)
    selected = records_of(files)
    assert len(selected) == expected_selected(config, manifest) == manifest["counts"]["selected"]
    assert not [line for line in selected if BAD_MARKER in line]
    assert sum(o["documents"] for o in manifest["outputs"]) == len(selected)


def cell_s3(config, data, baselines, tmp_path, request):
    """An s3:// output: the shards and manifest on the store equal the local run's."""
    require("s3fs")
    require("moto.server")
    fs = request.getfixturevalue("s3")
    prefix = f"dsir-matrix/{config}"
    args = select_args(data, config, f"s3://{prefix}")
    if check_refused(config, "s3", args):
        return
    base = baselines.get(config)
    ok(args)
    published = {p.rsplit("/", 1)[-1] for p in fs.ls(prefix, refresh=True)}
    assert published - {"_dsir"} == set(shards(base["files"])) | {"manifest.json", "README.md"}
    files = {name: fs.cat_file(f"{prefix}/{name}") for name in published - {"_dsir"}}
    manifest = json.loads(files["manifest.json"])
    assert_same_selection(files, manifest, base)
    same = ("method", "parameters", "fit", "counts", "inputs", "outputs", "per_target", "warnings")
    assert {k: manifest.get(k) for k in same} == {k: base["manifest"].get(k) for k in same}
    assert not glob.glob(os.path.join(os.getcwd(), "s3:*"))  # the URL did not become a local directory


def cell_groupby(config, data, baselines, tmp_path, request):
    """--group-by source: _dsir/groups-source.json counts the pool and the selection, and
    report.json has the composition; the selection is the baseline's."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--group-by", GROUP_FIELD, report=True)
    if check_refused(config, "groupby", args):
        return
    base = baselines.get(config)
    ok(args)
    manifest = manifest_of(out)
    assert_same_selection(output_bytes(out), manifest, base)
    path = os.path.join(out, "_dsir", f"groups-{GROUP_FIELD}.json")
    assert os.path.exists(path), f"no {path}"
    with open(path, encoding="utf-8") as fh:
        groups = json.load(fh)
    assert groups["field"] == GROUP_FIELD
    assert {g["value"] for g in groups["groups"]} == {"harbour-gazette", "farmers-weekly", "misc-digest"}
    assert sum(g["selected"] for g in groups["groups"]) == manifest["counts"]["selected"] == expected_selected(
        config, manifest)
    # The pool is counted in the selection's unit: documents, or chunks with --emit chunks.
    counts = manifest["counts"]
    pool = counts["documents"] if counts.get("unit", "documents") == "documents" else counts["units"]
    assert sum(g["pool"] for g in groups["groups"]) == pool
    with open(os.path.join(out, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    compositions = [c for c in report.get("compositions") or [] if c.get("field") == GROUP_FIELD]
    assert len(compositions) == 1, f"report.json has no composition by {GROUP_FIELD}"
    assert compositions[0]["groups"] == groups["groups"]
    assert os.path.exists(os.path.join(out, "report.html"))
    check_perplexity(config, report)


def cell_report(config, data, baselines, tmp_path, request):
    """select --no-report, then dsir report OUT: report.json and report.html, with the
    manifest's numbers (and a section per named target)."""
    base = baselines.get(config)
    out = str(tmp_path / "out")
    ok(select_args(data, config, out))  # --no-report
    args = report_args(out)
    if check_refused(config, "report", args):
        return
    ok(args)
    assert os.path.exists(os.path.join(out, "report.html"))
    with open(os.path.join(out, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    manifest = manifest_of(out)
    assert manifest == base["manifest"]
    files = output_bytes(out)
    assert without_report(files) == base["files"]  # the report added files, it changed none
    counts = manifest["counts"]
    unit = counts.get("unit", "documents")
    assert report["counts"]["pool_documents"] == counts["documents"]
    assert report["counts"]["requested"] == counts["requested"]
    assert report["counts"]["requested_tokens"] == counts["requested_tokens"]
    # In the selection's unit (manifest counts.unit): selected_documents, or selected_chunks.
    assert report["counts"][f"selected_{unit}"] == counts["selected"] == expected_selected(config, manifest)
    assert report["counts"][f"eligible_{unit}"] == counts["eligible"]
    check_perplexity(config, report)
    if config in ("targets", "targeteval"):
        per_target = {t["name"]: t for t in manifest["per_target"]}
        assert [t["name"] for t in report["targets"]] == ["a", "b"]
        for i, name in enumerate(["a", "b"]):
            section = report["targets"][i]
            assert section["name"] == name
            assert section["selected"] == per_target[name]["selected"]
            assert isinstance(section["kl"], dict) and section["kl"]
            assert isinstance(section["weights"], dict) and section["weights"]
        assert sum(t["selected"] for t in report["targets"]) == counts["selected"]


def cell_ray(config, data, baselines, tmp_path, request):
    """--engine ray (a private 2-CPU Ray instance per run): the output equals the local run
    byte for byte, manifest included."""
    require("ray")
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--engine", "ray")
    if check_refused(config, "ray", args):
        return
    base = baselines.get(config)
    ok(args, timeout=180)
    assert output_bytes(out) == base["files"]


def cell_arrow(config, data, baselines, tmp_path, request):
    """The pool as Arrow IPC stream files whose text is in ``body`` (``--text-field body
    --target-text-field text``): the same documents are selected from each file (as parquet
    shards, Arrow's output format), with the same counts as the jsonl baseline."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--text-field", "body", "--target-text-field", "text",
                       pool=data["arrow_pool"])
    if check_refused(config, "arrow", args):
        return
    base = baselines.get(config)
    ok(args)
    manifest = manifest_of(out)
    assert manifest["counts"] == base["manifest"]["counts"]
    def rows(name: str, text: str) -> list[tuple]:
        path = os.path.join(out, name)
        if name.endswith(".parquet"):
            return [(r["id"], r[text]) for r in pq.read_table(path).to_pylist()]
        with open(path, "rb") as fh:
            return [(r["id"], r[text]) for r in map(json.loads, plain(name, fh.read()).decode().splitlines())]

    stem = lambda name: name.split(".", 1)[0]  # noqa: E731 - part-00003, whatever the format
    got = {stem(name): rows(name, "body") for name in sorted(n for n in os.listdir(out) if n.startswith("part-"))}
    want = {stem(name): [(r["id"], r["text"]) for r in map(json.loads, plain(name, data_).decode().splitlines())]
            for name, data_ in sorted(shards(base["files"]).items())}
    assert got == want


MAX_SHARD_DOCS = 3
PIECE = re.compile(r"^(part-(?:.*-)?\d{5})\.(\d{5})(\.jsonl(?:\.zst)?)$")


def cell_maxshard(config, data, baselines, tmp_path, request):
    """--max-shard-docs 3: every baseline shard of more than 3 records is cut into pieces
    part-...-NNNNN.MMMMM.jsonl of 3 (the last fewer), the others keep their names, and the
    pieces concatenated are the baseline shard byte for byte; the manifest lists them all."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--max-shard-docs", str(MAX_SHARD_DOCS))
    if check_refused(config, "maxshard", args):
        return
    base = baselines.get(config)
    ok(args)
    files, manifest = output_bytes(out), manifest_of(out)
    pieces: dict[str, list[str]] = {}
    for name in sorted(shards(files)):
        m = PIECE.match(name)
        pieces.setdefault(m[1] + m[3] if m else name, []).append(name)
    assert sorted(pieces) == sorted(shards(base["files"]))
    assert len(shards(files)) > len(shards(base["files"])), "no shard was cut"
    for name, data_ in shards(base["files"]).items():
        data_ = plain(name, data_)
        assert b"".join(plain(p, files[p]) for p in pieces[name]) == data_, f"the pieces of {name} differ from it"
        lines = [len(plain(p, files[p]).splitlines()) for p in pieces[name]]
        n = len(data_.splitlines())
        assert lines == ([n] if n <= MAX_SHARD_DOCS else [MAX_SHARD_DOCS] * (n // MAX_SHARD_DOCS)
                         + ([n % MAX_SHARD_DOCS] if n % MAX_SHARD_DOCS else []))
    want = [p for o in base["manifest"]["outputs"] for p in pieces[o["path"]]]
    assert [o["path"] for o in manifest["outputs"]] == want
    assert manifest["counts"] == base["manifest"]["counts"]
    assert manifest["parameters"]["max_shard_docs"] == MAX_SHARD_DOCS


def plain(name: str, data: bytes) -> bytes:
    """A shard's lines: ``data`` itself, or decompressed for ``.zst`` (every frame)."""
    if not name.endswith(".zst"):
        return data
    import io

    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()


def cell_replay(config, data, baselines, tmp_path, request):
    """``--config BASELINE/manifest.json`` (and nothing else but -o) runs the baseline again:
    the same shards byte for byte and the same manifest outputs."""
    base = baselines.get(config)
    out = str(tmp_path / "out")
    args = [sys.executable, "-m", "dsir", "select", "--quiet", "--config", os.path.join(base["out"], "manifest.json"),
            "-o", out]
    if check_refused(config, "replay", args):
        return
    ok(args)
    assert_same_selection(output_bytes(out), manifest_of(out), base)
    assert manifest_of(out)["replay"] == base["manifest"]["replay"]


def cell_dryrun(config, data, baselines, tmp_path, request):
    """--dry-run: exit 0, the plan on stdout, nothing written (not even OUT)."""
    out = str(tmp_path / "out")
    args = select_args(data, config, out, "--dry-run")
    if check_refused(config, "dryrun", args):
        return
    done = ok(args)
    assert not os.path.exists(out)
    assert "passes over the inputs, in order:" in done.stdout and f"raw: {FILES} files" in done.stdout
    assert ("fit target" in done.stdout) == (config != "random")


CELL = {"resume": cell_resume, "skip": cell_skip, "s3": cell_s3, "groupby": cell_groupby,
        "report": cell_report, "ray": cell_ray, "arrow": cell_arrow, "maxshard": cell_maxshard,
        "replay": cell_replay, "dryrun": cell_dryrun}
CELLS = [pytest.param(config, option, id=f"{config}-{option}") for config in CONFIGS for option in OPTIONS]


def test_refused_table_names_real_cells():
    assert set(REFUSED) <= {(c, o) for c in CONFIGS for o in OPTIONS}
    assert all(isinstance(m, str) and m and "\n" not in m for m in REFUSED.values())


@pytest.mark.parametrize("config,option", CELLS)
def test_cell(config, option, data, baselines, tmp_path, request):
    CELL[option](config, data, baselines, tmp_path, request)


# --------------------------------------------------------------------------- resume with a changed option

#: (id, the option changed from the default run, {manifest parameter: its new value}).
CHANGES = [
    ("temperature", ["--temperature", "0.5"], {"temperature": 0.5}),
    ("weighting", ["--weighting", "sum"], {"weighting": "sum"}),
    ("seed", ["--seed", "1"], {"seed": 1}),
    ("min-length", ["--min-length", "5"], {"min_length": 5}),
    ("top-k", ["--top-k"], {"top_k": True}),
    ("method", ["--method", "random"], {"method": "random"}),
    ("chunk-words", ["--chunk-words", "64"], {"chunk_words": 64}),
    ("ngrams", ["--ngrams", "1"], {"ngrams": 1}),
    ("features", ["--features", "sha256-ngrams"], {"features": "sha256-ngrams"}),
    ("buckets", ["--buckets", "5000"], {"buckets": 5000}),
    ("smoothing", ["--smoothing", "0.5"], {"smoothing": 0.5}),
    ("raw-sample", ["--raw-sample", "50"], {"raw_sample": 50}),
    ("id-field", ["--id-field", "id"], {"id_field": "id"}),
]


def _parameter(manifest: dict, name: str):
    if name == "method":
        return manifest["method"]
    params = manifest["parameters"]
    return params[name] if name in params else params["featurizer"][name]


@pytest.fixture(scope="module")
def default_run(data, baselines) -> dict:
    return baselines.get("default")


@pytest.mark.parametrize("change,expected", [pytest.param(c, e, id=i) for i, c, e in CHANGES])
def test_resume_recomputes_changed_option(change, expected, data, default_run, tmp_path):
    """--resume over a finished default run with one option changed gives the fresh run of
    that option (recomputed), not the old selection, and the manifest says the new option."""
    out = str(tmp_path / "out")
    shutil.copytree(default_run["out"], out)  # a finished default run (records, scores, shards, manifest)
    ok(select_args(data, "default", out, *change, "--resume"))
    fresh = str(tmp_path / "fresh")
    ok(select_args(data, "default", fresh, *change))
    resumed_manifest, fresh_manifest = manifest_of(out), manifest_of(fresh)
    assert resumed_manifest["parameters"] == fresh_manifest["parameters"]
    assert resumed_manifest["method"] == fresh_manifest["method"]
    for name, value in expected.items():
        assert _parameter(resumed_manifest, name) == value
    resumed, wanted = output_bytes(out), output_bytes(fresh)
    if shards(resumed) != shards(wanted):
        kept = shards(resumed) == shards(default_run["files"])
        pytest.fail(f"--resume with {' '.join(change)}: the shards differ from a fresh run with that option"
                    + (" (they are the old default selection: stale units were reused)" if kept else ""))
    assert resumed_manifest == fresh_manifest
    assert resumed == wanted
    assert resumed_manifest["parameters"] != default_run["manifest"]["parameters"] or \
        resumed_manifest["method"] != default_run["manifest"]["method"]


def test_target_eval_leaves_the_selection_as_it_is(baselines):
    """The targeteval row selects what the targets row selects, byte for byte; its manifest
    differs only in the replay options, which give the held-out files again."""
    with_eval, without = baselines.get("targeteval"), baselines.get("targets")
    files = {n: b for n, b in with_eval["files"].items() if n != "manifest.json"}
    assert files == {n: b for n, b in without["files"].items() if n != "manifest.json"}
    a, b = with_eval["manifest"], without["manifest"]
    assert [v.split("=")[0] for v in a["replay"]["target_eval"]] == ["a", "b"] and b["replay"]["target_eval"] is None
    assert {**a, "replay": None} == {**b, "replay": None}
    assert {**a["replay"], "target_eval": None} == b["replay"]
    assert os.path.exists(os.path.join(with_eval["out"], "_dsir", "target-eval.json"))


def _shares_a_run(text: str, runs: set[tuple[str, ...]], n: int) -> bool:
    """Whether ``text`` holds one of ``runs`` (n-word tuples), by a plain scan (the independent check)."""
    words = re.sub(r"[^\w]+|_", " ", text.lower()).split()
    return any(tuple(words[i:i + n]) in runs for i in range(len(words) - n + 1))


def test_filters_row_selects_no_document_the_filters_exclude(data, baselines):
    """The filters row's selection holds no document sharing an 8-word run with the benchmark
    file nor failing a Gopher rule, and the manifest's counts are those of plain scans."""
    from tests.filters.test_quality_rules import ref_gopher

    base = baselines.get("filters")
    bench = [re.sub(r"[^\w]+|_", " ", json.loads(line)["text"].lower()).split()
             for line in open(data["DC"], encoding="utf-8")]
    runs = {tuple(w[i:i + 8]) for w in bench for i in range(len(w) - 7)}
    pool = [r for f in range(FILES) for r in _pool_records(f)]
    contaminated = {r["id"] for r in pool if _shares_a_run(r["text"], runs, 8)}
    assert contaminated >= set(data["DC_IDS"])
    section = base["manifest"]["filters"]["decontaminate"]
    assert section["excluded_documents"] == len(contaminated) == section["files"][0]["excluded_documents"]
    poor = {r["id"] for r in pool if any(ref_gopher(r["text"]))}
    assert base["manifest"]["filters"]["quality_rules"]["excluded_documents"] == len(poor)
    eligible = {r["id"] for r in pool if r["text"]} - contaminated - poor
    assert base["manifest"]["counts"]["eligible"] == len(eligible)
    selected = [json.loads(line)["id"] for name, blob in shards(base["files"]).items()
                for line in blob.decode().splitlines()]
    assert len(selected) == K and set(selected) <= eligible
    assert contaminated & {json.loads(line)["id"] for name, blob in shards(baselines.get("default")["files"]).items()
                           for line in blob.decode().splitlines()}  # without it some were selected


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"[^\W_]+", text.lower())
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()


def _near_pairs(texts: dict[str, str], threshold: float) -> list[tuple[str, str, float]]:
    """Every pair of ``texts`` (by id) whose shingle sets have a Jaccard similarity of at least ``threshold``."""
    sets = {i: _shingles(t) for i, t in texts.items()}
    ids = sorted(sets)
    out = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            x, y = sets[ids[a]], sets[ids[b]]
            j = len(x & y) / len(x | y) if x | y else 1.0
            if j >= threshold:
                out.append((ids[a], ids[b], j))
    return out


def test_dedup_row_selects_no_near_duplicate_pair(data, baselines):
    """The dedup row's selection holds K documents, no two of them with a shingle Jaccard of
    0.8 or more (brute force over every pair), while the default selection holds such pairs;
    the manifest's examples name a dropped copy and the original it duplicates."""
    base, default = baselines.get("dedup"), baselines.get("default")
    pool = {r["id"]: r for f in range(FILES) for r in _pool_records(f)}

    def selected(run) -> dict[str, str]:
        return {r["id"]: r["text"] for name, blob in shards(run["files"]).items()
                for r in map(json.loads, blob.decode().splitlines())}

    assert len(selected(base)) == K
    assert _near_pairs(selected(base), 0.8) == []
    assert _near_pairs(selected(default), 0.8), "the default selection holds no near copy: the row tests nothing"
    section = base["manifest"]["dedup"]
    assert section["mode"] == "near" and section["threshold"] == 0.8 and section["dropped"] >= 1
    (target,) = section["per_target"]
    assert target["dropped"] == section["dropped"] and target["examined"] == K + target["dropped"]
    by_unit = {(os.path.basename(f), i): r for f in sorted(glob.glob(os.path.join(data["pool"], "*.jsonl")))
               for i, r in enumerate(map(json.loads, open(f, encoding="utf-8")))}
    for e in target["examples"]:
        dropped = by_unit[(os.path.basename(e["file"]), e["unit"])]
        kept = by_unit[(os.path.basename(e["kept_file"]), e["kept_unit"])]
        assert kept["id"] in selected(base) and dropped["id"] not in selected(base)
        truth = _near_pairs({"a": dropped["text"], "b": kept["text"]}, 0.0)[0][2]
        assert abs(e["similarity"] - truth) < 0.2 and e["similarity"] >= section["cutoff"]
    assert {pool[i]["meta"].get("copy_of") for i in pool} - {None}  # the pool has copies


def test_mix_row_has_the_requested_composition(data, baselines):
    """The mix row's selection is 24 harbour-gazette and 16 farmers-weekly documents, each part
    the largest keys of its own documents (the default row's keys: the same target and seed)."""
    base = baselines.get("mix")
    got = {}
    for name, blob in shards(base["files"]).items():
        for r in map(json.loads, blob.decode().splitlines()):
            got[r["source"]] = got.get(r["source"], 0) + 1
    assert got == {"harbour-gazette": 24, "farmers-weekly": 16}
    parts = base["manifest"]["mix"]["parts"]
    assert [(p["value"], p["requested"], p["selected"]) for p in parts] == [
        ("harbour-gazette", 24, 24), ("farmers-weekly", 16, 16)]
    assert base["manifest"]["counts"]["eligible"] == sum(p["eligible"] for p in parts)


def test_scores_row_is_the_top_k_of_key_plus_weighted_score(data, baselines):
    """The scores row selects the K largest ``key + 2 * q`` (keys from ``dsir score`` of the
    same target, seed and --id-field), computed here from the scores file."""
    base = baselines.get("scores")
    out = os.path.join(os.path.dirname(base["out"]), "scores-keys.parquet")
    ok([sys.executable, "-m", "dsir", "score", "--quiet", "--raw", data["pool"], "--target", data["TA"],
        "--id-field", "id", "-o", out])
    q = {json.loads(line)["id"]: json.loads(line)["q"] for line in open(data["SC"], encoding="utf-8")}
    rows = pq.read_table(out).to_pylist()
    mixed = sorted(((r["key"] + 2 * q[r["id"]], r["id"]) for r in rows if r["eligible"]), reverse=True)
    want = {i for _, i in mixed[:K]}
    got = {json.loads(line)["id"] for name, blob in shards(base["files"]).items() for line in blob.decode().splitlines()}
    assert got == want
    assert base["manifest"]["scores"]["by"] == "id" and base["manifest"]["scores"]["units_without_score"] == 0


def test_balance_row_takes_units_in_balance_order(data, baselines):
    """The balance row selects the K first eligible documents in balance order: by their best
    rank within the entries they contain (each entry ranking its documents by key, keys from
    ``dsir score`` of the same target and seed), then by key; computed here with ``in``."""
    base = baselines.get("balance")
    out = os.path.join(os.path.dirname(base["out"]), "balance-keys.parquet")
    ok([sys.executable, "-m", "dsir", "score", "--quiet", "--raw", data["pool"], "--target", data["TA"], "-o", out])
    records = {f"pool-{f:03d}.jsonl": _pool_records(f) for f in range(FILES)}
    text = {r["id"]: r["text"].lower() for rs in records.values() for r in rs}
    rows = [{**r, "id": records[os.path.basename(r["file"])][r["row"]]["id"]}
            for r in pq.read_table(out).to_pylist() if r["eligible"]]
    entries = [e.lower() for e in BALANCE_ENTRIES]
    matched = {r["id"]: [e for e in entries if e in text[r["id"]]] for r in rows}
    by_key = sorted((r for r in rows if matched[r["id"]]), key=lambda r: -r["key"])
    rank = {}
    for e in entries:
        for n, r in enumerate(x for x in by_key if e in matched[x["id"]]):
            rank[r["id"]] = min(rank.get(r["id"], n), n)
    order = sorted(by_key, key=lambda r: (rank[r["id"]], -r["key"]))
    want = {r["id"] for r in order[:K]}
    got = {json.loads(line)["id"] for name, blob in shards(base["files"]).items() for line in blob.decode().splitlines()}
    assert got == want
    section = base["manifest"]["balance"]
    assert section["entries"] == len(entries) and section["cap"] is None
    assert section["units_without_entry"] == sum(1 for r in rows if not matched[r["id"]]) > 0
    counts = {e: sum(e in m for m in matched.values()) for e in entries}
    after = {e: sum(e in matched[i] for i in want) for e in entries}
    listed = {x["entry"]: (x["before"], x["after"]) for x in section["head"] + section["tail"]}
    assert listed == {e: (counts[e], after[e]) for e in entries}
    assert section["cap_reached"] == min(rank[r["id"]] for r in order[K:])


def test_parts_row_selects_what_whole_files_select(data, baselines):
    """The parts row reads every pool file in five or more parts and selects what the default
    row selects, byte for byte; only the manifest's part counts differ."""
    parted, whole = baselines.get("parts"), baselines.get("default")
    assert_same_selection(parted["files"], parted["manifest"], whole)
    assert [i["parts"] for i in whole["manifest"]["inputs"]] == [1] * FILES
    assert all(i["parts"] >= 5 for i in parted["manifest"]["inputs"])
    strip = lambda m: [{k: v for k, v in i.items() if k != "parts"} for i in m["inputs"]]  # noqa: E731
    assert strip(parted["manifest"]) == strip(whole["manifest"])


def test_seekable_row_writes_the_default_selection_as_seekable_zstd(data, baselines):
    """The seekable row's shards, decompressed, are the default row's shards; each is in the
    zstd seekable format, its frames of at least 2 kB ending at line ends."""
    import io

    from dsir.io.seekable_zstd import read_seek_table

    seekable, whole = baselines.get("seekable"), baselines.get("default")
    got = {name[: -len(".zst")]: plain(name, b) for name, b in shards(seekable["files"]).items()}
    assert got == shards(whole["files"])
    frames = 0
    for name, b in shards(seekable["files"]).items():
        table = read_seek_table(io.BytesIO(b), len(b))
        assert table is not None, f"{name} has no seek table"
        text = plain(name, b)
        assert all(text[int(d) - 1: int(d)] == b"\n" for d in table.decompressed[1:])
        assert all(s >= 2000 for s in (table.decompressed[1:-1] - table.decompressed[:-2]))
        frames += table.frames
    assert frames > len(got)  # some shard has several frames
    assert seekable["manifest"]["parameters"]["zstd_frame_bytes"] == 2000


def test_scorer_row_is_the_top_k_of_key_plus_weighted_probability(data, baselines):
    """The scorer row selects the K largest ``key + 2 * P(sea)`` (keys from ``dsir score`` of the
    same target and seed; probabilities from fastText's own predict of the same model)."""
    import fasttext

    base = baselines.get("scorer")
    out = os.path.join(os.path.dirname(base["out"]), "scorer-keys.parquet")
    ok([sys.executable, "-m", "dsir", "score", "--quiet", "--raw", data["pool"], "--target", data["TA"], "-o", out])
    records = {f"pool-{f:03d}.jsonl": _pool_records(f) for f in range(FILES)}
    rows = [r for r in pq.read_table(out).to_pylist() if r["eligible"]]
    texts = [records[os.path.basename(r["file"])][r["row"]]["text"].replace("\n", " ") for r in rows]
    labels, probs = fasttext.load_model(data["FT"]).predict(texts, k=-1)
    p = [float(dict(zip(ls, ps)).get("__label__sea", 0.0)) for ls, ps in zip(labels, probs)]
    mixed = sorted(((r["key"] + 2 * q, records[os.path.basename(r["file"])][r["row"]]["id"])
                    for r, q in zip(rows, p)), reverse=True)
    got = {json.loads(line)["id"] for name, blob in shards(base["files"]).items() for line in blob.decode().splitlines()}
    assert got == {i for _, i in mixed[:K]}
    sc = base["manifest"]["scores"]
    assert sc["by"] == "text" and sc["label"] == "__label__sea" and sc["units_without_score"] == 0


def test_resume_with_dedup_added_recomputes(data, default_run, tmp_path):
    """--resume over a finished default run with --dedup near added is the fresh run with it."""
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    shutil.copytree(default_run["out"], out)
    ok(select_args(data, "default", out, "--dedup", "near", "--resume"))
    ok(select_args(data, "default", fresh, "--dedup", "near"))
    assert shards(output_bytes(out)) == shards(output_bytes(fresh)) != shards(default_run["files"])
    assert manifest_of(out)["dedup"] == manifest_of(fresh)["dedup"]


def test_resume_with_decontaminate_added_recomputes(data, default_run, tmp_path):
    """--resume over a finished default run with --decontaminate added is the fresh run with it."""
    out, fresh = str(tmp_path / "out"), str(tmp_path / "fresh")
    shutil.copytree(default_run["out"], out)
    extra = ["--decontaminate", data["DC"], "--decontaminate-words", "8"]
    ok(select_args(data, "default", out, *extra, "--resume"))
    ok(select_args(data, "default", fresh, *extra))
    assert shards(output_bytes(out)) == shards(output_bytes(fresh)) != shards(default_run["files"])
    assert manifest_of(out)["filters"] == manifest_of(fresh)["filters"]
