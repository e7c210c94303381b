"""``dsir schedule``: a two-phase training data schedule from finished selections
(docs/schedule.md)."""

from __future__ import annotations

import logging
import sys

import click

from dsir.cli.params import TOKEN_COUNT
from dsir.errors import DsirError, UsageError
from dsir.schedule import DEFAULT_WINDOW, load_source, plan_schedule, write_schedule

log = logging.getLogger("dsir")


def parse_source(spec: str) -> tuple[str, str, str | None]:
    """``NAME=DIR`` or ``NAME=DIR#TARGET`` as (name, directory, target or None)."""
    name, sep, rest = spec.partition("=")
    directory, hashed, target = rest.rpartition("#") if "#" in rest else (rest, "", "")
    if not sep or not name.strip() or not directory or (hashed and not target):
        raise UsageError(f"--source {spec}: give NAME=DIR or NAME=DIR#TARGET")
    return name.strip(), directory, target or None


def parse_numbers(values: tuple[str, ...], option: str, meta: str) -> dict[str, float]:
    """``NAME=NUMBER`` values of a repeatable option as a dict; a name given twice is refused."""
    out: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            x = float(number)
        except ValueError:
            x = None
        if not sep or not name or x is None:
            raise UsageError(f"{option} {value}: give {meta}")
        if name in out:
            raise UsageError(f"{option} {name} is given twice")
        out[name] = x
    return out


def _run(fn) -> None:
    """As the other commands: a ``DsirError`` is one line ``dsir: error: ...`` and its exit status."""
    from dsir.cli.main import exit_status

    try:
        fn()
    except DsirError as exc:
        click.echo(f"dsir: error: {exc}", err=True)
        sys.exit(exit_status(exc))


@click.command("schedule", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--source", "sources", multiple=True, required=True, metavar="NAME=DIR[#TARGET]",
              help="A finished selection (local or URL) to train on, all its shards, under the name NAME "
                   "(repeatable); NAME=DIR#TARGET takes only named target TARGET's shards and tokens.")
@click.option("--total-tokens", type=TOKEN_COUNT, required=True, metavar="N",
              help="Tokens of the whole training run (2000000, 500k, 2M, 1.5B).")
@click.option("--window", type=float, default=DEFAULT_WINDOW, show_default=True, metavar="F",
              help="Fraction of the tokens, at the end of the run, that the upsampled mixture gets (strictly "
                   "between 0 and 1; 0.1 to 0.2 is where 'Does your data spark joy?' found the best trade-off).")
@click.option("--upsample", multiple=True, metavar="NAME=SHARE",
              help="In the window, source NAME makes up SHARE (0 to 1) of the tokens (repeatable); the other "
                   "sources share what is left in their base proportions. Without it the window keeps the "
                   "base mixture.")
@click.option("--base-weight", multiple=True, metavar="NAME=W",
              help="Weight of source NAME in the base mixture (give one for every source, or none). "
                   "[default: each source's tokens, the natural mixture]")
@click.option("--tokens-per-dsir-token", type=float, default=1.0, show_default=True, metavar="R",
              help="LM tokens per dsir token, to turn the selections' dsir token counts (words and "
                   "punctuation) into estimates of your tokenizer's (roughly 1.3 for BPE on English text).")
@click.option("-o", "--output", "output", required=True, metavar="DIR",
              help="Where to write schedule.json, megatron-<phase>.txt and gpt-neox-<phase>.json (local or "
                   "URL; earlier schedule files there are replaced).")
@click.option("-q", "--quiet", is_flag=True, help="No summary; warnings and errors only.")
def schedule(sources, total_tokens, window, upsample, base_weight, tokens_per_dsir_token, output, quiet) -> None:
    """Write a training data schedule for finished selections: a base mixture for the first
    1 - F of the tokens and an upsampled one for the last F (--window).

    Writes DIR/schedule.json (token counts per phase and source, epochs) and, per phase
    (base, window), the weighted shard lists of Megatron-LM (megatron-PHASE.txt, the
    --data-path argument) and GPT-NeoX (gpt-neox-PHASE.json). Tokens are dsir's, so the
    counts are estimates of LM tokens; see docs/schedule.md.
    """
    def run():
        specs = [parse_source(s) for s in sources]
        names = [n for n, _, _ in specs]
        for n in names:
            if names.count(n) > 1:
                raise UsageError(f"--source {n} is given twice: give each source its own name")
        shares = parse_numbers(upsample, "--upsample", "NAME=SHARE (a share of the window, 0 to 1)")
        weights = parse_numbers(base_weight, "--base-weight", "NAME=W (a non-negative weight)") or None
        loaded = [load_source(n, d, t, tokens_per_dsir_token) for n, d, t in specs]
        plan = plan_schedule(loaded, total_tokens, window, shares, weights)
        for line in plan.warnings:
            log.warning(line)
        write_schedule(plan, output)
        if not quiet:
            click.echo(f"schedule of {total_tokens} tokens into {output} (dsir tokens x {tokens_per_dsir_token:g}: "
                       "estimates of LM tokens)", err=True)
            for p in plan.phases:
                mix = ", ".join(f"{n} {t} ({p.weight(n):.1%})" for n, t in p.tokens.items())
                click.echo(f"  {p.name:<6} tokens {p.start}-{p.end}: {mix}", err=True)
    _run(run)
