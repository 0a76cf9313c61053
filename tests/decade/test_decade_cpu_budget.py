"""The cpu profile's lr and epochs are the ones the monitor-only study chose (no drift)."""

from __future__ import annotations

import json
from pathlib import Path

from decade.recipes import CPU_BUDGET, recipe_for

STUDY = Path(__file__).resolve().parents[2] / "results" / "decade_recipe" / "study.json"


def test_cpu_budget_is_the_committed_study() -> None:
    study = json.loads(STUDY.read_text())
    chosen = {
        name: (float(net["chosen_lr"]), int(net["epochs_in_budget"]))
        for name, net in study["networks"].items()
    }
    assert chosen == CPU_BUDGET
    for name, (lr, epochs) in CPU_BUDGET.items():
        r = recipe_for(name, "cpu")
        assert (r.lr, r.epochs, r.batch_size, r.width) == (lr, epochs, 64, 0.25)
    assert study["budget_minutes"] == 20
    assert "val" not in json.dumps(study["selection_rule"]).lower()  # chosen on the monitor


def test_networks_without_a_study_keep_the_family_defaults() -> None:
    assert (recipe_for("vgg16", "cpu").lr, recipe_for("vgg16", "cpu").epochs) == (0.003, 8)
    assert (recipe_for("resnet34", "cpu").lr, recipe_for("resnet34", "cpu").epochs) == (0.05, 8)
