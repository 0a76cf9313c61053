"""GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015), Table 1.

::

    conv1 64@7x7/2 -> 112, maxpool 3/2 -> 56, LRN
    conv2 64@1x1 (reduce), 192@3x3 -> 56, LRN, maxpool 3/2 -> 28
    inception 3a (256), 3b (480), maxpool 3/2 -> 14
    inception 4a (512), 4b, 4c (512), 4d (528), 4e (832), maxpool 3/2 -> 7
    inception 5a (832), 5b (1024), avgpool 7x7 -> 1, dropout 0.4, linear -> n_classes

An inception module concatenates a 1x1, a 1x1 -> 3x3, a 1x1 -> 5x5 and a
3x3 max-pool -> 1x1 branch (the "#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
pool proj" columns of Table 1); every convolution is followed by ReLU, none
by batch norm (BN came later). Max-pools round up (``ceil_mode``), which
gives the table's 56/28/14/7.

**Auxiliary classifiers** (Section 5) on the outputs of 4a and 4d: 5x5/3
average pool (-> 4x4), 128@1x1 conv + ReLU, FC 1024 + ReLU, dropout 0.7,
linear -> n_classes. In train mode :meth:`GoogLeNet.forward` returns
``(logits, aux1, aux2)`` and :func:`googlenet_loss` adds the two auxiliary
losses with weight 0.3; in eval mode it returns the main logits only (the
heads are "discarded at inference time").

**Parameters** at 1,000 classes, counted here: 6,998,552 without the
auxiliary heads (the paper: "12 times fewer than AlexNet", about 5M by its
Table 1 column; torchvision's BN variant with a 3x3 in 5b is 6,624,904),
and 13,378,280 with both heads; tested.

**Initialisation**: the paper (trained on DistBelief) states none;
``init="paper"`` is Glorot/Xavier uniform with zero biases, the rule of
Caffe's bvlc_googlenet reproduction; ``"kaiming"`` is the CPU profile's.

**Small stem**: conv1 stride 1 and no first max-pool: a 56 crop gives conv2
a 56x56 input and every map from conv2 on is the paper's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from decade.layers import INITS, check_common, init_weights, scaled

__all__ = ["AUX_WEIGHT", "INCEPTION", "INITS", "GoogLeNet", "Inception", "googlenet_loss"]

AUX_WEIGHT = 0.3  # Section 5: each auxiliary loss is added with weight 0.3

#: Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2), nn.ReLU(inplace=True)
    )


class Inception(nn.Module):
    """One inception module (Fig. 2b) with Table 1's widths."""

    def __init__(self, c_in: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        n1, r3, n3, r5, n5, pp = widths
        self.branch1 = _conv(c_in, n1, 1)
        self.branch3 = nn.Sequential(_conv(c_in, r3, 1), _conv(r3, n3, 3))
        self.branch5 = nn.Sequential(_conv(c_in, r5, 1), _conv(r5, n5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv(c_in, pp, 1))
        self.out_channels = n1 + n3 + n5 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([b(x) for b in branches], dim=1)


class AuxClassifier(nn.Module):
    """Section 5's side head: avgpool 5/3, 128@1x1, FC 1024, dropout 0.7, linear."""

    def __init__(self, c_in: int, n_classes: int, width: float) -> None:
        super().__init__()
        c, fc = scaled(128, width), scaled(1024, width)
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv = _conv(c_in, c, 1)
        self.fc = nn.Linear(c * 4 * 4, fc)
        self.dropout = nn.Dropout(0.7)
        self.classifier = nn.Linear(fc, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.classifier(self.dropout(F.relu(self.fc(x))))


class GoogLeNet(nn.Module):
    """Table 1's network with its two auxiliary heads (see the module docstring)."""

    def __init__(
        self,
        n_classes: int = 1000,
        stem: str = "paper",
        width: float = 1.0,
        init: str = "paper",
        aux: bool = True,
    ) -> None:
        super().__init__()
        check_common(stem, width, n_classes, "googlenet", init)
        small = stem == "small"
        c1, c2r, c2 = scaled(64, width), scaled(64, width), scaled(192, width)
        self.stem = nn.Sequential(
            _conv(3, c1, 7, stride=1 if small else 2),  # conv1
            nn.Identity() if small else nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
            _conv(c1, c2r, 1),  # conv2 reduce
            _conv(c2r, c2, 3),  # conv2
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        )
        c_in = c2
        self.blocks = nn.ModuleDict()
        for name, widths in INCEPTION.items():
            block = Inception(c_in, tuple(scaled(w, width) for w in widths))
            self.blocks[name] = block
            c_in = block.out_channels
        self.pool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.pool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(c_in, n_classes)
        self.aux1 = AuxClassifier(self.blocks["4a"].out_channels, n_classes, width) if aux else None
        self.aux2 = AuxClassifier(self.blocks["4d"].out_channels, n_classes, width) if aux else None
        heads = [self.fc, *(h.classifier for h in (self.aux1, self.aux2) if h)]
        init_weights(self, init, nn.init.xavier_uniform_, heads)

    def forward(self, x: torch.Tensor) -> Any:
        """Eval mode: logits. Train mode (with heads): ``(logits, aux1 logits, aux2 logits)``."""
        side: list[torch.Tensor] = []
        x = self.stem(x)
        for name, block in self.blocks.items():
            if name == "4a":
                x = self.pool3(x)
            if name == "5a":
                x = self.pool4(x)
            x = block(x)
            if self.training and name in ("4a", "4d") and self.aux1 is not None:
                head = self.aux1 if name == "4a" else self.aux2
                side.append(head(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # the 7x7 average pool at 224
        logits = self.fc(self.dropout(x))
        return (logits, *side) if side else logits


def googlenet_loss(
    output: Any, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Main cross-entropy plus 0.3 x each auxiliary one (a ``baselines.cnn.LossFn``)."""
    if isinstance(output, torch.Tensor):
        output = (output,)
    main, *side = output
    loss = F.cross_entropy(main.float(), labels, label_smoothing=label_smoothing)
    for logits in side:
        ce = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
        loss = loss + AUX_WEIGHT * ce
    return loss, main
