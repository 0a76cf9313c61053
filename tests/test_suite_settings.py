"""The 256 px suites carry the 2010-2012 settings, not the scaled-down 64 px defaults.

The values and their sources are in shared HISTORY.md and the suite files'
comments: vl_phow's dense SIFT (bins 4/6/8/10 px, step 4), PCA to 64, K = 256
fitted on ~10^6 descriptors, a 1x1 + 3x1 pyramid (XRCE / Sanchez-Perronnin),
BoVW with thousands of words on 1x1 + 2x2 + 4x4.
"""

from __future__ import annotations

import pytest

from harness.config import load_suite
from harness.methods import validate_methods

FV_2011 = {
    "bin_sizes": [4, 6, 8, 10],
    "step": 4,
    "pca_dim": 64,
    "n_components": 256,
    "pyramid": [[1, 1], [1, 3]],
    "colour": True,
}
BOVW_2010 = {"bin_sizes": [4, 6, 8, 10], "step": 4, "pyramid": [[1, 1], [2, 2], [4, 4]]}


@pytest.mark.parametrize("suite", ["ilsvrc2012-100", "ilsvrc2012"])
def test_256px_suites_run_the_2010_2012_settings(suite: str) -> None:
    cfg = load_suite(suite)
    rows = {m.name: dict(m.params) for m in cfg.methods}
    fv, bovw = rows["sift-fv-svm"], rows["sift-bovw-svm"]
    assert {k: fv[k] for k in FV_2011} == FV_2011
    assert fv["codebook_images"] * fv["descriptors_per_image"] >= 10**6
    assert {k: bovw[k] for k in BOVW_2010} == BOVW_2010
    assert bovw["n_words"] >= 1000
    validate_methods(cfg)  # every value is a valid parameter of its method


def test_the_64px_suite_keeps_the_documented_scaled_down_values() -> None:
    rows = {m.name: dict(m.params) for m in load_suite("tiny-imagenet").methods}
    assert rows["sift-fv-svm"] == {"colour": True}  # the class defaults are the 64 px values
    from baselines.sift_fv_svm import SiftFvSvm

    fv = SiftFvSvm()
    assert tuple(fv.bin_sizes) == (2, 3, 4, 5) and fv.step == 3 and fv.n_components == 64


@pytest.mark.parametrize("suite", ["demo", "tiny-imagenet", "ilsvrc2012-100", "ilsvrc2012"])
def test_every_row_of_every_suite_can_be_picked_with_methods(suite: str) -> None:
    # A suite's TOML arrays (bin_sizes = [4, 6, 8, 10]) once made `--methods` crash
    # with "unhashable type: 'list'".
    from harness.cli import build_config, make_parser

    rows = [m.row for m in load_suite(suite).methods]
    args = make_parser().parse_args(
        ["run", "--suite", suite, "--methods", ",".join([*rows, rows[0]])]
    )
    cfg = build_config(args)
    assert [m.row for m in cfg.methods] == rows  # each once, in the asked order
    assert cfg.methods == load_suite(suite).methods


def test_an_install_without_its_suites_says_so_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    # A wheel built without its package data once listed no `demo` suite, silently,
    # and the README's `harness run` then failed with "unknown suite".
    import importlib.resources

    from harness import config
    from harness.cli import main

    package = tmp_path / "harness"
    package.mkdir()  # the package as a broken build leaves it: no configs/
    monkeypatch.setattr(importlib.resources, "files", lambda name: package)
    monkeypatch.setattr(config.resources, "files", lambda name: package)
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no built-in suite 'demo'" in err[0] and "reinstall" in err[0]
    assert main(["run", "--methods", "random"]) == 2
    assert "no built-in suite 'demo'" in capsys.readouterr().err


def test_every_data_file_of_the_packages_ships_in_the_wheel() -> None:
    # package-data globs in pyproject.toml must cover every non-Python file of a package
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    for package in ("harness", "baselines", "alexnet"):
        base = root / package
        patterns = globs.get(package, [])
        for path in base.rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(base).as_posix()
            if package == "alexnet" and rel == "README.md":
                continue  # documentation of the folder, read in the checkout
            assert any(fnmatch.fnmatch(rel, g) for g in patterns), f"{package}/{rel} not shipped"
