"""Helpers the later networks share: width scaling, parameter counts, the small stem's rule.

**Small stem** (``stem="small"``): the 64px cache is trained on 56px crops
(the papers' 224/256 ratio). Each network then removes the first 4x of its
stem's downsampling (a stride-2 convolution made stride 1 and/or a stride-2
max-pool dropped), so that from a stated layer on every feature map has the
size it has at 224px in the paper. No layer gains or loses a parameter:
the parameter count at a given number of classes is the paper's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "INITS",
    "STEMS",
    "check_common",
    "count_parameters",
    "fc_head",
    "init_weights",
    "scaled",
]

#: "paper": the paper's own rule (each network's); "kaiming": He et al. (the CPU profiles)
INITS = ("paper", "kaiming")

#: "paper": 224 crops of a 256 image; "small": 56 crops of a 64 image (module docstring)
STEMS: dict[str, tuple[int, int]] = {"paper": (224, 256), "small": (56, 64)}


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, at least 1 (``width=1`` is the paper)."""
    return max(1, round(channels * width))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics are buffers and do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_common(stem: str, width: float, n_classes: int, name: str, init: str = "paper") -> None:
    """Refuse an unknown stem or init, a width outside (0, 1] and fewer than 2 classes."""
    if init not in INITS:
        raise ValueError(f"{name}: unknown init {init!r}; known: {INITS}")
    if stem not in STEMS:
        raise ValueError(f"{name}: unknown stem {stem!r}; known: {sorted(STEMS)}")
    if not 0 < width <= 1:
        raise ValueError(f"{name}: width must be in (0, 1] (1 = the paper), got {width}")
    if n_classes < 2:
        raise ValueError(f"{name}: needs at least 2 classes, got {n_classes}")


def fc_head(c_in: int, fc: int, n_classes: int, dropout: float) -> nn.Sequential:
    """fc6 -> ReLU -> dropout -> fc7 -> ReLU -> dropout -> fc8: AlexNet's head, kept by ZFNet
    and VGG (``classifier[-1]`` is the output layer)."""
    return nn.Sequential(
        nn.Linear(c_in, fc),  # fc6
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(fc, fc),  # fc7
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(fc, n_classes),  # fc8
    )


def init_weights(
    model: nn.Module,
    init: str,
    paper: Callable[[torch.Tensor], object],
    outputs: Iterable[nn.Linear],
) -> None:
    """Every convolution and linear layer: He-normal (``init="kaiming"``) or the paper's rule
    ``paper(weight)``; biases zero. With Kaiming the ``outputs`` are drawn from N(0, 0.01) so
    that the logits start near 0, not at +-10."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            if init == "kaiming":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                paper(m.weight)
            nn.init.zeros_(m.bias)
    if init == "kaiming":
        for head in outputs:
            nn.init.normal_(head.weight, 0.0, 0.01)
