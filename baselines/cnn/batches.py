"""Batches from the uint8 image cache to the device, with no per-image Python.

A background thread gathers the rows of each batch from the memory-mapped
cache with one NumPy fancy-indexing call (``np.take`` straight into a pinned
host buffer when the target is CUDA, :mod:`baselines.cnn.device`), so disk reads and the host copy overlap
with the model's work on the previous batch. The consumer moves the batch to
the device (``non_blocking`` on CUDA); augmentation and normalisation happen
there, in the caller's transforms. A thread (not processes) is enough because
NumPy's copy releases the GIL and there is no decoding left to do.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from baselines.cnn.device import non_blocking, pin_memory
from harness.memory import read_rows

__all__ = ["BatchStream", "batch_within", "shuffled_order"]

_DONE = object()


def shuffled_order(n: int, seed: int) -> np.ndarray:
    """A permutation of ``range(n)`` from a torch generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator).numpy()


def batch_within(images: np.ndarray, budget_bytes: int, cap: int) -> int:
    """Images per batch: at most ``cap``, and at most ``budget_bytes`` of cached uint8 pixels
    (at least 1). A pass that only scores or sums (no step depends on its batch) sized
    in images would hold 16x the memory at 256 px as at 64 px: 1,024 images at 256 px
    are 192 MiB of uint8 and over 1 GiB once converted to float."""
    per_image = int(np.prod(images.shape[1:])) * images.dtype.itemsize if images.ndim > 1 else 1
    return int(max(1, min(cap, budget_bytes // max(per_image, 1))))


class BatchStream:
    """Iterate ``(images, labels)`` device tensors over ``order`` in batches.

    ``images`` arrive as uint8 ``(B, S, S, 3)`` (NHWC, as cached), labels as
    int64 ``(B,)``. Rows within a batch are read in ascending index order
    (kinder to a memory map on disk); the batch's *membership* follows
    ``order``, which is what SGD depends on.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        device: torch.device | str,
        *,
        drop_last: bool = False,
        prefetch: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.order = np.asarray(order, dtype=np.int64)
        if len(self.order) and (self.order.min() < 0 or self.order.max() >= len(images)):
            raise IndexError(f"order has rows outside 0..{len(images) - 1}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.drop_last = drop_last
        self.prefetch = max(1, prefetch)
        self._pin = pin_memory(self.device)
        self._non_blocking = non_blocking(self.device)

    def __len__(self) -> int:
        full, rest = divmod(len(self.order), self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def _host_batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.sort(rows)
        shape = (len(rows), *self.images.shape[1:])
        # one path on both devices: gathered straight into the batch's own tensor, page-locked
        # where a CUDA copy can use it (baselines.cnn.device.pin_memory)
        host = torch.empty(shape, dtype=torch.uint8, pin_memory=self._pin)
        # read, not mapped: no cache page becomes the run's (harness.memory.read_rows)
        read_rows(self.images, rows, out=host.numpy())
        return host, torch.from_numpy(self.labels[rows])

    def _produce(self, out: queue.Queue, stop: threading.Event) -> None:
        try:
            for b in range(len(self)):
                if stop.is_set():
                    return
                rows = self.order[b * self.batch_size : (b + 1) * self.batch_size]
                item = self._host_batch(rows)
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # surfaced in the consumer, with its traceback
            out.put(exc)
            return
        out.put(_DONE)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        out: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        worker = threading.Thread(target=self._produce, args=(out, stop), daemon=True)
        worker.start()
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                images, labels = item
                yield (
                    images.to(self.device, non_blocking=self._non_blocking),
                    labels.to(self.device, non_blocking=self._non_blocking),
                )
        finally:
            stop.set()
            worker.join(timeout=5)
