"""Learning-rate schedules of the training loop, on top of torch's schedulers.

``constant``  the period's default; ``step``  multiply by ``lr_drop_factor``
at the epochs in ``lr_milestones``; ``plateau``  AlexNet's rule: divide by 10
when the monitored validation error stops improving, at most
``max_lr_drops`` times; ``onecycle``  per-batch one-cycle (a modern recipe,
for comparisons only). torch's own schedulers do the arithmetic; this class
adds the drop count and one ``state_dict`` of primitives for checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.optim import lr_scheduler

if TYPE_CHECKING:
    from baselines.cnn.trainer import TrainConfig

__all__ = ["LR_SCHEDULES", "LrSchedule"]

LR_SCHEDULES = ("constant", "step", "plateau", "onecycle")


class LrSchedule:
    """One schedule, stepped after every batch and after every epoch."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
    ) -> None:
        self.kind = config.lr_schedule
        self.optimizer = optimizer
        self.max_drops = config.max_lr_drops
        self.n_drops = 0
        self.scheduler: Any = None
        if self.kind == "step":
            self.scheduler = lr_scheduler.MultiStepLR(
                optimizer, milestones=list(config.lr_milestones), gamma=config.lr_drop_factor
            )
        elif self.kind == "plateau":
            self.scheduler = lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=config.lr_drop_factor,
                patience=config.plateau_patience,
                threshold=config.plateau_threshold,
                threshold_mode="abs",
            )
        elif self.kind == "onecycle":
            self.scheduler = lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.lr,
                total_steps=max(1, config.epochs * steps_per_epoch),
                pct_start=config.onecycle_pct_start,
            )
        elif self.kind != "constant":
            raise ValueError(f"unknown lr_schedule {self.kind!r}; known: {', '.join(LR_SCHEDULES)}")

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def after_batch(self) -> None:
        if self.kind == "onecycle":
            self.scheduler.step()

    def after_epoch(self, monitored_error: float | None) -> None:
        """``monitored_error``: validation top-1 error (or training loss when no monitor)."""
        if self.kind == "step":
            self.scheduler.step()
        elif self.kind == "plateau" and self.n_drops < self.max_drops:
            if monitored_error is None:
                raise ValueError("the plateau schedule needs a monitored error every epoch")
            before = self.lr
            self.scheduler.step(monitored_error)
            if self.lr < before:
                self.n_drops += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_drops": self.n_drops,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["kind"] != self.kind:
            raise ValueError(f"schedule state is for {state['kind']!r}, not {self.kind!r}")
        self.n_drops = int(state["n_drops"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
