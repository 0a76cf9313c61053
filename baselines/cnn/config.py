"""The hyper-parameters of one CNN training run, as a frozen, validated dataclass.

Everything the trained weights depend on lives here (and is compared when a
checkpoint is resumed, :mod:`baselines.cnn.resume`); the few fields that only
change speed or memory are listed in :data:`RESUME_INSENSITIVE`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LR_SCHEDULES", "RESUME_INSENSITIVE", "TrainConfig", "smoke_tag"]

#: "constant"; "step" (lr *= lr_drop_factor after the epochs in lr_milestones);
#: "plateau" (AlexNet's rule, on the monitor); "cosine" (per batch, to 0 at the end);
#: "onecycle" (per batch; a modern recipe, for comparisons only)
LR_SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (units in the comments)."""

    epochs: int  # full passes over the fit rows of the training split
    batch_size: int  # images per SGD step (per process under DDP)
    lr: float  # initial learning rate (the peak for "onecycle")
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 0.0  # L2 coefficient, added by SGD to the gradient of every weight
    bias_decay: bool = False  # decay biases too (cuda-convnet and Caffe's bvlc_alexnet do not)
    nesterov: bool = False  # Nesterov momentum (not in the 1998/2012 recipes)
    lr_schedule: str = "constant"  # one of LR_SCHEDULES
    lr_milestones: tuple[int, ...] = ()  # "step": epochs after which lr *= lr_drop_factor
    lr_drop_factor: float = 0.1  # "step"/"plateau": multiplier at each drop
    plateau_patience: int = (
        2  # "plateau": the lr drops after this many epochs in a row without improvement
    )
    plateau_threshold: float = 0.0  # "plateau": error decrease (percent points) that counts
    max_lr_drops: int = 3  # "plateau": at most this many drops (AlexNet: three)
    onecycle_pct_start: float = 0.25  # "onecycle": fraction of steps spent warming up
    warmup_epochs: float = 0.0  # "cosine": linear warm-up over these epochs, then cosine to 0
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0 = none, as in 1998/2012)
    grad_clip_norm: float | None = None  # clip the global gradient norm (None = never)
    drop_last: bool = False  # drop the last incomplete training batch of each epoch
    amp: bool | None = None  # autocast; None: the device's rule (baselines.cnn.device)
    amp_dtype: str = "bfloat16"  # "bfloat16" | "float16" (float16 on CUDA adds a GradScaler)
    channels_last: bool | None = None  # NHWC memory format; None: the device's rule
    compile: bool | None = None  # torch.compile, eager fallback on failure; None: device rule
    eval_batch_size: int = 256  # images per forward pass in predict_proba
    prefetch_batches: int = 2  # batches gathered ahead by the loader thread
    cpu_threads: int | None = None  # torch intra-op threads on CPU (None: ctx.n_jobs)
    max_steps: int | None = None  # stop after this many optimiser steps (a smoke run; None: all)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            problems.append(f"cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 or None, got {self.max_steps}")
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
        if self.plateau_patience < 1:
            problems.append(f"plateau_patience must be >= 1, got {self.plateau_patience}")
        if self.amp_dtype not in ("bfloat16", "float16"):
            problems.append(f"amp_dtype must be 'bfloat16' or 'float16', got {self.amp_dtype!r}")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            problems.append(
                f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs} for {self.epochs}"
            )
        if self.warmup_epochs and self.lr_schedule != "cosine":
            problems.append("warmup_epochs needs lr_schedule 'cosine'")
        if not 0 < self.lr_drop_factor < 1:
            problems.append(f"lr_drop_factor must be in (0, 1), got {self.lr_drop_factor}")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))
        # tuples survive weights_only checkpoints and compare equal after a reload
        object.__setattr__(self, "lr_milestones", tuple(int(m) for m in self.lr_milestones))


#: fields that change speed or memory but not the trained weights' recipe
RESUME_INSENSITIVE = frozenset(
    {"eval_batch_size", "prefetch_batches", "compile", "cpu_threads", "channels_last"}
)


def smoke_tag(max_steps: int | None) -> list[str]:
    """``["smoke: N steps"]`` for a step budget, for a row's tag; ``[]`` without one.

    The leaderboard keeps rows whose tag says "smoke" out of the ranking and
    the gap (:func:`harness.leaderboard.is_smoke`): a few steps train nothing.
    """
    if max_steps is None:
        return []
    return [f"smoke: {max_steps} step{'s' if max_steps != 1 else ''}"]
