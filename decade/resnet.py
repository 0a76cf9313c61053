"""ResNet-18 and ResNet-34 (He, Zhang, Ren, Sun, "Deep Residual Learning...", CVPR 2016).

Table 1: conv1 64@7x7/2 -> 112, BN, ReLU, maxpool 3x3/2 -> 56; four stages
of basic blocks (two 3x3 convolutions, BN after each, ReLU after the sum)
with 64, 128, 256, 512 channels at 56, 28, 14, 7 px, [2, 2, 2, 2] blocks
(18 layers) or [3, 4, 6, 3] (34); global average pool, FC -> n_classes.
Stages 2-4 downsample in their first block's first convolution (stride 2);
where dimensions change the shortcut is a 1x1 stride-2 projection with BN
(option B), elsewhere the identity. Convolutions have no bias (BN follows).

**Parameters** at 1,000 classes: 11,689,512 and 21,797,672 (torchvision's
resnet18 / resnet34); **multiply-adds** at 224px: 1.82 G and 3.67 G (Table 1:
1.8 and 3.6 x 10^9 FLOPs, i.e. multiply-adds); both tested.

**Initialisation**: He et al. 2015 ("Delving deep...", the paper's [13]),
normal with std sqrt(2 / fan_out); BN scale 1, shift 0.

**Small stem**: conv1 stride 1 and no max-pool: a 56 crop gives stage 1 a
56x56 input and every map from there on is the paper's.
"""

from __future__ import annotations

import torch
from torch import nn

from decade.layers import check_common, scaled

__all__ = ["DEPTHS", "BasicBlock", "ResNet"]

#: blocks per stage (Table 1)
DEPTHS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN; identity or projection (option B) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-``depth`` (18 or 34) of Table 1 (see the module docstring)."""

    def __init__(
        self, depth: int = 18, n_classes: int = 1000, stem: str = "paper", width: float = 1.0
    ) -> None:
        super().__init__()
        check_common(stem, width, n_classes, "resnet")
        if depth not in DEPTHS:
            raise ValueError(f"resnet: depth must be one of {sorted(DEPTHS)}, got {depth}")
        small = stem == "small"
        c = scaled(64, width)
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 7, stride=1 if small else 2, padding=3, bias=False),  # conv1
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Identity() if small else nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        c_in = c
        for i, n_blocks in enumerate(DEPTHS[depth]):
            c_out = scaled(64 * 2**i, width)
            blocks = [BasicBlock(c_in, c_out, 1 if i == 0 else 2)]
            blocks += [BasicBlock(c_out, c_out, 1) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.Sequential(*stages)  # conv2_x .. conv5_x
        self.fc = nn.Linear(c_in, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))
