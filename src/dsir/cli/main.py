"""The ``dsir`` command line: ``select``, ``fit`` and ``score``."""

from __future__ import annotations

import logging
import sys

import click

from dsir import __version__
from dsir.api import DSIR, MODEL_METHODS
from dsir.dedup.rule import DEDUP_MODES, DEFAULT_BANDS as DEFAULT_DEDUP_BANDS
from dsir.dedup.rule import DEFAULT_PERMUTATIONS as DEFAULT_DEDUP_PERMUTATIONS
from dsir.dedup.rule import DEFAULT_THRESHOLD as DEFAULT_DEDUP_THRESHOLD
from dsir.filters import QUALITY_RULES
from dsir.filters.decontaminate import DEFAULT_WORDS as DEFAULT_DECONTAMINATE_WORDS
from dsir.cli.params import BYTE_SIZE, TOKEN_COUNT
from dsir.engines import ENGINES, make_engine
from dsir.engines.local import default_workers
from dsir.engines.progress import format_bytes
from dsir.errors import DsirError, InputError, OutputError
from dsir.cli.config import config_option
from dsir.estimate.methods import METHODS
from dsir.featurize import FEATURES
from dsir.io.memory import Paths
from dsir.io.parts import DEFAULT_UNIT_BYTES
from dsir.io.writers import OUTPUT_FORMATS
from dsir.pipeline.tasks import EMITS
from dsir.sample.methods import WEIGHTINGS

_SHOW = {"show_default": True}
#: Every default shown by --help is the API's own (``DSIR.default_params``).
DEFAULTS = DSIR.default_params()


def feature_options(fn):
    """Options that define the feature space and the models (shared by fit and select)."""
    for opt in reversed([
        click.option("--ngrams", type=click.IntRange(1, 8), default=DEFAULTS["ngrams"], **_SHOW,
                     help="Largest n-gram order: 2 hashes unigrams and bigrams."),
        click.option("--buckets", type=click.IntRange(1, 2**31 - 1), default=DEFAULTS["buckets"], **_SHOW,
                     help="Number of hash buckets of the feature space (default: 10,000, the paper's, for dsir, reference and classifier; 2^18 = 262,144 for discriminative; at most what memory allows: a run holds about 12 arrays of 8 bytes per bucket; refused up front beyond half of the machine's memory)."),
        click.option("--features", type=click.Choice(list(FEATURES)), default=DEFAULTS["features"], **_SHOW,
                     help="Featurizer: hashed-ngrams (FNV-1a hashes, fast), sha256-ngrams (the buckets of the reference package data-selection 1.0.3, exactly: sha256 of each n-gram modulo --buckets; slower), or minilm-static (the word pieces of all-MiniLM-L6-v2 with vectors distilled from it: --method discriminative fits a logistic regression on each document's mean piece vector; --ngrams and --buckets do not apply)."),
        click.option("--smoothing", type=float, default=DEFAULTS["smoothing"], **_SHOW,
                     help="Additive smoothing of both bag-of-n-grams models of --method dsir: p(b) = (count(b) + a) / (total + a * buckets)."),
        click.option("--target-smoothing", type=float, default=DEFAULTS["target_smoothing"], **_SHOW,
                     help="Pseudo-count added to every target bucket count by --method reference (the reference's target_laplace_smoothing); its raw model is unsmoothed."),
        click.option("--raw-sample", type=click.IntRange(min=1), default=DEFAULTS["raw_sample"], **_SHOW,
                     help="About how many raw documents, drawn uniformly at random from all raw files, the raw model is fit on (all of them when the pool is smaller)."),
    ]):
        fn = opt(fn)
    return fn


def _set_log_level(ctx: click.Context, param: click.Parameter, value):
    """``-q`` shows warnings and errors only, ``-v`` adds debug lines; the last one given wins."""
    if value:
        logging.getLogger("dsir").setLevel(logging.WARNING if param.name == "quiet" else logging.DEBUG)
    return value


