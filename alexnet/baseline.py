"""``alexnet``: the 2012 network and recipe as a harness baseline.

One run trains ``ensemble`` networks that differ only in their seed (member 0
uses the run's seed, so ``ensemble=1`` and the first member of a larger
ensemble are the same network; the others get
``derive_seed(seed, MEMBER, member=i)``), each through the shared trainer
(:mod:`baselines.cnn.trainer`) with its own checkpoint folder
``work_dir/member<i>``, so a killed run resumes every member where it stopped.

Rows it produces (the harness records each variant as ``alexnet[<variant>]``):

* ``alexnet``              member 0, softmax averaged over the ten test crops
                           (the paper's single-CNN protocol);
* ``alexnet[centre-crop]`` member 0, the single centre crop;
* ``alexnet[ensemble-N]``  (``ensemble=N > 1``) the N members' ten-crop
                           softmax outputs averaged, as the paper's 5-CNN row.

**What it trains on.** The fit rows of the training split
(``ctx.fit_and_monitor``): the harness's monitor, a held-out slice of train,
stays out of training, of the mean image and of the PCA colour statistics.
The monitor's centre-crop top-1 error drives the plateau rule and the
learning curve; the val split is never seen before it is scored.

**Profiles by device** (:mod:`alexnet.recipe`): ``profile="auto"`` (default)
is ``"paper"`` on CUDA and ``"cpu"`` elsewhere. The parameters a profile
sets (``stem``, ``width``, ``init``, ``epochs``, ``batch_size``, ``lr``)
default to ``None`` = "the profile's"; an explicit value overrides it. The
runner calls :meth:`AlexNetBaseline.resolve_profile` with the device before
:meth:`~AlexNetBaseline.display_tag`, whose tag names every departure from
the paper, and :meth:`~AlexNetBaseline.preflight` before any work, which
refuses a CPU training estimated to take more than 12 hours (the paper
network: days) unless ``allow_slow_cpu=True``.

Input handling, by ``stem``: ``"paper"`` resizes the cache to 256x256 on the
device (a no-op for ImageNet's 256px cache; Tiny ImageNet's 64px images are
upsampled) and trains on 224 crops, the network unchanged; ``"small"`` is the
adapted-stem variant for 64px images (see :mod:`alexnet.model`), 56 crops of
64x64, named in the row so it never passes for the paper network.

Multi-GPU: ``python -m alexnet.train_ddp`` (see there) trains the members
data-parallel under ``torchrun``; ``ddp_world_size`` and ``batch_scaling``
are parameters so the recipe actually used is in the record.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alexnet.augment import AlexNetAugment, ColourStatistics, colour_statistics
from alexnet.lrn import LRN_IMPLS
from alexnet.model import INITS, STEMS, build_alexnet, count_parameters
from alexnet.recipe import (
    BATCH_SCALINGS,
    LR_SCHEDULES,
    PAPER,
    PROFILES,
    Settings,
    departures,
    profile_for_device,
    trainer_config,
)
from baselines.cnn.config import smoke_tag
from baselines.cnn.device import planned_switches
from baselines.cnn.distributed import barrier, rank_and_world
from baselines.cnn.reproducibility import SeedStream, derive_seed
from baselines.cnn.resume import rows_digest
from harness.api import BaselineBase, MethodError, RunContext, Split, TrainData
from harness.params import Interval, Options

__all__ = ["DDP_DONE_MARKER", "AlexNetBaseline", "member_seed"]

#: written into ``work_dir`` by :mod:`alexnet.train_ddp` once every member is trained
DDP_DONE_MARKER = "ddp_training_done.json"
log = logging.getLogger("alexnet")

#: the parameters a profile sets when they are left at None
PROFILE_PARAMS = (
    "stem",
    "width",
    "init",
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "warmup_epochs",
)


def member_seed(seed: int, member: int) -> int:
    """Member 0 keeps the run's seed; the others get independent derived seeds."""
    if member == 0:
        return seed
    return derive_seed(seed, SeedStream.MEMBER, member=member)


