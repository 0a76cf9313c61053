"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), the CNN before 2012's scale.

The network follows Section II.B of the paper layer by layer: a 32x32 input;
C1 6@5x5; S2 trainable subsampling (each 2x2 block summed, times one
trainable coefficient plus one trainable bias per map); C3 16@5x5 reading the
S2 maps through the paper's partial connection table (Table I); S4 like S2;
C5 120@5x5 (a 1x1 output at 32x32 input); F6 84 units; every layer up to F6
followed by the scaled tanh ``1.7159 tanh(2a/3)``. Up to F6 this is exactly
the paper's 60,000 trainable parameters (C3: 1,516 with the table).

Initialisation: the paper (Appendix C) draws weights from U(-2.4/F, 2.4/F),
F the unit's fan-in, and trains with stochastic diagonal Levenberg-Marquardt,
whose per-weight step sizes make up for such small weights. With plain SGD
that initialisation barely moves: on the tests' 4-class toy data the loss is
still at chance (1.386) after 6 epochs, where the fan-in rule of the same
authors' "Efficient BackProp" (1998; U(-sqrt(3/F), sqrt(3/F)), i.e. unit
variance through the scaled tanh) reaches 0.005. The default is therefore
``init="fan-in"``; ``init="paper"`` keeps Appendix C. Biases start at zero.

Output layer: the paper's output is 10 Euclidean RBF units whose centres are
fixed 7x12 bitmaps of the digits (stylised ASCII characters), trained with a
MAP criterion. Those codes exist only for characters; for 100 or 1000
ImageNet classes there is nothing to draw them from, and random fixed codes
would just be a worse linear layer. So the output is a linear layer sized to
the subset's classes with softmax cross-entropy, the standard modern reading
of LeNet-5 (the paper's MAP loss is itself a softmax-like discriminative
criterion). It adds 85 parameters per class (84 weights + 1 bias).

Input: the cached images are converted to grayscale (ITU-R 601 luma, as the
paper's inputs were grey levels; ``rgb=True`` keeps three channels and only
C1 widens), resized to 32x32 on the device with antialiasing, and
standardised with the training set's pixel mean and standard deviation: the
paper scaled pixels so the background was -0.1 and the foreground 1.175,
"which makes the mean input roughly 0, and the variance roughly 1"; natural
images have no background level, so the mean/variance form is used.

Training: the period's recipe, plain SGD (no batch norm, no dropout, no
ReLU, no weight decay, no momentum by default) for 20 passes as in the paper,
with the learning rate decreasing in steps: 0.1, divided by 10 after half
and after three quarters of the epochs (the paper's global step size
schedule fell from 5e-4 to 1e-5 over 20 passes on top of its per-weight
Levenberg-Marquardt scaling, which is not reproduced: mini-batches of 32 and
one global rate stand in for it). No augmentation by default (the paper's
distortions were a separate experiment); ``hflip=True`` adds mirroring.
It fits on the training split minus the harness's monitor (the held-out
slice, ``ctx.fit_and_monitor``), input statistics included; the monitor
only draws the learning curve (the step schedule does not consult it).
Training facts (epochs, images seen, images/s over the whole fit, the
epochs after which the rate dropped, parameters) go to
``ctx.report_training``. LeNet-5 has no CPU/GPU profiles: the same recipe
is cheap on both.

CPU threads: LeNet's kernels are too small to split across threads, so it
trains on one by default (``cpu_threads=1``). On the 2-core development
machine under load, one SGD step on 32 images took 33 ms on one thread and
519 ms on two.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.cnn import TrainConfig, Trainer
from baselines.cnn.batches import BatchStream, batch_within
from baselines.cnn.config import smoke_tag
from harness.api import BaselineBase, MethodError, RunContext, Split, TrainData
from harness.params import Interval, Options

__all__ = [
    "C3_CONNECTIONS",
    "LeNet5",
    "LeNet5Baseline",
    "PartiallyConnectedConv2d",
    "ScaledTanh",
    "TrainableSubsampling",
]

