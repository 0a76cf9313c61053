"""What a training checkpoint holds, and when one may be resumed.

After every epoch rank 0 replaces ``<work_dir>/<run_name>/last.pt``
atomically (:mod:`baselines.cnn.checkpoint`). It holds the model, optimiser,
schedule, AMP scaler, the finished epochs' learning-curve rows, the best
monitored error and its epoch, every global RNG state
(:mod:`baselines.cnn.reproducibility`), the wall seconds trained so far
(``elapsed_seconds``, summed over every process that trained this run), and
what identifies the run: the config, the seed, the number and a digest of
the fit rows. The shuffle, augmentation and dropout streams are reseeded
from ``(seed, epoch, rank)`` every epoch, so they need no saved state.

A checkpoint is resumed only when it is of this code's format and of the
same run; otherwise :class:`~harness.api.MethodError` says why (delete it,
or use another work folder). An unreadable file is set aside and training
restarts.

**Format history** (:data:`CHECKPOINT_FORMAT`): 1: AlexNet
with dropout on pool5 and fc6's output, weight decay on biases, a plateau
drop after ``patience + 1`` bad epochs, no fit-row digest. 2: dropout after
fc6's and fc7's ReLUs (the paper's and Caffe's layout, so a format-1 state
dict would load into the wrong layers), no decay on biases, the drop after
``patience`` bad epochs, training on the fit rows only, per-rank randomness.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.cnn.checkpoint import (
    CorruptCheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    set_aside_corrupt,
)
from baselines.cnn.config import RESUME_INSENSITIVE, TrainConfig
from baselines.cnn.distributed import barrier, rank0_value, rank_and_world, sum_over_ranks
from baselines.cnn.loop import TrainingState
from baselines.cnn.reproducibility import capture_rng_state, restore_rng_state
from harness.api import MethodError

__all__ = [
    "CHECKPOINT_FORMAT",
    "RunIdentity",
    "check_resumable",
    "read_checkpoint",
    "restore",
    "rows_digest",
    "save",
]

CHECKPOINT_FORMAT = 2

_FORMAT_CHANGES = {
    1: "format 1 predates the move of AlexNet's dropout to fc6/fc7's outputs, bias "
    "decay off, the plateau patience fix and training on the fit rows only; its "
    "weights would load into the wrong layers"
}


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """What makes a checkpoint this run's: recipe, seed and the exact rows trained on."""

    run_name: str
    config: TrainConfig
    seed: int
    n_fit: int  # fit rows of the training split
    rows_digest: str  # sha256 of those rows (see rows_digest)


def rows_digest(rows: np.ndarray) -> str:
    """A short digest of the fit rows: a different holdout is a different run."""
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def read_checkpoint(
    path: Path, logger: logging.Logger, device: torch.device | None = None
) -> dict[str, Any] | None:
    """The checkpoint at ``path``; ``None`` when there is none or it was unreadable (set aside).

    Under DDP rank 0 reads first, alone removing stale temporaries and setting a
    damaged file aside; the other ranks then read the same file (``device``: where
    the collectives' tensors live, CUDA for NCCL). Every rank must find the same
    epoch, or all of them raise :class:`MethodError`: a rank that started afresh
    beside a resuming one would train other weights and wait on other collectives.
    """
    rank, world = rank_and_world()
    if rank == 0:
        ckpt = _read_or_set_aside(path, logger)
    if world == 1:
        return ckpt
    barrier()
    if rank == 0:
        epoch = int(ckpt["epoch"]) if ckpt is not None else 0
    else:
        ckpt, epoch = None, 0
        if path.exists():
            try:
                ckpt = load_checkpoint(path)
                epoch = int(ckpt["epoch"])
            except CorruptCheckpointError:
                epoch = -1  # unreadable here, though rank 0 read it or set it aside
    first = int(rank0_value(float(epoch), device or torch.device("cpu")))
    flags = torch.tensor([float(epoch != first)], device=device)
    if int(sum_over_ranks(flags).item()):
        seen = "unreadable" if epoch < 0 else f"after epoch {epoch}" if epoch else "none"
        raise MethodError(
            f"rank 0 resumes {path} after epoch {first} but not every rank finds that "
            f"checkpoint (rank {rank}: {seen}); every rank must see the same work folder: "
            "on several nodes, put --cache on a folder that all of them share"
        )
    return ckpt


