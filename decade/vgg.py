"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks...", ICLR 2015), A and D.

Table 1 of the paper: 3x3 convolutions (stride 1, pad 1) in five blocks, each
block ended by a 2x2 stride-2 max-pool; ReLU after every convolution; no
local response normalisation (the paper found it did not help, A-LRN);
FC 4096, 4096, n_classes with dropout 0.5 after FC6 and FC7::

    A (VGG-11): 64 M 128 M 256 256 M 512 512 M 512 512 M
    D (VGG-16): 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M

**Parameters** at 1,000 classes (Table 2: 133M and 138M): 132,863,336 (A)
and 138,357,544 (D), torchvision's vgg11 / vgg16 without batch norm; tested.

**Initialisation**: A from N(0, 0.01), biases 0 (Section 3.1). The paper
initialised the deeper nets from A's first four conv and last three FC layers,
and notes that Glorot & Bengio's initialisation works without that
pre-training; ``init="paper"`` for D is that Glorot (uniform) rule, the
paper's own stated alternative (training A first is not reproduced).

**Small stem**: the first two max-pools are dropped: a 56 crop gives block 3
a 56x56 input, and every map from block 3 on (56, 28, 14, 7) is the paper's.
"""

from __future__ import annotations

import torch
from torch import nn

from decade.layers import INITS, check_common, fc_head, init_weights, scaled

__all__ = ["CONFIGS", "INITS", "VGG"]

#: Table 1: channel counts, "M" a 2x2/2 max-pool
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(nn.Module):
    """Configuration ``config`` of Table 1 (see the module docstring)."""

    def __init__(
        self,
        config: str = "A",
        n_classes: int = 1000,
        stem: str = "paper",
        width: float = 1.0,
        init: str = "paper",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_common(stem, width, n_classes, "vgg", init)
        if config not in CONFIGS:
            raise ValueError(f"vgg: unknown configuration {config!r}; known: {sorted(CONFIGS)}")
        layers: list[nn.Module] = []
        c_in, pools = 3, 0
        for item in CONFIGS[config]:
            if item == "M":
                pools += 1
                dropped = stem == "small" and pools <= 2
                layers.append(nn.Identity() if dropped else nn.MaxPool2d(2, stride=2))
            else:
                c_out = scaled(int(item), width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        fc = scaled(4096, width)
        self.classifier = fc_head(c_in * 7 * 7, fc, n_classes, dropout)
        # the paper: A from N(0, 0.01); the deeper nets (initialised from A in the paper) Glorot
        paper = (
            (lambda w: nn.init.normal_(w, 0.0, 0.01)) if config == "A" else nn.init.xavier_uniform_
        )
        init_weights(self, init, paper, [self.classifier[-1]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
