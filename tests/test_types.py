"""harness.types: a row view of a read-only memory map reads as the array of its rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.types import RowView


def _read_only_map(tmp_path: Path) -> np.memmap:
    data = np.arange(6 * 2 * 2 * 3, dtype=np.uint8).reshape(6, 2, 2, 3)
    path = tmp_path / "images.u8"
    data.tofile(path)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=data.shape)


def test_contiguous_and_scattered_reads_are_writable_copies(tmp_path: Path) -> None:
    """torch.from_numpy warns on a read-only array: a view hands out copies, never the map."""
    base = _read_only_map(tmp_path)
    view = RowView(base, np.arange(1, 5))
    for out in (view.take([0, 1, 2]), view.take([0, 2]), view[1:3], view[[0, 3]]):
        assert out.flags.writeable and not np.shares_memory(out, base)
    np.testing.assert_array_equal(view.take([0, 1, 2]), np.asarray(base[1:4]))
    assert view.rows_read == 3 + 2 + 2 + 2 + 3
