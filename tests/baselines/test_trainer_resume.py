"""Kill-and-resume: a LeNet-5 training process SIGKILLed after its first checkpoint.

The rerun must start at the first unfinished epoch, never repeat a finished
one, and (in deterministic mode) end with exactly the predictions and
learning curve of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

EPOCHS = 4

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    import numpy as np
    import torch

    import baselines.cnn.resume as resume_module
    from baselines.lenet5 import LeNet5Baseline
    from harness.api import RunContext, Split, fit_method, handover

    work_dir, out_dir, pause = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(1)

    def make_split(name, per_class, seed):
        rng = np.random.default_rng(seed)
        labels = np.repeat(np.arange(4), per_class).astype(np.int64)
        images = rng.integers(0, 90, (len(labels), 32, 32, 3), dtype=np.uint8)
        for c in range(4):
            row, col = divmod(c, 2)
            images[labels == c, row * 16 : (row + 1) * 16, col * 16 : (col + 1) * 16] += 150
        return Split(name, images, labels, tuple(f"n{c:08d}" for c in range(4)))

    train, val = make_split("train", 24, 0), make_split("val", 6, 1)
    save = resume_module.save_checkpoint

    def save_then_note(obj, path):
        save(obj, path)
        with open(out_dir / "epochs.txt", "a") as f:  # which process finished which epoch
            f.write(f"{obj['epoch']}\\n")
        time.sleep(pause)  # a window for the parent to kill us right after a checkpoint

    resume_module.save_checkpoint = save_then_note
    ctx = RunContext(work_dir=work_dir, quiet=True, deterministic=True, seed=3)
    method = LeNet5Baseline(epochs=EPOCHS, batch_size=16, lr=0.05)
    fit_method(method, handover(train, monitor=val), train, ctx)
    np.save(out_dir / "proba.npy", method.decision_function(val, ctx))
    facts = ctx.training.model_dump(mode="json")
    (out_dir / "run.json").write_text(json.dumps({"curve": ctx.epoch_log, "training": facts}))
    """
).replace("EPOCHS", str(EPOCHS))


def _run(script: Path, work: Path, out: Path, pause: float) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(script), str(work), str(out), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output.decode(errors="replace")


def _epochs(out: Path) -> list[int]:
    return [int(line) for line in (out / "epochs.txt").read_text().split()]


def test_killed_training_resumes_without_repeating_epochs(tmp_path: Path) -> None:
    script = tmp_path / "train_lenet.py"
    script.write_text(SCRIPT)
    reference = _run(script, tmp_path / "work-whole", tmp_path / "whole", pause=0.0)

    work = tmp_path / "work-killed"
    first = _run(script, work, tmp_path / "first", pause=60.0)
    checkpoint = work / "lenet5" / "last.pt"
    deadline = time.monotonic() + 150
    while not (tmp_path / "first" / "epochs.txt").exists():
        assert first.poll() is None, first.communicate()[0].decode(errors="replace")
        assert time.monotonic() < deadline, "no checkpoint within 150 s"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert checkpoint.exists() and not (tmp_path / "first" / "proba.npy").exists()
    assert _epochs(tmp_path / "first") == [1]

    second = _run(script, work, tmp_path / "second", pause=0.0)
    _finish(second)
    _finish(reference)

    assert _epochs(tmp_path / "second") == list(range(2, EPOCHS + 1))  # epoch 1 not repeated
    resumed = json.loads((tmp_path / "second" / "run.json").read_text())
    whole = json.loads((tmp_path / "whole" / "run.json").read_text())
    assert resumed["training"]["resumed_from_epoch"] == 1
    assert whole["training"]["resumed_from_epoch"] == 0
    # the time trained before the kill (epoch 1 and its set-up) is carried into the record
    first_epoch = resumed["curve"][0]["seconds"]
    assert resumed["training"]["seconds_before_resume"] >= first_epoch
    assert whole["training"]["seconds_before_resume"] == 0
    assert resumed["training"]["images_seen"] == whole["training"]["images_seen"] == EPOCHS * 96
    # the record's curve is complete: the killed run's epoch is replayed from the checkpoint
    assert [row["epoch"] for row in resumed["curve"]] == list(range(1, EPOCHS + 1))
    for ours, theirs in zip(resumed["curve"], whole["curve"], strict=True):
        for key in ("train_loss", "train_top1_err", "monitor_top1_err", "monitor_top5_err", "lr"):
            assert ours[key] == theirs[key], key
    assert np.array_equal(
        np.load(tmp_path / "second" / "proba.npy"), np.load(tmp_path / "whole" / "proba.npy")
    )
    assert [p.name for p in checkpoint.parent.iterdir()] == ["last.pt"]  # no temporaries left
