"""What a run's one-vs-rest SVMs will cost, counted exactly and timed at the run's own shapes.

For ``harness plan`` (:mod:`harness.plan`). Scaling the SVM time of the plan's
small calibration (about 100 rows of 10 classes) up to a whole run overstates
it several times: there the fixed cost of each step and the floor of
``MIN_STEPS_PER_EPOCH`` steps an epoch dominate (measured on hog-svm, Tiny
ImageNet-100: a 3.3x projection). Instead:

* the work of a run is counted as :class:`OvrHingeSgd` will do it: for each
  training (:class:`SvmJob`), its epochs x the steps of an epoch (blocks of
  ``block_rows`` rows cut into batches of ``effective_batch(rows)``), the rows
  scored at each checkpoint, the step calibration's ladder (``calibrate``);
* one step of ``n_models`` models of ``n_classes`` classes over ``dim``
  features at that batch is timed on random rows on this machine
  (:func:`step_seconds`: the difference of a 1-step and a 3-step pass, so the
  allocation of the weights is not counted as steps), with the averaging
  update included; scoring is timed per row the same way (:func:`score_seconds`).

Memory: the weights trained together, their average and the two copies the
checkpoints make (16 bytes per weight, as :data:`baselines.linear.MODEL_BYTES`
counts them), plus the block buffer (``block_rows x dim`` float32).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from baselines.linear import CALIBRATION_ROWS, ETA0_LADDER, OvrHingeSgd
from baselines.ovr import models_together

__all__ = [
    "SvmJob",
    "epoch_steps",
    "job_bytes",
    "jobs_seconds",
    "score_seconds",
    "step_seconds",
    "train_calls",
]


@dataclass(frozen=True)
class SvmJob:
    """One streaming training of ``n_models`` models trained together (one ``_train``)."""

    rows: int  # training rows
    n_classes: int
    dim: int
    n_models: int = 1
    epochs: int = 1
    score_rows: int = 0  # rows scored at each checkpoint (the monitor)
    checkpoints: int = 0
    calibrate: bool = False  # eta0 calibrated first (the ladder on a sample of the rows)


def epoch_steps(svm: OvrHingeSgd, rows: int, batch: int | None = None) -> int:
    """SGD steps in one epoch of ``rows`` rows, as ``_train`` cuts its blocks into batches
    (of ``batch``; by default the run's ``effective_batch(rows)``)."""
    batch = batch or svm.effective_batch(rows)
    full, rest = divmod(rows, svm.block_rows)
    return full * math.ceil(svm.block_rows / batch) + math.ceil(rest / batch)


def train_calls(job: SvmJob, svm: OvrHingeSgd) -> list[tuple[int, int, int, int, bool]]:
    """The ``_train`` calls of ``job``, as (rows, models, epochs, batch, ladder): the step
    calibration's ladder in groups within ``MODEL_BYTES`` (one epoch over its sample, at the
    batch of the run it calibrates), then the training itself."""
    batch = svm.effective_batch(job.rows)
    calls = []
    if job.calibrate:
        sample = min(job.rows, CALIBRATION_ROWS)
        group = models_together(job.dim, job.n_classes)
        for lo in range(0, len(ETA0_LADDER), group):
            calls.append((sample, min(group, len(ETA0_LADDER) - lo), 1, batch, True))
    if job.epochs:
        calls.append((job.rows, job.n_models, job.epochs, batch, False))
    return calls


def _random_rows(rows: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((rows, dim), dtype=np.float32).astype(np.float16)


def _sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


@functools.lru_cache(maxsize=64)
def step_seconds(
    dim: int, n_classes: int, n_models: int, batch: int, threads: int, device: str = "cpu"
) -> float:
    """Seconds of one averaged SGD step of ``n_models`` x ``n_classes`` models over ``dim``
    float16 features at ``batch`` rows, on ``device`` (CPU: ``threads`` threads)."""
    probe = OvrHingeSgd(batch_size=batch, device=device, n_threads=threads, average_from=0)
    probe._setup()
    import torch

    feats = _random_rows(3 * batch, dim)
    labels = np.arange(3 * batch) % n_classes
    mu = torch.zeros(dim, device=probe.device_)

    def run(steps: int) -> float:
        _sync(device)
        t0 = time.perf_counter()
        probe._train(
            feats,
            labels,
            np.arange(steps * batch),
            n_classes,
            [1e-4] * n_models,
            [1.0] * n_models,
            1,
            mu=mu,
            batch=batch,
        )
        _sync(device)
        return time.perf_counter() - t0

    run(1)  # untimed: first-touch of the buffers and kernel selection
    one, three = run(1), run(3)
    return max((three - one) / 2, three / 6)  # never below half the plain average


@functools.lru_cache(maxsize=64)
def score_seconds(dim: int, n_outputs: int, threads: int, device: str = "cpu") -> float:
    """Seconds to score one row against ``n_outputs`` stacked linear models over ``dim`` dims."""
    import torch

    from baselines.ovr import decision_functions

    rows = 1024
    model = OvrHingeSgd(device=device, n_threads=threads)
    model._setup()
    model.coef_ = torch.randn(dim, n_outputs, device=model.device_) * 0.01
    model.intercept_ = torch.zeros(n_outputs, device=model.device_)
    feats = _random_rows(rows, dim)
    decision_functions([model], feats[:64])  # untimed warm-up
    _sync(device)
    t0 = time.perf_counter()
    decision_functions([model], feats)
    _sync(device)
    return (time.perf_counter() - t0) / rows


def _job_seconds(job: SvmJob, svm: OvrHingeSgd, threads: int, device: str) -> float:
    seconds = 0.0
    for rows, models, epochs, batch, ladder in train_calls(job, svm):
        per_step = step_seconds(job.dim, job.n_classes, models, batch, threads, device)
        seconds += epochs * epoch_steps(svm, rows, batch) * per_step
        if ladder:  # each group's objective on the sample
            seconds += rows * score_seconds(job.dim, job.n_classes * models, threads, device)
    per_row = score_seconds(job.dim, job.n_classes * job.n_models, threads, device)
    return seconds + job.checkpoints * job.score_rows * per_row


def jobs_seconds(jobs: list[SvmJob], threads: int, device: str = "cpu") -> float:
    """The projected seconds of ``jobs`` on ``device`` (each shape timed once)."""
    svm = OvrHingeSgd()  # the pipelines' block and batch sizes
    return sum(_job_seconds(job, svm, threads, device) for job in jobs)


def job_bytes(job: SvmJob) -> int:
    """Peak bytes of a job's tensors: 16 per weight of the models trained together (the
    step calibration's groups included), the float32 block buffer and its host copy (up
    to 4 bytes a value), the checkpoint scores; before training, the centring sample."""
    svm = OvrHingeSgd()
    models = max(m for _, m, _, _, _ in train_calls(job, svm)) if job.calibrate or job.epochs else 0
    training = 16 * job.dim * job.n_classes * models + 8 * svm.block_rows * job.dim
    training += 8 * job.score_rows * job.n_classes * job.n_models
    return max(training, 4 * min(job.rows, CALIBRATION_ROWS) * job.dim)
