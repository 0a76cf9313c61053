"""The shared trainer under torch.distributed: two gloo ranks on the CPU, in the default suite.

One process with the global batch of 8 and two ranks with 4 each train the same tiny
conv net (no BatchNorm, no dropout) on the same generated images for 50 optimiser
steps (``max_steps``; 12 steps an epoch, so the budget ends in epoch 5). The train
transform draws augmentation and dropout numbers but leaves the images as they are:
each rank must draw its *own* numbers (the audit found every rank drawing the same
crops and masks), which real augmentation would turn into different global batches
than one process's. With the images unaugmented, one process and two ranks see the
same global batches (the shared permutation, rank ``r`` taking every 2nd row) and
must reach the same loss.

Then a rank is SIGKILLed after epoch 1's checkpoint; torchrun tears the other one
down; the job started again resumes from epoch 1 and ends with the uninterrupted
run's weights, bit for bit. ``ddp_trainer_worker.py`` is the process's script.

Measured on the 2-core development machine shared with other jobs: the module in
35-60 s wall (31 s of CPU); the fixture (3 processes) 11-19 s, the kill/resume test
21 s (torchrun twice), the per-rank-folder test 14 s, the others under 2 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_trainer_worker.py")
ROOT = WORKER.parents[2]
PARAMS = {"global_batch": 8, "lr": 0.1, "epochs": 5, "max_steps": 50}
TIMEOUT = 150  # a hung rank fails the test instead of hanging CI


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **extra}


def _start(work: Path, out: Path, **params: int) -> subprocess.Popen:
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(WORKER), str(work), str(out), json.dumps({**PARAMS, **params})]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _torchrun(work: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        str(WORKER), str(work), str(out), json.dumps({**PARAMS, "world": 2}),
    ]  # fmt: skip
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=TIMEOUT)


def _facts(out: Path, rank: int) -> dict:
    return json.loads((out / f"rank{rank}.json").read_text())


def _weights(out: Path, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(out / f"weights{rank}.pt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One process (batch 8) and two file-rendezvous gloo ranks (4 each), side by side."""
    root = tmp_path_factory.mktemp("ddp")
    procs = [
        _start(root / "single", root / "single_out", world=1),
        *(_start(root / "ddp", root / "ddp_out", world=2, rank=r) for r in (0, 1)),
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, output.decode(errors="replace")[-3000:]
    return root


def test_two_ranks_reach_one_process_loss_at_the_same_global_batch(runs: Path) -> None:
    single = _facts(runs / "single_out", 0)
    ranks = [_facts(runs / "ddp_out", r) for r in (0, 1)]
    assert single["batch"] == 8 and [r["batch"] for r in ranks] == [4, 4]  # "global" scaling
    assert len(single["losses"]) == 50 and [len(r["losses"]) for r in ranks] == [50, 50]
    # step 50's loss over the global batch: the mean of the two halves' (equal sizes)
    one = single["losses"][49]
    two = (ranks[0]["losses"][49] + ranks[1]["losses"][49]) / 2
    assert abs(two - one) / one < 0.01, (one, two)
    # in fact every step and every epoch agree to float rounding (the all-reduce's order)
    steps = zip(single["losses"], ranks[0]["losses"], ranks[1]["losses"], strict=True)
    for step, (a, b0, b1) in enumerate(steps):
        assert (b0 + b1) / 2 == pytest.approx(a, rel=1e-4), step
    curve_one = [row["train_loss"] for row in single["curve"]]
    curve_two = [row["train_loss"] for row in ranks[0]["curve"]]
    assert curve_two == pytest.approx(curve_one, rel=1e-5)
    assert ranks[0]["summary"]["images_seen"] == single["summary"]["images_seen"] == 400
    w1, w2 = _weights(runs / "single_out", 0), _weights(runs / "ddp_out", 0)
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5)


def test_ranks_train_in_step_but_draw_their_own_augmentation(runs: Path) -> None:
    out = runs / "ddp_out"
    ranks = [_facts(out, r) for r in (0, 1)]
    assert [r["logged"] for r in ranks] == [5, 0]  # only rank 0 logs the learning curve
    w0, w1 = _weights(out, 0), _weights(out, 1)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # gradients were averaged: ranks agree
    assert (runs / "ddp" / "run" / "model" / "last.pt").exists()  # written by rank 0
    # each rank drew its own augmentation and dropout numbers, in every batch
    assert len(ranks[0]["augment"]) == len(ranks[1]["augment"]) == 50
    for a, b in zip(ranks[0]["augment"], ranks[1]["augment"], strict=True):
        assert a != b
    for a, b in zip(ranks[0]["dropout"], ranks[1]["dropout"], strict=True):
        assert a != b
    # and a new epoch is a new draw on the same rank (batch 0 of epochs 1 and 2)
    for rank in ranks:
        assert rank["augment"][0] != rank["augment"][12]
        assert rank["dropout"][0] != rank["dropout"][12]


def test_killed_rank_then_restart_resumes_to_the_uninterrupted_weights(
    runs: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    killed = _torchrun(work, tmp_path / "killed", KILL_AFTER_EPOCH="1", KILL_RANK="1")
    # torchrun sees rank 1 die (SIGKILL) and tears rank 0 down: the job fails, nothing hangs
    assert killed.returncode != 0, killed.stderr[-3000:]
    assert "Signal 9 (SIGKILL)" in killed.stderr
    assert not (tmp_path / "killed" / "weights0.pt").exists()
    ckpt = torch.load(work / "run" / "model" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1

    resumed = _torchrun(work, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ranks = [_facts(tmp_path / "resumed", r) for r in (0, 1)]
    assert [r["summary"]["resumed_from_epoch"] for r in ranks] == [1, 1]
    assert [len(r["losses"]) for r in ranks] == [38, 38]  # steps 13..50 only
    uninterrupted = _facts(runs / "ddp_out", 0)
    keys = ("epoch", "train_loss", "train_top1_err", "monitor_top1_err", "lr", "steps")
    assert [[row[k] for k in keys] for row in ranks[0]["curve"]] == [
        [row[k] for k in keys] for row in uninterrupted["curve"]
    ]  # the first row restored from the checkpoint, the others retrained: equal, exactly
    assert ranks[0]["losses"] == uninterrupted["losses"][12:]
    expected = _weights(runs / "ddp_out", 0)
    for rank in (0, 1):
        weights = _weights(tmp_path / "resumed", rank)
        assert all(torch.equal(weights[k], expected[k]) for k in expected), rank


def test_ranks_that_see_different_checkpoints_all_stop_with_the_reason(
    runs: Path, tmp_path: Path
) -> None:
    """Nodes without a shared work folder: rank 0 would resume, rank 1 start afresh, and the
    two would wait on each other's collectives (a hang on NCCL); both must refuse instead."""
    (tmp_path / "run0" / "model").mkdir(parents=True)
    shutil.copy(runs / "ddp" / "run" / "model" / "last.pt", tmp_path / "run0" / "model")
    procs = [_start(tmp_path, tmp_path / "out", world=2, rank=r, per_rank_work=1) for r in (0, 1)]
    outputs = [proc.communicate(timeout=TIMEOUT)[0].decode(errors="replace") for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode != 0, output[-3000:]
        assert "every rank must see the same work folder" in output, output[-3000:]
