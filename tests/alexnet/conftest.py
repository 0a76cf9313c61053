"""Fixtures for the AlexNet tests."""

from __future__ import annotations

import pytest

from harness.api import Split
from tests.fixtures.colour import colour_split


@pytest.fixture
def colour_data() -> tuple[Split, Split]:
    return colour_split(16, seed=0), colour_split(6, seed=1)


@pytest.fixture
def make_colour_split():
    return colour_split
