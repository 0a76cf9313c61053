"""Spatial pyramid cells: which grid point falls in which region of the image.

A pyramid is a tuple of (columns, rows) levels, e.g. ``((1, 1), (2, 2), (4, 4))``
(Lazebnik et al. 2006) or ``((1, 1), (3, 1))`` (three horizontal stripes, the
ILSVRC Fisher-vector systems; written (1, 3) here as 1 column x 3 rows).
Cells are ordered level by level, row-major inside a level.
"""

from __future__ import annotations

import numpy as np

Pyramid = tuple[tuple[int, int], ...]


def n_cells(pyramid: Pyramid) -> int:
    return sum(cols * rows for cols, rows in pyramid)


def cell_assignment(points: np.ndarray, size: int, pyramid: Pyramid) -> np.ndarray:
    """``(P, C)`` float32 0/1 matrix: point p lies in cell c (each point in one cell per level)."""
    out = np.zeros((len(points), n_cells(pyramid)), dtype=np.float32)
    offset = 0
    for cols, rows in pyramid:
        cx = np.clip((points[:, 0] * cols / size).astype(int), 0, cols - 1)
        cy = np.clip((points[:, 1] * rows / size).astype(int), 0, rows - 1)
        out[np.arange(len(points)), offset + cy * cols + cx] = 1.0
        offset += cols * rows
    return out


def level_of_cell(pyramid: Pyramid) -> np.ndarray:
    """``(C,)`` index of the pyramid level each cell belongs to."""
    return np.concatenate([np.full(c * r, i) for i, (c, r) in enumerate(pyramid)])


def parse_pyramid(pyramid: object) -> Pyramid:
    """Accept lists from TOML (``[[1, 1], [2, 2]]``) as well as tuples; validate."""
    try:
        levels = tuple((int(c), int(r)) for c, r in pyramid)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"spatial pyramid must be a list of [cols, rows] pairs, got {pyramid!r}"
        ) from exc
    if not levels or any(c < 1 or r < 1 for c, r in levels):
        raise ValueError(
            f"spatial pyramid needs at least one level of positive sizes, got {pyramid!r}"
        )
    return levels
