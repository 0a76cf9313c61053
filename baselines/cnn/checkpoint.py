"""Atomic checkpoint files that load with ``torch.load(weights_only=True)``.

A checkpoint is written to a temporary file in the same folder, flushed to
disk, then renamed over the old one with ``os.replace``; a kill at any moment
leaves either the previous complete checkpoint or the new complete one, never
a half-written file under the real name. Only tensors and primitive
containers are saved, so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CorruptCheckpointError",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
    "set_aside_corrupt",
]


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read as one."""


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """Write ``obj`` to ``path`` atomically (temporary file + fsync + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    # the rename itself must reach the disk too, or a power cut could undo it
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` onto the CPU."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(obj, dict) or "epoch" not in obj or "model" not in obj:
        raise CorruptCheckpointError(
            f"checkpoint {path} is not a training checkpoint (no epoch/model)"
        )
    return obj


def set_aside_corrupt(path: Path) -> Path:
    """Rename an unreadable checkpoint out of the way (kept for inspection, never reused)."""
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    os.replace(path, target)
    return target


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporaries of ``path`` left by killed processes (their pid no longer runs)."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid_text = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
