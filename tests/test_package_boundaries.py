"""What the installed packages hold: no test fixtures, no fault injection, no studies."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "baselines", "alexnet", "decade")


def _without_pointers(text: str) -> str:
    """A package may say where the study and its results are; it may not hold them."""
    return text.replace("studies.cpu_recipe", "").replace("results/cpu_recipe", "")


@pytest.mark.parametrize(
    "needle", ["synthetic_layouts", "add_bad_files", "cpu_recipe", "colour_split", "_bomb_jpeg"]
)
def test_no_fixture_or_study_lives_in_a_package(needle):
    found = [
        f"{path.relative_to(REPO)}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if needle in _without_pointers(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"{needle} in {found}: fixtures live in tests/fixtures, studies in studies/"


def test_studies_and_tests_are_not_packaged():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not any(p.split("*")[0] in ("studies", "tests") for p in include)
    assert set(include) == {f"{p}*" for p in PACKAGES}
