"""The later networks as harness baselines: one class per method, one shared fit.

Each method trains through the shared trainer (:mod:`baselines.cnn`) on the
fit rows (the harness's monitor stays out of training and of the input
statistics; it drives the plateau rule and the learning curve) and scores the
centre crop. The profile (:mod:`decade.recipes`) fixes the recipe:
``profile="auto"`` is the paper's on CUDA and the tagged CPU adaptation
elsewhere; a parameter left at ``None`` is the profile's, and
:meth:`LaterCNN.display_tag` names every departure from the paper.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from baselines.cnn import (
    LossFn,
    TrainConfig,
    Trainer,
    cross_entropy_loss,
    planned_switches,
    smoke_tag,
)
from decade.googlenet import GoogLeNet, googlenet_loss
from decade.inputs import CropInputs, channel_statistics
from decade.layers import STEMS, count_parameters
from decade.recipes import PROFILES, Recipe, departures, profile_for_device, recipe_for
from decade.resnet import ResNet
from decade.vgg import VGG
from decade.zfnet import ZFNet
from harness.api import BaselineBase, MethodError, RunContext, Split, TrainData
from harness.params import Interval, Options

__all__ = [
    "GoogLeNetBaseline",
    "LaterCNN",
    "ResNet18Baseline",
    "ResNet34Baseline",
    "VGG11Baseline",
    "VGG16Baseline",
    "ZFNetBaseline",
]

#: the parameters a profile sets when they are left at None
PROFILE_PARAMS = ("stem", "width", "init", "epochs", "batch_size", "lr", "weight_decay")


class LaterCNN(BaselineBase):
    """One network of 2013-2015 trained by its paper's recipe (or the tagged CPU profile)."""

    family: ClassVar[str] = "cnn"
    architecture: ClassVar[str] = ""  # the network, the key of decade.recipes.PAPER
    loss_fn: ClassVar[LossFn] = staticmethod(cross_entropy_loss)  # type: ignore[assignment]
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "profile": Options("auto", *PROFILES),
        "stem": Options(*STEMS),
        "width": Interval(float, 0, 1),
        "init": Options("paper", "kaiming"),
        "epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0, None),
        "weight_decay": Interval(float, 0, None),
        "max_steps": Interval(int, 1, None),
    }

    def __init__(
        self,
        profile: str = "auto",
        stem: str | None = None,
        width: float | None = None,
        init: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float | None = None,
        amp: bool | None = None,
        channels_last: bool | None = None,
        compile: bool | None = None,
        eval_batch_size: int | None = None,
        max_steps: int | None = None,
    ) -> None:
        self.profile = profile  # "auto" (paper on cuda, cpu otherwise) | "paper" | "cpu"
        self.stem = stem  # "paper" (224 crops of 256) | "small" (56 of 64); None: profile's
        self.width = width  # layer-width multiplier, 1 = the paper; None: profile's
        self.init = init  # "paper" | "kaiming"; None: profile's
        self.epochs = epochs  # passes over the fit rows; None: profile's
        self.batch_size = batch_size  # images per SGD step; None: profile's
        self.lr = lr  # initial learning rate; None: profile's
        self.weight_decay = weight_decay  # L2 on weights; None: profile's
        self.amp = amp  # bf16 autocast; None: the device's rule (baselines.cnn)
        self.channels_last = channels_last  # None: the device's rule on CUDA, off on CPU
        self.compile = compile  # torch.compile, eager fallback; None: the device's rule
        self.eval_batch_size = eval_batch_size  # images per test forward; None: 256 / 32 on CPU
        self.max_steps = max_steps  # stop after N optimiser steps: a smoke row, unranked

    # ------------------------------------------------------------ profiles

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        """The network for ``n_classes`` under recipe ``r``."""
        raise NotImplementedError

    def resolve_profile(self, device: str) -> None:
        """Fix ``profile="auto"`` for ``device`` ("paper" on CUDA, "cpu" otherwise)."""
        try:
            self.profile_ = profile_for_device(self.profile, device)
        except ValueError as exc:
            raise MethodError(f"{self.name}: {exc}") from None

    def _profile_name(self) -> str:
        if getattr(self, "profile_", None) is None:
            self.resolve_profile("cuda" if torch.cuda.is_available() else "cpu")
        return self.profile_

    def recipe(self) -> Recipe:
        """The resolved recipe: the profile's values where a parameter is None."""
        base = recipe_for(self.architecture, self._profile_name())
        given = {k: getattr(self, k) for k in PROFILE_PARAMS if getattr(self, k) is not None}
        return dataclasses.replace(base, **given)

    def resolved_params(self) -> dict[str, Any]:
        """:meth:`get_params` with the profile's values filled in and the profile named."""
        params = self.get_params()
        r = self.recipe()
        params.update({k: getattr(r, k) for k in PROFILE_PARAMS})
        params["profile"] = self._profile_name()
        return params

    def calibration_params(self, run_steps: int, device: str) -> dict[str, Any]:
        """What ``harness plan``'s short fits pin to run as the whole run of ``run_steps``
        steps per member does (``compile``: the device's rule, from a number of steps)."""
        return planned_switches(self.compile, device, run_steps)

    def display_tag(self) -> str | None:
        """Every departure from the paper's recipe; ``None`` for the paper's own."""
        parts = departures(self.architecture, self.recipe()) + smoke_tag(self.max_steps)
        if not parts:
            return None
        profile = self._profile_name()
        return (f"{profile} profile: " if profile != "paper" else "") + ", ".join(parts)

    def train_config(self, r: Recipe, cuda: bool) -> TrainConfig:
        """The shared trainer's config for recipe ``r``."""
        milestones = ()
        if r.lr_schedule == "step":
            milestones = tuple(range(r.lr_step_epochs, r.epochs, r.lr_step_epochs))
        return TrainConfig(
            epochs=r.epochs,
            batch_size=r.batch_size,
            lr=r.lr,
            momentum=r.momentum,
            weight_decay=r.weight_decay,
            lr_schedule=r.lr_schedule if r.lr_schedule != "step" or milestones else "constant",
            lr_milestones=milestones,
            lr_drop_factor=r.lr_drop_factor,
            plateau_patience=4,  # as alexnet: 4 epochs without a lower monitor error
            max_lr_drops=3,
            amp=self.amp,
            # On CPU, torch 2.13's channels-last batch-norm backward segfaulted (ResNet-18,
            # width 0.125, one thread, fp32); the CPU default is the contiguous layout.
            channels_last=self.channels_last if self.channels_last is not None or cuda else False,
            compile=self.compile,
            eval_batch_size=self.eval_batch_size or (256 if cuda else 32),
            max_steps=self.max_steps,
        )

    # ----------------------------------------------------------------- fit

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        """Train on ``data.fit``; ``data.monitor`` drives the plateau rule and the curve."""
        start = time.perf_counter()
        train = data.fit
        if train.n_classes < 2 or len(np.unique(train.labels)) < 2:
            raise MethodError(f"{self.name}: needs at least 2 classes with training images")
        self.resolve_profile(ctx.device)
        r = self.recipe()
        crop, base = STEMS[r.stem]
        mean, std = channel_statistics(train)
        self.inputs_ = CropInputs(crop, base, mean, std if r.standardise else None)
        device = torch.device(ctx.device)
        n_classes = train.n_classes
        self.trainer_ = Trainer(
            lambda: self.build(n_classes, r),
            self.train_config(r, device.type == "cuda"),
            ctx,
            train_transform=self.inputs_.train,
            eval_transform=self.inputs_.centre_crop,
            run_name=self.architecture,
            loss_fn=type(self).loss_fn,
        )
        self.model_ = self.trainer_.fit(train, monitor=data.monitor)
        self.n_classes_ = n_classes
        s = self.trainer_.summary_
        seconds = time.perf_counter() - start + s.seconds_before_resume
        ctx.report_training(
            epochs=s.epochs,
            images_seen=s.images_seen,
            images_per_s=round(s.images_seen / max(seconds, 1e-9), 2),
            lr_drops=s.lr_drops,
            param_count=count_parameters(self.model_),
            crop=crop,
            profile=self.profile_,
            monitor_use=s.monitor_use,
            resumed_from_epoch=s.resumed_from_epoch,
            seconds_before_resume=round(s.seconds_before_resume, 3),
        )
        ctx.note("stem", r.stem)
        ctx.note("input", f"cache {train.size}px -> {base}px on the device, {crop}px crops")
        ctx.note("channel_mean", [round(v, 3) for v in mean])

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        """Softmax on the centre crop, ``(N, n_classes)``."""
        if not hasattr(self, "trainer_"):
            raise MethodError(f"{self.name}: decision_function before fit")
        return self.trainer_.predict_proba(split, self.model_)


