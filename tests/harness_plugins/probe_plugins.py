"""Baselines that watch what the harness hands them, for the scored-once tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from harness.api import BaselineBase, RunContext, Split


def image_digests(images: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images]


class Probe(BaselineBase):
    """Writes the digest of every image ``fit`` can reach (train and monitor) to PROBE_OUT."""

    name = "probe"
    year = 2000
    source = "tests"
    family = "reference"

    def fit(self, train: Split, ctx: RunContext) -> Probe:
        fit_rows, monitor_rows = ctx.fit_and_monitor(train)
        seen = {
            "split_names": [train.name, ctx.monitor.name if ctx.monitor is not None else None],
            "train": image_digests(train.images),
            "monitor": image_digests(ctx.monitor.images) if ctx.monitor is not None else [],
            "monitor_rows": [int(i) for i in monitor_rows],
            "fit_rows": [int(i) for i in fit_rows],
            "train_labels": [int(x) for x in train.labels],
            "monitor_labels": [int(x) for x in ctx.monitor.labels] if ctx.monitor else [],
        }
        Path(os.environ["PROBE_OUT"]).write_text(json.dumps(seen))
        self.n_classes_ = train.n_classes
        return self

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.zeros((len(split), self.n_classes_))


class FailsWhenAsked(BaselineBase):
    """Fails in fit when the file named by FAIL_FLAG exists (a damaged cache, say)."""

    name = "fails-when-asked"
    year = 2000
    source = "tests"
    family = "reference"

    def fit(self, train: Split, ctx: RunContext) -> FailsWhenAsked:
        if Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("features.npy is damaged")
        self.n_classes_ = train.n_classes
        return self

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        scores = np.zeros((len(split), self.n_classes_))
        scores[:, 0] = 1.0
        return scores


class Constant(BaselineBase):
    """Scores class ``offset`` highest: a method with one parameter, for two-row suites."""

    name = "constant"
    year = 2000
    source = "tests"
    family = "reference"

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def fit(self, train: Split, ctx: RunContext) -> Constant:
        self.n_classes_ = train.n_classes
        return self

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        scores = np.zeros((len(split), self.n_classes_))
        scores[:, self.offset % self.n_classes_] = 1.0
        return scores
