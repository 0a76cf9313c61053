"""``harness plan``'s count of the SVM work (baselines.svm_cost, plan_cost) against a real fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from baselines.features.plan_cost import learned_size_ratio, project_stages, svm_jobs
from baselines.linear import OvrHingeSgd
from baselines.svm_cost import SvmJob, epoch_steps, job_bytes, jobs_seconds, train_calls
from harness.api import RunContext, fit_method, handover
from harness.holdout import carve_holdout
from harness.registry import BASELINES
from tests.baselines.test_svm_selection import FAST, GRID, MANIFEST, oriented_texture_split


class TrainSpy:
    """Every ``OvrHingeSgd._train`` call: (rows, models trained together, epochs, batch)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int, int, int]] = []
        original = OvrHingeSgd._train

        def spy(model: OvrHingeSgd, features: Any, labels: Any, rows: Any, *args: Any, **kw: Any):
            regs, epochs = args[1], args[3]
            batch = kw.get("batch") or model.effective_batch(len(rows))
            self.calls.append((len(rows), len(regs), int(epochs), int(batch)))
            return original(model, features, labels, rows, *args, **kw)

        monkeypatch.setattr(OvrHingeSgd, "_train", spy)


def _projected_calls(jobs: list[SvmJob]) -> list[tuple[int, int, int, int]]:
    return [call[:4] for job in jobs for call in train_calls(job, OvrHingeSgd())]


@pytest.mark.parametrize("rows, block_rows", [(333, 50), (100, 2048), (5000, 2048)])
def test_epoch_steps_are_the_steps_train_takes(rows: int, block_rows: int) -> None:
    svm = OvrHingeSgd(block_rows=block_rows, device="cpu")
    svm._setup()
    import torch

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((rows, 8)).astype(np.float32)
    steps: list[int] = []
    svm._train(
        feats,
        rng.integers(0, 3, rows),
        np.arange(rows),
        3,
        [1e-3],
        [1.0],
        2,
        mu=torch.zeros(8),
        on_epoch=lambda epoch, W, b, stats: steps.append(stats["steps"]),
    )
    assert steps == [epoch_steps(svm, rows), 2 * epoch_steps(svm, rows)]


def test_the_plan_counts_the_svm_trainings_a_selecting_fit_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = oriented_texture_split("train", 20, 0)
    holdout = carve_holdout(train.labels, train.n_classes, seed=0)
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0, manifest_hash=MANIFEST)
    spy = TrainSpy(monkeypatch)
    method = BASELINES.get("sift-fv-svm")(**FAST["sift-fv-svm"], **GRID, colour=True)
    fit_method(method, handover(train, holdout=holdout), train, ctx)
    n_fit, n_monitor = len(holdout.fit_rows), len(holdout.monitor_rows)
    jobs = svm_jobs(method, list(method.dims_.values()), n_fit, n_monitor, train.n_classes)
    projected = _projected_calls(jobs)
    # the same trainings in the same order: the step calibrations (one per class weighting,
    # ladders in groups), the grid, the refit; per channel (SIFT, colour)
    assert len(method.dims_) == 2 and len(spy.calls) == len(projected)
    for got, want in zip(spy.calls, projected, strict=True):
        rows, models, epochs, batch = got
        assert (rows, models, batch) == (want[0], want[1], want[3])
        assert epochs <= want[2]  # the refit's chosen epochs: at most the longest, projected
    refits = [c for c in spy.calls if c[0] == len(train)]
    assert len(refits) == 2 and all(e in GRID["svm_epoch_grid"] for _, _, e, _ in refits)

    stages = project_stages(method, 10 * n_fit, 10 * n_monitor, 100, ctx)
    assert set(stages["stages"]) >= {"encoder (bounded sample)", "encode fit + monitor"}
    assert all(v >= 0 for v in stages["stages"].values())
    assert stages["peak_bytes"] >= max(job_bytes(j) for j in jobs)
    # the record says what each stage took, to set beside the plan's stages
    measured = ctx.notes["sift-fv-svm_stage_seconds"]
    assert {"encoder", "encode", "SVM selection"} <= set(measured)
    assert all(v >= 0 for v in measured.values()) and ctx.notes["sift-fv-svm_refit_seconds"] >= 0


def test_without_a_monitor_the_plan_counts_one_calibrated_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = oriented_texture_split("train", 20, 0)
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0, manifest_hash=MANIFEST)
    spy = TrainSpy(monkeypatch)
    method = BASELINES.get("hog-svm")(**FAST["hog-svm"], svm_epochs=3)
    fit_method(method, handover(train), train, ctx)
    jobs = svm_jobs(method, list(method.dims_.values()), len(train), 0, train.n_classes)
    assert spy.calls == _projected_calls(jobs)


