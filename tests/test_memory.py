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
