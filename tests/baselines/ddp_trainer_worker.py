"""One process of the trainer's data-parallel tests (test_trainer_ddp.py); one process or a rank.

argv: work_dir out_dir params_json. ``params``: ``global_batch``, ``lr``, ``epochs``,
``max_steps``, ``world`` (1: no process group; 2: two gloo ranks), ``per_rank_work``
(each rank its own work folder ``run<rank>``, else one shared ``run``). The rank and the
rendezvous come from torchrun's environment (``RANK``, ``MASTER_ADDR``, ...) when it
is set, else from ``params["rank"]`` and a file rendezvous in ``work_dir``.

Trains a tiny conv net (no BatchNorm, no dropout) on tiny generated images with the
shared trainer, per-rank batch and lr from :func:`alexnet.recipe.data_parallel_batch_and_lr`
(``"global"``: the global batch is ``global_batch``), and writes to ``out_dir``:
``weights<rank>.pt`` and ``rank<rank>.json`` (each optimiser step's loss on this
rank's part of the batch, the augmentation and dropout numbers drawn before every
batch, the learning curve, the training summary).

The train transform *draws* from the augmentation generator (and torch's global
generator, as dropout would) but does not use the numbers: the images reach the
network unaugmented, so one process and two ranks see exactly the same global batches.

``KILL_AFTER_EPOCH=E`` with ``KILL_RANK=r`` (default 1): rank ``r`` SIGKILLs itself once
epoch ``E`` has ended (its checkpoint written, every rank past the barrier).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from alexnet.recipe import data_parallel_batch_and_lr
from baselines.cnn import TrainConfig, Trainer
from baselines.cnn.loop import cross_entropy_loss
from harness.api import RunContext, Split


def tiny_split(n: int = 96) -> Split:
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int64) % 3
    images = rng.integers(0, 200, (n, 8, 8, 3), dtype=np.uint8)
    images[np.arange(n), :, :, labels] += 40  # the class is a colour, plus noise
    return Split("train", images, labels, ("a", "b", "c"))


def main() -> None:
    work, out, params = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", params["world"]))
    rank = int(os.environ.get("RANK", params.get("rank", 0)))
    if world > 1:
        # a short timeout: a rank whose peer died fails in seconds, never hangs
        timeout = timedelta(seconds=30)
        if "MASTER_ADDR" in os.environ:  # torchrun
            dist.init_process_group("gloo", timeout=timeout)
        else:
            init = f"file://{work}/rendezvous"
            dist.init_process_group(
                "gloo", init_method=init, rank=rank, world_size=world, timeout=timeout
            )
    batch, lr = data_parallel_batch_and_lr(params["global_batch"], params["lr"], world, "global")
    losses: list[float] = []
    augment_draws: list[list[float]] = []
    dropout_draws: list[float] = []

    def loss_fn(output, labels, smoothing):
        loss, logits = cross_entropy_loss(output, labels, smoothing)
        losses.append(loss.item())
        return loss, logits

    def to_float(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float() / 255.0

    def train_transform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        augment_draws.append(torch.rand(2, generator=generator).tolist())
        dropout_draws.append(torch.rand(1).item())  # what nn.Dropout would draw from
        return to_float(x)

    kill_after = int(os.environ.get("KILL_AFTER_EPOCH", "0"))
    kill_rank = int(os.environ.get("KILL_RANK", "1"))

    def on_epoch_end(epoch: int) -> None:
        if epoch == kill_after and rank == kill_rank:
            os.kill(os.getpid(), signal.SIGKILL)

    def net() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)
        )

    config = TrainConfig(
        epochs=params["epochs"], batch_size=batch, lr=lr, lr_schedule="cosine",
        weight_decay=5e-4, max_steps=params.get("max_steps"),
    )  # fmt: skip
    # "per_rank_work": each rank its own work folder (as nodes without a shared --cache)
    run = f"run{rank}" if params.get("per_rank_work") else "run"
    ctx = RunContext(work_dir=work / run, quiet=True, seed=1)
    trainer = Trainer(
        net, config, ctx, train_transform=train_transform, eval_transform=to_float,
        wrap_model=DistributedDataParallel if world > 1 else None,
        on_epoch_end=on_epoch_end, loss_fn=loss_fn,
    )  # fmt: skip
    train = tiny_split()
    model = trainer.fit(train, monitor=train)
    torch.save(model.state_dict(), out / f"weights{rank}.pt")
    facts = {
        "losses": losses,
        "augment": augment_draws,
        "dropout": dropout_draws,
        "curve": trainer.curve_,
        "summary": dataclasses.asdict(trainer.summary_),
        "logged": len(ctx.epoch_log),
        "batch": batch,
    }
    (out / f"rank{rank}.json").write_text(json.dumps(facts))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
