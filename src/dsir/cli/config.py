"""``--config FILE``: a command's options from a TOML, YAML or JSON file, or a run's manifest.

The keys are the command's long option names, with dashes or underscores (``text-field`` or
``text_field``; ``k`` for ``-k``); values are what the option takes (a list for a repeatable
option such as ``raw`` or ``target``; ``true`` for a flag). Flags given on the command line
override the file. A ``manifest.json`` that ``dsir select`` wrote holds the ``replay`` table
of its run (see ``pipeline.manifest.replay_options``), so ``dsir select --config
OUT/manifest.json -o OUT2`` runs the same selection again.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import click

from dsir.io.paths import open_binary

#: Keys a config may not set: the file itself, and what it would make no sense to pin.
NOT_CONFIGURABLE = {"config", "help", "dry_run"}


def read_config(path: str) -> dict[str, Any]:
    """The table of options in ``path`` (``.toml``, ``.yaml``/``.yml``, ``.json``), keys as given."""
    try:
        with open_binary(path) as fh:
            data = fh.read()
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot read it ({exc.strerror or exc})", param_hint="--config") from None
    lower = path.lower()
    try:
        if lower.endswith(".toml"):
            table = tomllib.loads(data.decode("utf-8"))
        elif lower.endswith((".yaml", ".yml")):
            import yaml

            table = yaml.safe_load(data) or {}
        elif lower.endswith(".json"):
            table = json.loads(data)
            if isinstance(table, dict) and "dsir_version" in table:  # a manifest: the run it records
                if "replay" not in table:
                    raise click.BadParameter(f"{path}: this manifest records no replay table (written by dsir "
                                             f"{table['dsir_version']}, before replay existed)", param_hint="--config")
                table = table["replay"]
        else:
            raise click.BadParameter(f"{path}: a config is a .toml, .yaml, .yml or .json file", param_hint="--config")
    except (UnicodeDecodeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: not valid {lower.rsplit('.', 1)[-1].upper()}: {exc}",
                                 param_hint="--config") from None
    except Exception as exc:  # yaml.YAMLError, without importing yaml for every command
        if type(exc).__module__.startswith("yaml"):
            raise click.BadParameter(f"{path}: not valid YAML: {exc}", param_hint="--config") from None
        raise
    if not isinstance(table, dict):
        raise click.BadParameter(f"{path}: expected a table of options, got {type(table).__name__}",
                                 param_hint="--config")
    return table


def config_defaults(command: click.Command, path: str, table: dict[str, Any]) -> dict[str, Any]:
    """``table``'s values by the command's parameter names, checked: unknown keys and values
    of the wrong shape are refused with the file and key named."""
    params = {p.name: p for p in command.params if isinstance(p, click.Option) and p.name not in NOT_CONFIGURABLE}
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = str(key).lstrip("-").replace("-", "_")
        param = params.get(name)
        if param is None:
            known = ", ".join(sorted(n.replace("_", "-") for n in params))
            raise click.BadParameter(f"{path}: unknown option {key!r} for 'dsir {command.name}' (it takes: {known})",
                                     param_hint="--config")
        if value is None:
            continue  # not set: the option's own default
        if param.multiple:
            value = list(value) if isinstance(value, (list, tuple)) else [value]
        elif isinstance(value, (list, dict)):
            raise click.BadParameter(f"{path}: {key!r} takes one value, got {json.dumps(value)}",
                                     param_hint="--config")
        if param.is_flag and not isinstance(value, bool):
            raise click.BadParameter(f"{path}: {key!r} is a flag: true or false, got {json.dumps(value)}",
                                     param_hint="--config")
        out[name] = value
    return out


def load_config(ctx: click.Context, param: click.Parameter, path: str | None) -> str | None:
    """Callback of the eager ``--config`` option: the file's values become the defaults of
    the command's other options, so that the command line overrides them."""
    if path is None or ctx.resilient_parsing:
        return path
    defaults = config_defaults(ctx.command, path, read_config(path))
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def config_option(fn):
    """The ``--config FILE`` option (processed before the others)."""
    return click.option("--config", type=str, default=None, metavar="FILE", is_eager=True, expose_value=False,
                        callback=load_config,
                        help="Options from a TOML, YAML or JSON file (keys as the long options; the command line "
                             "overrides them), or a run's OUT/manifest.json to run it again.")(fn)