INPUT_SIZE = 32  # the paper's input field, pixels
SCORING_BATCH_BYTES = 4 * 2**20  # cached pixels per scoring or statistics batch: 341
# images at 64 px, 21 at 256 px. The float copies of a batch are several times its
# pixels: 1,024 at 256 px held 1.9 GiB; at 16 MiB (1,024 at 64 px) the run's anonymous
# peak on Tiny ImageNet was 584 MiB, 412 at 4 MiB (one epoch), and harness plan's
# calibration, which scores batches of at most 60 images, saw neither

# Table I of the paper: for each C3 map, the S2 maps it reads. Maps 0-5 read
# contiguous triples, 6-11 contiguous quadruples, 12-14 non-contiguous
# quadruples, 15 all six.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """The paper's squashing function ``A tanh(S a)`` with A = 1.7159, S = 2/3."""

    amplitude: float = 1.7159
    slope: float = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)


class TrainableSubsampling(nn.Module):
    """S2/S4: per map, the sum of each 2x2 block times a trainable coefficient, plus a bias.

    torch has no layer with one trainable scale per map after pooling, so the
    sum is ``4 * avg_pool2d`` and the coefficient and bias are two vectors.
    """

    def __init__(self, channels: int, init: str = "fan-in") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        bound = _init_bound(4, init)  # a subsampling unit has 4 inputs
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = 4.0 * F.avg_pool2d(x, 2)
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartiallyConnectedConv2d(nn.Conv2d):
    """A convolution whose output map ``o`` reads only the input maps ``connections[o]``.

    Implemented as a dense kernel multiplied by a fixed 0/1 mask in every
    forward pass, so disconnected weights get zero gradient and stay at zero
    (they start at zero too). :meth:`n_connected_parameters` counts only the
    weights that exist in the paper's network.
    """

    def __init__(
        self,
        in_channels: int,
        connections: tuple[tuple[int, ...], ...],
        kernel_size: int,
        init: str = "fan-in",
    ) -> None:
        super().__init__(in_channels, len(connections), kernel_size)
        mask = torch.zeros(len(connections), in_channels, 1, 1)
        for out_map, inputs in enumerate(connections):
            if not inputs or min(inputs) < 0 or max(inputs) >= in_channels:
                raise ValueError(
                    f"output map {out_map}: connections {inputs} outside 0..{in_channels - 1}"
                )
            mask[out_map, list(inputs)] = 1.0
        self.register_buffer("mask", mask)
        with torch.no_grad():
            fan_in = mask.sum(dim=(1, 2, 3)) * kernel_size * kernel_size
            bound = _init_bound(fan_in, init).view(-1, 1, 1, 1)
            self.weight.uniform_(-1.0, 1.0).mul_(bound).mul_(mask)
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def n_connected_parameters(self) -> int:
        kernel = self.weight.shape[2] * self.weight.shape[3]
        return int(self.mask.sum().item()) * kernel + self.out_channels


INITS = ("paper", "fan-in")


def _init_bound(fan_in: Any, init: str) -> Any:
    """Half-width of the uniform initialisation for a unit with ``fan_in`` inputs.

    ``"paper"``: 2.4/F (Appendix C of the paper). ``"fan-in"``: sqrt(3/F), i.e.
    standard deviation 1/sqrt(F) (LeCun, Bottou, Orr, Mueller, "Efficient
    BackProp", 1998, section 4.6), which keeps the weighted sums at unit
    variance through the scaled tanh.
    """
    if init == "paper":
        return 2.4 / fan_in
    if init == "fan-in":
        return (3.0 / fan_in) ** 0.5
    raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")


def _init_layer(layer: nn.Conv2d | nn.Linear, init: str) -> nn.Conv2d | nn.Linear:
    """Uniform weights (see :func:`_init_bound`) and zero biases."""
    bound = _init_bound(layer.weight[0].numel(), init)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)
    return layer