def _default_device() -> str:
    """The device ``--device auto`` would pick (used only if resolve_profile was not called)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class AlexNetBaseline(BaselineBase):
    """Krizhevsky, Sutskever & Hinton (2012): 8-layer CNN, ReLU, LRN, dropout, PCA colour noise."""

    year = 2012
    source = (
        "A. Krizhevsky, I. Sutskever, G. E. Hinton. ImageNet Classification with Deep "
        "Convolutional Neural Networks. NIPS 2012."
    )
    description = "AlexNet: 5 conv + 3 FC, ReLU, LRN, overlapping pooling, dropout, 10-crop test"
    family = "cnn"
    parameter_constraints = {
        "profile": Options("auto", *PROFILES),
        "epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0, None),
        "momentum": Interval(float, 0, 1),
        "weight_decay": Interval(float, 0, None),
        "lr_schedule": Options(*LR_SCHEDULES),
        "plateau_patience": Interval(int, 1, None),
        "max_lr_drops": Interval(int, 0, None),
        "stem": Options(*STEMS),
        "width": Interval(float, 0, 1),
        "init": Options(*INITS),
        "mean": Options("pixel", "channel"),
        "pca_std": Interval(float, 0, None),
        "ensemble": Interval(int, 1, None),
        "lrn_impl": Options(*LRN_IMPLS),
        "ddp_world_size": Interval(int, 1, None),
        "batch_scaling": Options(*BATCH_SCALINGS),
        "max_steps": Interval(int, 1, None),
    }

    def __init__(
        self,
        profile: str = "auto",
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        momentum: float = PAPER.momentum,
        weight_decay: float = PAPER.weight_decay,
        lr_schedule: str | None = None,
        warmup_epochs: float | None = None,
        plateau_patience: int = PAPER.plateau_patience,
        max_lr_drops: int = PAPER.max_lr_drops,
        stem: str | None = None,
        mean: str = "pixel",
        pca_std: float = PAPER.pca_alpha_std,
        ensemble: int = 1,
        amp: bool | None = None,
        channels_last: bool | None = None,
        compile: bool | None = None,
        eval_batch_size: int | None = None,
        lrn_impl: str = "fast",
        ddp_world_size: int = 1,
        batch_scaling: str = "global",
        init: str | None = None,
        width: float | None = None,
        allow_slow_cpu: bool = False,
        max_steps: int | None = None,
    ) -> None:
        self.profile = profile  # "auto" (paper on cuda, cpu otherwise) | "paper" | "cpu"
        self.epochs = epochs  # None: the profile's (paper 90, cpu 8); an upper bound for plateau
        self.batch_size = batch_size  # global batch (see batch_scaling); None: paper 128, cpu 64
        self.lr = lr  # initial learning rate; None: paper 0.01, cpu 0.003
        self.momentum = momentum
        self.weight_decay = weight_decay  # on weights only, never biases (as cuda-convnet)
        self.lr_schedule = lr_schedule  # "plateau" (paper) | "cosine" | "constant"; None: profile's
        self.warmup_epochs = warmup_epochs  # "cosine": linear warm-up epochs; None: profile's
        self.plateau_patience = plateau_patience  # epochs in a row without a lower monitor error
        self.max_lr_drops = max_lr_drops
        self.stem = stem  # "paper" (224 crops of 256) | "small" (56 of 64); None: the profile's
        self.mean = mean  # "pixel" (paper: mean image) | "channel"
        self.pca_std = pca_std  # std of the PCA colour-noise coefficients (0 disables)
        self.ensemble = ensemble  # members with different seeds
        self.amp = amp  # bf16 autocast; None: the device's rule (baselines.cnn.device)
        self.channels_last = channels_last  # None: the device's rule
        self.compile = compile  # torch.compile with eager fallback; None: the device's rule
        self.eval_batch_size = eval_batch_size  # images per test forward (x10 crops); None = auto
        self.lrn_impl = lrn_impl  # "fast" | "shifted" | "torch" (same function, alexnet.lrn)
        self.ddp_world_size = ddp_world_size  # processes the members were trained on
        self.batch_scaling = batch_scaling  # "global" | "linear" (alexnet.recipe)
        self.init = init  # "paper" | "caffe" | "kaiming" (+ standardised inputs); None: profile's
        self.width = width  # layer-width multiplier, 1 = the paper; None: the profile's
        self.allow_slow_cpu = allow_slow_cpu  # train even when preflight estimates > 12 h on CPU
        self.max_steps = max_steps  # stop after N optimiser steps per member: a smoke row, unranked

    # -------------------------------------------------------------- profiles

    def resolve_profile(self, device: str) -> None:
        """Fix ``profile="auto"`` for ``device`` ("paper" on CUDA, "cpu" otherwise).

        The runner calls this before :meth:`display_tag` (which cannot know the
        device) and :meth:`fit` calls it again with ``ctx.device``.
        """
        try:
            self.profile_ = profile_for_device(self.profile, device)
        except ValueError as exc:
            raise MethodError(f"alexnet: {exc}") from None

    def _profile_name(self) -> str:
        resolved = getattr(self, "profile_", None)
        if resolved is None:
            self.resolve_profile(_default_device())
            resolved = self.profile_
        return resolved

    def settings(self) -> Settings:
        """The resolved recipe: the profile's values where a parameter is None."""
        profile = PROFILES[self._profile_name()]

        def pick(name: str) -> Any:
            value = getattr(self, name)
            return getattr(profile, name) if value is None else value

        stem = pick("stem")
        if stem not in STEMS:
            raise MethodError(f"alexnet: stem must be one of {sorted(STEMS)}, got {stem!r}")
        return Settings(
            stem=stem,
            crop=STEMS[stem].crop,
            width=float(pick("width")),
            init=pick("init"),
            epochs=int(pick("epochs")),
            batch_size=int(pick("batch_size")),
            lr=float(pick("lr")),
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_schedule=pick("lr_schedule"),
            warmup_epochs=float(pick("warmup_epochs")),
            plateau_patience=self.plateau_patience,
            max_lr_drops=self.max_lr_drops,
            mean=self.mean,
            pca_std=self.pca_std,
            batch_scaling=self.batch_scaling,
            world_size=self.ddp_world_size,
        )

    def resolved_params(self) -> dict[str, Any]:
        """:meth:`get_params` with the profile's values filled in and the profile named."""
        params = self.get_params()
        s = self.settings()
        params.update({name: getattr(s, name) for name in PROFILE_PARAMS})
        params["profile"] = self._profile_name()
        return params

    def calibration_params(self, run_steps: int, device: str) -> dict[str, Any]:
        """What ``harness plan``'s short fits pin to run as the whole run of ``run_steps``
        steps per member does (``compile``: the device's rule, from a number of steps)."""
        return planned_switches(self.compile, device, run_steps)

    def display_tag(self) -> str | None:
        """Every departure from the paper, for the row's name; ``None`` for the paper's recipe.

        ``"cpu profile: small stem, 56px crops, width 0.5, kaiming init, 8 epochs,
        batch 64, lr 0.003"``: a different model or recipe never passes for the
        2012 network. Call :meth:`resolve_profile` first (else ``auto`` is
        resolved for the device ``--device auto`` would pick).
        """
        parts = departures(self.settings()) + smoke_tag(self.max_steps)
        if not parts:
            return None
        profile = self._profile_name()
        return (f"{profile} profile: " if profile != "paper" else "") + ", ".join(parts)

    def preflight(self, n_train: int, device: str, allow_slow_cpu: bool | None = None) -> None:
        """Refuse, before any work, a CPU training estimated to take over 12 hours.

        The estimate times two SGD steps of the configured network on this CPU
        (:mod:`alexnet.preflight`) and multiplies by epochs x ``n_train`` x
        members. ``allow_slow_cpu`` (this call's, or the parameter) lets it run.
        """
        from alexnet.preflight import check_cpu_budget

        self.resolve_profile(device)
        if str(device).startswith("cuda") or self.allow_slow_cpu or allow_slow_cpu:
            return
        s = self.settings()
        what = self.display_tag() or "the paper network and recipe"
        check_cpu_budget(s, self.lrn_impl, n_train, self.ensemble, what, self.max_steps)

    # ---------------------------------------------------------------- checks

    def _validate(self, train: Split, s: Settings) -> None:
        problems = []
        if self.mean not in ("pixel", "channel"):
            problems.append(f"mean must be 'pixel' or 'channel', got {self.mean!r}")
        if self.ensemble < 1:
            problems.append(f"ensemble must be >= 1, got {self.ensemble}")
        if s.init not in INITS:
            problems.append(f"init must be one of {INITS}, got {s.init!r}")
        if not 0 < s.width <= 1:
            problems.append(f"width must be in (0, 1], got {s.width}")
        if self.lrn_impl not in LRN_IMPLS:
            problems.append(f"lrn_impl must be one of {LRN_IMPLS}, got {self.lrn_impl!r}")
        if self.batch_scaling not in BATCH_SCALINGS:
            problems.append(f"batch_scaling must be one of {BATCH_SCALINGS}")
        if self.lr_schedule is not None and self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if problems:
            raise MethodError("alexnet: " + "; ".join(problems))
        if train.n_classes < 2 or len(np.unique(train.labels)) < 2:
            raise MethodError(
                f"alexnet: the training split {train.name!r} has fewer than 2 classes with images"
            )

    def _check_world(self, ctx: RunContext) -> int:
        _, world = rank_and_world()
        if world > 1 and world != self.ddp_world_size:
            raise MethodError(
                f"alexnet: running on {world} processes but ddp_world_size={self.ddp_world_size}; "
                "pass ddp_world_size equal to torchrun's --nproc-per-node x --nnodes"
            )
        trained = (Path(ctx.work_dir) / DDP_DONE_MARKER).exists()
        if world == 1 and self.ddp_world_size > 1 and not trained:
            raise MethodError(
                f"alexnet: ddp_world_size={self.ddp_world_size} but torch.distributed is not "
                "initialised and no finished data-parallel training was found in "
                f"{ctx.work_dir}; train with `torchrun --nproc-per-node "
                f"{self.ddp_world_size} -m alexnet.train_ddp ...`"
            )
        return world

    # ------------------------------------------------------------------- fit

    def _colour_statistics(self, train: Split, ctx: RunContext) -> ColourStatistics:
        """Mean image and RGB PCA of the fit rows, cached in the run's work folder."""
        rows = np.arange(len(train))
        parent_rows = train.parent_rows if train.parent_rows is not None else rows
        path = Path(ctx.work_dir) / f"colour_stats-{rows_digest(parent_rows)}.npz"
        rank, _ = rank_and_world()
        if rank == 0:
            stats = None
            if path.exists():
                stats = ColourStatistics.load(path)
                if stats.n_images != len(rows) or stats.mean_image.shape != train.images.shape[1:]:
                    stats = None
            if stats is None:
                stats = colour_statistics(train.images, device=ctx.device, rows=rows)
                path.parent.mkdir(parents=True, exist_ok=True)
                stats.save(path)
        barrier()  # the other ranks read what rank 0 wrote
        if rank != 0:
            stats = ColourStatistics.load(path)
        return stats

    def _train_config(self, n_fit: int, cuda: bool, s: Settings) -> Any:
        return trainer_config(
            s, n_fit, cuda, self.ddp_world_size, self.batch_scaling,
            amp=self.amp, channels_last=self.channels_last, compile=self.compile,
            eval_batch_size=self.eval_batch_size, max_steps=self.max_steps,
        )  # fmt: skip

    def fit(self, data: TrainData, ctx: RunContext) -> None:
        """Train on ``data.fit``; ``data.monitor`` drives the plateau rule (never trained on)."""
        from baselines.cnn.trainer import Trainer

        start = time.perf_counter()
        train = data.fit
        self.resolve_profile(ctx.device)
        s = self.settings()
        self._validate(train, s)
        world = self._check_world(ctx)
        device = torch.device(ctx.device)
        cuda = device.type == "cuda"
        spec = STEMS[s.stem]
        stats = self._colour_statistics(train, ctx)
        augment = AlexNetAugment(
            stats,
            crop=spec.crop,
            base=spec.base,
            mean=self.mean,
            pca_std=self.pca_std,
            device=device,
            standardise=s.init == "kaiming",
        )
        config = self._train_config(len(train), cuda, s)
        n_classes = train.n_classes

        def wrap(model: nn.Module) -> nn.Module:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.cuda.current_device()] if cuda else None
            return DistributedDataParallel(model, device_ids=ids)

        trainers, models = [], []
        for member in range(self.ensemble):
            # Only member 0's learning curve is the run's; the others keep their own.
            member_ctx = ctx if member == 0 else dataclasses.replace(ctx, epoch_log=[])
            trainer = Trainer(
                lambda: build_alexnet(n_classes, s.stem, self.lrn_impl, width=s.width, init=s.init),
                config,
                member_ctx,
                train_transform=augment.train,
                # the plateau rule watches the centre crop: ten crops cost 10x per epoch
                eval_transform=augment.centre_crop,
                run_name=f"member{member}",
                seed=member_seed(ctx.seed, member),
                wrap_model=wrap if world > 1 else None,
            )
            models.append(trainer.fit(train, monitor=data.monitor))
            trainers.append(trainer)

        self._report(ctx, trainers, models[0], spec.crop, time.perf_counter() - start)
        ctx.note("stem", s.stem)
        ctx.note(
            "input",
            f"cache {train.size}px -> {spec.base}px on the device, {spec.crop}px crops"
            if train.size != spec.base
            else f"cache {train.size}px, {spec.crop}px crops",
        )
        ctx.note("colour_eigvals", [round(float(v), 3) for v in stats.eigvals])
        ctx.note("per_process_batch", config.batch_size)
        ctx.note("per_process_lr", config.lr)
        ctx.note("trained_on_processes", self.ddp_world_size)
        self.n_classes_ = n_classes
        self.colour_stats_ = stats
        self.augment_ = augment
        self.trainers_ = trainers
        self.models_ = models
        self._memo: dict[tuple[Any, ...], np.ndarray] = {}

    def _report(
        self, ctx: RunContext, trainers: list[Any], model: nn.Module, crop: int, seconds: float
    ) -> None:
        """Training facts over every member: images over the whole fit's seconds."""
        summaries = [t.summary_ for t in trainers]
        first = summaries[0]
        before = sum(x.seconds_before_resume for x in summaries)
        images = sum(x.images_seen for x in summaries)
        ctx.report_training(
            epochs=first.epochs,
            images_seen=images,
            images_per_s=round(images / max(seconds + before, 1e-9), 2),
            lr_drops=first.lr_drops,
            param_count=count_parameters(model),
            crop=crop,
            profile=self.profile_,
            monitor_use=first.monitor_use,
            resumed_from_epoch=first.resumed_from_epoch,
            seconds_before_resume=round(before, 3),
        )
        if len(summaries) > 1:
            ctx.note("members_resumed_from_epoch", [x.resumed_from_epoch for x in summaries])
            ctx.note("members_lr_drops", [list(x.lr_drops) for x in summaries])

    # --------------------------------------------------------------- predict

    def _proba(self, member: int, ten_crop: bool, split: Split) -> np.ndarray:
        if not hasattr(self, "trainers_"):
            raise RuntimeError("alexnet: decision_function before fit")
        key = (member, ten_crop, split.name, len(split), id(split.images))
        if key not in self._memo:
            trainer = self.trainers_[member]
            trainer.eval_transform = (
                self.augment_.ten_crop if ten_crop else self.augment_.centre_crop
            )
            self._memo[key] = trainer.predict_proba(split, self.models_[member])
        return self._memo[key]

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        """Member 0's softmax averaged over the ten test crops, (N, n_classes)."""
        return self._proba(0, True, split)

    def declared_variants(self) -> dict[str, str]:
        """The single-crop row, and the ensemble's when there is one (Krizhevsky et al., Table 2)."""
        out = {
            "centre-crop": "the paper's single-crop figure: member 0 on the centre crop, "
            "no flips (the headline row averages ten crops)"
        }
        if self.ensemble > 1:
            out[f"ensemble-{self.ensemble}"] = (
                f"the paper's averaged predictions of {self.ensemble} networks, ten crops each"
            )
        return out

    def variant_scores(self, split: Split, ctx: RunContext) -> dict[str, np.ndarray]:
        """``centre-crop`` (member 0) and, for ``ensemble > 1``, ``ensemble-N`` (10-crop, averaged)."""
        out = {"centre-crop": self._proba(0, False, split)}
        if self.ensemble > 1:
            members = [self._proba(i, True, split) for i in range(self.ensemble)]
            out[f"ensemble-{self.ensemble}"] = np.mean(members, axis=0).astype(np.float32)
        return out

    def write_ddp_marker(self, ctx: RunContext, info: dict[str, Any]) -> Path:
        """Mark ``ctx.work_dir`` as trained data-parallel (called by :mod:`alexnet.train_ddp`)."""
        path = Path(ctx.work_dir) / DDP_DONE_MARKER
        path.write_text(json.dumps(info, indent=2, default=str) + "\n")
        return path
