"""HOG of the whole grayscale image (Dalal & Triggs 2005), via scikit-image.

8x8-pixel cells, 2x2-cell blocks with L2-Hys normalisation, 9 unsigned
orientation bins, blocks overlapping by one cell: for a square image of side S
that is ``(S // 8 - 1)**2 * 2 * 2 * 9`` numbers (1,764 at 64 px).

Degenerate input: an image with fewer than two cells per side (S < 16) has
no complete block; it gets a single all-zero block (36 zeros) so the pipeline
still runs and the SVM learns only a bias. A uniform image gives all zeros
(no gradient), which is what skimage returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class HogEncoder:
    """Grayscale HOG of each image, flattened."""

    pixels_per_cell: int = 8
    cells_per_block: int = 2
    orientations: int = 9

    def n_blocks(self, size: int) -> int:
        return max(size // self.pixels_per_cell - self.cells_per_block + 1, 0)

    def dim(self, size: int) -> int:
        per_block = self.cells_per_block**2 * self.orientations
        return max(self.n_blocks(size), 1) ** 2 * per_block

    def cache_params(self) -> dict[str, Any]:
        return {"encoder": "hog", **asdict(self)}

    def encode(self, images: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 -> ``(n, dim)`` float32."""
        from skimage.color import rgb2gray
        from skimage.feature import hog

        n, size = images.shape[0], images.shape[1]
        out = np.zeros((n, self.dim(size)), dtype=np.float32)
        if self.n_blocks(size) == 0:
            return out
        for i in range(n):
            out[i] = hog(
                rgb2gray(images[i]),
                orientations=self.orientations,
                pixels_per_cell=(self.pixels_per_cell, self.pixels_per_cell),
                cells_per_block=(self.cells_per_block, self.cells_per_block),
                block_norm="L2-Hys",
                feature_vector=True,
            )
        return out