class ZFNetBaseline(LaterCNN):
    """Zeiler & Fergus (2013/2014): AlexNet with a 7x7/2 conv1 and a stride-2 conv2."""

    architecture = "zfnet"
    year = 2013
    source = (
        "M. D. Zeiler, R. Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014."
    )
    description = "ZFNet: conv1 7x7/2, conv2 5x5/2, dense conv3-5, contrast norm, dropout"

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return ZFNet(n_classes, stem=r.stem, width=r.width, init=r.init)


_VGG_SOURCE = (
    "K. Simonyan, A. Zisserman. Very Deep Convolutional Networks for Large-Scale Image "
    "Recognition. ICLR 2015."
)


class VGG11Baseline(LaterCNN):
    """Simonyan & Zisserman (2014), configuration A: 8 conv + 3 FC, all 3x3."""

    architecture = "vgg11"
    year = 2014
    source = _VGG_SOURCE
    description = "VGG-11 (configuration A): 3x3 convolutions, 5 max-pools, FC 4096-4096"

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return VGG("A", n_classes, stem=r.stem, width=r.width, init=r.init)


class VGG16Baseline(LaterCNN):
    """Simonyan & Zisserman (2014), configuration D: 13 conv + 3 FC, all 3x3."""

    architecture = "vgg16"
    year = 2014
    source = _VGG_SOURCE
    description = "VGG-16 (configuration D): 3x3 convolutions, 5 max-pools, FC 4096-4096"

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return VGG("D", n_classes, stem=r.stem, width=r.width, init=r.init)


