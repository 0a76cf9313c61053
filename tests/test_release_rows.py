"""harness.memory.release_rows: the pages of the rows a streaming reader copied leave the
resident set; the data stay, other rows' pages stay, private maps are left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.memory import release_rows
from harness.types import RowView

MIB = 2**20


def _rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "cache.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(64, MIB))
    data[:] = np.arange(64, dtype=np.uint8)[:, None]
    data.flush()
    return path


def _touch(array: np.ndarray, rows: range) -> int:
    return sum(int(np.asarray(array[i, ::4096]).sum()) for i in rows)


def test_the_rows_read_leave_the_resident_set_and_the_rest_stay(path: Path) -> None:
    mapped = np.load(path, mmap_mode="r")
    before = _rss()
    total = _touch(mapped, range(64))  # every page: 64 MiB of file pages count as ours
    assert _rss() - before > 48 * MIB
    release_rows(mapped, np.arange(32))  # half the rows
    assert 20 * MIB < _rss() - before < 44 * MIB
    release_rows(RowView(mapped, np.arange(32, 64)), slice(0, 32))  # the rest, through a view
    assert _rss() - before < 12 * MIB
    assert total == _touch(mapped, range(64))  # reread from the page cache, unchanged


def test_writes_are_kept_and_private_maps_untouched(path: Path) -> None:
    out = np.load(path, mmap_mode="r+")
    out[5] = 200  # a feature write, as cached_features does
    release_rows(out, [5])
    assert int(out[5, 0]) == 200 and int(np.load(path, mmap_mode="r")[5, 7]) == 200
    private = np.load(path, mmap_mode="c")
    private[0, 0] = 99  # lives only in this process's pages
    release_rows(private, [0])
    assert private[0, 0] == 99
    release_rows(np.zeros((4, 4)), [1])  # not mapped: a no-op


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc")
def test_alexnets_colour_statistics_pass_leaves_no_image_pages_behind(tmp_path: Path) -> None:
    """A pass over every fit image (AlexNet's mean image and RGB PCA) held the images it
    read: 376 MB of the 1,000-class copy's cache, 250 GB at ILSVRC size."""
    from alexnet.augment import colour_statistics

    path = tmp_path / "images.npy"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(256, 128, 128, 3))
    images[:] = 7
    images.flush()
    del images
    mapped = np.load(path, mmap_mode="r")  # 12 MiB of pixels
    assert _mapped_kib(path) < 1024
    stats = colour_statistics(mapped, batch_size=32)
    assert stats.n_images == 256
    assert _mapped_kib(path) < 1024  # without release_rows: all 12 MiB


def _mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header
                inside = len(head) >= 6 and head[5] == str(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc")
def test_the_codebook_sample_leaves_no_image_pages_behind(tmp_path: Path) -> None:
    """sift-bovw-svm's descriptor sample held the 3,000 images it read (500 MB of the
    1,000-class copy's cache) through k-means and most of the encoding."""
    from baselines.features.codebook import sample_training_descriptors
    from baselines.features.dense_sift import DenseGrid
    from baselines.features.sift_encoders import DenseSiftExtractor

    path = tmp_path / "images.npy"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(96, 128, 128, 3))
    images[:] = np.random.default_rng(0).integers(0, 255, images.shape, dtype=np.uint8)
    images.flush()
    del images
    mapped = np.load(path, mmap_mode="r")  # 4.5 MiB of pixels
    extractor = DenseSiftExtractor(DenseGrid((8,), 16))
    desc = sample_training_descriptors(mapped, extractor, n_images=96, per_image=4, seed=0)
    assert len(desc) == 96 * 4
    assert _mapped_kib(path) < 512  # without release_rows: all 4.5 MiB


def test_read_rows_copies_a_slice_and_a_fancy_index_once(path: Path) -> None:
    from harness.memory import read_rows

    mapped = np.load(path, mmap_mode="r")
    block = read_rows(mapped, slice(2, 4))
    assert block.flags.owndata and not np.may_share_memory(block, mapped)
    assert int(block[1, 0]) == 3
    rows = read_rows(RowView(mapped, np.arange(8, 16)), np.array([1, 5]))
    assert rows[:, 0].tolist() == [9, 13]


def test_read_rows_reads_a_map_without_mapping_its_pages(path: Path) -> None:
    """Read through the map, every row faulted its pages (with the large page-cache
    folios of Linux 6.16+, the whole folio around it) into the resident set: 2,048
    random rows of 63 KiB (126 MiB of features) mapped 2,272 MiB for a moment."""
    import resource

    from harness.memory import read_rows

    mapped = np.load(path, mmap_mode="r")  # 64 rows of 1 MiB
    rows = np.array([40, 3, 17, 18, 19, 60, 2])  # any order, runs of adjacent rows
    out = np.ones((len(rows), MIB), dtype=np.uint8)  # touched: its pages are ours already
    view = RowView(mapped, np.arange(64))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    got = read_rows(view, rows, out=out)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    assert got is out and out[:, ::4096].min(axis=1).tolist() == rows.tolist()
    assert faults < 16  # through the map: at least one per row, 256 per MiB without folios
    assert view.rows_read == len(rows)  # the monitor's count of rows read holds
    assert read_rows(mapped, slice(62, 64))[:, 0].tolist() == [62, 63]
    with pytest.raises(ValueError, match="out must be"):
        read_rows(mapped, rows, out=np.ones((2, MIB), dtype=np.uint8))
