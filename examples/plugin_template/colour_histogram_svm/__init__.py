"""Example plugin: a joint RGB colour histogram with a linear SVM.

Colour histograms were a standard global image descriptor before 2012
(Swain & Ballard 1991); on ImageNet they sit far above chance and far below
everything else. This file is the whole plugin: a class with ``year``,
``family``, ``fit``, ``refit`` and ``decision_function`` (see harness.api);
its name is its entry point's. ``fit`` chooses C on the monitor it is handed
(``choose_on_monitor``) and asks for a refit on all of train.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from harness.api import (
    BaselineBase,
    FitResult,
    MethodError,
    RunContext,
    Split,
    TrainData,
    choose_on_monitor,
)


class ColourHistogramSvm(BaselineBase):
    """8x8x8-bin RGB histogram (L1-normalised, square-rooted) -> one-vs-rest linear SVM."""

    year = 1991
    source = "Swain & Ballard, Color Indexing, IJCV 1991"
    description = "joint RGB histogram + linear SVM (plugin example)"
    family = "hand-crafted"

    def __init__(self, bins: int = 8, C_grid: tuple[float, ...] = (0.1, 1.0, 10.0)) -> None:
        self.bins = bins
        self.C_grid = C_grid

    def _features(self, split: Split) -> np.ndarray:
        n_bins = self.bins**3
        feats = np.empty((len(split), n_bins), dtype=np.float32)
        for rows, images, _ in split.batches(256):
            q = (images.astype(np.int32) * self.bins) // 256  # (B, S, S, 3) bin per channel
            code = ((q[..., 0] * self.bins + q[..., 1]) * self.bins + q[..., 2]).reshape(len(q), -1)
            # one bincount for the whole batch: offset each image into its own bin range
            code += (np.arange(len(q)) * n_bins)[:, None]
            feats[rows] = np.bincount(code.ravel(), minlength=len(q) * n_bins).reshape(
                len(q), n_bins
            )
        feats /= feats.sum(axis=1, keepdims=True)
        return np.sqrt(feats)  # Hellinger map: a linear SVM then acts like a Bhattacharyya kernel

    def _train(self, split: Split, C: float, seed: int) -> tuple[StandardScaler, LinearSVC]:
        counts = np.bincount(split.labels, minlength=split.n_classes)
        if counts.min() < 1:
            missing = split.wnids[int(np.argmin(counts))]
            raise MethodError(f"{self.name}: class {missing} has no training images")
        x = self._features(split)
        scaler = StandardScaler().fit(x)
        return scaler, LinearSVC(C=C, random_state=seed).fit(scaler.transform(x), split.labels)

    def _scores(self, model: tuple[StandardScaler, LinearSVC], split: Split) -> np.ndarray:
        scaler, svm = model
        scores = svm.decision_function(scaler.transform(self._features(split)))
        if scores.ndim == 1:  # two classes: sklearn returns one column
            scores = np.stack([-scores, scores], axis=1)
        return scores

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult:
        """Choose C on the monitor (trained on ``data.fit``), then ask for a refit on all of train."""
        result = choose_on_monitor(
            data,
            ctx,
            [{"C": c} for c in self.C_grid],
            lambda split, p: self._train(split, p["C"], ctx.seed),
            self._scores,
        )
        self.C_ = result.chosen["C"]
        return result

    def refit(self, train: Split, ctx: RunContext) -> None:
        self.model_ = self._train(train, self.C_, ctx.seed)

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        return self._scores(self.model_, split)
