"""HOG + one-vs-rest linear SVM (Dalal & Triggs 2005), the oldest hand-crafted baseline.

One HOG descriptor of the whole grayscale image (8x8 cells, 2x2 blocks,
9 orientations, L2-Hys; scikit-image) feeds the streaming OvR linear SVMs of
``baselines.linear``. No learned encoder, so nothing is fitted before the SVM.
"""

from __future__ import annotations

from typing import Any

from baselines.features.hog import HogEncoder
from baselines.features.pipeline import EncodedSvmBaseline
from harness.api import RunContext, Split
from harness.registry import register_baseline


@register_baseline("hog-svm")
class HogSvm(EncodedSvmBaseline):
    """Whole-image grayscale HOG -> one-vs-rest linear SVMs (SGD)."""

    name = "hog-svm"
    year = 2005
    source = "Dalal & Triggs, Histograms of Oriented Gradients for Human Detection, CVPR 2005"
    description = (
        "HOG (8x8 cells, 2x2 blocks, 9 orientations) of the grayscale image, OvR linear SVM"
    )

    def __init__(
        self,
        pixels_per_cell: int = 8,  # HOG cell side, px
        cells_per_block: int = 2,  # block side in cells (L2-Hys normalised)
        orientations: int = 9,  # unsigned gradient orientation bins
        svm_reg: float = 1e-4,  # SVM L2 weight lambda
        svm_epochs: int = 10,  # SGD passes over the training features
        svm_lr: float = 0.005,  # peak SGD learning rate (cosine decay); HOG vectors have norm ~7
        chunk_size: int = 512,  # images per extraction task
        min_images_per_class: int = 2,  # fewer -> MethodError naming the class
    ) -> None:
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.orientations = orientations
        self.svm_reg = svm_reg
        self.svm_epochs = svm_epochs
        self.svm_lr = svm_lr
        self.chunk_size = chunk_size
        self.min_images_per_class = min_images_per_class

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        return HogEncoder(self.pixels_per_cell, self.cells_per_block, self.orientations)
