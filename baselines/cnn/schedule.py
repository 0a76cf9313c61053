"""Learning-rate schedules of the training loop, on top of torch's schedulers.

``constant``  the period's default; ``step``  multiply by ``lr_drop_factor``
after the epochs in ``lr_milestones``; ``plateau``  AlexNet's rule: divide by
10 when the monitored error has not improved for ``plateau_patience`` epochs
in a row (patience 4: the fourth epoch without a lower error ends with a
drop), at most ``max_lr_drops`` times; ``cosine``  per batch from ``lr`` to 0
over the whole run, after a linear warm-up of ``warmup_epochs`` (0: none); ``onecycle``  per-batch one-cycle (a modern recipe, for
comparisons only). torch's own schedulers do the arithmetic; this class adds
the epochs after which the rate dropped and one ``state_dict`` of
primitives for checkpoints.

"Improvement" is a decrease by more than ``plateau_threshold`` points below
the best error so far; after a drop the count of bad epochs starts again.
torch's ``ReduceLROnPlateau`` drops only once *more than* ``patience`` epochs
were bad, so it is given ``plateau_patience - 1``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler

from baselines.cnn.config import LR_SCHEDULES, TrainConfig

__all__ = ["LR_SCHEDULES", "LrSchedule"]


class LrSchedule:
    """One schedule, stepped after every batch and after every epoch."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
    ) -> None:
        self.kind = config.lr_schedule
        self.optimizer = optimizer
        self.max_drops = config.max_lr_drops
        self.drop_epochs: list[int] = []  # 1-based epochs after which the lr dropped
        self.epochs_done = 0
        self.scheduler: Any = None
        total_steps = max(1, config.epochs * steps_per_epoch)
        if self.kind == "step":
            self.scheduler = lr_scheduler.MultiStepLR(
                optimizer, milestones=list(config.lr_milestones), gamma=config.lr_drop_factor
            )
        elif self.kind == "plateau":
            self.scheduler = lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=config.lr_drop_factor,
                patience=config.plateau_patience - 1,  # torch drops after patience + 1 bad epochs
                threshold=config.plateau_threshold,
                threshold_mode="abs",
            )
        elif self.kind == "cosine":
            warm = round(config.warmup_epochs * steps_per_epoch)
            if warm > 0:  # linear from lr/warm up to lr, then cosine to 0: ends low in budget
                self.scheduler = lr_scheduler.SequentialLR(
                    optimizer,
                    [
                        lr_scheduler.LinearLR(
                            optimizer, start_factor=1.0 / warm, end_factor=1.0, total_iters=warm
                        ),
                        lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warm)),
                    ],
                    milestones=[warm],
                )
            else:
                self.scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        elif self.kind == "onecycle":
            self.scheduler = lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.lr,
                total_steps=total_steps,
                pct_start=config.onecycle_pct_start,
            )
        elif self.kind != "constant":
            raise ValueError(f"unknown lr_schedule {self.kind!r}; known: {', '.join(LR_SCHEDULES)}")

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def n_drops(self) -> int:
        return len(self.drop_epochs)

    def after_batch(self) -> None:
        if self.kind in ("cosine", "onecycle"):
            self.scheduler.step()

    def after_epoch(self, monitored_error: float | None) -> None:
        """``monitored_error``: the monitor's top-1 error (or the training loss without one)."""
        self.epochs_done += 1
        before = self.lr
        if self.kind == "step":
            self.scheduler.step()
        elif self.kind == "plateau" and self.n_drops < self.max_drops:
            if monitored_error is None:
                raise ValueError("the plateau schedule needs a monitored error every epoch")
            self.scheduler.step(monitored_error)
        if self.kind in ("step", "plateau") and self.lr < before:
            self.drop_epochs.append(self.epochs_done)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "drop_epochs": list(self.drop_epochs),
            "epochs_done": self.epochs_done,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["kind"] != self.kind:
            raise ValueError(f"schedule state is for {state['kind']!r}, not {self.kind!r}")
        self.drop_epochs = [int(e) for e in state["drop_epochs"]]
        self.epochs_done = int(state["epochs_done"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
