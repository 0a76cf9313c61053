"""The CNN trainer shared by LeNet-5 and AlexNet: builds, resumes, runs the epochs, reports.

The pieces, one idea each:

=================  =====================================================
``config``         :class:`TrainConfig`, the hyper-parameters
``optim``          SGD, weight decay on weights only (:func:`parameter_groups`)
``schedule``       the learning-rate schedules (plateau, step, cosine, ...)
``loop``           :func:`~baselines.cnn.loop.train_epoch` / :func:`~baselines.cnn.loop.evaluate`
``evaluation``     :func:`~baselines.cnn.evaluation.predict_proba`, the curve's top-k errors
``resume``         what a checkpoint holds and when it may be resumed
``distributed``    the rank helper and the DDP collectives
``reproducibility``  the one seed derivation, RNG state, deterministic mode
``batches``        uint8 cache -> device batches without per-image Python
``device``         what differs by device; the speed switches' per-device rule
=================  =====================================================

``Trainer(model_factory, config, ctx, *, train_transform, eval_transform,
optimizer_factory=None, run_name="model", seed=None, wrap_model=None,
on_epoch_end=None, loss_fn=None)``

* ``model_factory() -> nn.Module``  a fresh model on the CPU; called after
  seeding with the run seed, so the initialisation is a function of it.
* ``train_transform(images, generator) -> x``  ``images`` is a uint8 NHWC
  batch on ``ctx.device``; returns float NCHW, drawing randomness only from
  ``generator`` (reseeded every epoch, per rank, see below).
* ``eval_transform(images) -> x``  ``(B, C, H, W)`` or ``(B, n_crops, C, H,
  W)`` (softmax averaged over the crops).
* ``optimizer_factory(params, config)``  defaults to :func:`sgd_optimizer`;
  ``params`` are :func:`parameter_groups` (no decay on biases).
* ``loss_fn(output, labels, label_smoothing) -> (loss, logits)``  defaults
  to :func:`~baselines.cnn.loop.cross_entropy_loss`; a network whose
  train-mode output is not one tensor of logits (GoogLeNet's main and
  auxiliary heads) passes its own (:data:`~baselines.cnn.loop.LossFn`).
* ``fit(train, monitor=None, rows=None) -> nn.Module``  trains
  ``config.epochs`` epochs (or ``config.max_steps`` optimiser steps, if
  fewer: a smoke run; the last epoch may be short and is still evaluated) on ``rows`` of ``train`` (default: every row; a
  method passes ``data.fit``, train without the monitor) and watches
  ``monitor`` (a method passes ``data.monitor``, the held-out slice of
  train): its top-1/top-5 error go into the learning curve every epoch and
  drive the ``plateau`` schedule (the training loss does without a
  monitor). Resumes from ``ctx.work_dir/run_name/last.pt``
  (:mod:`baselines.cnn.resume`). Afterwards ``model_``, ``curve_`` and
  ``summary_`` (:class:`TrainingSummary`: epochs, images seen, whole-fit
  seconds, lr drops, ...) are set; methods report ``summary_`` through
  ``ctx.report_training``.
* ``predict_proba(split, model=None) -> np.ndarray``  ``(N, n_classes)``
  float32 softmax probabilities in row order.

Randomness: the epoch's shuffle, the transform's generator and torch's
global generator (dropout) are reseeded at the start of every epoch from
:func:`~baselines.cnn.reproducibility.derive_seed` ``(seed, stream, epoch,
rank)``: one permutation shared by all ranks, augmentation and dropout
different on every rank, all of it replayed exactly by a resumed run.

Learning-curve rows (``ctx.log_epoch``): ``epoch`` (1-based),
``train_loss``, ``train_top1_err`` (percent, on the augmented batches as
seen), ``monitor_top1_err``/``monitor_top5_err`` (percent on the monitor,
``None`` without one), ``lr`` (at the start of the epoch), ``images_per_s``
(that epoch's training images over its training time, for the curve only:
the run's throughput is :attr:`TrainingSummary.images_per_s`, images over
the whole fit's seconds), ``seconds`` (the whole epoch, evaluation included).

Speed switches, on any device (:mod:`baselines.cnn.device`: ``None`` = the
device's rule): ``amp`` (bf16 autocast; fp16 with a GradScaler on CUDA if
``amp_dtype="float16"``), ``channels_last``, ``compile`` (``torch.compile``,
falling back to eager with a warning and ``ctx.note("compile_fallback")``).
What ran is ``ctx.note("speed_switches")``, in every CNN row. On CPU, ``cpu_threads`` (default ``ctx.n_jobs``) sets torch's
intra-op threads for the duration of ``fit``/``predict_proba``: small
networks run faster on one thread, and OpenMP threads that wait on busy
cores can make a step many times slower.

Deterministic mode (``ctx.deterministic``): see
:func:`baselines.cnn.reproducibility.enable_determinism`.

Data parallel: see :mod:`baselines.cnn.distributed`; ``config.batch_size``
is per process and ``wrap_model`` wraps the model (e.g. ``lambda m:
DistributedDataParallel(m, device_ids=[i])``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines.cnn.batches import shuffled_order
from baselines.cnn.config import TrainConfig
from baselines.cnn.device import (
    autocast,
    configure_backends,
    grad_scaler,
    memory_format,
    speed_switches,
)
from baselines.cnn.distributed import barrier, rank0_value, rank_and_world, rank_rows
from baselines.cnn.evaluation import EvalTransform, predict_proba
from baselines.cnn.loop import (
    LossFn,
    TrainingState,
    TrainTransform,
    cross_entropy_loss,
    evaluate,
    train_epoch,
)
from baselines.cnn.optim import OptimizerFactory, parameter_groups, sgd_optimizer
from baselines.cnn.reproducibility import (
    SeedStream,
    derive_seed,
    enable_determinism,
    seed_everything,
)
from baselines.cnn.resume import (
    CHECKPOINT_FORMAT,
    RunIdentity,
    check_resumable,
    read_checkpoint,
    restore,
    rows_digest,
    save,
)
from baselines.cnn.schedule import LrSchedule
from harness.api import MethodError, RunContext, Split

__all__ = [
    "CHECKPOINT_FORMAT",
    "EvalTransform",
    "OptimizerFactory",
    "TrainConfig",
    "TrainTransform",
    "Trainer",
    "TrainingSummary",
    "parameter_groups",
    "sgd_optimizer",
]


@dataclass(frozen=True)
class TrainingSummary:
    """What one ``fit`` trained, over every epoch (those before a resume included)."""

    epochs: int  # epochs finished
    images_seen: int  # training images processed by all ranks, all epochs
    seconds: float  # wall time of the whole fit: this process plus the killed ones before it
    seconds_before_resume: float  # the part trained by earlier (killed) processes
    resumed_from_epoch: int  # epochs restored from a checkpoint (0: trained from scratch)
    lr_drops: tuple[int, ...]  # 1-based epochs after which the learning rate dropped
    best_epoch: int | None  # epoch of the lowest monitored error
    best_error: float | None  # that error (monitor top-1 %, or training loss)
    n_fit: int  # training rows fitted on
    monitor_use: str | None  # "lr-plateau", "curve", or None without a monitor

    @property
    def images_per_s(self) -> float:
        """Images over the seconds of the whole fit (never a mean of per-epoch rates)."""
        return self.images_seen / max(self.seconds, 1e-9)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op threads, then restore the process's setting."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _images_seen(state: TrainingState) -> int:
    """Training images of the finished epochs (a short last epoch of a step budget counted)."""
    if not state.curve:
        return 0
    return int(state.curve[-1].get("images_seen", state.epoch_images * len(state.curve)))


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, *args: Any, **kwargs: Any) -> None: ...
    def set_description(self, *args: Any, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


class Trainer:
    """Train one model with one config; see the module docstring."""

    def __init__(
        self,
        model_factory: Callable[[], nn.Module],
        config: TrainConfig,
        ctx: RunContext,
        *,
        train_transform: TrainTransform,
        eval_transform: EvalTransform,
        optimizer_factory: OptimizerFactory | None = None,
        run_name: str = "model",
        seed: int | None = None,
        wrap_model: Callable[[nn.Module], nn.Module] | None = None,
        on_epoch_end: Callable[[int], None] | None = None,
        loss_fn: LossFn | None = None,
    ) -> None:
        if not run_name or "/" in run_name or run_name.startswith("."):
            raise ValueError(f"run_name must be a plain folder name, got {run_name!r}")
        self.model_factory = model_factory
        self.config = config
        self.ctx = ctx
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.optimizer_factory = optimizer_factory or sgd_optimizer
        self.run_name = run_name
        self.seed = ctx.seed if seed is None else seed
        self.wrap_model = wrap_model
        self.on_epoch_end = on_epoch_end
        self.loss_fn = loss_fn or cross_entropy_loss
        self.model_: nn.Module | None = None
        self.curve_: list[dict[str, Any]] = []
        self.summary_: TrainingSummary | None = None

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.ctx.work_dir) / self.run_name / "last.pt"

    @property
    def device(self) -> torch.device:
        return torch.device(self.ctx.device)

    def _cpu_threads(self) -> int | None:
        if self.device.type == "cuda":
            return None
        return self.config.cpu_threads or max(1, self.ctx.n_jobs)

    # ------------------------------------------------------------------ fit

    def fit(
        self, train: Split, monitor: Split | None = None, rows: np.ndarray | None = None
    ) -> nn.Module:
        """Train on ``rows`` of ``train`` (default: the context's fit rows); see the module doc."""
        rows = self._fit_rows(train, rows)
        with _torch_threads(self._cpu_threads()):
            return self._fit(train, monitor, rows)

    def _fit_rows(self, train: Split, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            rows = np.arange(len(train), dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise MethodError(f"{self.run_name}: no training rows to fit on in {train.name!r}")
        if rows.min() < 0 or rows.max() >= len(train):
            raise MethodError(
                f"{self.run_name}: fit rows reach row {int(rows.max())} but the training split "
                f"{train.name!r} has {len(train)} rows (a holdout of another split?)"
            )
        return rows

    def _fit(self, train: Split, monitor: Split | None, rows: np.ndarray) -> nn.Module:
        cfg, ctx = self.config, self.ctx
        start = time.perf_counter()
        if ctx.deterministic:
            enable_determinism()
        seed_everything(self.seed)  # the initial weights are a function of the run seed
        state = self._build(len(rows))
        # the identity of the rows trained: rows of the parent split for a row view
        parent = train.parent_rows[rows] if train.parent_rows is not None else rows
        # the config with its speed switches resolved: what the checkpoint holds
        run = RunIdentity(self.run_name, state.config, self.seed, len(rows), rows_digest(parent))
        ckpt = read_checkpoint(self.checkpoint_path, ctx.logger, self.device)
        if ckpt is not None:
            check_resumable(ckpt, self.checkpoint_path, run)
            restore(state, ckpt)
            ctx.logger.info(
                "%s: resuming from %s after epoch %d/%d",
                self.run_name,
                self.checkpoint_path,
                len(state.curve),
                cfg.epochs,
            )
        resumed = len(state.curve)
        if state.curve:  # older curves carry no step count: full epochs of batches
            state.steps = int(state.curve[-1].get("steps", resumed * state.steps_per_epoch))
        if state.rank == 0:
            for row in state.curve:  # the record's curve is complete after a resume
                ctx.log_epoch(**row)

        bar = self._progress_bar((cfg.epochs - resumed) * state.rows_per_rank, state.rank)
        try:
            self._fit_start = start  # cumulative time on the curve (the compute figure)
            for epoch in range(resumed, cfg.epochs):
                if cfg.max_steps is not None and state.steps >= cfg.max_steps:
                    break  # the step budget is spent (a smoke run)
                self._one_epoch(state, train, rows, monitor, epoch, bar)
                if state.rank == 0:
                    elapsed = state.seconds_before + time.perf_counter() - start
                    save(self.checkpoint_path, state, run, elapsed)
                barrier()  # no rank starts the next epoch while the checkpoint is written
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch + 1)
        finally:
            bar.close()

        self.summary_ = TrainingSummary(
            epochs=len(state.curve),
            images_seen=_images_seen(state),
            seconds=state.seconds_before + time.perf_counter() - start,
            seconds_before_resume=state.seconds_before,
            resumed_from_epoch=resumed,
            lr_drops=tuple(state.schedule.drop_epochs),
            best_epoch=state.best_epoch,
            best_error=state.best_error,
            n_fit=len(rows),
            monitor_use=None
            if monitor is None
            else ("lr-plateau" if cfg.lr_schedule == "plateau" else "curve"),
        )
        self.model_ = state.model
        self.curve_ = state.curve
        return state.model

    def _one_epoch(
        self,
        state: TrainingState,
        train: Split,
        rows: np.ndarray,
        monitor: Split | None,
        epoch: int,
        bar: Any,
    ) -> None:
        """Shuffle, train, evaluate the monitor, step the schedule, log the curve row."""
        seed, rank = self.seed, state.rank
        bar.set_description(f"{self.run_name} epoch {epoch + 1}/{self.config.epochs}")
        epoch_start = time.perf_counter()
        lr = state.schedule.lr
        # one permutation for all ranks (rank 0's seed); each rank takes its slice
        order = rows[shuffled_order(len(rows), derive_seed(seed, SeedStream.SHUFFLE, epoch=epoch))]
        mine = rank_rows(order, rank, state.world, state.rows_per_rank)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(derive_seed(seed, SeedStream.AUGMENT, epoch=epoch, rank=rank))
        torch.manual_seed(derive_seed(seed, SeedStream.DROPOUT, epoch=epoch, rank=rank))
        try:
            budget = None if self.config.max_steps is None else self.config.max_steps - state.steps
            result = train_epoch(state, train, mine, self.train_transform, generator, bar, budget)
            state.steps += result.steps
        except MethodError as exc:
            raise MethodError(f"{self.run_name}, epoch {epoch + 1}: {exc}") from None
        top1 = top5 = None
        if monitor is not None:
            top1, top5 = evaluate(state, monitor, self.eval_transform)
        monitored = rank0_value(top1 if top1 is not None else result.loss, self.device)
        if state.best_error is None or monitored < state.best_error:
            state.best_error, state.best_epoch = monitored, epoch + 1
        state.schedule.after_epoch(monitored)
        row = {
            "epoch": epoch + 1,
            "train_loss": result.loss,
            "train_top1_err": result.top1_err,
            "monitor_top1_err": top1,
            "monitor_top5_err": top5,
            "lr": lr,
            "images_per_s": result.images / max(result.seconds, 1e-9),
            "seconds": time.perf_counter() - epoch_start,
            # whole-fit wall time and images so far, epochs before a resume included
            "elapsed_seconds": state.seconds_before + time.perf_counter() - self._fit_start,
            "images_seen": _images_seen(state) + result.images,
            "steps": state.steps,  # optimiser steps so far (the budget of a smoke run)
        }
        state.curve.append(row)
        if rank == 0:
            self.ctx.log_epoch(**row)
            self._log_row(row)

    def _build(self, n_fit: int) -> TrainingState:
        """Model, optimizer, schedule and scaler, freshly initialised from the seed."""
        cfg, device = self.config, self.device
        rank, world = rank_and_world()
        rows_per_rank = math.ceil(n_fit / world)
        full, rest = divmod(rows_per_rank, cfg.batch_size)
        steps_per_epoch = full if cfg.drop_last else full + (rest > 0)
        if steps_per_epoch == 0:
            raise MethodError(
                f"{self.run_name}: {rows_per_rank} training images per process is less than "
                f"one batch of {cfg.batch_size} with drop_last=True"
            )
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        switches = speed_switches(
            device, amp=cfg.amp, channels_last=cfg.channels_last, compile=cfg.compile,
            amp_dtype=cfg.amp_dtype, total_steps=total_steps,
        )  # fmt: skip
        self.switches_ = switches
        self.ctx.note("speed_switches", switches.as_note())
        cfg = dataclasses.replace(
            cfg, amp=switches.amp, channels_last=switches.channels_last, compile=switches.compile
        )
        configure_backends(device, self.ctx.deterministic)
        model = self.model_factory().to(device)
        if switches.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = self.optimizer_factory(parameter_groups(model, cfg), cfg)
        train_model = self.wrap_model(model) if self.wrap_model is not None else model
        images_per_rank = steps_per_epoch * cfg.batch_size if cfg.drop_last else rows_per_rank
        return TrainingState(
            config=cfg,
            device=device,
            model=model,
            train_model=train_model,
            step_model=self._compiled(train_model, switches.compile),
            optimizer=optimizer,
            schedule=LrSchedule(optimizer, cfg, steps_per_epoch),
            scaler=grad_scaler(switches),
            switches=switches,
            rank=rank,
            world=world,
            rows_per_rank=rows_per_rank,
            epoch_images=images_per_rank * world,
            steps_per_epoch=steps_per_epoch,
            on_compile_failure=self._compile_failed,
            loss_fn=self.loss_fn,
        )

    def _compiled(self, model: nn.Module, compile: bool) -> nn.Module:
        if not compile:
            return model
        try:
            return torch.compile(model)  # type: ignore[return-value]
        except Exception as exc:  # compile may be unsupported on this platform
            self.ctx.logger.warning(
                "%s: torch.compile unavailable (%s); eager mode", self.run_name, exc
            )
            self._note_fallback(exc)
            return model

    def _compile_failed(self, exc: Exception) -> None:
        self.ctx.logger.warning(
            "%s: torch.compile failed (%s); continuing in eager mode", self.run_name, exc
        )
        self._note_fallback(exc)

    def _note_fallback(self, exc: Exception) -> None:
        """The row says compile was asked for but eager mode ran."""
        self.ctx.note("compile_fallback", f"{type(exc).__name__}: {exc}"[:300])
        ran = dict(self.ctx.notes.get("speed_switches") or {})
        self.ctx.notes["speed_switches"] = {**ran, "compile": "fallback to eager"}

    def _log_row(self, row: dict[str, Any]) -> None:
        top1, top5 = row["monitor_top1_err"], row["monitor_top5_err"]
        self.ctx.logger.info(
            "%s epoch %d/%d: loss %.4f, train top-1 err %.2f%%, monitor top-1/top-5 err %s, "
            "lr %.3g, %.0f img/s",
            self.run_name,
            row["epoch"],
            self.config.epochs,
            row["train_loss"],
            row["train_top1_err"],
            "n/a" if top1 is None else f"{top1:.2f}%/{top5:.2f}%",
            row["lr"],
            row["images_per_s"],
        )

    def _progress_bar(self, total_images: int, rank: int) -> Any:
        if self.ctx.quiet or rank != 0:
            return _NoBar()
        bar = self.ctx.progress(total=total_images, unit="img", unit_scale=True)
        return bar if bar is not None else _NoBar()

    # -------------------------------------------------------------- predict

    def predict_proba(self, split: Split, model: nn.Module | None = None) -> np.ndarray:
        """``(N, n_classes)`` float32 softmax scores of ``split`` (crops averaged)."""
        model = model if model is not None else self.model_
        if model is None:
            raise RuntimeError(f"{self.run_name}: predict_proba before fit")
        cfg, device = self.config, next(model.parameters()).device
        switches = getattr(self, "switches_", None) or speed_switches(
            device, amp=cfg.amp, channels_last=cfg.channels_last, compile=False,
            amp_dtype=cfg.amp_dtype,
        )  # fmt: skip
        with _torch_threads(self._cpu_threads()):
            return predict_proba(
                model,
                split,
                self.eval_transform,
                batch_size=cfg.eval_batch_size,
                prefetch=cfg.prefetch_batches,
                autocast=autocast(switches, device),
                prepare=memory_format(switches),
            )
