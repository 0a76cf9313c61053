"""The AlexNet network of Krizhevsky, Sutskever & Hinton (NIPS 2012), as published.

Layers (paper section 3.5 and figure 2; the two-GPU split is the ``groups=2``
of conv2, conv4 and conv5; conv3 and the FC layers connect across GPUs)::

    input  3x224x224
    conv1  96@11x11 stride 4, pad 2 -> 96x55x55, ReLU, LRN, maxpool 3/2 -> 27x27
    conv2  256@5x5 pad 2, groups 2  -> 256x27x27, ReLU, LRN, maxpool 3/2 -> 13x13
    conv3  384@3x3 pad 1            -> 384x13x13, ReLU
    conv4  384@3x3 pad 1, groups 2  -> 384x13x13, ReLU
    conv5  256@3x3 pad 1, groups 2  -> 256x13x13, ReLU, maxpool 3/2 -> 6x6
    fc6 9216->4096, ReLU, dropout 0.5, fc7 4096->4096, ReLU, dropout 0.5, fc8 4096->n_classes

**Dropout** sits where the paper puts it, "in the first two fully-connected
layers", i.e. on the outputs of fc6 and fc7 (Caffe's bvlc_alexnet: drop6
after relu6, drop7 after relu7). torchvision's AlexNet instead drops pool5's
output and fc6's output; this network used that layout until checkpoint
format 2 (:mod:`baselines.cnn.resume`), which is why a format-1 checkpoint
is refused rather than loaded into shifted layers.

**224 vs 227.** The paper says 224x224 inputs and draws 55x55 conv1 maps, but
``(224 - 11) / 4 + 1`` is not an integer; 227 inputs with no padding give
exactly 55 (Caffe's choice). We keep the paper's 224 crops and pad conv1 by 2
(torchvision's choice): ``floor((224 + 4 - 11) / 4) + 1 = 55``, so every map
from conv1 on has the paper's size; the last input row/column is not covered
by a window. The parameter count is unaffected.

**Parameters** for 1000 classes, with the grouped convolutions: 60,965,224
(conv 2,334,080 + FC 58,631,144); tested. (An ungrouped network would have
62,378,344, torchvision's AlexNet, which also has different widths, 61,100,840.)

**Initialisation** (section 5): weights N(0, 0.01); biases 1 in conv2, conv4,
conv5, fc6 and fc7 ("accelerates the early stages of learning by providing
the ReLUs with positive inputs"), 0 in conv1, conv3 and fc8.

Other initialisations, recorded in the params when used, never the default:
``init="caffe"`` is the rule of the best-known reproduction (Caffe's
bvlc_alexnet: biases 0.1 instead of 1, fc6/fc7 weights N(0, 0.005)), the
documented fallback should the paper's rule stall on a small subset;
``init="kaiming"`` (He et al. 2015, zero biases) is a post-2012 rule that
lets the tiny CPU tests and the CPU demo leave chance level within a few
dozen steps. Why they are needed: with N(0, 0.01) every layer scales the
image-dependent part of its input by about ``0.01 * sqrt(fan_in)`` (0.35 to
0.96 for the paper's layers) while the bias-1 layers add a constant, so at
initialisation the logits hardly depend on the image and the first
thousands of steps on ImageNet sit near chance (a known trait of the
recipe); narrower networks (``width < 1``) shrink the signal further.

**Small stem** (``stem="small"``, a separate, recorded variant, never chosen
silently): for 64x64 stored images (Tiny ImageNet) trained on 56x56 crops
(the paper's 224/256 crop ratio), conv1 becomes 96@5x5 stride 2 pad 2
(56 -> 28, a quarter of the paper's downsampling, as the input is a quarter
of the size); everything after conv1 is the paper's, so the maps are
28 -> 13 -> 13 -> 6 -> 6 -> 2 and fc6 sees 256x2x2 = 1024 inputs. The
faithful default for small images is instead to upsample the cache to
256x256 on the device and use the paper network unchanged
(see :mod:`alexnet.augment`).

**Width** (``width < 1``, default 1 = the paper): every layer's channel and
unit count multiplied by ``width`` (kept even for the two groups). Not a
2012 network; it exists so CPU tests and the CPU demo can run the real code
path in seconds, and it is recorded in the run's params like the stem.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from alexnet.lrn import PAPER_LRN, LocalResponseNorm

__all__ = ["INITS", "STEMS", "AlexNet", "StemSpec", "build_alexnet", "count_parameters"]


@dataclass(frozen=True)
class StemSpec:
    """conv1's geometry and the crop it is meant for."""

    kernel: int  # conv1 kernel side, px
    stride: int  # conv1 stride, px
    padding: int  # conv1 zero padding, px
    crop: int  # training/test crop side, px
    base: int  # side of the square the crops are taken from (cache resized to this)
    fc_in_side: int  # side of conv5's pooled map at `crop` input


