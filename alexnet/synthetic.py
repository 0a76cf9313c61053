"""Colour-coded synthetic splits: tiny data on which a few SGD steps can beat chance.

For tests and CPU smoke runs of the AlexNet code path (including the
data-parallel workers, which must import it by name); never for figures.
"""

from __future__ import annotations

__all__ = ["colour_split"]

import numpy as np

from harness.api import Split

COLOURS = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 40]])


def colour_split(n_per_class: int, n_classes: int = 4, size: int = 64, seed: int = 0) -> Split:
    """Noisy flat-colour images, one colour per class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    noise = rng.normal(0, 40, (len(labels), size, size, 3))
    images = np.clip(COLOURS[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
    wnids = tuple(f"n{i:08d}" for i in range(n_classes))
    return Split("train" if seed == 0 else "val", images, labels.astype(np.int64), wnids)
