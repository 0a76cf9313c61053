"""Peak memory sampling of a run (harness.memory)."""

from __future__ import annotations

import time

import numpy as np

from harness.memory import PeakMemory


def test_peak_sees_a_large_allocation_that_is_freed_before_the_end() -> None:
    with PeakMemory(interval_s=0.01) as baseline:
        pass
    with PeakMemory(interval_s=0.01) as peak:
        block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched so it is resident
        block += 1
        time.sleep(0.2)  # held across several samples
        del block
    assert peak.mib >= baseline.mib + 250  # the freed block still shows in the peak
    assert baseline.mib > 10  # a Python process with numpy is resident memory, not zero


def test_the_anonymous_peak_leaves_out_memory_mapped_pages(tmp_path) -> None:
    """Reading a memory-mapped file raises the resident peak, not the anonymous one."""
    path = tmp_path / "features.u8"
    np.full(64 * 2**20, 7, dtype=np.uint8).tofile(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    with PeakMemory(interval_s=0.01) as before:
        pass
    with PeakMemory(interval_s=0.01) as peak:
        assert int(mapped[::4096].sum()) == 7 * (len(mapped) // 4096)  # every page read
    assert peak.mib - before.mib > 48  # the mapped pages are resident ...
    assert peak.anon_mib - before.anon_mib < 16  # ... but file-backed, not anonymous