class GoogLeNetBaseline(LaterCNN):
    """Szegedy et al. (2014): 22 layers of inception modules, two auxiliary heads in training."""

    architecture = "googlenet"
    year = 2014
    source = "C. Szegedy et al. Going Deeper with Convolutions. CVPR 2015."
    description = "GoogLeNet: inception modules, aux classifiers (weight 0.3) in training only"
    loss_fn = staticmethod(googlenet_loss)

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return GoogLeNet(n_classes, stem=r.stem, width=r.width, init=r.init)


_RESNET_SOURCE = (
    "K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016."
)


class ResNet18Baseline(LaterCNN):
    """He et al. (2015): 18 layers of basic residual blocks, batch norm, option-B shortcuts."""

    architecture = "resnet18"
    year = 2015
    source = _RESNET_SOURCE
    description = "ResNet-18: basic blocks [2,2,2,2], batch norm, projection shortcuts"

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return ResNet(18, n_classes, stem=r.stem, width=r.width)


class ResNet34Baseline(LaterCNN):
    """He et al. (2015): 34 layers of basic residual blocks, batch norm, option-B shortcuts."""

    architecture = "resnet34"
    year = 2015
    source = _RESNET_SOURCE
    description = "ResNet-34: basic blocks [3,4,6,3], batch norm, projection shortcuts"

    def build(self, n_classes: int, r: Recipe) -> nn.Module:
        return ResNet(34, n_classes, stem=r.stem, width=r.width)
