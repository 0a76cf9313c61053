"""Baselines that watch what the harness hands them, for the scored-once tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from harness.api import BaselineBase, FitResult, RunContext, Split, TrainData, choose_on_monitor


def image_digests(images: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images]


class Probe(BaselineBase):
    """Writes the digest of every image ``fit`` (and ``refit``) can reach to PROBE_OUT."""

    name = "probe"
    year = 2000
    source = "tests"
    family = "reference"

    def __init__(self, asks_refit: bool = False) -> None:
        self.asks_refit = asks_refit

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult:
        mon = data.monitor
        self.seen_ = {
            "split_names": [data.fit.name, mon.name if mon is not None else None],
            "fit": image_digests(data.fit.images),
            "monitor": image_digests(mon.images) if mon is not None else [],
            "fit_rows": [int(i) for i in data.fit.parent_rows],
            "monitor_rows": [int(i) for i in mon.parent_rows] if mon is not None else [],
            "monitor_labels": [int(x) for x in mon.labels] if mon is not None else [],
            "context_fields": sorted(vars(ctx)),
        }
        Path(os.environ["PROBE_OUT"]).write_text(json.dumps(self.seen_))
        self.n_classes_ = data.n_classes
        return FitResult(refit=bool(self.asks_refit))

    def refit(self, train: Split, ctx: RunContext) -> None:
        self.seen_["refit_train"] = image_digests(train.images)
        Path(os.environ["PROBE_OUT"]).write_text(json.dumps(self.seen_))

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return np.zeros((len(split), self.n_classes_))


class Memoriser(BaselineBase):
    """The naive plugin: memorise every image ``fit`` trains on, choose C on the monitor it gets.

    A lookup table of image digests -> label (a perfect memoriser), blended
    with a prior by C: the larger C, the more it trusts its memory. Fit on
    the training images and scored on images among them, C=1e3 would score
    0% and be chosen. Handed the fit rows and a held-out monitor, the monitor
    error is honest.
    """

    year = 2000
    source = "tests"
    family = "other"

    def __init__(self, grid: tuple[float, ...] = (1e-3, 1.0, 1e3)) -> None:
        self.grid = grid

    def _train(self, split: Split, c: float) -> dict:
        return {"memory": dict(zip(image_digests(split.images), split.labels.tolist(), strict=True)),
                "c": c, "n": split.n_classes,
                "prior": np.bincount(split.labels, minlength=split.n_classes) / len(split)}  # fmt: skip

    @staticmethod
    def _scores(model: dict, split: Split) -> np.ndarray:
        scores = np.tile(model["prior"], (len(split), 1))
        for i, d in enumerate(image_digests(split.images)):
            if d in model["memory"]:
                scores[i, model["memory"][d]] += model["c"]
        return scores

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult:
        result = choose_on_monitor(
            data, ctx, [{"c": c} for c in self.grid], lambda s, p: self._train(s, p["c"]),
            self._scores,
        )  # fmt: skip
        self.c_ = result.chosen["c"]
        return result

    def refit(self, train: Split, ctx: RunContext) -> None:
        self.model_ = self._train(train, self.c_)

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return self._scores(self.model_, split)


class FailsWhenAsked(BaselineBase):
    """Fails in fit when the file named by FAIL_FLAG exists (a damaged cache, say)."""

    name = "fails-when-asked"
    year = 2000
    source = "tests"
    family = "reference"

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        if Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("features.npy is damaged")
        self.n_classes_ = data.n_classes

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

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        self.n_classes_ = data.n_classes

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        scores = np.zeros((len(split), self.n_classes_))
        scores[:, self.offset % self.n_classes_] = 1.0
        return scores


class Counted(Constant):
    """Counts its constructions (a run constructs each method once)."""

    name = "counted"

    made = 0

    def __init__(self, offset: int = 0) -> None:
        type(self).made += 1
        super().__init__(offset)
