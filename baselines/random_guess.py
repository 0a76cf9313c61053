"""Chance level: scores drawn at random, the floor every method must beat.

With C classes its expected top-5 error is 100 * (1 - 5/C) percent (95% for
100 classes, 99.5% for 1000). It exists for the leaderboard and for tests of
the harness, which need a method whose result is known in advance.
"""

from __future__ import annotations

import numpy as np

from harness.api import BaselineBase, RunContext, Split, TrainData


class RandomGuess(BaselineBase):
    """Uniform random scores, seeded by the run's seed."""

    year = 0
    source = "chance level: expected top-k error 1 - k / n_classes"
    description = "uniform random scores (chance level)"
    family = "reference"

    def __init__(self) -> None:
        pass

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        self.n_classes_ = data.n_classes

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        rng = np.random.default_rng([ctx.seed, len(split), self.n_classes_])
        return rng.random((len(split), self.n_classes_))
