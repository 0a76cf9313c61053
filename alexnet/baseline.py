"""``alexnet``: the 2012 network and recipe as a harness baseline.

One run trains ``ensemble`` networks that differ only in their seed (member 0
uses the run's seed, so ``ensemble=1`` and the first member of a larger
ensemble are the same network), each through the shared trainer
(:mod:`baselines.cnn.trainer`) with its own checkpoint folder
``work_dir/member<i>``, so a killed run resumes every member where it stopped.

Rows it produces (the harness records each variant as ``alexnet[<variant>]``):

* ``alexnet``              member 0, softmax averaged over the ten test crops
                           (the paper's single-CNN protocol);
* ``alexnet[centre-crop]`` member 0, the single centre crop;
* ``alexnet[ensemble-N]``  (``ensemble=N > 1``) the N members' ten-crop
                           softmax outputs averaged, as the paper's 5-CNN row.

Input handling, by ``stem``: ``"paper"`` resizes the cache to 256x256 on the
device (a no-op for ImageNet's 256px cache; Tiny ImageNet's 64px images are
upsampled) and trains on 224 crops, the network unchanged; ``"small"`` is the
adapted-stem variant for 64px images (see :mod:`alexnet.model`), 56 crops of
64x64, recorded in the params so it never passes for the paper network.

Multi-GPU: ``python -m alexnet.train_ddp`` (see there) trains the members
data-parallel under ``torchrun``; ``ddp_world_size`` and ``batch_scaling``
are parameters so the recipe actually used is in the record.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alexnet.augment import AlexNetAugment, ColourStatistics, colour_statistics
from alexnet.lrn import LRN_IMPLS
from alexnet.model import INITS, STEMS, build_alexnet
from alexnet.recipe import BATCH_SCALINGS, PAPER, data_parallel_batch_and_lr
from harness.api import BaselineBase, MethodError, RunContext, Split
from harness.registry import register_baseline

__all__ = ["DDP_DONE_MARKER", "AlexNetBaseline"]

#: written into ``work_dir`` by :mod:`alexnet.train_ddp` once every member is trained
DDP_DONE_MARKER = "ddp_training_done.json"
_COLOUR_STATS = "colour_stats.npz"


def _member_seed(seed: int, member: int) -> int:
    """Member 0 keeps the run's seed; the others get independent derived seeds."""
    if member == 0:
        return seed
    return int(np.random.SeedSequence([seed, member, 2012]).generate_state(1)[0])


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@register_baseline("alexnet")
class AlexNetBaseline(BaselineBase):
    """Krizhevsky, Sutskever & Hinton (2012): 8-layer CNN, ReLU, LRN, dropout, PCA colour noise."""

    name = "alexnet"
    year = 2012
    source = (
        "A. Krizhevsky, I. Sutskever, G. E. Hinton. ImageNet Classification with Deep "
        "Convolutional Neural Networks. NIPS 2012."
    )
    description = "AlexNet: 5 conv + 3 FC, ReLU, LRN, overlapping pooling, dropout, 10-crop test"
    family = "cnn"

    def __init__(
        self,
        epochs: int = PAPER.epochs,
        batch_size: int = PAPER.batch_size,
        lr: float = PAPER.lr,
        momentum: float = PAPER.momentum,
        weight_decay: float = PAPER.weight_decay,
        plateau_patience: int = 4,
        max_lr_drops: int = PAPER.max_lr_drops,
        stem: str = "paper",
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
        init: str = "paper",
        width: float = 1.0,
    ) -> None:
        self.epochs = epochs  # upper bound; the plateau rule drops the lr up to max_lr_drops times
        self.batch_size = batch_size  # global batch (see batch_scaling)
        self.lr = lr  # initial learning rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.plateau_patience = plateau_patience  # epochs without a lower monitor error
        self.max_lr_drops = max_lr_drops
        self.stem = stem  # "paper" (224 crops of 256) | "small" (56 crops of 64, adapted conv1)
        self.mean = mean  # "pixel" (paper: mean image) | "channel"
        self.pca_std = pca_std  # std of the PCA colour-noise coefficients (0 disables)
        self.ensemble = ensemble  # members with different seeds
        self.amp = amp  # bf16 autocast; None = on for cuda
        self.channels_last = channels_last  # None = on for cuda
        self.compile = compile  # torch.compile with eager fallback; None = on for cuda
        self.eval_batch_size = eval_batch_size  # images per test forward (x10 crops); None = auto
        self.lrn_impl = lrn_impl  # "fast" | "shifted" | "torch" (same function, alexnet.lrn)
        self.ddp_world_size = ddp_world_size  # processes the members were trained on
        self.batch_scaling = batch_scaling  # "global" | "linear" (alexnet.recipe)
        self.init = init  # "paper" | "caffe" | "kaiming" (+ standardised inputs); alexnet.model
        self.width = width  # layer-width multiplier; 1 = the paper, < 1 only for CPU tests/demos

    def display_tag(self) -> str | None:
        """Departures from the paper network, for the row's name; ``None`` for the paper's.

        An adapted stem, a narrower net or another initialisation is a different
        model; its row says so (``alexnet (small stem, width 0.5, kaiming init)``)
        so that no reader takes it for the 2012 network.
        """
        tags = []
        if self.stem != "paper":
            tags.append(f"{self.stem} stem")
        if self.width != 1.0:
            tags.append(f"width {self.width:g}")
        if self.init != "paper":
            tags.append(f"{self.init} init")
        return ", ".join(tags) or None

    # ---------------------------------------------------------------- checks

    def _validate(self, train: Split) -> None:
        problems = []
        if self.stem not in STEMS:
            problems.append(f"stem must be one of {sorted(STEMS)}, got {self.stem!r}")
        if self.mean not in ("pixel", "channel"):
            problems.append(f"mean must be 'pixel' or 'channel', got {self.mean!r}")
        if self.ensemble < 1:
            problems.append(f"ensemble must be >= 1, got {self.ensemble}")
        if self.init not in INITS:
            problems.append(f"init must be one of {INITS}, got {self.init!r}")
        if not 0 < self.width <= 1:
            problems.append(f"width must be in (0, 1], got {self.width}")
        if self.lrn_impl not in LRN_IMPLS:
            problems.append(f"lrn_impl must be one of {LRN_IMPLS}, got {self.lrn_impl!r}")
        if self.batch_scaling not in BATCH_SCALINGS:
            problems.append(f"batch_scaling must be one of {BATCH_SCALINGS}")
        if problems:
            raise MethodError("alexnet: " + "; ".join(problems))
        if train.n_classes < 2 or len(np.unique(train.labels)) < 2:
            raise MethodError(
                f"alexnet: the training split {train.name!r} has fewer than 2 classes with images"
            )

    # ------------------------------------------------------------------- fit

    def _colour_statistics(self, train: Split, ctx: RunContext) -> ColourStatistics:
        """Training-set mean image and RGB PCA, cached in the run's work folder."""
        path = Path(ctx.work_dir) / _COLOUR_STATS
        rank, world = _distributed()
        if rank == 0:
            stats = None
            if path.exists():
                stats = ColourStatistics.load(path)
                if stats.n_images != len(train) or stats.mean_image.shape != train.images.shape[1:]:
                    stats = None
            if stats is None:
                stats = colour_statistics(train.images, device=ctx.device)
                path.parent.mkdir(parents=True, exist_ok=True)
                stats.save(path)
        if world > 1:
            torch.distributed.barrier()
        if rank != 0:
            stats = ColourStatistics.load(path)
        return stats

    def _train_config(self, n_train: int, cuda: bool) -> Any:
        from baselines.cnn.trainer import TrainConfig

        per_rank, lr = data_parallel_batch_and_lr(
            self.batch_size, self.lr, self.ddp_world_size, self.batch_scaling
        )
        rows_per_rank = n_train // self.ddp_world_size
        return TrainConfig(
            epochs=self.epochs,
            batch_size=per_rank,
            lr=lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_schedule="plateau",
            lr_drop_factor=PAPER.lr_drop_factor,
            plateau_patience=self.plateau_patience,
            max_lr_drops=self.max_lr_drops,
            # With >= 10 full batches per epoch the ragged last one is dropped: a
            # second batch shape would make torch.compile recompile; < 10% of an epoch.
            drop_last=rows_per_rank >= 10 * per_rank,
            amp=cuda if self.amp is None else self.amp,
            amp_dtype="bfloat16",
            channels_last=cuda if self.channels_last is None else self.channels_last,
            compile=cuda if self.compile is None else self.compile,
            eval_batch_size=self.eval_batch_size or (128 if cuda else 8),
        )

    def _check_world(self, ctx: RunContext) -> int:
        _, world = _distributed()
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

    def fit(self, train: Split, ctx: RunContext) -> AlexNetBaseline:
        from baselines.cnn.trainer import Trainer

        self._validate(train)
        world = self._check_world(ctx)
        device = torch.device(ctx.device)
        cuda = device.type == "cuda"
        spec = STEMS[self.stem]
        stats = self._colour_statistics(train, ctx)
        augment = AlexNetAugment(
            stats,
            crop=spec.crop,
            base=spec.base,
            mean=self.mean,
            pca_std=self.pca_std,
            device=device,
            standardise=self.init == "kaiming",
        )
        config = self._train_config(len(train), cuda)
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
                lambda: build_alexnet(
                    n_classes, self.stem, self.lrn_impl, width=self.width, init=self.init
                ),
                config,
                member_ctx,
                train_transform=augment.train,
                # the plateau rule watches the centre crop: ten crops cost 10x per epoch
                eval_transform=augment.centre_crop,
                run_name=f"member{member}",
                seed=_member_seed(ctx.seed, member),
                wrap_model=wrap if world > 1 else None,
            )
            models.append(trainer.fit(train))
            trainers.append(trainer)
            if member == 0:
                self._note_throughput(ctx, trainer.curve_)

        ctx.notes.update(
            stem=self.stem,
            input=(
                f"cache {train.size}px -> {spec.base}px on the device, {spec.crop}px crops"
                if train.size != spec.base
                else f"cache {train.size}px, {spec.crop}px crops"
            ),
            colour_eigvals=[round(float(v), 3) for v in stats.eigvals],
            per_process_batch=config.batch_size,
            per_process_lr=config.lr,
            trained_on_processes=self.ddp_world_size,
        )
        self.n_classes_ = n_classes
        self.colour_stats_ = stats
        self.augment_ = augment
        self.trainers_ = trainers
        self.models_ = models
        self._memo: dict[tuple[Any, ...], np.ndarray] = {}
        return self

    @staticmethod
    def _note_throughput(ctx: RunContext, curve: list[dict[str, Any]]) -> None:
        if not curve:
            return
        ctx.notes["train_images_per_s"] = round(
            float(np.mean([row["images_per_s"] for row in curve])), 2
        )
        ctx.notes["epochs_trained"] = len(curve)

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