def verbosity_options() -> list:
    """``-q/--quiet`` and ``-v/--verbose``, for every command."""
    return [
        click.option("-q", "--quiet", is_flag=True, callback=_set_log_level,
                     help="No progress, and no log lines but warnings and errors."),
        click.option("-v", "--verbose", is_flag=True, callback=_set_log_level, expose_value=False,
                     help="Also log what each stage does (debug lines)."),
    ]


def common_options(fn):
    """Options every command that reads documents takes."""
    for opt in reversed([
        click.option("--raw", "raw", multiple=True, required=True, metavar="PATH",
                     help="Raw pool: a file, directory, glob or URL (repeatable). jsonl, jsonl.gz, jsonl.zst, parquet or Arrow IPC (.arrow, as datasets.save_to_disk writes)."),
        click.option("--text-field", default=DEFAULTS["text_field"], **_SHOW, help="Field (or column) that holds the document text. A dotted name (meta.text) is a nested field (text of the object or struct meta), except in a record whose top-level field of exactly that name is there and not null."),
        click.option("--target-text-field", default=None, metavar="FIELD", help="Field (or column) of the text in the target files, when it is not --text-field's (dotted names as there)."),
        click.option("--seed", type=int, default=DEFAULTS["seed"], **_SHOW, help="Seed of the raw sample and of the Gumbel noise."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Workers (threads, processes or Ray CPUs, per --engine). [default: number of CPUs]"),
        *verbosity_options(),
        click.option("--engine", type=click.Choice(ENGINES), default="auto", **_SHOW,
                     help="Where the work runs: threads of this process (local), worker processes on this "
                          "machine (processes), threads up to 8 workers and processes beyond (auto), or Ray "
                          "(pip install 'dsir[ray]')."),
        click.option("--ray-address", default=None, metavar="ADDR",
                     help="Existing Ray cluster to run on ('auto', HOST:PORT or ray://HOST:10001). [default: $RAY_ADDRESS, else start Ray here with --workers CPUs]"),
        click.option("--unit-size", "unit_bytes", type=BYTE_SIZE, default=DEFAULT_UNIT_BYTES, metavar="SIZE",
                     help="Read raw files larger than SIZE (bytes, or 256MB, 1GiB...) in parts of about SIZE, so one large file keeps every worker busy: parquet by row groups, plain jsonl by byte ranges, seekable jsonl.zst by frames; gzip, single-frame zstd and Arrow IPC files are read whole. The selection is the same whatever SIZE is. [default: 256MiB]"),
    ]):
        fn = opt(fn)
    return fn


def selection_options(fn):
    """Options that say which units are eligible and how they are ranked (select and score)."""
    for opt in reversed([
        click.option("--min-length", type=click.IntRange(min=0), default=DEFAULTS["min_length"], **_SHOW, help="Units with fewer tokens are not eligible (empty ones never are)."),
        click.option("--top-k", is_flag=True, help="Take the k highest weights (deterministic) instead of importance resampling."),
        click.option("--id-field", default=None, help="Field whose value seeds each document's noise instead of a hash of its text."),
        click.option("--on-error", "on_error", type=click.Choice(["stop", "skip"]), default=DEFAULTS["on_error"], **_SHOW, help="On a bad record, stop (no output), or skip it: select lists it in DIR/rejects.jsonl and counts it in the manifest; score marks its row rejected."),
        click.option("--method", type=click.Choice(list(METHODS)), default=DEFAULTS["method"], **_SHOW, help="dsir (importance resampling), reference (the same with the reference package's estimator: unsmoothed raw model, log(p + 1e-8)), random (uniform), classifier (GPT-3's logistic regression with a Pareto(9) keep rule), or discriminative (importance resampling on the log-odds of a logistic regression, target against a raw sample, in a 2^18-bucket hash space: density-ratio estimation by classification; the default)."),
        click.option("--weighting", type=click.Choice(WEIGHTINGS), default=DEFAULTS["weighting"], **_SHOW, help="dsir log-weight: mean log-ratio per n-gram (does not grow with length), or the paper's sum."),
        click.option("--temperature", type=float, default=DEFAULTS["temperature"], **_SHOW, help="The importance methods resample with probability proportional to exp(log-weight / temperature) (default: the method's: 0.01 for dsir and reference, 0.3 for discriminative)."),
        click.option("--chunk-words", type=click.IntRange(min=1), default=None, help="Cut documents into chunks of about N words and score the chunks (as the DSIR paper did)."),
        click.option("--emit", type=click.Choice(EMITS), default=DEFAULTS["emit"], **_SHOW, help="With --chunk-words: select chunks (written as records), or whole documents scored by their average chunk."),
        click.option("--target", multiple=True, metavar="[NAME=]PATH[:P]", help="Target sample: file, directory, glob or URL (repeatable). Needed unless --model is given (or --method random). NAME=PATH[:PROPORTION] names a target: each named target gets its share of k (PROPORTION, equal by default) by its own weights, no unit twice, shards part-NAME-NNNNN."),
        click.option("--model", metavar="FILE", help="Use an estimator saved by 'dsir fit' (a path or URL) instead of fitting."),
    ]):
        fn = opt(fn)
    return fn


def _selector(ngrams, buckets, smoothing, raw_sample, seed, min_length, top_k, text_field, id_field, workers, quiet,
              engine, ray_address, on_error, method, weighting, temperature, chunk_words, emit, target, model,
              target_text_field=None, features="hashed-ngrams", target_smoothing=0.0,
              unit_bytes=DEFAULT_UNIT_BYTES) -> DSIR:
    """The DSIR that select and score run with (a saved --model loaded)."""
    _check_selection(target, model, method, emit, chunk_words)
    d = _make(ngrams, buckets, smoothing, raw_sample, seed, min_length, top_k, text_field, id_field, workers, quiet,
              engine, ray_address, on_error, method=method, weighting=weighting, temperature=temperature,
              chunk_words=chunk_words, emit=emit, target_text_field=target_text_field, features=features,
              target_smoothing=target_smoothing, unit_bytes=unit_bytes)
    return d.load_model(model) if model else d


def _check_selection(target, model, method, emit, chunk_words) -> None:
    if bool(target) == bool(model) and not (method == "random" and not model):
        raise click.UsageError("give --target PATH (to fit) or --model FILE (to reuse a fit), not both")
    if model and method not in MODEL_METHODS:
        raise click.UsageError(f"--model holds a fit of method {', '.join(MODEL_METHODS)}; --method {method} cannot use it")
    if emit == "chunks" and chunk_words is None:
        raise click.UsageError("--emit chunks needs --chunk-words N")


#: Exit status of each way a command can end (the README's "Exit status" table).
EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def exit_status(exc: BaseException) -> int:
    """The exit status for an error: usage 2, bad input 3, output failure 4, interrupted 130."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, InputError):
        return EXIT_INPUT
    if isinstance(exc, OutputError):
        return EXIT_OUTPUT
    return EXIT_USAGE if isinstance(exc, DsirError) else EXIT_BUG


def format_plan(plan: dict) -> str:
    """``select --dry-run``'s plan (``pipeline.plan.describe_plan``) as lines of text."""
    def files(fs: list[dict]) -> list[str]:
        return [f"    {f['path']}  ({f['format']}, {format_bytes(f['bytes'])})" for f in fs]

    raw = plan["raw"]
    lines = [f"dry run: nothing was read but file sizes, nothing was written ({plan['method']})",
             f"raw: {len(raw)} file{'s' * (len(raw) != 1)}, {format_bytes(sum(f['bytes'] for f in raw))}", *files(raw)]
    for t in plan["targets"]:
        fs = t["files"]
        lines += [f"target{' ' + t['name'] if t['name'] else ''}: {len(fs)} file{'s' * (len(fs) != 1)}, "
                  f"{format_bytes(sum(f['bytes'] for f in fs))}", *files(fs)]
    lines.append(f"output {plan['output']['path']}: would {plan['output']['action']}")
    lines.append("passes over the inputs, in order:")
    for step in plan["passes"]:
        note = f"; {step['note']}" if "note" in step else ""
        lines.append(f"    {step['phase']:<11} {step['files']} {step['reads']} file{'s' * (step['files'] != 1)}, "
                     f"{format_bytes(step['bytes'])}{note}")
    lines += [f"    ({x['what']}: no pass of its own, {x['how']})" for x in plan["no_extra_reads"]]
    lines.append(f"bytes read in all: {format_bytes(plan['bytes_read'])}")
    return "\n".join(lines)


def _say(message: str, err: bool = True) -> None:
    """A command's summary line, on stderr; ``-q`` silences it with the info lines."""
    if logging.getLogger("dsir").isEnabledFor(logging.INFO):
        click.echo(message, err=err)


def _run(fn):
    try:
        return fn()
    except DsirError as exc:
        click.echo(f"dsir: error: {exc}", err=True)
        sys.exit(exit_status(exc))
    except KeyboardInterrupt as exc:
        click.echo("dsir: interrupted (a select continues where it stopped with --resume)", err=True)
        sys.exit(exit_status(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dsir")
def main() -> None:
    """Select the documents of a large raw pool that look most like a small target sample
    (DSIR: importance resampling over hashed n-gram features)."""
    logging.basicConfig(format="dsir: %(levelname)s: %(message)s", level=logging.WARNING)
    logging.getLogger("dsir").setLevel(logging.INFO)  # dsir's own lines; other libraries' only from warnings


def _make(ngrams, buckets, smoothing, raw_sample, seed, min_length, top_k, text_field, id_field, workers, quiet,
          engine="auto", ray_address=None, on_error="stop", **quality) -> DSIR:
    if ray_address is not None and workers is not None:
        raise click.UsageError("--workers starts a Ray instance of that size; an existing cluster (--ray-address) "
                               "uses all its CPUs")
    workers = workers or (None if engine == "ray" else default_workers())  # Ray: all its CPUs
    return DSIR(ngrams=ngrams, buckets=buckets, smoothing=smoothing, raw_sample=raw_sample, seed=seed,
                min_length=min_length, top_k=top_k, text_field=text_field, id_field=id_field,
                workers=workers or default_workers(), progress=not quiet, on_error=on_error,
                engine=make_engine(engine, workers, ray_address, progress=not quiet), **quality)


@main.command()
@config_option
@common_options
@selection_options
@click.option("-k", "k", type=int, default=None, help="Number of units (documents, or chunks with --emit chunks) to select.")
@click.option("--fraction", type=float, default=None, help="Select this fraction of the eligible units instead of -k.")
@click.option("--tokens", type=TOKEN_COUNT, default=None, metavar="N", help="Select by a token budget instead of -k: units in the order -k ranks them until their tokens reach N (2000000, 500k, 2M, 1.5B); tokens as --min-length counts them.")
@click.option("-o", "--output", "output", required=True, metavar="DIR", help="Output directory, local or an object-store URL (must be empty unless --overwrite).")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default=None, help="Format of the output shards. [default: that of each input file]")
@click.option("--max-shard-docs", type=click.IntRange(min=1), default=None, metavar="N", help="Cut a shard that would hold more than N records, in order, into pieces part-NNNNN.MMMMM.<format>.")
@click.option("--max-shard-bytes", type=BYTE_SIZE, default=None, metavar="SIZE", help="Cut a shard that would be larger than SIZE (bytes, or 500MB, 1GiB...) into pieces part-NNNNN.MMMMM.<format>; jsonl counts the lines before compression, parquet the rows' values before encoding; a larger record goes alone in its piece.")
@click.option("--zstd-frame-size", type=BYTE_SIZE, default=None, metavar="SIZE", help="Write jsonl.zst shards in the seekable zstd format, a frame per SIZE of lines (cut at line ends; 4MB is typical), so that a later run can split them across workers (see --unit-size). Needs jsonl.zst output.")
@click.option("--overwrite", is_flag=True, help="Replace the output of an earlier run in DIR.")
@click.option("--no-report", is_flag=True, help="Do not write the report (report.json, report.html); 'dsir report DIR' makes it later.")
@click.option("--group-by", default=None, metavar="FIELD", help="Metadata field (e.g. domain, source) to compare the pool and the selection by, in the report.")
@click.option("--target-eval", multiple=True, metavar="[NAME=]PATH", help="Held-out target documents (file, directory or glob; repeatable; NAME=PATH for a named target): the report shows their perplexity under a bigram model trained on the selection against one trained on a uniform sample of the pool, on equal text. Shapes the report only; kept for later 'dsir report' runs.")
@click.option("--decontaminate", multiple=True, metavar="PATH", help="Benchmark or held-out texts (file, directory or glob, any input format; repeatable; their text field is the target's): a pool document that shares a run of --decontaminate-words words with any of them is not eligible. The manifest counts them per file, the report shows examples with the matching words.")
@click.option("--decontaminate-words", type=click.IntRange(min=1), default=DEFAULT_DECONTAMINATE_WORDS, show_default=True, metavar="N", help="Length in words of the runs --decontaminate matches (13, as GPT-3's and datatrove's overlap checks); words are runs of letters and digits, lowercased.")
@click.option("--quality-rules", type=click.Choice(QUALITY_RULES), default="none", show_default=True, help="Heuristic quality rules whose failing documents are not eligible: Gopher's (word count, mean word length, symbol ratios, bullet and ellipsis lines, alphabetic words, stop words) or C4's (lorem ipsum, curly brackets, fewer than 5 sentences in the lines C4 keeps). The manifest and report count the documents each rule removed.")
@click.option("--dedup", type=click.Choice(DEDUP_MODES), default="none", show_default=True, help="Select no unit that duplicates one ranked above it: 'exact', the same words (lowercased runs of letters and digits); 'near', an estimated Jaccard similarity of --dedup-threshold or more over 5-word shingles (MinHash, LSH). The selection is then the first k distinct units in key order; the manifest and report count the candidates dropped, as duplicates of which selected unit.")
@click.option("--dedup-threshold", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_DEDUP_THRESHOLD, show_default=True, metavar="J", help="--dedup near: the Jaccard similarity of 5-word shingle sets at which two units are duplicates (pairs estimated within 3 standard errors below it count too).")
@click.option("--dedup-permutations", type=click.IntRange(1, 1024), default=DEFAULT_DEDUP_PERMUTATIONS, show_default=True, metavar="N", help="--dedup near: MinHash values per unit (the estimate's standard error is sqrt(J(1-J)/N)).")
@click.option("--dedup-bands", type=click.IntRange(min=1), default=DEFAULT_DEDUP_BANDS, show_default=True, metavar="B", help="--dedup near: LSH bands (of N/B values each; B must divide N); more bands find pairs of lower similarity to check.")
@click.option("--mix", default=None, metavar="FIELD=VALUE:P,...", help="Select a composition over a metadata field: the budget is split over the values in these proportions (largest remainder), each part filled with the largest keys among its own units (by the target's weights; uniformly with --method random); units of other values are not eligible. One target or none.")
@click.option("--scores", multiple=True, metavar="PATH", help="Per-document scores made elsewhere (parquet, Arrow or jsonl; repeatable): columns file and row as 'dsir score' writes them, or the --id-field column, and --score-column. Without --score-weight the scores are the keys (-k keeps the best, --keep-top a fraction); pool documents without a score are not eligible.")
@click.option("--scorer", default=None, metavar="fasttext:MODEL.bin", help="Make the scores in the score pass instead of reading --scores: each document's probability of --scorer-label under this fastText classifier (DCLM's and PreSelect's are such files; needs the fasttext extra). Used as --scores are: alone the keys, or with --score-weight.")
@click.option("--scorer-label", default=None, metavar="LABEL", help="The --scorer model's label whose probability is the score (__label__hq, or hq).")
@click.option("--score-column", default=None, metavar="NAME", help="The column of --scores that holds the scores.")
@click.option("--score-weight", type=float, default=None, metavar="L", help="Add L * score to the importance keys (a unit's sampling weight times exp(L * score)) instead of ranking by the scores alone.")
@click.option("--score-range", default=None, metavar="LO:HI", help="Units whose --scores score is outside [LO, HI] are not eligible (either side may be empty).")
@click.option("--keep-top", type=click.FloatRange(0, 1, min_open=True), default=None, metavar="F", help="Keep the best fraction F of the eligible units by --scores (a budget, instead of -k).")
@click.option("--balance-field", default=None, metavar="FIELD", help="Balance the selection over this metadata field's values (MetaCLIP): each value keeps at most --balance-cap of its best-keyed units, the tail values all of theirs; the budget takes units in that balance order. Units with no value are not eligible. One target or none.")
@click.option("--balance-entries", default=None, metavar="FILE", help="Balance over the entries of FILE (one per line, matched as lowercased substrings of the text, Aho-Corasick) instead of a field; a unit matching several entries is kept when any of them keeps it; units matching none are not eligible.")
@click.option("--balance-cap", type=click.IntRange(min=1), default=None, metavar="T", help="Units each balance entry keeps at most (MetaCLIP's t): min(count, T) per entry. Without -k, --fraction or --tokens, all the units the cap keeps are selected.")
@click.option("--resume", is_flag=True, help="Continue a killed or failed run in DIR (same command otherwise): finished units are reused when their inputs and parameters are unchanged.")
@click.option("--dry-run", is_flag=True, help="Say what would be read (files, bytes, each pass) and done to DIR, read no document and write nothing.")
@feature_options
def select(raw, text_field, target_text_field, seed, workers, quiet, engine, ray_address, unit_bytes, min_length, top_k, id_field, on_error, method,
           weighting, temperature, chunk_words, emit, target, model, k, fraction, tokens, output, output_format,
           max_shard_docs, max_shard_bytes, zstd_frame_size, overwrite, no_report, group_by, target_eval, decontaminate,
           decontaminate_words, quality_rules, dedup, dedup_threshold, dedup_permutations, dedup_bands, mix, scores,
           scorer, scorer_label, score_column, score_weight, score_range, keep_top, balance_field, balance_entries, balance_cap, resume,
           dry_run, ngrams, buckets, features, smoothing,
           target_smoothing, raw_sample) -> None:
    """Select k raw units (or a token budget) by importance resampling and write them, with all
    their fields, to DIR.

    Writes one shard per input file (and named target) that has selected units
    (part-NNNNN.<format>), then DIR/manifest.json saying what was done, then the report.
    """
    def run():
        if keep_top is not None and any(x is not None for x in (k, fraction, tokens)):
            raise click.UsageError("--keep-top is a budget: give it instead of -k, --fraction and --tokens")
        capped = balance_cap is not None and keep_top is None and all(x is None for x in (k, fraction, tokens))
        if keep_top is None and not capped and sum(x is not None for x in (k, fraction, tokens)) != 1:
            raise click.UsageError("give exactly one of -k, --fraction and --tokens")
        nonlocal method
        if (scores or scorer) and score_weight is None and not target and not model:
            method = "random"  # ranked by the scores alone: no importance weights to fit
        d = _selector(ngrams, buckets, smoothing, raw_sample, seed, min_length, top_k, text_field, id_field, workers,
                      quiet, engine, ray_address, on_error, method, weighting, temperature, chunk_words, emit, target,
                      model, target_text_field, features, target_smoothing, unit_bytes)
        with d.engine:
            m = d.select(Paths(raw), output, k=k, fraction=fraction, target=Paths(target) or None,
                         output_format=output_format, overwrite=overwrite, report=not no_report, group_by=group_by,
                         resume=resume, max_shard_docs=max_shard_docs, max_shard_bytes=max_shard_bytes,
                         zstd_frame_size=zstd_frame_size, dry_run=dry_run, tokens=tokens, target_eval=list(target_eval) or None,
                         decontaminate=Paths(decontaminate) or None, decontaminate_words=decontaminate_words,
                         quality_rules=quality_rules, dedup=dedup, dedup_threshold=dedup_threshold,
                         dedup_permutations=dedup_permutations, dedup_bands=dedup_bands, mix=mix,
                         scores=Paths(scores) or None, score_column=score_column, score_weight=score_weight,
                         score_range=score_range, keep_top=keep_top, scorer=scorer, scorer_label=scorer_label,
                         balance_field=balance_field,
                         balance_entries=balance_entries, balance_cap=balance_cap)
        if dry_run:
            click.echo(format_plan(m))
            return
        c = m["counts"]
        budget = f", {c['selected_tokens']} tokens of the {c['requested_tokens']} asked" if tokens else ""
        _say(f"selected {c['selected']} of {c['eligible']} eligible {c.get('unit', 'documents')}{budget} "
             f"({c['documents']} documents in the pool) into {output}", err=True)
        for t in m.get("per_target", []):
            if t["name"]:
                got = (f"{t['selected']} {c.get('unit', 'documents')} ({t['selected_tokens']} tokens of its "
                       f"{t['requested_tokens']})" if tokens else f"{t['selected']} of {t['requested']}")
                _say(f"  target {t['name']}: {got}", err=True)
        for p in (m.get("mix") or {}).get("parts", []):
            got = (f"{p['selected_tokens']} tokens of its {p['requested_tokens']}" if tokens
                   else f"{p['selected']} of {p['requested']}")
            _say(f"  {m['mix']['field']}={p['value']}: {got} ({p['eligible']} eligible)", err=True)
        if m.get("scores"):
            sc = m["scores"]
            _say(f"  scores {sc['column'] or sc['scorer'] + ' ' + sc['label']} ({sc['use']}): "
                 f"{sc['units_scored']} units scored, "
                 f"{sc['units_in_range']} in range", err=True)
        if m.get("balance"):
            b = m["balance"]
            cap = f"cap {b['cap']}" if b["cap"] is not None else "no cap"
            _say(f"  balance over {b['entries_matched']} of {b['entries']} entries ({cap}; "
                 f"{b['units_without_entry']} eligible units matched none)", err=True)
            for row in b["head"][:3]:
                _say(f"    {row['entry']}: {row['before']} -> {row['after']}", err=True)
        if m.get("dedup"):
            _say(f"  dedup {m['dedup']['mode']}: {m['dedup']['dropped']} candidates dropped as duplicates", err=True)
        if not no_report:
            _say(f"report: {output.rstrip('/')}/report.html", err=True)
    _run(run)


@main.command()
@config_option
@common_options
@click.option("--target", multiple=True, required=True, metavar="PATH", help="Target sample: file, directory, glob or URL (repeatable).")
@click.option("-o", "--output", "output", required=True, metavar="FILE", help="Where to save the fitted estimator (.npz, see docs/model-format.md).")
@click.option("--method", type=click.Choice(list(MODEL_METHODS)), default=DEFAULTS["method"], **_SHOW, help="The estimator to fit: dsir's, the reference package's (reference), or a classifier's log-odds (discriminative).")
@feature_options
def fit(raw, text_field, target_text_field, seed, workers, quiet, engine, ray_address, unit_bytes, target, output, method, ngrams,
        buckets, features, smoothing, target_smoothing, raw_sample) -> None:
    """Fit the target and raw bag-of-n-grams models and save them for later 'select --model'."""
    def run():
        d = _make(ngrams, buckets, smoothing, raw_sample, seed, 0, False, text_field, None, workers, quiet, engine,
                  ray_address, target_text_field=target_text_field, method=method, features=features,
                  target_smoothing=target_smoothing, unit_bytes=unit_bytes)
        with d.engine:
            d.fit(Paths(raw), Paths(target))
        d.save(output)
        s = d.estimator_.stats_
        _say(f"fit on {s.target_documents} target and {s.raw_documents} raw documents; saved {output}", err=True)
    _run(run)


@main.command()
@config_option
@common_options
@selection_options
@click.option("-o", "--output", "output", required=True, metavar="FILE", help="Parquet file to write (file, row, log_weight, weight, key, tokens, eligible; id with --id-field).")
@click.option("--decontaminate", multiple=True, metavar="PATH", help="As for 'select': units of documents that share a run of --decontaminate-words words with these texts are not eligible.")
@click.option("--decontaminate-words", type=click.IntRange(min=1), default=DEFAULT_DECONTAMINATE_WORDS, show_default=True, metavar="N", help="Length in words of the runs --decontaminate matches.")
@click.option("--quality-rules", type=click.Choice(QUALITY_RULES), default="none", show_default=True, help="As for 'select': units of documents failing the preset's heuristic rules are not eligible.")
@feature_options
def score(raw, text_field, target_text_field, seed, workers, quiet, engine, ray_address, unit_bytes, min_length, top_k, id_field, on_error, method,
          weighting, temperature, chunk_words, emit, target, model, output, decontaminate, decontaminate_words,
          quality_rules, ngrams,
          buckets, features, smoothing, target_smoothing, raw_sample) -> None:
    """Write every raw unit's log-weight and the key 'select' ranks it by, with its file and row, as parquet.

    Takes the options of 'select' that decide the ranking, so its key column is exactly what
    a 'select' with the same options sorts on.
    """
    def run():
        d = _selector(ngrams, buckets, smoothing, raw_sample, seed, min_length, top_k, text_field, id_field, workers,
                      quiet, engine, ray_address, on_error, method, weighting, temperature, chunk_words, emit, target,
                      model, target_text_field, features, target_smoothing, unit_bytes)
        with d.engine:
            table = d.score(Paths(raw), output, target=Paths(target) or None,
                            decontaminate=Paths(decontaminate) or None, decontaminate_words=decontaminate_words,
                            quality_rules=quality_rules)
        _say(f"scored {table.num_rows} {d.settings.unit_name} into {output}", err=True)
    _run(run)


@main.command()
@click.argument("output_dir")
@click.option("--group-by", default=None, metavar="FIELD", help="Also compare the pool and the selection by this metadata field (stored for later runs).")
@click.option("--sample-documents", type=click.IntRange(min=1), default=20_000, **_SHOW, help="Documents of the pool and of the selection sampled for the KL numbers.")
@click.option("--target-eval", multiple=True, metavar="[NAME=]PATH", help="Held-out target documents (repeatable; NAME=PATH for a named target) for the perplexity comparison; replaces those select or an earlier report kept.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker threads. [default: number of CPUs]")
@verbosity_options()[0]
@verbosity_options()[1]
def report(output_dir, group_by, sample_documents, target_eval, workers, quiet) -> None:
    """Write report.json, report.html and report/*.png for the selection in OUTPUT_DIR.

    OUTPUT_DIR is the output directory (local or URL) of a finished 'dsir select'. The samples
    that select took are reused; the input files it names are read again only for another
    --sample-documents or a new --group-by field.
    """
    from dsir.engines.local import LocalEngine
    from dsir.reports import ReportOptions, make_report

    def run():
        with LocalEngine(workers or default_workers(), progress=not quiet) as engine:
            r = make_report(output_dir, engine, ReportOptions(sample_documents=sample_documents), group_by,
                            target_eval=list(target_eval) or None)
        kl = r["kl"]
        if kl["reduction"] is not None:
            _say(f"KL(target || raw) {kl['kl_target_raw']:.4f}, KL(target || selected) "
                       f"{kl['kl_target_selected']:.4f}: reduction {kl['reduction']:.4f} nats", err=True)
        _say(r["headline"])
        _say(f"report: {output_dir.rstrip('/')}/report.html", err=True)
    _run(run)


if __name__ == "__main__":
    main()


from dsir.cli.schedule_command import schedule  # noqa: E402  (a command of its own module)

main.add_command(schedule)
