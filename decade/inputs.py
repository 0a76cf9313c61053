"""Input handling shared by the later networks: channel statistics, crops, flips.

Training: the uint8 cache is resized on the device to the stem's base side
(256 for the paper stem, a no-op for ImageNet's 256px cache; 64 for the
small stem), a random ``crop`` square is taken and mirrored with
probability 1/2, then the training set's per-channel mean is subtracted (and
the std divided, under the CPU profile). Test: the centre crop, once (the
papers' multi-crop and dense evaluations are not reproduced).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from harness.api import MethodError, Split

__all__ = ["CropInputs", "channel_statistics"]


def channel_statistics(split: Split, batch_size: int = 256) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0-255 scale) over every image of ``split``."""
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for _, images, _ in split.batches(batch_size):
        x = np.asarray(images, dtype=np.float64).reshape(-1, 3)
        total += x.sum(axis=0)
        squares += np.square(x).sum(axis=0)
        count += len(x)
    if count == 0:
        raise MethodError(f"split {split.name!r} has no images to compute channel statistics")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return mean.tolist(), std.tolist()


@dataclass
class CropInputs:
    """The train and eval transforms of the shared trainer for one stem."""

    crop: int  # side of the crops the network sees, px
    base: int  # side the cache is resized to before cropping, px
    mean: list[float]  # per channel, 0-255
    std: list[float] | None  # per channel; None: mean subtraction only

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()
        if x.shape[-1] != self.base or x.shape[-2] != self.base:
            x = F.interpolate(
                x, size=(self.base, self.base), mode="bilinear", antialias=True, align_corners=False
            )
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        x = x - mean
        if self.std is not None:
            x = x / torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return x

    def train(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random ``crop`` squares, mirrored with probability 1/2 (all randomness from ``generator``)."""
        x = self._prepare(images)
        b, c, dev = x.shape[0], x.shape[1], x.device
        room = self.base - self.crop + 1
        ys = torch.randint(0, room, (b,), generator=generator, device=dev)
        xs = torch.randint(0, room, (b,), generator=generator, device=dev)
        span = torch.arange(self.crop, device=dev)
        rows = (ys[:, None] + span)[:, None, :, None]
        cols = (xs[:, None] + span)[:, None, None, :]
        x = x[
            torch.arange(b, device=dev)[:, None, None, None],
            torch.arange(c, device=dev)[None, :, None, None],
            rows,
            cols,
        ]
        flip = torch.rand(b, generator=generator, device=dev) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x).contiguous()

    def centre_crop(self, images: torch.Tensor) -> torch.Tensor:
        """The centre ``crop`` square."""
        x = self._prepare(images)
        o = (self.base - self.crop) // 2
        return x[:, :, o : o + self.crop, o : o + self.crop].contiguous()
