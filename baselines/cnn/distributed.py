"""Data-parallel (DDP) helpers of the training loop; all of them are no-ops in one process.

The caller (a ``torchrun`` entry point such as :mod:`alexnet.train_ddp`)
initialises the process group and sets the device; the trainer then:

* gives every rank the same permutation of the fit rows, padded to a multiple
  of the world size, and lets rank ``r`` take every ``world``-th row starting
  at ``r`` (the ``DistributedSampler`` rule, :func:`rank_rows`);
* draws augmentation and dropout per rank
  (:func:`baselines.cnn.reproducibility.derive_seed` with ``rank``);
* sums the epoch's loss/accuracy over ranks (:func:`sum_over_ranks`) and
  makes every rank's schedule follow rank 0's monitored error
  (:func:`rank0_value`), so no rank's learning rate can drift;
* lets only rank 0 log and write checkpoints, and waits at the end of every
  epoch (:func:`barrier`) so no rank reads a checkpoint being written.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["barrier", "rank0_value", "rank_and_world", "rank_rows", "sum_over_ranks"]


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def rank_rows(order: np.ndarray, rank: int, world: int, rows_per_rank: int) -> np.ndarray:
    """This rank's rows of the shared ``order``, padded by wrapping so all ranks step equally."""
    if world == 1:
        return order
    return np.resize(order, rows_per_rank * world)[rank::world]


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over every rank (in place; returned for convenience)."""
    _, world = rank_and_world()
    if world > 1:
        torch.distributed.all_reduce(values)
    return values


def rank0_value(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank."""
    _, world = rank_and_world()
    if world == 1:
        return value
    shared = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.broadcast(shared, src=0)
    return float(shared.item())


def barrier() -> None:
    """Wait for every rank (nothing to wait for in one process)."""
    _, world = rank_and_world()
    if world > 1:
        torch.distributed.barrier()