def test_svm_seconds_grow_with_classes_and_memory_counts_every_weight() -> None:
    small = SvmJob(rows=600, n_classes=10, dim=256, epochs=2)
    large = SvmJob(rows=600, n_classes=400, dim=256, epochs=2)
    # an exact count: the larger job has the same steps, each over 40x the weights
    assert epoch_steps(OvrHingeSgd(), 600) == 32  # MIN_STEPS_PER_EPOCH on a small set
    assert jobs_seconds([small], 1) > 0 and jobs_seconds([large], 1) > 0
    assert job_bytes(large) - job_bytes(small) >= 16 * 256 * 390


def test_a_capped_calibration_vocabulary_is_scaled_to_the_runs() -> None:
    """ILSVRC settings: 4,096 words from 250 descriptors an image; a calibration on 36
    images learns 450 (one per 20 descriptors), the run on 3,000 images all 4,096."""
    bovw = BASELINES.get("sift-bovw-svm")(n_words=4096, descriptors_per_image=250)
    assert learned_size_ratio(bovw, 36, 3000) == pytest.approx(4096 / 450)
    fv = BASELINES.get("sift-fv-svm")(n_components=256, descriptors_per_image=250)
    assert learned_size_ratio(fv, 36, 3000) == 1.0  # 256 <= 450: not capped
    assert learned_size_ratio(BASELINES.get("hog-svm")(), 36, 3000) == 1.0


def test_the_refit_trains_on_the_rows_it_is_given() -> None:
    hog = BASELINES.get("hog-svm")()
    jobs = svm_jobs(hog, [100], n_fit=900, n_monitor=100, n_classes=10, n_refit=900)
    assert jobs[-1].rows == 900 and jobs[-1].n_models == 1  # val as the monitor: train only
    assert svm_jobs(hog, [100], 900, 100, 10)[-1].rows == 1000


def test_the_encoding_is_timed_with_the_runs_encoders_in_one_process(tmp_path: Path) -> None:
    """The run's encoder (ratio x the calibration's words) is built and timed on the
    calibration's kept images: the words' share grows, the dense SIFT's does not."""
    from baselines.features.plan_cost import PLAN_IMAGES, encode_seconds_per_image

    train = oriented_texture_split("train", 10, 0)
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0, manifest_hash=MANIFEST)
    bovw = {"n_words": 24, "codebook_images": 40, "descriptors_per_image": 30}  # as handcrafted
    method = BASELINES.get("sift-bovw-svm")(**bovw, select=False)
    fit_method(method, handover(train), train, ctx)
    assert len(method.plan_images_) == min(PLAN_IMAGES, len(train))
    words = len(method.encoder_.bovw.vocabulary)
    big = method.encoder_with_words(8.0)
    assert len(big.bovw.vocabulary) == 8 * words
    assert big.encode(train.images[:2]).shape[1] == 8 * method.encoder_.dim(train.size)
    one = encode_seconds_per_image(method, 1.0, budget_s=0.05)
    assert one is not None and one > 0
    assert encode_seconds_per_image(method, 8.0, budget_s=0.05) > 0

    few = project_stages(method, 1_000, 0, 4, ctx)["stages"]["encode fit + monitor"]
    many = project_stages(method, 100_000, 0, 4, ctx)["stages"]["encode fit + monitor"]
    assert 0 < few < many  # per image, not per call
    # the val images are encoded with the run's encoders too (4,096 words: 17 s projected
    # for sift-bovw-svm's val scoring on the 1,000-class copy, from 450 words' rate)
    assert project_stages(method, 1_000, 0, 4, ctx)["score_per_image"] > 0


def test_kmeans_is_projected_as_its_steps_at_the_runs_shape_not_scaled_by_images() -> None:
    """A 375-word calibration vocabulary scaled linearly by images and words projected
    sift-bovw-svm's k-means at 8,196 s on the 1,000-class copy; its run took 46 s (574
    steps, 3.1 passes over 750,000 descriptors)."""
    from baselines.features.plan_cost import KMEANS_EPOCHS, kmeans_seconds

    assert KMEANS_EPOCHS < 100  # sklearn's max_iter: the early stop is what the run sees
    small, large = kmeans_seconds(40_000, 64), kmeans_seconds(400_000, 64)
    assert 0 < small < large  # ten times the steps, the same shape
    assert kmeans_seconds(400_000, 8_192) > 0  # more words than a batch holds
