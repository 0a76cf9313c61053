"""The CNN training loop shared by LeNet-5 and AlexNet.

Public interface
----------------
``TrainConfig``  a frozen dataclass of hyper-parameters (one comment each).
``Trainer(model_factory, config, ctx, *, train_transform, eval_transform,
optimizer_factory=None, run_name="model", seed=None, wrap_model=None,
on_epoch_end=None)``

* ``model_factory() -> nn.Module``  builds a fresh model on the CPU; called
  after seeding, so the initialisation is a function of the seed.
* ``train_transform(images, generator) -> x``  ``images`` is a uint8 NHWC
  batch already on ``ctx.device``; returns float NCHW. Augmentation and
  normalisation happen here, on the device, drawing randomness only from
  ``generator`` (a ``torch.Generator`` on that device, reseeded every epoch
  from ``(seed, epoch)``).
* ``eval_transform(images) -> x``  same input; returns ``(B, C, H, W)`` or
  ``(B, n_crops, C, H, W)``. With crops the softmax is averaged over them.
* ``optimizer_factory(params, config)``  defaults to :func:`sgd_optimizer`.
* ``fit(train, monitor=None) -> nn.Module``  trains ``config.epochs`` epochs
  and returns the (unwrapped, uncompiled) model. ``monitor`` defaults to
  ``ctx.monitor``; when given, its top-1/top-5 error go into the learning
  curve every epoch and drive the ``plateau`` schedule (otherwise the
  training loss does). Resumes from ``ctx.work_dir/run_name/last.pt``.
* ``predict_proba(split, model=None) -> np.ndarray``  ``(N, n_classes)``
  float32 softmax probabilities in row order.

Data path: ``split.images`` (the uint8 memory-mapped cache) -> one NumPy
gather per batch in a background thread (pinned memory on CUDA) ->
``non_blocking`` copy to the device -> the transforms. The shuffle is a
``torch.randperm`` seeded from ``(seed, epoch)``; no per-image Python runs.

Checkpoints: after every epoch, ``last.pt`` is replaced atomically
(:mod:`baselines.cnn.checkpoint`). It holds the model, optimizer, schedule,
AMP scaler, the number of finished epochs, every global RNG state (Python,
NumPy, torch, CUDA; :mod:`baselines.cnn.reproducibility`), the best monitored
error and its epoch, and the learning curve so far. The shuffle and
augmentation generators are reseeded from ``(seed, epoch)`` at the start of
each epoch, so their state is a function of the saved epoch number. A run
killed at any point resumes at the first unfinished epoch, replays the saved
curve rows into ``ctx.log_epoch`` and, in deterministic mode, ends with the
same weights and predictions as an uninterrupted run; ``ctx.notes`` get
``<run_name>_train_images_per_s`` and ``<run_name>_train_seconds_all_epochs``
over all epochs, those before the kill included. A checkpoint written
with a different config raises :class:`~harness.api.MethodError` rather than
mixing two runs; an unreadable one is set aside and training restarts.
Everything is loaded with ``torch.load(weights_only=True)``.

Learning curve rows (``ctx.log_epoch``): ``epoch`` (1-based), ``train_loss``,
``train_top1_err`` (percent, on the augmented training batches as seen),
``val_top1_err``/``val_top5_err`` (percent on ``monitor``, ``None`` without
one), ``lr`` (at the start of the epoch), ``images_per_s`` (training images
only), ``seconds`` (the whole epoch, evaluation included).

Speed switches, CUDA only: ``amp`` (bf16 autocast; fp16 with a GradScaler if
``amp_dtype="float16"``), ``channels_last``; ``compile`` (``torch.compile``,
falling back to eager with a warning if compilation fails) on any device.
On CPU, ``cpu_threads`` (default ``ctx.n_jobs``) sets torch's intra-op
threads for the duration of ``fit``/``predict_proba``: small networks run
faster on one thread, and OpenMP threads that wait on busy cores can make a
step many times slower.

Deterministic mode (``ctx.deterministic``): see
:func:`baselines.cnn.reproducibility.enable_determinism` for what it switches
and its cost (none on CPU; typically 10-30 % throughput on CUDA).

Data parallel (DDP): when ``torch.distributed`` is initialised, every rank
draws the same permutation and takes every ``world_size``-th index
(``config.batch_size`` is per process), ``wrap_model`` is applied to the
model (e.g. ``lambda m: DistributedDataParallel(m, device_ids=[i])``), the
epoch's loss/accuracy are summed over ranks, only rank 0 logs and writes
checkpoints, and every rank evaluates the whole monitor split (rank 0's
error is broadcast to drive every rank's schedule). The caller
(``torchrun`` entry point) initialises the process group and sets the device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.cnn.batches import BatchStream, shuffled_order
from baselines.cnn.checkpoint import (
    CorruptCheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    set_aside_corrupt,
)
from baselines.cnn.reproducibility import (
    capture_rng_state,
    enable_determinism,
    restore_rng_state,
    seed_everything,
)
from baselines.cnn.schedule import LR_SCHEDULES, LrSchedule
from harness.api import MethodError, RunContext, Split

__all__ = [
    "EvalTransform",
    "OptimizerFactory",
    "TrainConfig",
    "TrainTransform",
    "Trainer",
    "sgd_optimizer",
]

CHECKPOINT_FORMAT = 1

TrainTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
EvalTransform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (see the module docstring)."""

    epochs: int  # full passes over the training split
    batch_size: int  # images per SGD step (per process under DDP)
    lr: float  # initial learning rate (the peak for "onecycle")
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 0.0  # L2 coefficient, added by SGD to every parameter's gradient
    nesterov: bool = False  # Nesterov momentum (not in the 1998/2012 recipes)
    lr_schedule: str = "constant"  # "constant" | "step" | "plateau" | "onecycle"
    lr_milestones: tuple[int, ...] = ()  # "step": epochs after which lr *= lr_drop_factor
    lr_drop_factor: float = 0.1  # "step"/"plateau": multiplier at each drop
    plateau_patience: int = 2  # "plateau": epochs without improvement before a drop
    plateau_threshold: float = 0.0  # "plateau": error decrease (percent points) that counts
    max_lr_drops: int = 3  # "plateau": at most this many drops (AlexNet: three)
    onecycle_pct_start: float = 0.25  # "onecycle": fraction of steps spent warming up
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0 = none, as in 1998/2012)
    grad_clip_norm: float | None = None  # clip the global gradient norm (None = never)
    drop_last: bool = False  # drop the last incomplete training batch of each epoch
    amp: bool = True  # autocast on CUDA only; CPU always runs fp32
    amp_dtype: str = "bfloat16"  # "bfloat16" | "float16" (float16 adds a GradScaler)
    channels_last: bool = True  # NHWC memory format on CUDA only
    compile: bool = False  # torch.compile the training model, eager fallback on failure
    eval_batch_size: int = 256  # images per forward pass in predict_proba
    prefetch_batches: int = 2  # batches gathered ahead by the loader thread
    cpu_threads: int | None = None  # torch intra-op threads on CPU (None: ctx.n_jobs)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            problems.append(f"cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        if self.eval_batch_size < 1:
            problems.append(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(
                f"lr_schedule {self.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}"
            )
        if self.lr_schedule == "step" and not self.lr_milestones:
            problems.append("lr_schedule 'step' needs lr_milestones (epochs at which to drop)")
        if self.amp_dtype not in ("bfloat16", "float16"):
            problems.append(f"amp_dtype must be 'bfloat16' or 'float16', got {self.amp_dtype!r}")
        if not 0 < self.lr_drop_factor < 1:
            problems.append(f"lr_drop_factor must be in (0, 1), got {self.lr_drop_factor}")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))
        # tuples survive weights_only checkpoints and compare equal after a reload
        object.__setattr__(self, "lr_milestones", tuple(int(m) for m in self.lr_milestones))


