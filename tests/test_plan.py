"""``harness plan`` and the resource guard of ``harness run`` on a generated copy."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import harness.resources as resources
from harness.cli import main

METHODS = "random,hog-svm,lenet5"


@pytest.fixture
def flags(synthetic_root: Callable[..., Path], tmp_path: Path) -> list[str]:
    root = synthetic_root("ilsvrc-devkit", n_classes=4, train_per_class=8, val_per_class=3)
    return [
        "--data", str(root), "--results", str(tmp_path / "results"),
        "--cache", str(tmp_path / "cache"), "--quiet", "--no-report", "--jobs", "1",
    ]  # fmt: skip


def _plan(flags: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["plan", "--json", *flags, "--methods", METHODS]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_json_has_every_method_with_positive_figures(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _plan(flags, capsys)
    assert [r["method"] for r in rows] == METHODS.split(",")
    for r in rows:
        assert r["seconds"] > 0 and r["peak_rss_mib"] > 0 and r["disk_mib"] > 0, r
        assert r["dominant_stage"] in r["stages"]
        assert r["calibration_images"] > 0
        assert "projected from" in r["basis"]


def test_plan_decodes_only_its_calibration_sample(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _plan(flags, capsys)
    cache = tmp_path / "cache"
    assert not (cache / "images").exists()  # the run's image cache is never built by plan
    assert not (cache / "methods").exists() and not (cache / "work").exists()
    assert len(list((cache / "plans").glob("*.json"))) == 1  # kept for the run's guard
    hand_crafted = next(r for r in rows if r["method"] == "hog-svm")
    assert hand_crafted["calibration_images"] <= 2 * 4 * (8 + 3)  # two samples, each <= the copy


def test_plan_table_fits_100_columns(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", *flags, "--methods", "random"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "Projections, not measurements" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def _nearly_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "free_bytes", lambda path: 2 * 2**20)  # 2 MiB free


def test_run_refuses_in_one_line_when_the_cache_disk_is_nearly_full(
    flags: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _nearly_full(monkeypatch)
    assert main(["run", *flags, "--methods", "random"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "image cache" in err and "needs" in err and "2.0 MiB" in err
    assert "--ignore-resources" in err
    assert not (tmp_path / "cache" / "images").exists()  # refused before decoding


def test_ignore_resources_lets_the_run_go_on(
    flags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _nearly_full(monkeypatch)
    assert main(["run", *flags, "--methods", "random", "--ignore-resources"]) == 0


def test_a_complete_cache_needs_no_new_disk(
    flags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["run", *flags, "--methods", "random"]) == 0  # builds the image cache
    _nearly_full(monkeypatch)
    assert main(["run", *flags, "--methods", "random", "--fresh"]) == 0


def test_run_refuses_a_method_a_saved_plan_says_needs_more_memory(
    flags: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _plan(flags, capsys)
    monkeypatch.setattr(resources, "machine_memory_bytes", lambda: 2**20)  # 1 MiB
    assert main(["run", *flags, "--methods", "hog-svm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "hog-svm's memory (projected by harness plan" in err and "--ignore-resources" in err


def test_the_memory_guard_holds_the_anonymous_peak_not_the_mapped_pages_against_ram(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resident peak over RAM made of memory-mapped cache pages (which the kernel drops
    under pressure) is no reason to refuse; an anonymous peak over RAM is."""
    rows = _plan(flags, capsys)
    hog = next(r for r in rows if r["method"] == "hog-svm")
    assert 0 < hog["peak_anon_mib"] <= hog["peak_rss_mib"]
    (saved,) = (tmp_path / "cache" / "plans").glob("*.json")
    plan = json.loads(saved.read_text())
    memory_mib = resources.machine_memory_bytes() / 2**20
    for r in plan:
        r["peak_rss_mib"] = r["peak_anon_mib"] = 2 * memory_mib
    saved.write_text(json.dumps(plan))
    assert main(["run", *flags, "--methods", "hog-svm"]) == 2
    assert "memory (projected by harness plan" in capsys.readouterr().err
    for r in plan:
        r["peak_anon_mib"] = 1.0
    saved.write_text(json.dumps(plan))
    assert main(["run", *flags, "--methods", "hog-svm"]) == 0


