"""AlexNet's training recipe (paper section 5) and how it maps onto the shared trainer.

Published recipe: SGD, batch 128, momentum 0.9, weight decay 5e-4, lr 0.01
divided by 10 when the validation error stopped improving (three times in
all), about 90 epochs over the 1.28M ILSVRC-2012 training images.

**Epochs per subset.** The unit the paper fixes is passes over the data
(90), with the plateau rule deciding when the three drops happen; the suite
configs keep 90 epochs wherever the hardware allows it (every 100-class
subset on one GPU: Tiny ImageNet's 50k images x 90 epochs is ~4.5M images, a
few minutes at the fast path's rate) and only shrink it for CPU smoke runs
(``configs/demo.toml``), where the number is a budget, not the recipe.

**Plateau.** "Stopped improving" is not quantified in the paper; here it is
``plateau_patience`` epochs without a lower top-1 error on the monitor split
(the harness passes the validation split, as the paper used its validation
set), measured on the centre crop (ten crops cost 10x and only the trend
matters).

**Data parallel (DDP).** ``batch_scaling`` picks how the recipe survives
``world_size`` GPUs:

* ``"global"`` (default, faithful): 128 stays the *global* batch, each of the
  ``W`` processes takes ``128 / W`` images per step and the lr stays 0.01.
  Gradients are averaged over ranks, so one step is the paper's step.
* ``"linear"``: each process keeps 128 (effective batch ``128 W``) and the lr
  is multiplied by ``W``, the linear scaling rule of Goyal et al. 2017
  ("Accurate, Large Minibatch SGD"); faster per epoch, not the paper's
  optimisation trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BATCH_SCALINGS", "PAPER", "AlexNetRecipe", "data_parallel_batch_and_lr"]

BATCH_SCALINGS = ("global", "linear")


@dataclass(frozen=True)
class AlexNetRecipe:
    """The published hyper-parameters (units in comments)."""

    epochs: int = 90  # passes over ILSVRC-2012 train (1,281,167 images)
    batch_size: int = 128  # images per SGD step
    lr: float = 0.01  # initial learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 coefficient
    lr_drop_factor: float = 0.1  # lr multiplier when the validation error plateaus
    max_lr_drops: int = 3  # the paper divided the lr three times
    dropout: float = 0.5  # before fc6 and fc7
    pca_alpha_std: float = 0.1  # std of the PCA colour-noise coefficients
    crop: int = 224  # training/test crop side, px
    base: int = 256  # side of the stored square images, px
    n_test_crops: int = 10  # four corners + centre, and their mirrors


PAPER = AlexNetRecipe()


def data_parallel_batch_and_lr(
    batch_size: int, lr: float, world_size: int, scaling: str
) -> tuple[int, float]:
    """Per-process batch and lr for ``world_size`` processes (see the module docstring)."""
    if scaling not in BATCH_SCALINGS:
        raise ValueError(f"batch_scaling must be one of {BATCH_SCALINGS}, got {scaling!r}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if scaling == "linear":
        return batch_size, lr * world_size
    if batch_size % world_size:
        raise ValueError(
            f"batch_scaling='global' splits the batch of {batch_size} over {world_size} "
            "processes; it must divide evenly (or use batch_scaling='linear')"
        )
    return batch_size // world_size, lr