OptimizerFactory = Callable[[Iterable[nn.Parameter], TrainConfig], torch.optim.Optimizer]

# fields that change speed or memory but not the trained weights' recipe
_RESUME_INSENSITIVE = frozenset({"eval_batch_size", "prefetch_batches", "compile", "cpu_threads"})


def sgd_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with the config's momentum, weight decay and Nesterov flag."""
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )


def _derived_seed(seed: int, epoch: int, stream: int) -> int:
    """Independent seeds per (run seed, epoch, stream): seed+epoch would collide across seeds."""
    return int(
        np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0] >> 1
    )


def _distributed_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _curve_topk_error(proba: np.ndarray, labels: np.ndarray, k: int) -> float:
    from harness.protocol import topk_error  # the one definition of the metric

    return float(topk_error(proba, labels, min(k, proba.shape[1])))


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


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, *args: Any, **kwargs: Any) -> None: ...
    def set_description(self, *args: Any, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


@dataclass
class _TrainingState:
    """Everything one ``fit`` call updates, passed between its steps."""

    model: nn.Module  # the bare model: what is saved, evaluated and returned
    train_model: nn.Module  # the model as trained (wrapped for DDP, if asked)
    step_model: nn.Module  # train_model, compiled when asked and compilable
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler | None
    rank: int
    world: int
    rows_per_rank: int  # training rows each process visits per epoch (padded under DDP)
    epoch_images: int  # training images per epoch over all processes
    best_error: float | None = None  # best monitored error so far, and its 1-based epoch
    best_epoch: int | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch


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
        self.model_: nn.Module | None = None
        self.curve_: list[dict[str, Any]] = []

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.ctx.work_dir) / self.run_name / "last.pt"

    @property
    def device(self) -> torch.device:
        return torch.device(self.ctx.device)

    def _uses_cuda(self) -> bool:
        return self.device.type == "cuda"

    def _autocast(self) -> torch.autocast:
        dtype = torch.bfloat16 if self.config.amp_dtype == "bfloat16" else torch.float16
        return torch.autocast(
            device_type=self.device.type, dtype=dtype, enabled=self.config.amp and self._uses_cuda()
        )

    def _to_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        if self._uses_cuda() and self.config.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # ------------------------------------------------------------------ fit

    def _cpu_threads(self) -> int | None:
        if self._uses_cuda():
            return None
        return self.config.cpu_threads or max(1, self.ctx.n_jobs)

    def fit(self, train: Split, monitor: Split | None = None) -> nn.Module:
        with _torch_threads(self._cpu_threads()):
            return self._fit(train, monitor)

    def _fit(self, train: Split, monitor: Split | None) -> nn.Module:
        cfg, ctx = self.config, self.ctx
        monitor = monitor if monitor is not None else ctx.monitor
        if len(train) == 0:
            raise MethodError(f"{self.run_name}: the training split {train.name!r} is empty")
        if ctx.deterministic:
            enable_determinism()
        seed_everything(self.seed)
        state = self._build(train)
        self._resume(state, train)
        ctx.notes[f"{self.run_name}_resumed_from_epoch"] = len(state.curve)
        # Epochs trained by an earlier (killed) process: the runner adds their time to
        # this process's, so a resumed run records the whole training time.
        ctx.notes["train_seconds_before_resume"] = ctx.notes.get(
            "train_seconds_before_resume", 0.0
        ) + sum(row["seconds"] for row in state.curve)
        if state.rank == 0:
            for row in state.curve:
                ctx.log_epoch(**row)

        bar = self._progress_bar((cfg.epochs - len(state.curve)) * state.rows_per_rank, state.rank)
        try:
            for epoch in range(len(state.curve), cfg.epochs):
                bar.set_description(f"{self.run_name} epoch {epoch + 1}/{cfg.epochs}")
                epoch_start = time.perf_counter()
                lr = state.schedule.lr
                train_loss, train_top1_err, images_per_s = self._train_epoch(
                    state, train, epoch, bar
                )
                val_top1 = val_top5 = None
                if monitor is not None:
                    proba = self.predict_proba(monitor, state.model)
                    val_top1 = _curve_topk_error(proba, monitor.labels, 1)
                    val_top5 = _curve_topk_error(proba, monitor.labels, 5)
                monitored = self._agreed(val_top1 if val_top1 is not None else train_loss, state)
                if state.best_error is None or monitored < state.best_error:
                    state.best_error, state.best_epoch = monitored, epoch + 1
                state.schedule.after_epoch(monitored)
                row = {
                    "epoch": epoch + 1,
                    "train_loss": train_loss,
                    "train_top1_err": train_top1_err,
                    "val_top1_err": val_top1,
                    "val_top5_err": val_top5,
                    "lr": lr,
                    "images_per_s": images_per_s,
                    "seconds": time.perf_counter() - epoch_start,
                }
                state.curve.append(row)
                if state.rank == 0:
                    ctx.log_epoch(**row)
                    self._log_row(row, val_top1, val_top5)
                    self._save(state, train)
                if state.world > 1:
                    torch.distributed.barrier()
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch + 1)
        finally:
            bar.close()

        self._note_timings(state)
        self.model_ = state.model
        self.curve_ = state.curve
        return state.model

    def _build(self, train: Split) -> _TrainingState:
        """Model, optimizer, schedule and scaler, freshly initialised from the seed."""
        cfg = self.config
        rank, world = _distributed_rank_world()
        model = self.model_factory().to(self.device)
        if self._uses_cuda() and cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = self.optimizer_factory(model.parameters(), cfg)
        rows_per_rank = math.ceil(len(train) / world)
        steps_per_epoch = (
            rows_per_rank // cfg.batch_size
            if cfg.drop_last
            else math.ceil(rows_per_rank / cfg.batch_size)
        )
        if steps_per_epoch == 0:
            raise MethodError(
                f"{self.run_name}: {rows_per_rank} training images per process is less than "
                f"one batch of {cfg.batch_size} with drop_last=True"
            )
        scaler = (
            torch.amp.GradScaler("cuda")
            if self._uses_cuda() and cfg.amp and cfg.amp_dtype == "float16"
            else None
        )
        train_model = self.wrap_model(model) if self.wrap_model is not None else model
        return _TrainingState(
            model=model,
            train_model=train_model,
            step_model=self._compiled(train_model),
            optimizer=optimizer,
            schedule=LrSchedule(optimizer, cfg, steps_per_epoch),
            scaler=scaler,
            rank=rank,
            world=world,
            rows_per_rank=rows_per_rank,
            epoch_images=(steps_per_epoch * cfg.batch_size if cfg.drop_last else rows_per_rank)
            * world,
        )

    def _resume(self, state: _TrainingState, train: Split) -> None:
        """Load the last checkpoint, if any, into ``state`` (and the global RNGs)."""
        ckpt = self._read_checkpoint()
        if ckpt is None:
            return
        self._check_resumable(ckpt, train)
        state.model.load_state_dict(ckpt["model"])
        state.optimizer.load_state_dict(ckpt["optimizer"])
        state.schedule.load_state_dict(ckpt["schedule"])
        if state.scaler is not None and ckpt["scaler"]:
            state.scaler.load_state_dict(ckpt["scaler"])
        state.best_error, state.best_epoch = ckpt["best_error"], ckpt["best_epoch"]
        state.curve = [dict(row) for row in ckpt["curve"]]
        if len(state.curve) != int(ckpt["epoch"]):
            raise MethodError(
                f"checkpoint {self.checkpoint_path} is inconsistent: epoch {ckpt['epoch']} "
                f"but {len(state.curve)} learning-curve rows; delete it to train from scratch"
            )
        restore_rng_state(ckpt["rng"])
        self.ctx.logger.info(
            "%s: resuming from %s after epoch %d/%d",
            self.run_name,
            self.checkpoint_path,
            len(state.curve),
            self.config.epochs,
        )

    def _train_epoch(
        self, state: _TrainingState, train: Split, epoch: int, bar: Any
    ) -> tuple[float, float, float]:
        """One pass over ``train``: (mean loss, top-1 error %, training images/s), all ranks summed."""
        cfg = self.config
        epoch_start = time.perf_counter()
        state.model.train()
        order = shuffled_order(len(train), _derived_seed(self.seed, epoch, 0))
        if state.world > 1:
            # every rank draws the same permutation; pad so all ranks take equal steps
            order = np.resize(order, state.rows_per_rank * state.world)[state.rank :: state.world]
        generator = torch.Generator(device=self.device)
        generator.manual_seed(_derived_seed(self.seed, epoch, 1))
        stream = BatchStream(
            train.images,
            train.labels,
            order,
            cfg.batch_size,
            self.device,
            drop_last=cfg.drop_last,
            prefetch=cfg.prefetch_batches,
        )
        # running sums stay on the device: no host sync per step
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        for step, (images, labels) in enumerate(stream):
            x = self._to_memory_format(self.train_transform(images, generator))
            loss, logits = self._train_step_or_fall_back(state, x, labels)
            state.schedule.after_batch()
            n = len(labels)
            loss_sum += loss.double() * n
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += n
            bar.update(n)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{state.schedule.lr:.2g}")
        if self._uses_cuda():
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - epoch_start
        totals = torch.stack(
            [
                loss_sum,
                correct.double(),
                torch.tensor(float(seen), dtype=torch.float64, device=self.device),
            ]
        )
        if state.world > 1:
            torch.distributed.all_reduce(totals)
        loss_total, correct_total, seen_total = (float(v) for v in totals.tolist())
        train_loss = loss_total / seen_total
        if not math.isfinite(train_loss):
            raise MethodError(
                f"{self.run_name}: training loss became {train_loss} in epoch {epoch + 1} "
                f"(lr {state.schedule.lr:g}); lower the learning rate"
            )
        return train_loss, 100.0 * (1.0 - correct_total / seen_total), seen_total / seconds

    def _train_step_or_fall_back(
        self, state: _TrainingState, x: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A training step; if the compiled model fails, warn and redo it in eager mode."""
        try:
            return self._train_step(state.step_model, state.optimizer, state.scaler, x, labels)
        except Exception as exc:
            if state.step_model is state.train_model:
                raise
            self.ctx.logger.warning(
                "%s: torch.compile failed (%s); continuing in eager mode", self.run_name, exc
            )
            self.ctx.notes["compile_fallback"] = f"{type(exc).__name__}: {exc}"[:300]
            state.step_model = state.train_model
            return self._train_step(state.step_model, state.optimizer, state.scaler, x, labels)

    def _agreed(self, value: float, state: _TrainingState) -> float:
        """Rank 0's value on every rank, so no rank's schedule can drift."""
        if state.world == 1:
            return value
        shared = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(shared, src=0)
        return float(shared.item())

    def _log_row(self, row: dict[str, Any], val_top1: float | None, val_top5: float | None) -> None:
        self.ctx.logger.info(
            "%s epoch %d/%d: loss %.4f, train top-1 err %.2f%%, val top-1/top-5 err %s, "
            "lr %.3g, %.0f img/s",
            self.run_name,
            row["epoch"],
            self.config.epochs,
            row["train_loss"],
            row["train_top1_err"],
            "n/a" if val_top1 is None else f"{val_top1:.2f}%/{val_top5:.2f}%",
            row["lr"],
            row["images_per_s"],
        )

    def _save(self, state: _TrainingState, train: Split) -> None:
        save_checkpoint(
            {
                "format": CHECKPOINT_FORMAT,
                "run_name": self.run_name,
                "config": dataclasses.asdict(self.config),
                "seed": self.seed,
                "n_train": len(train),
                "epoch": len(state.curve),
                "model": state.model.state_dict(),
                "optimizer": state.optimizer.state_dict(),
                "schedule": state.schedule.state_dict(),
                "scaler": state.scaler.state_dict() if state.scaler is not None else {},
                "rng": capture_rng_state(),
                "best_error": state.best_error,
                "best_epoch": state.best_epoch,
                "curve": state.curve,
            },
            self.checkpoint_path,
        )

    def _note_timings(self, state: _TrainingState) -> None:
        """Throughput and time over all epochs, those trained before a resume included."""
        notes, curve = self.ctx.notes, state.curve
        train_seconds = sum(state.epoch_images / row["images_per_s"] for row in curve)
        notes[f"{self.run_name}_train_images_per_s"] = (
            state.epoch_images * len(curve) / max(train_seconds, 1e-9)
        )
        notes[f"{self.run_name}_train_seconds_all_epochs"] = train_seconds
        notes[f"{self.run_name}_seconds_all_epochs"] = sum(row["seconds"] for row in curve)
        notes[f"{self.run_name}_best_epoch"] = state.best_epoch
        notes[f"{self.run_name}_lr_drops"] = (
            state.schedule.n_drops if state.schedule.kind == "plateau" else None
        )

    def _train_step(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        x: torch.Tensor,
        labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        with self._autocast():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
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

    def _compiled(self, model: nn.Module) -> nn.Module:
        if not self.config.compile:
            return model
        try:
            return torch.compile(model)  # type: ignore[return-value]
        except Exception as exc:  # compile may be unsupported on this platform
            self.ctx.logger.warning(
                "%s: torch.compile unavailable (%s); eager mode", self.run_name, exc
            )
            self.ctx.notes["compile_fallback"] = f"{type(exc).__name__}: {exc}"[:300]
            return model

    def _progress_bar(self, total_images: int, rank: int) -> Any:
        if self.ctx.quiet or rank != 0:
            return _NoBar()
        bar = self.ctx.progress(total=total_images, unit="img", unit_scale=True)
        return bar if bar is not None else _NoBar()

    def _read_checkpoint(self) -> dict[str, Any] | None:
        path = self.checkpoint_path
        if path.parent.exists():
            remove_stale_temporaries(path)
        if not path.exists():
            return None
        try:
            return load_checkpoint(path)
        except CorruptCheckpointError as exc:
            aside = set_aside_corrupt(path)
            self.ctx.logger.warning("%s; moved to %s, training from scratch", exc, aside)
            return None

    def _check_resumable(self, ckpt: dict[str, Any], train: Split) -> None:
        path = self.checkpoint_path
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise MethodError(
                f"checkpoint {path} has format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT}; "
                "delete it to train from scratch"
            )
        saved, now = ckpt["config"], dataclasses.asdict(self.config)
        differences = [
            f"{key}: checkpoint {saved.get(key)!r}, now {now[key]!r}"
            for key in now
            if key not in _RESUME_INSENSITIVE and saved.get(key) != now[key]
        ]
        if ckpt["n_train"] != len(train):
            differences.append(f"n_train: checkpoint {ckpt['n_train']}, now {len(train)}")
        if ckpt["seed"] != self.seed:
            differences.append(f"seed: checkpoint {ckpt['seed']}, now {self.seed}")
        if differences:
            raise MethodError(
                f"checkpoint {path} belongs to a different run ({'; '.join(differences)}); "
                "delete it or use another work_dir to train from scratch"
            )

    # -------------------------------------------------------------- predict

    def predict_proba(self, split: Split, model: nn.Module | None = None) -> np.ndarray:
        with _torch_threads(self._cpu_threads()):
            return self._predict_proba(split, model)

    def _predict_proba(self, split: Split, model: nn.Module | None) -> np.ndarray:
        model = model if model is not None else self.model_
        if model is None:
            raise RuntimeError(f"{self.run_name}: predict_proba before fit")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        parts: list[torch.Tensor] = []
        stream = BatchStream(
            split.images,
            split.labels,
            np.arange(len(split)),
            self.config.eval_batch_size,
            device,
            prefetch=self.config.prefetch_batches,
        )
        try:
            with torch.inference_mode(), self._autocast():
                for images, _ in stream:
                    x = self.eval_transform(images)
                    n_crops = x.shape[1] if x.ndim == 5 else 0
                    if n_crops:
                        x = x.flatten(0, 1)
                    proba = torch.softmax(model(self._to_memory_format(x)).float(), dim=1)
                    if n_crops:
                        proba = proba.view(-1, n_crops, proba.shape[1]).mean(dim=1)
                    parts.append(proba.cpu())
        finally:
            model.train(was_training)
        if not parts:
            return np.zeros((0, split.n_classes), dtype=np.float32)
        return torch.cat(parts).numpy().astype(np.float32, copy=False)