STEMS: dict[str, StemSpec] = {
    # The paper: 224 crops of 256x256 images; conv1 11x11/4 (pad 2 gives 55x55).
    "paper": StemSpec(kernel=11, stride=4, padding=2, crop=224, base=256, fc_in_side=6),
    # Adapted for 64px images: 56 crops of 64x64; conv1 5x5/2.
    "small": StemSpec(kernel=5, stride=2, padding=2, crop=56, base=64, fc_in_side=2),
}


#: "paper": section 5; "caffe": bvlc_alexnet's deviation; "kaiming": He et al. 2015 (CPU demos)
INITS = ("paper", "caffe", "kaiming")


class AlexNet(nn.Module):
    """The paper's network. ``stem`` selects conv1's geometry (see module docstring)."""

    def __init__(
        self,
        n_classes: int = 1000,
        stem: str = "paper",
        dropout: float = 0.5,
        lrn_impl: str = "fast",
        width: float = 1.0,
        init: str = "paper",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown AlexNet init {init!r}; known: {INITS}")
        if stem not in STEMS:
            raise ValueError(f"unknown AlexNet stem {stem!r}; known: {sorted(STEMS)}")
        if n_classes < 2:
            raise ValueError(f"AlexNet needs at least 2 classes, got {n_classes}")
        if not 0 < width <= 1:
            raise ValueError(f"width must be in (0, 1] (1 = the paper), got {width}")
        spec = STEMS[stem]
        self.stem, self.spec, self.n_classes, self.width, self.init = (
            stem,
            spec,
            n_classes,
            width,
            init,
        )
        # channel counts stay even so the two groups (the two GPUs) split them equally
        c1, c2, c3, c4, c5 = (max(2, 2 * round(c * width / 2)) for c in (96, 256, 384, 384, 256))
        fc = max(2, round(4096 * width))
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, spec.kernel, stride=spec.stride, padding=spec.padding),  # conv1
            nn.ReLU(inplace=True),
            LocalResponseNorm(**PAPER_LRN, impl=lrn_impl),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, 5, padding=2, groups=2),  # conv2
            nn.ReLU(inplace=True),
            LocalResponseNorm(**PAPER_LRN, impl=lrn_impl),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1),  # conv3: connects across the two GPUs
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1, groups=2),  # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1, groups=2),  # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        fc_in = c5 * spec.fc_in_side * spec.fc_in_side
        self.classifier = nn.Sequential(
            nn.Linear(fc_in, fc),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),  # drop6, on fc6's output
            nn.Linear(fc, fc),  # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),  # drop7, on fc7's output
            nn.Linear(fc, n_classes),  # fc8
        )
        self.reset_parameters()

    def named_layers(self) -> dict[str, nn.Module]:
        """conv1..conv5, fc6..fc8 by their paper names."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        fcs = [m for m in self.classifier if isinstance(m, nn.Linear)]
        names = [f"conv{i}" for i in range(1, 6)] + [f"fc{i}" for i in range(6, 9)]
        return dict(zip(names, convs + fcs, strict=True))

    def reset_parameters(self) -> None:
        """Initialise by ``self.init`` (module docstring); "paper" is section 5's rule."""
        positive = {"conv2", "conv4", "conv5", "fc6", "fc7"}  # the paper's bias-1 layers
        for name, layer in self.named_layers().items():
            if self.init == "kaiming":
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
                continue
            std = 0.005 if self.init == "caffe" and name in ("fc6", "fc7") else 0.01
            bias = (1.0 if self.init == "paper" else 0.1) if name in positive else 0.0
            nn.init.normal_(layer.weight, mean=0.0, std=std)
            nn.init.constant_(layer.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def build_alexnet(
    n_classes: int = 1000,
    stem: str = "paper",
    lrn_impl: str = "fast",
    width: float = 1.0,
    init: str = "paper",
) -> AlexNet:
    """The network, initialised by ``init`` (default: the paper's rule)."""
    return AlexNet(n_classes=n_classes, stem=stem, lrn_impl=lrn_impl, width=width, init=init)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
