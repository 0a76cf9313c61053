"""The wheel: built from the checkout, installed outside it, run from an empty folder.

The suites, subsets and history tables must ship inside the package and be
found through importlib.resources, not through the checkout's folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    dist = tmp_path_factory.mktemp("dist")
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in ("harness", "baselines", "alexnet", "decade"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(dist),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed: {build.stderr[-2000:]}")
    (wheel,) = dist.glob("ilsvrc_harness-*.whl")
    # A user's venv: the wheel pip-installed into it (its console script included). The
    # heavy dependencies come from this interpreter's site-packages through a .pth line;
    # .pth files inside that folder are not processed, so the checkout's editable
    # install stays out and only the wheel's `harness` can be imported.
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    inst = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert inst.returncode == 0, inst.stderr[-2000:]
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (Path(venv_site) / "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DATA", "PYTHONPATH")}
    return wheel, env | {"_VENV": str(venv), "_SITE": venv_site}


def test_the_wheel_ships_the_suites_and_subsets(installed) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for suite in ("demo", "tiny-imagenet", "ilsvrc2012-100", "ilsvrc2012"):
        assert f"harness/configs/{suite}.toml" in names
    assert "harness/data/subsets/ilsvrc2012-100.txt" in names
    assert "harness/history/ilsvrc_history.csv" in names


def _harness(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user types it."""
    script = Path(env["_VENV"]) / "bin" / "harness"
    return subprocess.run([str(script), *argv], cwd=cwd, env=env, capture_output=True, text=True)


def test_installed_package_lists_and_runs_from_an_empty_folder(installed, tmp_path) -> None:
    _, env = installed
    python = Path(env["_VENV"]) / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import harness; print(harness.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(env["_SITE"]), where.stdout + where.stderr
    listed = _harness(env, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    suites = listed.stdout.split("suites:", 1)[1].split()
    assert {"demo", "tiny-imagenet", "ilsvrc2012-100", "ilsvrc2012"} <= set(suites)
    run = _harness(env, tmp_path, "run", "--methods", "random", "--quiet", "--jobs", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "unknown suite" not in run.stdout + run.stderr
    assert (tmp_path / "results" / "demo" / "leaderboard.csv").is_file()  # its own folder
    assert (tmp_path / "results" / "demo" / "report.md").is_file()