class LeNet5(nn.Module):
    """LeNet-5 on a ``(B, in_channels, 32, 32)`` input; see the module docstring."""

    def __init__(self, n_classes: int = 10, in_channels: int = 1, init: str = "fan-in") -> None:
        super().__init__()
        self.c1 = _init_layer(nn.Conv2d(in_channels, 6, 5), init)  # -> 6@28x28
        self.s2 = TrainableSubsampling(6, init)  # -> 6@14x14
        self.c3 = PartiallyConnectedConv2d(6, C3_CONNECTIONS, 5, init)  # -> 16@10x10
        self.s4 = TrainableSubsampling(16, init)  # -> 16@5x5
        self.c5 = _init_layer(nn.Conv2d(16, 120, 5), init)  # -> 120@1x1
        self.f6 = _init_layer(nn.Linear(120, 84), init)
        self.output = _init_layer(nn.Linear(84, n_classes), init)
        self.squash = ScaledTanh()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The F6 activations, ``(B, 84)``."""
        x = self.squash(self.c1(x))
        x = self.squash(self.s2(x))
        x = self.squash(self.c3(x))
        x = self.squash(self.s4(x))
        x = self.squash(self.c5(x)).flatten(1)
        return self.squash(self.f6(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(
                f"LeNet-5 expects {INPUT_SIZE}x{INPUT_SIZE} inputs, got {tuple(x.shape)}"
            )
        return self.output(self.features(x))

    def n_trainable_parameters(self, include_output: bool = True) -> int:
        """Parameters of the paper's network: C3's masked-out weights are not counted."""
        layers = [self.c1, self.s2, self.s4, self.c5, self.f6]
        if include_output:
            layers.append(self.output)
        dense = sum(p.numel() for layer in layers for p in layer.parameters())
        return dense + self.c3.n_connected_parameters()


def lenet_input(images: torch.Tensor, rgb: bool) -> torch.Tensor:
    """uint8 ``(B, S, S, 3)`` on any device -> float ``(B, 1 or 3, 32, 32)`` in [0, 1]."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    if not rgb:
        from kornia.color import rgb_to_grayscale  # ITU-R 601 luma

        x = rgb_to_grayscale(x)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(
            x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False
        )
    return x


