"""A method for the new-user tests: start-up imports, a variant, an interruption on demand.

Loaded with ``--plugin newuser_plugins:Clocked`` (this folder on PYTHONPATH).
"""

from __future__ import annotations

import os
import sys
from typing import ClassVar

import numpy as np

from harness.api import BaselineBase, RunContext, Split, TrainData


class Clocked(BaselineBase):
    """Chance scores; ``CLOCKED_INTERRUPT=1`` makes fit raise KeyboardInterrupt."""

    name = "clocked"
    year = 2000
    source = "tests"
    family = "other"
    variants: ClassVar[dict[str, str]] = {"again": "the same scores, a test variant"}
    startup_imports: ClassVar[tuple[str, ...]] = ("newuser_startup_probe",)

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        ctx.note("startup_imported_before_fit", "newuser_startup_probe" in sys.modules)
        if os.environ.get("CLOCKED_INTERRUPT") == "1":
            raise KeyboardInterrupt
        self.n_classes_ = data.n_classes

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        rng = np.random.default_rng(0)
        return rng.random((len(split), self.n_classes_))

    def variant_scores(self, split: Split, ctx: RunContext) -> dict[str, np.ndarray]:
        return {"again": self.decision_function(split, ctx)}
