"""The papers' training recipes as ``paper`` profiles, and the tagged CPU adaptation.

``profile="auto"`` is ``"paper"`` on CUDA and ``"cpu"`` elsewhere, as for
``alexnet``; explicit parameters override a profile, and :func:`departures`
names every setting that differs from the paper's, for the row's tag.

Paper profiles (what the papers state; where a paper is silent the choice is
named here):

* **zfnet** (Section 3): SGD, batch 128, lr 0.01 "annealed manually" when the
  validation error plateaued (the plateau rule: patience 4, at most 3 drops),
  momentum 0.9, dropout 0.5, 70 epochs. Weight decay is not stated: 5e-4,
  the AlexNet recipe the paper starts from.
* **vgg11 / vgg16** (Section 3.1): batch 256, momentum 0.9, weight decay 5e-4,
  dropout 0.5, lr 0.01 divided by 10 when the validation accuracy stopped
  improving (3 times), 74 epochs. Training scale S = 256 (the cache's); the
  scale jitter [256, 512] of the D row in HISTORY is not reproduced.
* **googlenet** (Section 6): momentum 0.9, lr decreased by 4% every 8
  epochs (the ``step`` schedule with factor 0.96). The paper gives no lr,
  batch, weight decay or epoch count: lr 0.01, batch 128, weight decay 2e-4
  and 60 epochs are Caffe's bvlc_googlenet reproduction. Polyak averaging and
  the photometric/aspect-ratio augmentations are not reproduced.
* **resnet18 / resnet34** (Section 3.4): batch 256, lr 0.1 divided by 10 when
  the error plateaus, momentum 0.9, weight decay 1e-4, no dropout, 60e4
  iterations (120 epochs of 1.28M images at batch 256). Scale augmentation
  [256, 480] and the colour noise are not reproduced.

All profiles train on random crops with horizontal flips, subtract the
training set's per-channel mean, and are scored on the centre crop.

**CPU profile** (``"cpu"``, never passed off as the paper: the tag names it):
the small stem (56 crops of the 64px cache, :mod:`decade.layers`), width
0.25, He (kaiming) initialisation with standardised inputs (mean and std per
channel), batch 64, cosine schedule. The lr and epochs of the four networks
measured on Tiny ImageNet-100 (:data:`CPU_BUDGET`) were chosen on the
monitor only, for a 20-minute training budget on a 2-core CPU, by
``python -m studies.decade_recipe`` (``results/decade_recipe/``): the lr by
equal-step pilots, the epochs as the whole epochs that fit the budget. VGG-16
and ResNet-34 (not run) keep 8 epochs and their family's lr: 0.003 without
batch norm (AlexNet's measured CPU rate), 0.05 for the ResNets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from baselines.cnn import profile_for_device as shared_profile_for_device

__all__ = ["CPU_BUDGET", "PROFILES", "Recipe", "departures", "profile_for_device", "recipe_for"]

PROFILES = ("paper", "cpu")

#: the cpu profile's (lr, epochs) per network, from results/decade_recipe/study.json
CPU_BUDGET: dict[str, tuple[float, int]] = {
    "zfnet": (0.003, 4),
    "vgg11": (0.003, 1),
    "googlenet": (0.003, 1),
    "resnet18": (0.05, 3),
}


@dataclass(frozen=True)
class Recipe:
    """One resolved recipe (units in the comments)."""

    stem: str  # "paper" (224 crops of 256) | "small" (56 crops of 64)
    width: float  # layer-width multiplier (1 = the paper)
    init: str  # "paper" | "kaiming" (the ResNets' paper rule is already He's)
    epochs: int  # passes over the fit rows
    batch_size: int  # images per SGD step
    lr: float  # initial learning rate
    weight_decay: float  # L2 coefficient on weights (not biases)
    lr_schedule: str  # "plateau" | "step" | "cosine" | "constant"
    lr_step_epochs: int = 0  # "step": the lr is multiplied by lr_drop_factor every N epochs
    lr_drop_factor: float = 0.1  # multiplier at each drop
    momentum: float = 0.9  # SGD momentum
    standardise: bool = False  # divide by the per-channel std after subtracting the mean


PAPER: dict[str, Recipe] = {
    "zfnet": Recipe("paper", 1.0, "paper", 70, 128, 0.01, 5e-4, "plateau"),
    "vgg11": Recipe("paper", 1.0, "paper", 74, 256, 0.01, 5e-4, "plateau"),
    "vgg16": Recipe("paper", 1.0, "paper", 74, 256, 0.01, 5e-4, "plateau"),
    "googlenet": Recipe(
        "paper", 1.0, "paper", 60, 128, 0.01, 2e-4, "step", lr_step_epochs=8, lr_drop_factor=0.96
    ),
    "resnet18": Recipe("paper", 1.0, "paper", 120, 256, 0.1, 1e-4, "plateau"),
    "resnet34": Recipe("paper", 1.0, "paper", 120, 256, 0.1, 1e-4, "plateau"),
}


def recipe_for(method: str, profile: str) -> Recipe:
    """The ``profile`` ("paper" | "cpu") recipe of ``method``."""
    paper = PAPER[method]
    if profile == "paper":
        return paper
    if profile != "cpu":
        raise ValueError(f"profile must be 'auto' or one of {PROFILES}, got {profile!r}")
    resnet = method.startswith("resnet")
    lr, epochs = CPU_BUDGET.get(method, (0.05 if resnet else 0.003, 8))
    return replace(
        paper,
        stem="small",
        width=0.25,
        init="paper" if resnet else "kaiming",
        epochs=epochs,
        batch_size=64,
        lr=lr,
        lr_schedule="cosine",
        standardise=True,
    )


def profile_for_device(profile: str, device: str) -> str:
    """``"auto"`` -> ``"paper"`` on CUDA, ``"cpu"`` elsewhere; a named profile stays itself."""
    return shared_profile_for_device(profile, device, PROFILES)


def departures(method: str, r: Recipe) -> list[str]:
    """Every setting of ``r`` that is not ``method``'s paper recipe, in words, in a fixed order."""
    p, out = PAPER[method], []
    if r.stem != p.stem:
        out += [f"{r.stem} stem", "56px crops"]
    if r.width != p.width:
        out.append(f"width {r.width:g}")
    if r.init != p.init:
        out.append(f"{r.init} init")
    if r.epochs != p.epochs:
        out.append(f"{r.epochs} epoch{'s' if r.epochs != 1 else ''}")
    if r.batch_size != p.batch_size:
        out.append(f"batch {r.batch_size}")
    if r.lr != p.lr:
        out.append(f"lr {r.lr:g}")
    if r.momentum != p.momentum:
        out.append(f"momentum {r.momentum:g}")
    if r.weight_decay != p.weight_decay:
        out.append(f"weight decay {r.weight_decay:g}")
    if r.lr_schedule != p.lr_schedule:
        out.append(f"{r.lr_schedule} schedule")
    if r.standardise != p.standardise:
        out.append("standardised inputs" if r.standardise else "mean-subtracted inputs")
    return out
