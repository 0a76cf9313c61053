"""hog-svm on a loopback Dask cluster of two worker processes equals the single-process path.

Features: byte-identical. The one-vs-rest SVMs (the monitor selection and the
refit) train in blocks of classes as tasks: the same choice, and decision
scores equal within float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.hog_svm import HogSvm
from baselines.linear import OvrHingeSgd
from baselines.ovr_blocks import class_blocks, feature_file
from harness.api import RunContext, Split, fit_method, handover
from harness.holdout import carve_holdout
from tests.fixtures.dask_cluster import loopback_cluster

N_CLASSES = 6


@pytest.fixture(scope="module")
def scheduler_address():
    with loopback_cluster(n_workers=2, threads_per_worker=1, processes=True) as address:
        yield address


def oriented_split(name: str, per_class: int, seed: int, size: int = 32) -> Split:
    """Classes told apart by the orientation of noisy stripes (what HOG sees)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images, labels = [], []
    for c in range(N_CLASSES):
        angle = np.pi * c / N_CLASSES
        for _ in range(per_class):
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 0.8 + phase)
            img = 128 + 60 * wave[..., None] + rng.normal(0, 40, (size, size, 3))
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(c)
    wnids = tuple(f"n{c:08d}" for c in range(N_CLASSES))
    return Split(name, np.stack(images), np.array(labels), wnids)


def test_a_block_of_classes_trains_as_in_the_full_run() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 10)).astype(np.float32)
    y = np.arange(120) % 5
    x[np.arange(120), y] += 2.0
    svm = OvrHingeSgd(reg=1e-2, epochs=3, eta0=0.5)
    (full,) = svm.fit_grid(x, y, 5, [1e-2])
    for block in class_blocks(5, 2):
        (part,) = svm.fit_grid(x, y, 5, [1e-2], classes=block)
        np.testing.assert_allclose(part.coef_, full.coef_[:, block], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(part.intercept_, full.intercept_[block], rtol=1e-5, atol=1e-6)
    assert [len(b) for b in class_blocks(5, 2)] == [3, 2]
    assert feature_file(x) is None  # in memory: trained in this process


def distributed_client(address: str):
    from distributed import Client

    return Client(address, set_as_default=False)


def run_hog_svm(ctx: RunContext, train: Split, val: Split) -> tuple[HogSvm, np.ndarray]:
    method = HogSvm(
        svm_grid=(1e-2, 1e-1), svm_epoch_grid=(2, 4), svm_class_weight_grid=("balanced", "none")
    )
    holdout = carve_holdout(train.labels, train.n_classes, fraction=0.25, seed=0)
    assert fit_method(method, handover(train, holdout=holdout), train, ctx) == len(train)
    return method, method.decision_function(val, ctx)


def test_hog_svm_on_dask_equals_local(scheduler_address: str, tmp_path: Path) -> None:
    train, val = oriented_split("train", 16, 0), oriented_split("val", 5, 1)
    local_ctx = RunContext(cache_dir=tmp_path / "local", quiet=True)
    dask_ctx = RunContext(cache_dir=tmp_path / "dask", quiet=True, dask_scheduler=scheduler_address)
    local, local_scores = run_hog_svm(local_ctx, train, val)
    remote, remote_scores = run_hog_svm(dask_ctx, train, val)

    with distributed_client(scheduler_address) as client:  # the SVMs did run as tasks
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert {"train_class_block", "encode_chunk"} <= set(prefixes)

    # (a) the features: byte-identical (extraction tasks on the workers)
    for split in (train, val):
        np.testing.assert_array_equal(
            np.asarray(remote.features(split, dask_ctx)),
            np.asarray(local.features(split, local_ctx)),
        )
    assert feature_file(remote.features(train, dask_ctx)).path.startswith(str(tmp_path / "dask"))
    # (b) the SVMs: the same candidates, monitor errors and choice ...
    (sel_local,), (sel_remote,) = local_ctx.selections, dask_ctx.selections
    assert sel_remote.candidates == sel_local.candidates
    assert sel_remote.chosen == sel_local.chosen
    assert len(sel_local.candidates) == 2 * 2 * 2
    # ... and the refit's decision scores, within float rounding
    assert remote_scores.shape == local_scores.shape == (len(val), N_CLASSES)
    np.testing.assert_allclose(remote_scores, local_scores, rtol=1e-4, atol=1e-4)
    assert (remote_scores.argmax(1) == val.labels).mean() > 1 / N_CLASSES  # it learned something
    assert remote.svm_.curve_[-1]["epoch"] == local.svm_.curve_[-1]["epoch"]
    np.testing.assert_allclose(
        remote.svm_.curve_[-1]["train_objective"],
        local.svm_.curve_[-1]["train_objective"],
        rtol=1e-4,
    )