def input_statistics(
    split: Split,
    rgb: bool,
    device: torch.device,
    batch_size: int = 1024,
    rows: np.ndarray | None = None,
) -> tuple[list[float], list[float]]:
    """Per-channel pixel mean and standard deviation of ``rows`` of ``split`` (default: all)."""
    total = sq_total = None
    count = 0
    rows = np.arange(len(split)) if rows is None else np.asarray(rows, dtype=np.int64)
    batch_size = batch_within(split.images, SCORING_BATCH_BYTES, batch_size)
    stream = BatchStream(split.images, split.labels, rows, batch_size, device)
    for images, _ in stream:
        x = lenet_input(images, rgb).double()
        s, sq = x.sum(dim=(0, 2, 3)), x.square().sum(dim=(0, 2, 3))
        total = s if total is None else total + s
        sq_total = sq if sq_total is None else sq_total + sq
        count += x.shape[0] * x.shape[2] * x.shape[3]
    if total is None or sq_total is None:
        raise MethodError(f"lenet5: split {split.name!r} has no images to compute input statistics")
    mean = total / count
    std = (sq_total / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


class LeNet5Baseline(BaselineBase):
    """LeNet-5 trained by the shared CNN loop on 32x32 (grayscale by default) inputs."""

    year: ClassVar[int] = 1998
    family: ClassVar[str] = "cnn"  # report grouping: "cnn" | "hand-crafted" | "reference"
    source: ClassVar[str] = (
        "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to "
        "document recognition. Proceedings of the IEEE 86(11):2278-2324, 1998."
    )
    description: ClassVar[str] = (
        "LeNet-5: C1-S2-C3(partial table)-S4-C5-F6, scaled tanh, 32x32 grey input, plain SGD; "
        "softmax output sized to the subset"
    )

    parameter_constraints: ClassVar[dict[str, Any]] = {
        "epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0, None),
        "momentum": Interval(float, 0, 1),
        "weight_decay": Interval(float, 0, None),
        "init": Options("fan-in", "paper"),
        "cpu_threads": Interval(int, 1, None),
        "max_steps": Interval(int, 1, None),
    }

    def __init__(
        self,
        rgb: bool = False,  # three input channels instead of the paper's grey levels
        epochs: int = 20,  # passes over the training split (the paper: 20)
        batch_size: int = 32,  # images per SGD step (the paper: 1)
        lr: float = 0.05,  # initial lr: 0.02/0.05/0.1/0.2 compared on a monitor (results/lenet5_recipe/)
        momentum: float = 0.0,  # SGD momentum (0: plain SGD, as in the period)
        weight_decay: float = 0.0,  # L2 coefficient (the paper: none)
        lr_drop_at: tuple[float, ...] = (0.5, 0.75),  # fractions of `epochs` after which lr /= 10
        hflip: bool = False,  # random horizontal mirroring (not in the paper)
        init: str = "fan-in",  # "fan-in" (Efficient BackProp, std 1/sqrt(F)) | "paper" (U(+-2.4/F))
        compile: bool = False,  # torch.compile the network (eager fallback)
        cpu_threads: int | None = 1,  # torch threads on CPU (None: all the harness allows)
        max_steps: int | None = None,  # stop after N optimiser steps: a smoke row, never ranked
    ) -> None:
        self.rgb = rgb
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_drop_at = lr_drop_at
        self.hflip = hflip
        self.init = init
        self.compile = compile
        self.cpu_threads = cpu_threads
        self.max_steps = max_steps

    def display_tag(self) -> str | None:
        """``"smoke: N steps"`` under a step budget (the row is then never ranked)."""
        return ", ".join(smoke_tag(self.max_steps)) or None

    def train_config(self, images: np.ndarray | None = None) -> TrainConfig:
        """The trainer's settings; ``images`` (the cached fit images) bound the scoring batch."""
        milestones = sorted({max(1, round(f * self.epochs)) for f in self.lr_drop_at})
        milestones = [m for m in milestones if m < self.epochs]
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_schedule="step" if milestones else "constant",
            lr_milestones=tuple(milestones),
            # LeNet is tiny; fp32 and the default layout cost nothing and match the paper's arithmetic
            amp=False,
            channels_last=False,
            compile=self.compile,
            eval_batch_size=1024
            if images is None
            else batch_within(images, SCORING_BATCH_BYTES, 1024),
            cpu_threads=self.cpu_threads,
            max_steps=self.max_steps,
        )

    def _transforms(self, device: torch.device) -> tuple[Any, Any]:
        mean = torch.tensor(self.input_mean_, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.input_std_, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        rgb, hflip = self.rgb, self.hflip

        def eval_transform(images: torch.Tensor) -> torch.Tensor:
            return (lenet_input(images, rgb) - mean) / std

        def train_transform(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            x = eval_transform(images)
            if hflip:
                flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            return x

        return train_transform, eval_transform

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        """Train on ``data.fit`` and watch ``data.monitor`` (it stays out of the input statistics)."""
        start = time.perf_counter()
        train = data.fit
        if train.n_classes < 2:
            raise MethodError(
                f"lenet5: needs at least 2 classes, split {train.name!r} has {train.n_classes}"
            )
        device = torch.device(ctx.device)
        self.n_classes_ = train.n_classes
        self.input_mean_, self.input_std_ = input_statistics(train, self.rgb, device)
        train_transform, eval_transform = self._transforms(device)
        in_channels = 3 if self.rgb else 1
        n_classes, init = train.n_classes, self.init
        self.trainer_ = Trainer(
            lambda: LeNet5(n_classes=n_classes, in_channels=in_channels, init=init),
            self.train_config(train.images),
            ctx,
            train_transform=train_transform,
            eval_transform=eval_transform,
            run_name="lenet5",
        )
        self.model_ = self.trainer_.fit(train, monitor=data.monitor)
        self.n_parameters_ = self.model_.n_trainable_parameters()
        summary = self.trainer_.summary_
        # images over the seconds of the whole fit, epochs trained before a resume included
        seconds = time.perf_counter() - start + summary.seconds_before_resume
        ctx.report_training(
            epochs=summary.epochs,
            images_seen=summary.images_seen,
            images_per_s=round(summary.images_seen / max(seconds, 1e-9), 2),
            lr_drops=summary.lr_drops,
            param_count=self.n_parameters_,
            crop=INPUT_SIZE,
            monitor_use=summary.monitor_use,
            resumed_from_epoch=summary.resumed_from_epoch,
            seconds_before_resume=round(summary.seconds_before_resume, 3),
        )
        ctx.note("lenet5_input_mean", self.input_mean_)
        ctx.note("lenet5_input_std", self.input_std_)

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        if not hasattr(self, "trainer_"):
            raise MethodError("lenet5: decision_function called before fit")
        return self.trainer_.predict_proba(split)
