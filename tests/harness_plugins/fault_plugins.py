"""Baselines that misbehave on purpose, for the runner's fault tests.

Loaded with ``--plugin fault_plugins:<Class>`` (this folder on PYTHONPATH).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from harness.api import BaselineBase, RunContext, Split, TrainData


class _Base(BaselineBase):
    year = 2000
    source = "tests"
    family = "other"

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        self.n_classes_ = data.n_classes  # no refit asked


class Raises(_Base):
    name = "raises"

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        raise RuntimeError("deliberate failure in fit")


class WrongShape(_Base):
    name = "wrong-shape"

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.zeros((len(split), self.n_classes_ + 1))


class WrongRows(_Base):
    name = "wrong-rows"

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.zeros((len(split) - 1, self.n_classes_))


class NanScores(_Base):
    name = "nan-scores"

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        scores = np.zeros((len(split), self.n_classes_))
        scores[2, 1] = np.nan
        return scores


class Oracle(_Base):
    """Knows the labels of the split it scores: 0% error. Proves the harness scores correctly."""

    name = "oracle"

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.eye(self.n_classes_)[split.labels]


class Sleepy(_Base):
    """Writes a marker file when fit starts, then sleeps: a target for SIGKILL."""

    name = "sleepy"

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        marker = Path(os.environ.get("SLEEPY_MARKER", ctx.work_dir / "started"))
        marker.write_text(str(os.getpid()))
        time.sleep(self.seconds)
        super().fit(data, ctx)

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.tile(np.arange(self.n_classes_, dtype=float)[::-1], (len(split), 1))
