"""One training epoch and one evaluation of the monitor, top to bottom (after pycls).

:func:`train_epoch` is the whole of SGD: gather a batch of uint8 images from
the cache, augment it on the device, forward (autocast when switched on), cross
entropy, backward, optimiser step, per-batch schedule step; the running loss
and accuracy stay on the device (no host sync per step) and are summed over
ranks at the end. :func:`evaluate` is the monitor's top-1/top-5 error for the
learning curve and the plateau rule. Everything one ``fit`` call updates is
in :class:`TrainingState`; the trainer (:mod:`baselines.cnn.trainer`) builds
it, the checkpoint (:mod:`baselines.cnn.resume`) saves and restores it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.cnn.batches import BatchStream
from baselines.cnn.config import TrainConfig
from baselines.cnn.device import SpeedSwitches, autocast, memory_format, synchronize
from baselines.cnn.distributed import sum_over_ranks
from baselines.cnn.evaluation import EvalTransform, curve_errors, predict_proba
from baselines.cnn.schedule import LrSchedule
from harness.api import MethodError, Split

__all__ = [
    "EpochResult",
    "TrainTransform",
    "LossFn",
    "TrainingState",
    "cross_entropy_loss",
    "evaluate",
    "train_epoch",
    "train_step",
]

#: ``(uint8 NHWC batch on the device, generator) -> float NCHW``; all randomness from ``generator``
TrainTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

#: ``(model output in train mode, labels, label_smoothing) -> (loss, logits)``: how a
#: network's training output becomes the loss; ``logits`` (the main head's) feed the
#: running training error. A network with auxiliary heads (GoogLeNet) returns a tuple in
#: train mode and passes its own; eval-mode outputs are always plain logits.
LossFn = Callable[[Any, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]


def cross_entropy_loss(
    output: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The default :data:`LossFn`: softmax cross-entropy on one head of logits (fp32)."""
    return F.cross_entropy(output.float(), labels, label_smoothing=label_smoothing), output


@dataclass
class TrainingState:
    """Everything one ``fit`` call updates, passed between its steps."""

    config: TrainConfig
    device: torch.device
    model: nn.Module  # the bare model: what is saved, evaluated and returned
    train_model: nn.Module  # the model as trained (wrapped for DDP, if asked)
    step_model: nn.Module  # train_model, compiled when asked and compilable
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler | None
    switches: SpeedSwitches  # autocast, channels-last, compile: as resolved for the device
    rank: int
    world: int
    rows_per_rank: int  # fit rows each process visits per epoch (padded under DDP)
    epoch_images: int  # training images per epoch over all processes
    steps_per_epoch: int  # optimiser steps of a full epoch
    on_compile_failure: Callable[[Exception], None]  # told once when the compiled model fails
    best_error: float | None = None  # best monitored error so far, and its 1-based epoch
    best_epoch: int | None = None
    seconds_before: float = 0.0  # training wall time of the epochs a killed process trained
    steps: int = 0  # optimiser steps taken so far (those before a resume included)
    curve: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch
    loss_fn: LossFn = cross_entropy_loss  # training output -> (loss, main logits)


@dataclass(frozen=True)
class EpochResult:
    """One epoch's training statistics, summed over all ranks."""

    loss: float  # mean cross-entropy over the epoch's training images
    top1_err: float  # percent, on the augmented batches as seen
    images: int  # training images processed by all ranks
    seconds: float  # training wall time of the epoch (no evaluation)
    steps: int = 0  # optimiser steps this epoch took


def train_epoch(
    state: TrainingState,
    train: Split,
    rows: np.ndarray,
    transform: TrainTransform,
    generator: torch.Generator,
    bar: Any,
    max_batches: int | None = None,
) -> EpochResult:
    """One pass over ``rows`` of ``train`` (this rank's, in SGD order).

    ``max_batches`` ends the pass early (the step budget of a smoke run).
    """
    cfg, device = state.config, state.device
    start = time.perf_counter()
    state.model.train()
    prepare = memory_format(state.switches)
    stream = BatchStream(
        train.images,
        train.labels,
        rows,
        cfg.batch_size,
        device,
        drop_last=cfg.drop_last,
        prefetch=cfg.prefetch_batches,
    )
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    steps = 0
    for step, (images, labels) in enumerate(stream):
        if max_batches is not None and step >= max_batches:
            break
        x = prepare(transform(images, generator))
        loss, logits = _step_or_fall_back(state, x, labels)
        state.schedule.after_batch()
        loss_sum += loss.double() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += len(labels)
        steps += 1
        bar.update(len(labels))
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{state.schedule.lr:.2g}")
    synchronize(device)
    seconds = time.perf_counter() - start
    seen_t = torch.tensor(float(seen), dtype=torch.float64, device=device)
    totals = sum_over_ranks(torch.stack([loss_sum, correct.double(), seen_t]))
    loss_total, correct_total, seen_total = (float(v) for v in totals.tolist())
    mean_loss = loss_total / seen_total
    if not math.isfinite(mean_loss):
        raise MethodError(
            f"training loss became {mean_loss} (lr {state.schedule.lr:g}); lower the learning rate"
        )
    return EpochResult(
        loss=mean_loss,
        top1_err=100.0 * (1.0 - correct_total / seen_total),
        images=int(seen_total),
        seconds=seconds,
        steps=steps,
    )


def train_step(
    state: TrainingState, model: nn.Module, x: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, loss, backward, (clip,) step: the detached loss and logits."""
    cfg, optimizer, scaler = state.config, state.optimizer, state.scaler
    with autocast(state.switches, state.device):
        output = model(x)
    loss, logits = state.loss_fn(output, labels, cfg.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if cfg.grad_clip_norm is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if cfg.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        optimizer.step()
    return loss.detach(), logits.detach()


def _step_or_fall_back(
    state: TrainingState, x: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training step; if the compiled model fails, say so once and redo it in eager mode."""
    try:
        return train_step(state, state.step_model, x, labels)
    except Exception as exc:
        if state.step_model is state.train_model:
            raise
        state.on_compile_failure(exc)
        state.step_model = state.train_model
        return train_step(state, state.step_model, x, labels)


def evaluate(
    state: TrainingState, monitor: Split, eval_transform: EvalTransform
) -> tuple[float, float]:
    """The monitor's (top-1, top-5) error in percent, for the curve and the plateau rule."""
    cfg = state.config
    proba = predict_proba(
        state.model,
        monitor,
        eval_transform,
        batch_size=cfg.eval_batch_size,
        prefetch=cfg.prefetch_batches,
        autocast=autocast(state.switches, state.device),
        prepare=memory_format(state.switches),
    )
    return curve_errors(proba, monitor.labels)
