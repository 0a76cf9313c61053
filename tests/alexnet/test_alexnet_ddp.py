"""The data-parallel path on CPU: torchrun starts two gloo processes, the parent evaluates."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet.baseline import AlexNetBaseline
from alexnet.recipe import data_parallel_batch_and_lr
from harness.api import RunContext, fit_method, handover
from tests.fixtures.colour import colour_split

WORLD = 2
PARAMS = dict(stem="small", width=0.25, init="kaiming", batch_size=8, lr=1e-3, epochs=1,
              ddp_world_size=WORLD)  # fmt: skip
WORKER = Path(__file__).with_name("ddp_worker.py")


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_per_process_batch_and_lr_rules() -> None:
    assert data_parallel_batch_and_lr(128, 0.01, 4, "global") == (32, 0.01)
    assert data_parallel_batch_and_lr(128, 0.01, 4, "linear") == (128, 0.04)
    with pytest.raises(ValueError, match="divide"):
        data_parallel_batch_and_lr(128, 0.01, 3, "global")


def test_torchrun_gloo_training_then_single_process_evaluation(tmp_path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    out.mkdir()
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={WORLD}", str(WORKER), str(work), str(out), json.dumps(PARAMS),
    ]  # fmt: skip
    # the repository root, so that the worker imports tests.fixtures as the tests do
    path = os.pathsep.join([str(WORKER.parents[2]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [(out / f"rank{r}.txt").read_text().split() for r in range(WORLD)]
    digests = {d for d, _, _ in lines}
    assert len(digests) == 1  # gradients were averaged: every rank holds the same weights
    assert [int(n) for _, n, _ in lines] == [16, 16]  # each rank trained on half of the 32 images
    assert {int(w) for _, _, w in lines} == {WORLD}
    # each rank draws its own crops, flips and colour noise (the seed includes the rank)
    draws = [json.loads((out / f"draws{r}.json").read_text()) for r in range(WORLD)]
    assert len(draws[0]) == len(draws[1]) == 4  # 16 rows per rank, batches of 8 / 2 ranks = 4
    for a, b in zip(*draws, strict=True):
        assert a != b

    ctx = RunContext(work_dir=work, cache_dir=work, quiet=True, seed=0)
    train = colour_split(8)
    model = AlexNetBaseline(**PARAMS)
    assert fit_method(model, handover(train), train, ctx) is None  # no refit
    assert ctx.training.resumed_from_epoch == 1  # evaluated, not retrained
    assert ctx.training.images_seen == 32  # both ranks' images, from the checkpoint
    assert _digest(model.models_[0]) in digests
    assert model.decision_function(colour_split(2, seed=1), ctx).shape == (8, 4)
