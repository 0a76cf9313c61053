"""How long an AlexNet configuration would train on this CPU, measured before any work.

The paper network trains at about 6 images/s on the 2-core development CPU
(an AMD EPYC; the audit's figure: about 9 days for 90 epochs of Tiny
ImageNet-100's 50k images), where the ``cpu`` profile trains at about 400. Rather than a table
of CPUs, :func:`cpu_images_per_s` times the configured network itself: one
warm-up SGD step and two timed ones on a small random batch at the crop
size (the network's forward, backward and update; the on-device
augmentation, upsampling and the per-epoch monitor evaluation come on top,
so the estimate errs on the short side). :meth:`alexnet.baseline.AlexNetBaseline.preflight`
turns it into an estimated training time and refuses to start one longer
than :data:`CPU_LIMIT_SECONDS` unless ``allow_slow_cpu`` is given.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
import torch.nn.functional as F

from alexnet.model import STEMS, build_alexnet
from harness.api import MethodError

log = logging.getLogger("alexnet")

__all__ = ["CPU_LIMIT_SECONDS", "TIMING_BATCH", "cpu_images_per_s", "format_duration"]

CPU_LIMIT_SECONDS = 12 * 3600  # longer CPU trainings need allow_slow_cpu=True
TIMING_BATCH = 4  # images per timed step (a few seconds for the paper network)
_N_CLASSES = 100  # fc8's size hardly matters for the cost


def cpu_images_per_s(
    stem: str, width: float, init: str, lrn_impl: str = "fast", batch: int = TIMING_BATCH
) -> float:
    """Training images per second of this network on this CPU (2 timed SGD steps)."""
    crop = STEMS[stem].crop
    model = build_alexnet(_N_CLASSES, stem, lrn_impl, width=width, init=init)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, crop, crop)
    y = torch.randint(0, _N_CLASSES, (batch,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()  # warm-up: allocations, oneDNN kernel selection
    start = time.perf_counter()
    for _ in range(2):
        step()
    return 2 * batch / max(time.perf_counter() - start, 1e-9)


def format_duration(seconds: float) -> str:
    """``"9.2 days"``, ``"5.3 h"``, ``"17 min"``."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def check_cpu_budget(
    s: Any, lrn_impl: str, n_train: int, members: int, what: str, max_steps: int | None = None
) -> None:
    """Refuse (:class:`MethodError`) a CPU training of settings ``s`` estimated over the limit.

    A step budget (``max_steps``) caps the images at ``max_steps x batch_size`` per member.
    """
    rate = cpu_images_per_s(s.stem, s.width, s.init, lrn_impl)
    per_member = s.epochs * n_train
    if max_steps is not None:
        per_member = min(per_member, max_steps * s.batch_size)
    images = per_member * members
    seconds = images / rate
    if seconds <= CPU_LIMIT_SECONDS:
        if seconds > 3600:
            log.warning(
                "alexnet: about %s of training on this CPU (%.1f images/s measured)",
                format_duration(seconds),
                rate,
            )
        return
    raise MethodError(
        f"alexnet ({what}) would train for about {format_duration(seconds)} on this CPU: "
        f"{rate:.1f} images/s measured over 2 SGD steps x {s.epochs} epochs x "
        f"{n_train:,} images x {members} member(s). Train it on a GPU "
        f'(--device cuda), use the CPU settings (profile="cpu"), or pass '
        f"allow_slow_cpu=true to train anyway"
    )
