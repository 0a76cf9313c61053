"""Fixtures for the AlexNet tests."""

from __future__ import annotations

import pytest

from alexnet.synthetic import colour_split
from harness.api import Split


@pytest.fixture
def colour_data() -> tuple[Split, Split]:
    return colour_split(16, seed=0), colour_split(6, seed=1)


@pytest.fixture
def make_colour_split():
    return colour_split
