"""The ``harness`` command lines that repeat a recorded run (CLI knowledge, kept out of the schema).

A record keeps the command that made it (``RunRecord.command``); an older one
that does not gets one rebuilt from its resolved configuration
(:func:`command_from_config`). The report's "reproduce" section and the
records frame's ``command`` column read them through :func:`command_line`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from harness.record import RunRecord

__all__ = ["command_from_config", "command_line"]


def _flag_value(value: Any) -> str:
    """A ``--param`` value as the TOML the CLI parses (strings bare when they can be)."""
    if isinstance(value, str):
        return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.+-]*", value) else json.dumps(value)
    return json.dumps(value)


def command_from_config(
    config: Mapping[str, Any], *, grid: tuple[list[int], list[int]] | None = None
) -> str:
    """A ``harness run`` command that repeats the run of ``config`` (a record's config).

    With ``grid`` (class counts, training images per class): the ``harness
    sweep`` command over that grid instead. Settings without a CLI flag are
    left to the suite file the command names.
    """
    args = ["harness", "sweep" if grid else "run"]

    def flag(name: str, value: Any) -> None:
        args.extend([name, str(value)])

    if config.get("suite"):
        flag("--suite", config["suite"])
    if config.get("data"):
        flag("--data", config["data"])
    if config.get("subset") and config.get("subset") != config.get("suite"):
        flag("--subset", config["subset"])
    methods = [m for m in config.get("methods") or [] if isinstance(m, Mapping)]
    if methods:
        flag("--methods", ",".join(str(m.get("key") or m.get("name")) for m in methods))
    if grid:
        flag("--classes", ",".join(str(c) for c in grid[0]))
        flag("--train-per-class", ",".join(str(m) for m in grid[1]))
    else:
        for key, name in (("classes", "--classes"), ("train_per_class", "--train-per-class")):
            if config.get(key) is not None:
                flag(name, config[key])
    if config.get("val_per_class") is not None:
        flag("--val-per-class", config["val_per_class"])
    if config.get("subset_seed"):
        flag("--subset-seed", config["subset_seed"])
    if config.get("seed"):
        flag("--seed", config["seed"])
    if config.get("device") not in (None, "auto"):
        flag("--device", config["device"])
    for key in ("skip_bad_images", "deterministic"):
        if config.get(key):
            args.append("--" + key.replace("_", "-"))
    for plugin in config.get("plugins") or []:
        flag("--plugin", plugin)
    for m in methods:
        row = m.get("key") or m.get("name")
        for key, value in sorted((m.get("params") or {}).items()):
            if value is not None:
                flag("--param", f"{row}.{key}={_flag_value(value)}")
    return " ".join(shlex.quote(a) for a in args)


def command_line(record: RunRecord) -> str:
    """The command that made ``record``, or one rebuilt from its configuration."""
    made_by = record.command or record.config.get("command")
    return str(made_by) if made_by else command_from_config(record.config)
