"""ZFNet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014).

The network of the paper's Fig. 3 (its Table 2 row "Our replication of
Krizhevsky et al. with the layer changes of Section 4.1"): AlexNet with conv1
7x7 stride 2 (was 11x11 stride 4), conv2 stride 2 and dense (one-GPU)
connections in conv3-5::

    input 3x224x224
    conv1 96@7x7 stride 2, pad 1 -> 110x110, ReLU, maxpool 3/2 -> 55x55, contrast norm
    conv2 256@5x5 stride 2       -> 26x26,  ReLU, maxpool 3/2 -> 13x13, contrast norm
    conv3 384@3x3 pad 1 -> 13x13, ReLU
    conv4 384@3x3 pad 1 -> 13x13, ReLU
    conv5 256@3x3 pad 1 -> 13x13, ReLU, maxpool 3/2 -> 6x6
    fc6 9216->4096, ReLU, dropout 0.5; fc7 4096->4096, ReLU, dropout 0.5; fc8 -> n_classes

Fig. 3's 55 and 13 after the first two pools need ``ceil_mode`` (floor gives
54 and 12). The figure's "contrast normalised across feature maps" is
AlexNet's local response normalisation (size 5, alpha 1e-4, beta 0.75,
k 2), applied after each of the first two pools as the figure draws it.

**Parameters** at 1,000 classes: 62,357,608 (conv 3,726,464 + FC
58,631,144; by hand from Fig. 3 in the tests). The paper gives no count.

**Initialisation** (Section 3): weights 1e-2 (read as N(0, 0.01)), biases 0.
The paper's renormalisation of any conv filter whose RMS exceeds 0.1 is not
reproduced. ``init="kaiming"`` (He et al. 2015) is the CPU profile's.

**Small stem**: conv1 stride 1, pad 3 and no first pool: a 56 crop gives
conv2 a 56x56 input and every map from conv2's output on (26, 13, 6) is
the paper's.
"""

from __future__ import annotations

import torch
from torch import nn

from decade.layers import INITS, check_common, fc_head, init_weights, scaled

__all__ = ["INITS", "ZFNet"]


class ZFNet(nn.Module):
    """The network of Fig. 3; ``stem``, ``width`` and ``init`` as in the module docstring."""

    def __init__(
        self,
        n_classes: int = 1000,
        stem: str = "paper",
        width: float = 1.0,
        init: str = "paper",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_common(stem, width, n_classes, "zfnet", init)
        self.init = init
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in (96, 256, 384, 384, 256))
        fc = scaled(4096, width)
        small = stem == "small"
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 7, stride=1 if small else 2, padding=3 if small else 1),  # conv1
            nn.ReLU(inplace=True),
            nn.Identity() if small else nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(c1, c2, 5, stride=2),  # conv2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(c2, c3, 3, padding=1),  # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1),  # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1),  # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.classifier = fc_head(c5 * 6 * 6, fc, n_classes, dropout)
        init_weights(self, init, lambda w: nn.init.normal_(w, 0.0, 0.01), [self.classifier[-1]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
