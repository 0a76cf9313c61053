"""The training loop under torch.distributed (two CPU processes, gloo): the DDP hooks work.

Besides training in step, the two ranks must draw *different* random numbers
for augmentation (the transform's generator) and dropout (torch's global
generator): the audit found every rank drawing the same crops, flips, colour
noise and dropout masks because the seed ignored the rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    import numpy as np
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from baselines.cnn import TrainConfig, Trainer
    from harness.api import RunContext, Split

    rank, world, work, out = int(sys.argv[1]), 2, Path(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{work}/rendezvous", rank=rank, world_size=world)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10).astype(np.int64)
    images = rng.integers(0, 100, (30, 8, 8, 3), dtype=np.uint8)
    images[np.arange(30), :, :, labels] += 120
    train = Split("train", images, labels, ("a", "b", "c"))

    def to_float(x):
        return x.permute(0, 3, 1, 2).float() / 255.0

    seen, augment_draws, dropout_draws = [], [], []

    def train_transform(x, generator):
        seen.append(int(x.shape[0]))
        augment_draws.append(torch.rand(2, generator=generator).tolist())
        dropout_draws.append(torch.rand(1).item())  # what nn.Dropout would draw from
        return to_float(x)

    net = lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    ctx = RunContext(work_dir=work / "run", quiet=True, seed=1)
    trainer = Trainer(net, TrainConfig(epochs=2, batch_size=4, lr=0.1, lr_schedule="plateau"), ctx,
                      train_transform=train_transform, eval_transform=to_float,
                      wrap_model=lambda m: DistributedDataParallel(m))
    model = trainer.fit(train, monitor=train)
    torch.save(model.state_dict(), out / f"weights{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps({
        "curve": len(ctx.epoch_log), "seen": sum(seen), "augment": augment_draws,
        "dropout": dropout_draws,
    }))
    dist.destroy_process_group()
    """
)


@pytest.mark.slow  # two fresh torch processes plus a gloo rendezvous: ~40 s on 2 busy cores
def test_two_processes_train_in_step(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path), str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in (0, 1)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, output.decode(errors="replace")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["curve"] for r in ranks] == [2, 0]  # only rank 0 logs the learning curve
    assert [r["seen"] for r in ranks] == [30, 30]  # 15 rows per rank per epoch, 2 epochs
    w0 = torch.load(tmp_path / "weights0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights1.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # gradients were averaged: ranks agree
    # ... but each rank drew its own augmentation and dropout numbers, in every batch
    assert len(ranks[0]["augment"]) == len(ranks[1]["augment"]) == 8  # 4 batches x 2 epochs
    for a, b in zip(ranks[0]["augment"], ranks[1]["augment"], strict=True):
        assert a != b
    for a, b in zip(ranks[0]["dropout"], ranks[1]["dropout"], strict=True):
        assert a != b
    # and a new epoch is a new draw on the same rank
    assert ranks[0]["augment"][0] != ranks[0]["augment"][4]
    assert (tmp_path / "run" / "model" / "last.pt").exists()  # written by rank 0
