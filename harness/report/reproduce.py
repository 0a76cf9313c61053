"""Section: the commands that made the records, then the report itself."""

from __future__ import annotations

from typing import Any

from harness.commands import command_from_config, command_line
from harness.frame import is_sweep_record
from harness.record import RunRecord
from harness.report.document import Block, Code, Heading, Paragraph

__all__ = ["reproduce_blocks", "reproduce_commands"]


def reproduce_commands(records: list[RunRecord]) -> list[str]:
    """The commands that made ``records``, each once, in order.

    A record's own ``command`` when it has one; otherwise one rebuilt from its
    configuration: ``harness run ...`` for a run, one ``harness sweep ...``
    over the grid cells found for the records of a sweep.
    """
    commands: dict[str, None] = {}
    grids: dict[str, tuple[dict[str, Any], set[int], set[int]]] = {}
    for r in records:
        if r.command or r.config.get("command") or not is_sweep_record(r):
            commands[command_line(r)] = None
            continue
        base = {k: v for k, v in r.config.items() if k not in ("classes", "train_per_class")}
        _, classes, per_class = grids.setdefault(command_from_config(base), (base, set(), set()))
        cell = r.config["sweep"]
        if isinstance(cell, dict):
            classes.add(int(cell.get("classes") or r.n_classes or 0))
            per_class.add(int(cell.get("train_per_class") or 0))
    for base, classes, per_class in grids.values():
        grid = (sorted(c for c in classes if c), sorted(m for m in per_class if m))
        commands[command_from_config(base, grid=grid)] = None
    return list(commands)


def reproduce_blocks(records: list[RunRecord]) -> list[Block]:
    commands = reproduce_commands(records)
    return [
        Heading("Reproduce"),
        Paragraph(
            "The commands that made these records (each record keeps its own; older records: "
            "rebuilt from their resolved configuration), then the report:"
            if commands
            else "No records yet; after `harness run`, regenerate this report with:"
        ),
        Code("\n".join([*commands, "harness report"])),
    ]
