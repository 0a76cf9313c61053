"""harness.memory.release_mapped: a streaming reader's mapped pages leave the resident set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.memory import _mapping, release_mapped
from harness.types import RowView

MIB = 2**20


def _rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.fixture
def mapped(tmp_path: Path) -> np.memmap:
    path = tmp_path / "cache.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(64, MIB))
    data[:] = np.arange(64, dtype=np.uint8)[:, None]
    data.flush()
    del data
    return np.load(path, mmap_mode="r")


def test_pages_read_through_a_map_are_dropped_and_the_data_kept(mapped: np.memmap) -> None:
    before = _rss()
    total = sum(int(mapped[i, ::4096].sum()) for i in range(64))  # touch every page
    assert _rss() - before > 48 * MIB  # 64 MiB of file pages now count as this process's
    release_mapped(mapped[10:20])  # a view: the whole map's pages go
    assert _rss() - before < 16 * MIB
    assert total == sum(int(mapped[i, ::4096].sum()) for i in range(64))  # reread, unchanged


def test_views_row_views_and_private_maps(mapped: np.memmap, tmp_path: Path) -> None:
    assert _mapping(mapped) is not None and _mapping(mapped[3:5]) is not None
    assert _mapping(RowView(mapped, np.arange(5))) is not None
    assert _mapping(np.zeros(4)) is None  # not mapped: a no-op
    private = np.load(tmp_path / "cache.npy", mmap_mode="c")
    private[0, 0] = 200  # a copy-on-write change lives only in this process's pages
    release_mapped(private)
    assert private[0, 0] == 200
