"""The core as a user meets it: scored once, checks before work, nothing good lost.

Each test here reproduces a defect a new user hit (issue "Any ImageNet copy,
from an installed package, scored once") and fails on the code before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.store import load_records

PLUGINS = Path(__file__).parent / "harness_plugins"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])
    )


@pytest.fixture(scope="module")
def devkit7(tmp_path_factory) -> Path:
    """A devkit copy with 7 classes: a class count no built-in subset has."""
    from harness.data import make_synthetic_imagenet

    root = tmp_path_factory.mktemp("devkit7") / "ILSVRC2012"
    return Path(
        make_synthetic_imagenet(
            root, layout="ilsvrc-devkit", n_classes=7, train_per_class=10, val_per_class=3, size=32
        )
    )


def args_for(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--data",
        str(root),
        "--results",
        str(out / "results"),
        "--cache",
        str(out / "cache"),
        "--quiet",
        "--no-report",
        "--jobs",
        "1",
        *extra,
    ]


def test_fit_never_sees_a_val_image_and_the_monitor_is_held_out_train(
    devkit7: Path, tmp_path: Path, monkeypatch
) -> None:
    probe = tmp_path / "probe.json"
    monkeypatch.setenv("PROBE_OUT", str(probe))
    rc = main(args_for(devkit7, tmp_path, "--methods", "probe", "--plugin", "probe_plugins:Probe"))
    assert rc == 0
    seen = json.loads(probe.read_text())
    # every val image, as the cache stores it
    from harness.config import RunConfig
    from harness.data import build_manifest, ensure_cache
    from harness.prepare import read_dataset

    cfg = RunConfig(data=str(devkit7), subset=None, cache=str(tmp_path / "cache"))
    root, index, subset = read_dataset(cfg)
    manifest = build_manifest(root, subset, index=index)
    cached = ensure_cache(manifest, tmp_path / "cache" / "images", n_jobs=1)
    from probe_plugins import image_digests

    train = image_digests(cached.split("train").images)
    val = set(image_digests(cached.split("val").images))
    assert val and not val & set(seen["fit"]) and not val & set(seen["monitor"])
    # fit gets the fit rows and the monitor as two splits: disjoint, together all of train
    assert seen["split_names"] == ["fit", "monitor"]
    mon, fit = set(seen["monitor_rows"]), set(seen["fit_rows"])
    assert mon and not mon & fit and mon | fit == set(range(len(train)))
    assert [train[i] for i in seen["monitor_rows"]] == seen["monitor"]
    assert [train[i] for i in seen["fit_rows"]] == seen["fit"]
    assert not set(seen["fit"]) & set(seen["monitor"])
    assert sorted(set(seen["monitor_labels"])) == list(range(7))
    # the context carries no data: no route to the union of fit and monitor
    assert not {"monitor", "holdout", "train"} & set(seen["context_fields"])
    (record,) = load_records(tmp_path / "results")
    assert record["monitor"]["split"] == "train-holdout"
    assert record["monitor"]["n_images"] == len(mon) == 7  # 10% of 10, at least one per class
    # what the harness handed over is observed in the record, not reported by the method
    assert record["monitor"]["refit"] is False
    assert record["monitor"]["monitor_rows_read"] == 7
    assert record["training"]["fit_split"] == "train-fit"


def test_a_refit_gets_all_of_train_and_the_record_says_so(
    devkit7: Path, tmp_path: Path, monkeypatch
) -> None:
    probe = tmp_path / "probe.json"
    monkeypatch.setenv("PROBE_OUT", str(probe))
    argv = args_for(devkit7, tmp_path, "--methods", "probe", "--plugin", "probe_plugins:Probe")
    assert main([*argv, "--param", "probe.asks_refit=true"]) == 0
    seen = json.loads(probe.read_text())
    assert sorted(seen["refit_train"]) == sorted(seen["fit"] + seen["monitor"])
    (record,) = load_records(tmp_path / "results")
    assert record["monitor"]["refit"] is True
    assert record["monitor"]["refit_rows"] == len(seen["refit_train"]) == 70
    assert record["training"]["fit_split"] == "train-fit, refit on train"


def test_a_naive_memorising_plugin_gets_an_honest_monitor_error(
    devkit7: Path, tmp_path: Path
) -> None:
    """Fit on what fit is given, choose C on the monitor: the monitor error is not 0."""
    argv = args_for(devkit7, tmp_path, "--methods", "memoriser",
                    "--plugin", "probe_plugins:Memoriser")  # fmt: skip
    assert main(argv) == 0
    (record,) = load_records(tmp_path / "results")
    (selection,) = record["selection"]
    errors = {c["c"]: c["monitor_top1_err"] for c in selection.candidates}
    assert min(errors.values()) > 0  # the monitor's images were never memorised
    assert errors[1e3] > 50  # memorising the fit rows does not help on held-out images
    monitor = record["monitor"]
    assert monitor["split"] == "train-holdout" and monitor["n_images"] == 7
    assert monitor["n_fit"] == 63 and monitor["refit"] is True and monitor["refit_rows"] == 70
    assert monitor["candidates_tried"] == 3
    assert monitor["monitor_rows_read"] == 3 * 7  # each candidate scored the 7 monitor images
    assert monitor["fit_rows_digest"] and monitor["monitor_rows_digest"]


def test_two_subsets_of_one_shape_each_get_their_own_monitor(tmp_path: Path) -> None:
    """A shared cache folder, two subsets of one shape: the monitor is always train's own rows."""
    from harness.config import RunConfig
    from harness.data import make_synthetic_imagenet
    from harness.prepare import prepare_data

    root = make_synthetic_imagenet(
        tmp_path / "data", layout="ilsvrc-devkit", n_classes=6, train_per_class=8,
        val_per_class=2, size=16,
    )  # fmt: skip
    for seed in (0, 1):
        cfg = RunConfig(data=str(root), subset=None, classes=3, subset_seed=seed,
                        cache=str(tmp_path / "cache"), quiet=True, n_jobs=1)  # fmt: skip
        data = prepare_data(cfg, tmp_path / "results")
        handed = data.train_data()
        rows = data.holdout.monitor_rows
        assert np.array_equal(handed.monitor.images[:], data.train.images[rows])
        assert np.array_equal(handed.monitor.labels, data.train.labels[rows])
        assert np.array_equal(handed.fit.images[:], data.train.images[data.holdout.fit_rows])


