"""Seeding, deterministic mode, and RNG state as tensors (for ``weights_only`` checkpoints).

**One seed derivation.** Every random stream of a training run gets its seed
from :func:`derive_seed`::

    seed = SeedSequence([run_seed, stream, epoch, rank, member]) -> 63-bit int

``stream`` names what the numbers are for (:class:`SeedStream`): the epoch's
shuffle (drawn with ``rank=0`` on every process, so all ranks share one
permutation and each takes its own slice), the augmentation generator and
torch's global generator during training (dropout masks), which are drawn
per ``rank`` so that data-parallel processes never repeat each other's crops,
flips, colour noise or dropout masks, and an ensemble member's own run seed
(``member``). Because each epoch's streams are a function of the epoch
number, a resumed run redraws exactly what the killed one would have. A
``SeedSequence`` (not ``seed + epoch``) keeps the streams of different run
seeds from colliding.

Every random stream a training run touches is captured here so a resumed run
continues exactly where the killed one stopped: Python's ``random``, NumPy's
global generator, torch's CPU generator and, when CUDA is initialised, every
CUDA device's generator. States are stored as tensors and primitives only, so
``torch.load(..., weights_only=True)`` can read them back.
"""

from __future__ import annotations

import os
import random
from enum import IntEnum
from typing import Any

import numpy as np
import torch

__all__ = [
    "SeedStream",
    "capture_rng_state",
    "derive_seed",
    "enable_determinism",
    "restore_rng_state",
    "seed_everything",
]


class SeedStream(IntEnum):
    """What a derived seed is for (the second entry of its ``SeedSequence``)."""

    SHUFFLE = 0  # the epoch's permutation of the fit rows (the same on every rank)
    AUGMENT = 1  # the train transform's generator: crops, flips, colour noise (per rank)
    DROPOUT = 2  # torch's global generator while training: dropout masks (per rank)
    MEMBER = 3  # an ensemble member's run seed (member 0 keeps the run's own seed)


def derive_seed(
    run_seed: int, stream: SeedStream, *, epoch: int = 0, rank: int = 0, member: int = 0
) -> int:
    """The seed of one stream: a function of (run seed, stream, epoch, rank, member) only."""
    entropy = [int(run_seed), int(stream), int(epoch), int(rank), int(member)]
    if min(entropy) < 0:
        raise ValueError(f"derive_seed needs non-negative keys, got {entropy}")
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    # the legacy global generator is what third-party code draws from, so it is seeded too
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)  # also seeds every CUDA device


def enable_determinism() -> None:
    """Make torch pick deterministic kernels only (``--deterministic``).

    Cost, measured by ``benchmarks/deterministic_cost.py`` on the 2-core CPU
    development machine (demo suite, median of 2 runs per mode): LeNet-5
    5,736 -> 5,747 images/s, the demo AlexNet 978 -> 994 images/s, i.e. no
    cost on CPU (torch's CPU convolutions are deterministic already). On
    CUDA, cuDNN autotuning is switched off (``benchmark=False``) and
    deterministic kernels are forced, which slows convolutions and makes ops
    without a deterministic kernel raise instead of running; that cost has
    not been measured here (``--device cuda`` on the benchmark measures it).
    cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` set before its first use; it is
    set here if absent, which only takes effect when CUDA is not yet
    initialised (start the process with it set to be sure).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state, as tensors and primitives."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python_version": int(py_version),
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": py_gauss,
        "numpy_kind": str(np_kind),
        "numpy_keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_cached_gaussian": float(np_cached),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate(
        (
            state["python_version"],
            tuple(int(v) for v in state["python_state"].tolist()),
            state["python_gauss"],
        )
    )
    np.random.set_state(  # noqa: NPY002
        (
            state["numpy_kind"],
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
