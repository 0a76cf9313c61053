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

SVM_GRID = (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)  # lambda; C = 1 / (lambda N)
SVM_EPOCH_GRID = (2, 4, 8)  # averaged-SGD epochs scored in one run per lambda


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
        select: bool = True,  # choose lambda and epochs on the monitor, then refit on all train
        svm_grid: tuple[float, ...] = SVM_GRID,  # lambdas tried on the monitor
        svm_epoch_grid: tuple[int, ...] = SVM_EPOCH_GRID,  # epochs at which each is scored
        svm_reg: float = 3e-2,  # lambda without selection (no monitor or select=False)
        svm_epochs: int = 8,  # SGD passes without selection
        chunk_size: int = 512,  # images per extraction task
        min_images_per_class: int = 2,  # fewer -> MethodError naming the class
    ) -> None:
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.orientations = orientations
        self.select = select
        self.svm_grid = svm_grid
        self.svm_epoch_grid = svm_epoch_grid
        self.svm_reg = svm_reg
        self.svm_epochs = svm_epochs
        self.chunk_size = chunk_size
        self.min_images_per_class = min_images_per_class

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        return HogEncoder(self.pixels_per_cell, self.cells_per_block, self.orientations)
