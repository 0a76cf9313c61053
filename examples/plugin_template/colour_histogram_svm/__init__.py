"""Example plugin: a joint RGB colour histogram with a linear SVM.

Colour histograms were a standard global image descriptor before 2012
(Swain & Ballard 1991); on ImageNet they sit far above chance and far below
everything else. This file is the whole plugin: a class with ``name``,
``year``, ``fit`` and ``decision_function`` (see harness.api).
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from harness.api import BaselineBase, MethodError, RunContext, Split


class ColourHistogramSvm(BaselineBase):
    """8x8x8-bin RGB histogram (L1-normalised, square-rooted) -> one-vs-rest linear SVM."""

    name = "colour-hist-svm"
    year = 1991
    source = "Swain & Ballard, Color Indexing, IJCV 1991"
    description = "joint RGB histogram + linear SVM (plugin example)"
    family = "hand-crafted"

    def __init__(self, bins: int = 8, C: float = 1.0) -> None:
        self.bins = bins
        self.C = C

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

    def fit(self, train: Split, ctx: RunContext) -> ColourHistogramSvm:
        counts = np.bincount(train.labels, minlength=train.n_classes)
        if counts.min() < 1:
            missing = train.wnids[int(np.argmin(counts))]
            raise MethodError(f"{self.name}: class {missing} has no training images")
        x = self._features(train)
        self.scaler_ = StandardScaler().fit(x)
        self.svm_ = LinearSVC(C=self.C, random_state=ctx.seed).fit(
            self.scaler_.transform(x), train.labels
        )
        return self

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        scores = self.svm_.decision_function(self.scaler_.transform(self._features(split)))
        if scores.ndim == 1:  # two classes: sklearn returns one column
            scores = np.stack([-scores, scores], axis=1)
        return scores