def test_no_suite_runs_every_class_present_under_a_named_adhoc_subset(
    devkit7: Path, tmp_path: Path
) -> None:
    rc = main(args_for(devkit7, tmp_path, "--methods", "random"))
    assert rc == 0
    (record,) = load_records(tmp_path / "results")
    assert record["n_classes"] == 7
    assert record["subset"].startswith("ilsvrc-devkit-7cls-")
    assert record["image_size"] == 256  # the devkit layout's stored size


def test_classes_draws_from_the_classes_present_even_under_a_suite(
    devkit7: Path, tmp_path: Path
) -> None:
    # the suite's subset is 100 fixed wnids, none of which this copy has
    rc = main(
        args_for(devkit7, tmp_path, "--suite", "ilsvrc2012-100", "--methods", "random")
        + ["--classes", "3", "--size", "32"]
    )
    assert rc == 0
    (record,) = load_records(tmp_path / "results")
    assert record["n_classes"] == 3 and record["image_size"] == 32


def test_a_suite_subset_the_copy_cannot_satisfy_says_what_to_type(
    devkit7: Path, tmp_path: Path, capsys
) -> None:
    rc = main(args_for(devkit7, tmp_path, "--suite", "ilsvrc2012-100", "--methods", "random"))
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "harness run --data PATH" in err and "--classes" in err
    rc = main(args_for(devkit7, tmp_path, "--suite", "ilsvrc2012", "--methods", "random"))
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "1000" in err and "7" in err and "--classes" in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--methods", "nosuch"], "unknown method 'nosuch'"),
        (["--methods", "hog-svm", "--param", "hog-svm.Cc=1"], "has no parameter 'Cc'"),
        (["--methods", "lenet5", "--param", "lenet5.epochs=abc"], "must be an integer"),
        (["--methods", "lenet5", "--param", "lenet5.epochs=-1"], "must be an integer >= 1"),
        (["--methods", "alexnet", "--param", 'alexnet.profile="fast"'], "must be one of"),
        (["--methods", "random", "--param", "alexnet.epochs=3"], "not a method of this run"),
    ],
)
def test_bad_methods_and_params_stop_before_any_work(
    devkit7: Path, tmp_path: Path, capsys, extra: list[str], needle: str
) -> None:
    rc = main(args_for(devkit7, tmp_path, *extra))
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not (tmp_path / "cache" / "images").exists()  # no cache was built
    assert load_records(tmp_path / "results") == []  # no failed record left behind


