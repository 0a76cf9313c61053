"""train_ddp's process-group timeouts: a lost rank fails the others in minutes, not hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alexnet.train_ddp import DECODE_WAIT, TIMEOUT_ENV, collective_timeout
from harness.config import ConfigError


def test_training_collectives_time_out_after_30_minutes_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert collective_timeout() == timedelta(minutes=30)
    assert timedelta(hours=6) == DECODE_WAIT  # only the wait for rank 0's decoding is long
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert collective_timeout() == timedelta(minutes=2.5)


@pytest.mark.parametrize("raw", ["ten", "0", "-3", ""])
def test_a_bad_timeout_is_one_clear_line(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, raw)
    with pytest.raises(ConfigError, match=f"{TIMEOUT_ENV}=.* is not a positive number"):
        collective_timeout()
