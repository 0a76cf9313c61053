"""The command lines that repeat a recorded run (the CLI's knowledge, not the schema's)."""

from __future__ import annotations

from harness.commands import command_from_config, command_line
from harness.record import parse_record


def test_command_from_config_rebuilds_run_and_sweep_commands() -> None:
    config = {
        "suite": "demo",
        "subset": "demo",
        "data": "/data/with space",
        "methods": [{"name": "hog-svm", "params": {"C": 0.5, "backend": "cpu", "off": None}}],
        "classes": 10,
        "seed": 3,
        "device": "cpu",
    }
    assert command_from_config(config) == (
        "harness run --suite demo --data '/data/with space' --methods hog-svm --classes 10 "
        "--seed 3 --device cpu --param hog-svm.C=0.5 --param hog-svm.backend=cpu"
    )
    sweep = command_from_config(config, grid=([10, 30], [50, 150]))
    assert sweep.startswith("harness sweep ")
    assert "--classes 10,30 --train-per-class 50,150" in sweep


def test_command_line_is_the_recorded_command_or_one_rebuilt() -> None:
    base = {
        "run_id": "r",
        "status": "error",
        "error": "boom",
        "method": "hog-svm",
        "family": "hand-crafted",
        "subset": "demo",
        "manifest_hash": "m",
        "config": {"suite": "demo", "methods": [{"name": "hog-svm"}]},
    }
    assert command_line(parse_record(base)) == "harness run --suite demo --methods hog-svm"
    made = parse_record({**base, "command": "harness run --suite demo --seed 4"})
    assert command_line(made) == "harness run --suite demo --seed 4"