def test_a_failing_fresh_rerun_keeps_the_good_record(
    devkit7: Path, tmp_path: Path, monkeypatch
) -> None:
    flag = tmp_path / "damaged"
    monkeypatch.setenv("FAIL_FLAG", str(flag))
    argv = args_for(
        devkit7,
        tmp_path,
        "--methods",
        "fails-when-asked",
        "--plugin",
        "probe_plugins:FailsWhenAsked",
    )
    assert main(argv) == 0
    (good,) = load_records(tmp_path / "results")
    flag.write_text("")
    assert main([*argv, "--fresh"]) == 1
    (after,) = load_records(tmp_path / "results")
    assert after["status"] == "ok" and after["date"] == good["date"]
    kept = list((tmp_path / "results" / "runs" / "failed").glob("*.json"))
    assert len(kept) == 1 and "damaged" in json.loads(kept[0].read_text())["error"]


def test_fresh_drops_the_methods_cache(devkit7: Path, tmp_path: Path) -> None:
    argv = args_for(devkit7, tmp_path, "--methods", "random")
    assert main(argv) == 0
    stale = tmp_path / "cache" / "methods" / "random" / "features.npy"
    stale.write_bytes(b"")  # a zero-byte cache file
    assert main([*argv, "--fresh"]) == 0
    assert not stale.exists()


@pytest.mark.parametrize("where", ["results-is-a-file", "runs-is-a-file"])
def test_results_folder_that_cannot_be_used_is_one_line(
    devkit7: Path, tmp_path: Path, capsys, where: str
) -> None:
    results = tmp_path / "results"
    if where == "results-is-a-file":
        results.write_text("")
    else:
        results.mkdir()
        (results / "runs").write_text("")
    rc = main(args_for(devkit7, tmp_path, "--methods", "random"))
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is a file" in err and "--results" in err


def test_two_rows_of_one_method_in_a_suite_run_as_two(devkit7: Path, tmp_path: Path) -> None:
    suite = tmp_path / "two.toml"
    suite.write_text(
        '[suite]\nname = "two"\nplugins = ["probe_plugins:Constant"]\n\n'
        '[methods.constant-a]\nmethod = "constant"\n\n'
        '[methods.constant-b]\nmethod = "constant"\noffset = 1\n'
    )
    rc = main(args_for(devkit7, tmp_path, "--suite", str(suite), "--param", "constant-b.offset=2"))
    assert rc == 0
    records = load_records(tmp_path / "results")
    assert len(records) == 2
    assert sorted(r["params"]["offset"] for r in records) == [0, 2]