def test_missing_cache_bytes_counts_only_what_is_missing(flags: list[str], tmp_path: Path) -> None:
    from harness.data import build_manifest, read_layout
    from harness.flags import build_config, run_parser
    from harness.prepare import resolve_subset

    assert main(["run", *flags, "--methods", "random"]) == 0
    cfg = build_config(run_parser().parse_args([*flags, "--methods", "random"]))
    root = Path(cfg.data)
    index = read_layout(root)
    manifest = build_manifest(root, resolve_subset(cfg, index), index=index)
    assert resources.image_cache_bytes(manifest) == len(manifest) * manifest.subset.size**2 * 3
    assert resources.missing_cache_bytes(manifest, tmp_path / "cache" / "images") == 0
    assert resources.missing_cache_bytes(manifest, tmp_path / "elsewhere") > 0


def test_a_step_budget_caps_the_planned_steps(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["plan", "--json", *flags, "--methods", "lenet5", "--param", "lenet5.max_steps=3"]
    assert main(args) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert "3 training steps" in row["stages"]
    (passes,) = [int(k.split()[0]) for k in row["stages"] if k.endswith("monitor passes")]
    assert 1 <= passes <= 3  # an epoch of at least one step each, none after the budget


def test_the_two_calibrations_compute_their_own_features_even_at_one_size(
    synthetic_root: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy with 4 training images a class gives two samples of one size; the second
    must encode its own images, not time a read of the first's cached features."""
    import baselines.features.pipeline as pipeline

    encoded: list[str] = []
    original = pipeline.map_encoder

    def spy(encoder, split, ctx, *args, **kw):  # noqa: ANN001, ANN202
        encoded.append(Path(ctx.cache_dir).parent.name)
        return original(encoder, split, ctx, *args, **kw)

    monkeypatch.setattr(pipeline, "map_encoder", spy)
    root = synthetic_root("ilsvrc-devkit", n_classes=4, train_per_class=4, val_per_class=2)
    flags = ["--data", str(root), "--cache", str(tmp_path / "cache"), "--quiet", "--jobs", "1"]
    assert main(["plan", "--json", *flags, "--methods", "hog-svm"]) == 0
    first, second = sorted(set(encoded))  # one folder per calibration, each encoding alike
    assert encoded.count(first) == encoded.count(second) > 0


def _entries(n_classes: int, train: int, val: int) -> SimpleNamespace:
    rows = [
        (f"n{c:08d}", split)
        for c in range(n_classes)
        for split, k in (("train", train), ("val", val))
        for _ in range(k)
    ]
    return SimpleNamespace(entries=pd.DataFrame(rows, columns=["wnid", "split"]))


@pytest.mark.parametrize(("per_class", "batch"), [(4, 32), (4, 128), (16, 32), (500, 128)])
def test_the_step_sample_holds_the_larger_budget_in_one_epoch(per_class: int, batch: int) -> None:
    """A 1,000-class copy of 4 images a class gave a sample of 10 classes, 30 fit rows:
    one step an epoch, so the fits of 2 and 8 steps timed the same single step and
    lenet5 at 256 px was projected 2x short."""
    from harness.calibration import STEPS, cnn_sample_shape
    from harness.holdout import carve_holdout

    classes, k = cnn_sample_shape(_entries(1000, per_class, 1), batch, 0.1)
    labels = np.repeat(np.arange(classes), k)
    fit = len(labels) - carve_holdout(labels, classes, fraction=0.1, seed=0).n_monitor
    assert fit >= STEPS[1] * batch
    assert classes <= 1000 and k <= per_class


def test_a_fast_step_gets_enough_steps_to_be_timed() -> None:
    from harness.calibration import MAX_STEPS, STEPS, Calibration, more_steps

    def fit(train_s: float) -> Calibration:
        return Calibration(40, 10, 1.0, 0.1, 0, 0, steps=2, train_s=train_s)

    assert more_steps(fit(2 * 5.0)) == STEPS[1]  # AlexNet on a CPU: 5 s a step
    assert STEPS[1] < more_steps(fit(2 * 0.05)) <= MAX_STEPS  # 50 ms a step: 40 more
    assert more_steps(fit(2 * 0.001)) == MAX_STEPS


def test_the_calibration_clock_sums_every_epoch_of_a_short_sample() -> None:
    from harness.calibration import _epoch_clocks

    curve = [
        {"images_per_s": 100.0, "images_seen": 50, "seconds": 0.7},  # 0.5 s training
        {"images_per_s": 50.0, "images_seen": 100, "seconds": 1.3},  # 1.0 s training
    ]
    train, monitor = _epoch_clocks(curve)
    assert train == pytest.approx(1.5) and monitor == pytest.approx(0.5)
    assert _epoch_clocks([{"images_per_s": 0.0, "images_seen": 10, "seconds": 1}]) == (None, None)


def test_a_many_class_step_sample_trains_its_steps_and_scores_a_bounded_val_sample(
    synthetic_root: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness.calibration as calibration
    import harness.plan as plan

    seen: list[tuple[int, ...]] = []
    original = plan.project

    def spy(resolved, cals, *args, **kw):  # noqa: ANN001, ANN202
        seen.extend((c.steps, c.n_val, c.monitor_passes) for c in cals)
        return original(resolved, cals, *args, **kw)

    monkeypatch.setattr(plan, "project", spy)
    root = synthetic_root("ilsvrc-devkit", n_classes=80, train_per_class=4, val_per_class=1)
    flags = ["--data", str(root), "--cache", str(tmp_path / "cache"), "--quiet", "--jobs", "1"]
    assert main(["plan", "--json", *flags, "--methods", "lenet5"]) == 0
    first, second = (s for s, _, _ in seen)
    assert first == calibration.STEPS[0]
    assert calibration.STEPS[1] <= second <= calibration.MAX_STEPS
    for steps, n_val, passes in seen:
        assert 0 < n_val <= calibration.STEP_VAL_IMAGES
        assert passes == -(-steps // 8)  # 80 classes x 3 fit rows: 8 steps an epoch


def test_the_first_calibrations_model_is_freed_before_the_second_is_timed() -> None:
    """Held, the paper AlexNet's first fit (weights, gradients, momentum) counted in its
    second fit's peak: 4.0 GiB projected, 3.0 GiB measured on the 1,000-class copy."""
    import weakref

    from harness.calibration import Calibration, _lighten

    class Fitted:
        stage_clock_ = "the clock"

        def __init__(self) -> None:
            self.model = np.zeros(1000)

    method = Fitted()
    alive = weakref.ref(method)
    cal = Calibration(40, 10, 1.0, 0.1, 0, 0, fitted=(method, object()))
    del method
    _lighten(cal)
    assert alive() is None  # freed
    assert cal.fitted[0].stage_clock_ == "the clock"  # what the projection reads of it


def test_each_method_is_calibrated_in_a_process_of_its_own(
    flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process a calibration's peak counted what was there before it: LeNet-5
    calibrated after the four networks of the decade was projected at 1,041 MiB
    anonymous against 546 measured. Here 1 GiB held by the process that plans."""
    import harness.calibration as calibration

    monkeypatch.setattr(calibration, "OWN_PROCESS", True)
    ballast = np.ones(2**30 // 8)  # touched: 1 GiB of this process's anonymous memory
    capsys.readouterr()
    assert main(["plan", "--json", *flags, "--methods", "hog-svm,lenet5"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["hog-svm", "lenet5"]
    for row in rows:
        assert 0 < row["peak_anon_mib"] < 1024, row
        assert row["seconds"] > 0 and "projected from" in row["basis"]
    assert ballast[-1] == 1.0


def test_a_step_trained_calibration_runs_with_the_runs_pinned_switches(
    flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The method's ``calibration_params(run_steps, device)`` (the CNNs: torch.compile
    from a number of steps) reach every timed fit, asked with the run's steps."""
    import harness.plan as plan
    from baselines.lenet5 import LeNet5Baseline

    asked: list[int] = []
    fitted: list[dict] = []

    def pin(self, run_steps: int, device: str) -> dict:  # noqa: ANN001
        asked.append(run_steps)
        return {"compile": False}

    original = plan._calibrate

    def spy(spec, *args, **kw):  # noqa: ANN001, ANN202
        fitted.append(dict(spec.params))
        return original(spec, *args, **kw)

    monkeypatch.setattr(LeNet5Baseline, "calibration_params", pin, raising=False)
    monkeypatch.setattr(plan, "_calibrate", spy)
    capsys.readouterr()
    assert main(["plan", "--json", *flags, "--methods", "lenet5"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    (steps,) = [int(k.split()[0].replace(",", "")) for k in row["stages"] if "training steps" in k]
    assert asked == [steps]
    assert len(fitted) == 3 and all(p["compile"] is False for p in fitted)  # warm-up, a, b
    assert "torch.compile" not in row["stages"]


def test_a_compiled_run_pays_its_compile_once() -> None:
    """The fit that compiled every shape took 30 s beyond its steady steps: the run's
    compile, paid once; the timed fits' steady steps set the rate."""
    from harness.calibration import Calibration
    from harness.plan import project

    resolved = SimpleNamespace(params={"max_steps": None, "epochs": 2, "batch_size": 10})

    def fit(steps: int, extra: float = 0.0, peak: int = 2**29) -> Calibration:
        return Calibration(
            100, 10, 1.0 + 0.1 * steps + extra, 0.2, peak, 0, steps=steps, train_s=0.1 * steps,
            eval_half_s=0.1, peak_anon_bytes=peak,
        )  # fmt: skip

    cals = (fit(2), fit(8))
    # the warm-up's peak counts: the compile's workers and C++ compilers ran in it
    got = project(resolved, cals, 100, 0, 10, 4, warm=fit(11, extra=30.0, peak=2**32))
    assert got["stages"]["torch.compile"] == pytest.approx(30.0)
    assert got["peak_anon_bytes"] == got["peak_bytes"] == 2**32
    assert got["stages"]["20 training steps"] == pytest.approx(2.0)
    assert "torch.compile" not in project(resolved, cals, 100, 0, 10, 4)["stages"]


def test_a_compiling_run_is_warmed_up_over_a_whole_epoch_of_the_timed_sample(
    flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up compiles every shape the timed fits meet (an epoch's last partial
    batch, the monitor pass): left to the timed fits, ZFNet's recompiles were counted
    as steps (0.26 s steps projected at 2.3 s: 6,579 s for an 802 s run)."""
    import harness.plan as plan
    from baselines.lenet5 import LeNet5Baseline
    from harness.calibration import Calibration

    calls: list[tuple[str, int, int]] = []
    caches: set[str | None] = set()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/the/users/cache")

    def fake(spec, device, data, cfg, folder, steps):  # noqa: ANN001, ANN202
        calls.append((folder.name, len(data.train_data(cfg.monitor).fit), steps))
        caches.add(os.environ.get("TORCHINDUCTOR_CACHE_DIR"))
        extra = 40.0 if folder.name == "warm-up" else 0.0  # the compile
        return Calibration(
            len(data.train), 4, 1.0 + 0.1 * steps + extra, 0.2, 2**20, 0, steps=steps,
            train_s=0.1 * steps, eval_half_s=0.1, monitor_s=0.05, monitor_passes=1,
        )  # fmt: skip

    monkeypatch.setattr(
        LeNet5Baseline, "calibration_params", lambda self, n, d: {"compile": True}, raising=False
    )
    monkeypatch.setattr(plan, "_calibrate", fake)
    capsys.readouterr()
    assert main(["plan", "--json", *flags, "--methods", "lenet5"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    (warm, n_fit, steps), first, _ = calls
    assert warm == "warm-up" and first[1] == n_fit  # the timed fits' sample
    assert steps == -(-n_fit // 32) + 1  # lenet5's batch of 32: an epoch and a step
    assert row["stages"]["torch.compile"] == pytest.approx(40.0, abs=0.5)
    # compiled cold in caches of its own, the user's left as they were for the run
    (cache,) = caches
    assert "harness-plan-" in cache and os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/the/users/cache"


def test_the_projected_peak_holds_the_copys_index_and_manifest(
    flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calibration's own process holds only its samples; the run holds the whole
    copy's index and manifest (64 MiB at Tiny ImageNet's 55,000 images), which the
    planning process measures as it reads them."""
    import harness.calibration as calibration
    import harness.plan as plan

    def planned(held: int) -> float:
        readings = iter([0, held])
        monkeypatch.setattr(plan, "own_anon_bytes", lambda: next(readings))
        capsys.readouterr()
        assert main(["plan", "--json", *flags, "--methods", "random"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        return row["peak_anon_mib"]

    monkeypatch.setattr(calibration, "OWN_PROCESS", True)
    monkeypatch.setattr(plan, "in_own_process", lambda fn, args, what: fn(*args))  # no spawn
    assert planned(100 * 2**20) - planned(0) == pytest.approx(100, abs=15)


def test_a_calibration_whose_process_dies_is_one_error_naming_the_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness.calibration as calibration
    from harness.api import MethodError

    monkeypatch.setattr(calibration, "OWN_PROCESS", True)
    with pytest.raises(MethodError, match="sift-fv-svm: the calibration's process died"):
        calibration.in_own_process(os._exit, (9,), "sift-fv-svm")  # as the OOM killer would