def _read_or_set_aside(path: Path, logger: logging.Logger) -> dict[str, Any] | None:
    if path.parent.exists():
        remove_stale_temporaries(path)
    if not path.exists():
        return None
    try:
        return load_checkpoint(path)
    except CorruptCheckpointError as exc:
        aside = set_aside_corrupt(path)
        logger.warning("%s; moved to %s, training from scratch", exc, aside)
        return None


def check_resumable(ckpt: dict[str, Any], path: Path, run: RunIdentity) -> None:
    """Raise :class:`MethodError` unless ``ckpt`` is this code's format and this run's."""
    found = ckpt.get("format")
    if found != CHECKPOINT_FORMAT:
        why = _FORMAT_CHANGES.get(found, "") if isinstance(found, int) else ""
        raise MethodError(
            f"checkpoint {path} has format {found!r}, this code reads format "
            f"{CHECKPOINT_FORMAT}{' (' + why + ')' if why else ''}; it cannot be resumed: "
            "delete it (or pass --fresh) to train from scratch"
        )
    saved, now = ckpt["config"], dataclasses.asdict(run.config)
    # a key the checkpoint predates had its default then (e.g. warmup_epochs = 0)
    defaults = {f.name: f.default for f in dataclasses.fields(run.config)}
    differences = [
        f"{key}: checkpoint {saved.get(key, defaults.get(key))!r}, now {now[key]!r}"
        for key in now
        if key not in RESUME_INSENSITIVE and saved.get(key, defaults.get(key)) != now[key]
    ]
    if ckpt["n_fit"] != run.n_fit:
        differences.append(f"fit rows: checkpoint {ckpt['n_fit']}, now {run.n_fit}")
    elif ckpt["rows_digest"] != run.rows_digest:
        differences.append("fit rows: the same number but other rows (another holdout)")
    if ckpt["seed"] != run.seed:
        differences.append(f"seed: checkpoint {ckpt['seed']}, now {run.seed}")
    if differences:
        raise MethodError(
            f"checkpoint {path} belongs to a different run ({'; '.join(differences)}); "
            "delete it or use another work_dir to train from scratch"
        )
    if len(ckpt["curve"]) != int(ckpt["epoch"]):
        raise MethodError(
            f"checkpoint {path} is inconsistent: epoch {ckpt['epoch']} but "
            f"{len(ckpt['curve'])} learning-curve rows; delete it to train from scratch"
        )


def restore(state: TrainingState, ckpt: dict[str, Any]) -> None:
    """Load a checked checkpoint into ``state`` and the global RNGs."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.schedule.load_state_dict(ckpt["schedule"])
    if state.scaler is not None and ckpt["scaler"]:
        state.scaler.load_state_dict(ckpt["scaler"])
    state.best_error, state.best_epoch = ckpt["best_error"], ckpt["best_epoch"]
    state.curve = [dict(row) for row in ckpt["curve"]]
    state.seconds_before = float(ckpt["elapsed_seconds"])
    restore_rng_state(ckpt["rng"])


def save(path: Path, state: TrainingState, run: RunIdentity, elapsed_seconds: float) -> None:
    """Write ``state`` after its last finished epoch (rank 0 only)."""
    save_checkpoint(
        {
            "format": CHECKPOINT_FORMAT,
            "run_name": run.run_name,
            "config": dataclasses.asdict(run.config),
            "seed": run.seed,
            "n_fit": run.n_fit,
            "rows_digest": run.rows_digest,
            "epoch": len(state.curve),
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "schedule": state.schedule.state_dict(),
            "scaler": state.scaler.state_dict() if state.scaler is not None else {},
            "rng": capture_rng_state(),
            "best_error": state.best_error,
            "best_epoch": state.best_epoch,
            "elapsed_seconds": float(elapsed_seconds),
            "curve": state.curve,
        },
        path,
    )