def test_progress_off_a_terminal_is_plain_lines(devkit7: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{PLUGINS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [a for a in args_for(devkit7, tmp_path, "--methods", "random") if a != "--quiet"]
    out = subprocess.run(
        [sys.executable, "-m", "harness", *argv], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr + out.stdout
    assert max(len(line) for line in out.stderr.splitlines()) < 300


def test_git_commit_only_when_the_package_is_the_checkout(tmp_path: Path) -> None:
    from harness.environment import git_commit

    outer = tmp_path / "other-repo"
    (outer / "venv" / "site-packages").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(outer)], check=True)
    assert git_commit(outer / "venv" / "site-packages") is None
    if (REPO / ".git").exists():
        assert git_commit(REPO) is not None


def test_holdout_is_seeded_per_class_and_documented_defaults() -> None:
    from harness.holdout import carve_holdout

    labels = np.repeat(np.arange(4), [1, 5, 20, 800])
    h = carve_holdout(labels, 4, fraction=0.1, seed=3)
    per_class = np.bincount(labels[h.monitor_rows], minlength=4)
    assert per_class.tolist() == [0, 1, 2, 50]  # none of 1, at least 1, 10%, at most 50
    again = carve_holdout(labels, 4, fraction=0.1, seed=3)
    assert np.array_equal(h.monitor_rows, again.monitor_rows)
    other = carve_holdout(labels, 4, fraction=0.1, seed=4)
    assert not np.array_equal(h.monitor_rows, other.monitor_rows)
    # a class's draw does not move when another class changes
    fewer = carve_holdout(np.repeat(np.arange(4), [1, 5, 20, 10]), 4, fraction=0.1, seed=3)
    assert np.array_equal(h.monitor_rows[:3], fewer.monitor_rows[:3])


@pytest.mark.parametrize(
    ("writer", "n_classes", "layout"),
    [
        ("write_kaggle_tree", 12, "ilsvrc-kaggle"),
        ("write_devkit_tree", 7, "ilsvrc-devkit"),  # meta.mat IDs not in sorted-wnid order
        ("write_imagefolder_tree", 13, "imagefolder"),
    ],
)
def test_any_layout_runs_on_every_class_it_holds(
    tmp_path: Path, writer: str, n_classes: int, layout: str
) -> None:
    from tests.fixtures import layout_trees

    tree = getattr(layout_trees, writer)(
        tmp_path / "copy", n_classes, train_per_class=3, val_per_class=2
    )
    rc = main(args_for(tree.root, tmp_path, "--methods", "random"))
    assert rc == 0
    (record,) = load_records(tmp_path / "results")
    assert record["n_classes"] == n_classes and record["layout"] == layout
    assert record["n_val"] == 2 * n_classes and record["n_train"] == 3 * n_classes
    assert record["subset"].startswith(f"{layout}-{n_classes}cls-")
    # the devkit's IDs were converted at the edge: the manifest's val labels are the truth
    import pandas as pd

    (manifest,) = (tmp_path / "results" / "manifests").glob("*.csv")
    entries = pd.read_csv(manifest, comment="#")
    val = entries[entries["split"] == "val"]
    assert {p: w for p, w in zip(val["path"], val["wnid"], strict=True)} == tree.val_truth


def test_watching_val_as_the_paper_did_is_an_option_its_rows_name(
    devkit7: Path, tmp_path: Path, monkeypatch
) -> None:
    probe = tmp_path / "probe.json"
    monkeypatch.setenv("PROBE_OUT", str(probe))
    argv = args_for(devkit7, tmp_path, "--methods", "probe", "--plugin", "probe_plugins:Probe")
    assert main([*argv, "--monitor", "val"]) == 0
    seen = json.loads(probe.read_text())
    assert seen["split_names"] == ["fit", "val"] and len(seen["fit_rows"]) == 70
    (record,) = load_records(tmp_path / "results")
    assert record["monitor"]["split"] == "val"
    assert main(argv) == 0  # the default is another run, not the same record
    assert sorted(r["monitor"]["split"] for r in load_records(tmp_path / "results")) == [
        "train-holdout",
        "val",
    ]


def test_a_run_constructs_each_method_once(devkit7: Path, tmp_path: Path) -> None:
    from probe_plugins import Counted

    Counted.made = 0
    argv = args_for(devkit7, tmp_path, "--methods", "counted", "--plugin", "probe_plugins:Counted")
    assert main(argv) == 0
    assert Counted.made == 1  # validation, pre-flight, run id and fit share one instance
