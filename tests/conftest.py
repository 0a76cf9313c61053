"""Shared fixtures: tiny generated ImageNet-layout datasets for any test folder.

``synthetic_root(layout, fresh=False, **params)`` returns the root of a
generated dataset (``harness.data.make_synthetic_imagenet``). Roots are made
once per session per parameter set and must not be modified; pass
``fresh=True`` for a private copy a test may damage.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SMALL = {"n_classes": 4, "train_per_class": 6, "val_per_class": 3, "size": 24, "seed": 0}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    from harness.data import make_synthetic_imagenet

    made: dict[tuple, Path] = {}

    def make(layout: str = "ilsvrc-devkit", *, fresh: bool = False, **params: object) -> Path:
        params = {**SMALL, **params}
        key = (layout, tuple(sorted(params.items())))
        if key not in made:
            base = tmp_path_factory.mktemp(f"synthetic-{layout}")
            made[key] = make_synthetic_imagenet(base / "data", layout=layout, **params)
        if not fresh:
            return made[key]
        copy = tmp_path_factory.mktemp(f"fresh-{layout}") / "data"
        shutil.copytree(made[key], copy, symlinks=True)
        return copy

    return make


@pytest.fixture(autouse=True)
def _plan_calibrates_in_the_test_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``harness plan`` calibrates each method in a spawned process of its own
    (``harness.calibration.OWN_PROCESS``); here in the test's process, where the tests
    spy on the calibration and no test pays an import of torch per method.
    ``test_plan``'s own-process test turns it back on."""
    import harness.calibration

    monkeypatch.setattr(harness.calibration, "OWN_PROCESS", False)
