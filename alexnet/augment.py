"""AlexNet's input pipeline on the device: batched, no per-image Python.

Paper, section 4.1 and 2 ("Data augmentation", "The dataset"), applied to
uint8 NHWC batches straight from the decoded-image cache:

* **Resize to the base size** (256 for the paper network). The cache already
  holds 256x256 images for ImageNet subsets; a 64px cache (Tiny ImageNet) is
  upsampled bilinearly to 256 on the device, so the faithful 224-crop network
  runs unchanged (issue 5). The small-stem variant uses base 64 / crop 56.
* **Mean subtraction**: the paper subtracts "the mean activity over the
  training set from each pixel", i.e. a per-pixel mean *image*
  (``mean="pixel"``, default); ``mean="channel"`` subtracts one RGB mean. The
  mean image is computed once at the stored size by streaming over the cache
  and resized to the base size; resizing is linear, so that equals the mean of
  the resized images. Pixel values stay in 0..255 units (no division by a
  standard deviation: the paper does none), which is the scale the paper's
  N(0, 0.01) initialisation was used with.
* **Training**: a random ``crop x crop`` window of the base image per image,
  mirrored with probability 1/2, and PCA colour noise: every pixel of image
  ``i`` gets ``P @ (alpha_i * lambda)`` added, where ``P`` (columns) and
  ``lambda`` are the eigenvectors/eigenvalues of the 3x3 RGB covariance over
  all training pixels and ``alpha_i ~ N(0, 0.1^2)`` is drawn per image each
  time it is presented (once per epoch). The formula is not unit-free
  (an eigenvalue is a variance, the offset a pixel value), so the scale of
  the pixels matters: like the widely used re-implementations
  (fb.resnet.torch's ``Lighting``, whose ImageNet eigenvalues 0.2175,
  0.0188, 0.0045 are for pixels in [0, 1]), ``lambda`` is taken for pixels
  in [0, 1] and the offset converted back to 0..255 units, i.e.
  ``255 P (alpha * lambda / 255^2)``; on ImageNet the top component then
  moves pixels by about 5.5/255 (std), a mild change of illumination as the
  paper describes, where raw 0..255 eigenvalues would give ~1400/255.
  The covariance is computed at the
  stored size (upsampling smooths it slightly; the effect on the eigenvalues
  is small and the noise is a regulariser, not a measurement).
* **Test**: the centre crop, or the ten crops (four corners, centre, and
  their mirrors) whose softmax outputs the trainer averages.
* ``standardise=True`` (not the paper; only with the post-2012
  ``init="kaiming"``, which assumes unit-variance inputs) also divides each
  channel by its training-set standard deviation.

Why index arithmetic and not kornia's ``RandomCrop``/``RandomHorizontalFlip``:
kornia crops by warping (a resampling per image, float only), whereas the
paper's crops are exact pixel windows; one gather with per-image row/column
index vectors does crop and mirror together on the uint8 data, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.memory import read_rows

__all__ = [
    "AlexNetAugment",
    "ColourStatistics",
    "colour_statistics",
    "crop_flip",
    "ten_crop_offsets",
]

PCA_ALPHA_STD = 0.1  # std of alpha_i in the paper's colour augmentation


@dataclass(frozen=True)
class ColourStatistics:
    """Training-set pixel statistics (0..255 units) for mean subtraction and PCA noise."""

    mean_image: np.ndarray  # (S, S, 3) float32, per-pixel mean at the stored size S
    rgb_mean: np.ndarray  # (3,) float64, mean over all pixels
    rgb_cov: np.ndarray  # (3, 3) float64, covariance of RGB over all pixels
    eigvals: np.ndarray  # (3,) float64, descending
    eigvecs: np.ndarray  # (3, 3) float64, column j is the eigenvector of eigvals[j]
    n_images: int  # images the statistics were computed from

    def save(self, path: Path) -> None:
        """Write to ``path`` (.npz) atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            mean_image=self.mean_image,
            rgb_mean=self.rgb_mean,
            rgb_cov=self.rgb_cov,
            eigvals=self.eigvals,
            eigvecs=self.eigvecs,
            n_images=np.int64(self.n_images),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ColourStatistics:
        with np.load(Path(path)) as z:
            return cls(
                mean_image=z["mean_image"],
                rgb_mean=z["rgb_mean"],
                rgb_cov=z["rgb_cov"],
                eigvals=z["eigvals"],
                eigvecs=z["eigvecs"],
                n_images=int(z["n_images"]),
            )


def colour_statistics(
    images: np.ndarray,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
    rows: np.ndarray | None = None,
) -> ColourStatistics:
    """Per-pixel mean image and RGB covariance of ``images`` (N, S, S, 3) uint8, streamed in batches.

    ``rows`` (sorted indices) restricts the statistics to those images, e.g.
    the fit rows, so the harness's monitor stays out of them; default: all.
    Accumulates in float64 around a fixed shift of 128 so that sums over
    hundreds of millions of pixels keep their precision.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"colour_statistics expects (N, S, S, 3) uint8 images, got {images.shape} {images.dtype}"
        )
    rows = np.arange(len(images)) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(rows)
    if n == 0:
        raise ValueError("colour_statistics: no training images")
    device = torch.device(device)
    sum_image = torch.zeros(images.shape[1:], dtype=torch.float64, device=device)
    sum_x = torch.zeros(3, dtype=torch.float64, device=device)
    sum_xx = torch.zeros(3, 3, dtype=torch.float64, device=device)
    starts: Iterable[int] = range(0, n, batch_size)
    if progress is not None:
        starts = progress(starts)
    for start in starts:
        # a copy: the cache is a read-only memory map, which torch.from_numpy warns about
        batch = torch.from_numpy(read_rows(images, rows[start : start + batch_size]))
        x = batch.to(device, non_blocking=True).to(torch.float64) - 128.0
        sum_image += x.sum(dim=0)
        flat = x.reshape(-1, 3)
        sum_x += flat.sum(dim=0)
        sum_xx += flat.T @ flat
    n_pixels = n * images.shape[1] * images.shape[2]
    mean_shifted = (sum_x / n_pixels).cpu().numpy()
    cov = (sum_xx / n_pixels).cpu().numpy() - np.outer(mean_shifted, mean_shifted)
    cov = (cov + cov.T) / 2
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    return ColourStatistics(
        mean_image=(sum_image / n + 128.0).cpu().numpy().astype(np.float32),
        rgb_mean=mean_shifted + 128.0,
        rgb_cov=cov,
        eigvals=np.clip(eigvals[order], 0.0, None),
        eigvecs=eigvecs[:, order],
        n_images=n,
    )


def crop_flip(
    images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, size: int
) -> torch.Tensor:
    """Per-image ``size x size`` windows of NHWC ``images`` at (top, left), mirrored where ``flip``.

    ``images`` may also be a single (H, W, C) image shared by the whole batch
    (the mean image). Returns (B, size, size, C) in the input's dtype.
    """
    ar = torch.arange(size, device=images.device)
    rows = top.to(images.device).view(-1, 1) + ar  # (B, size)
    cols_fwd = left.to(images.device).view(-1, 1) + ar
    cols_rev = left.to(images.device).view(-1, 1) + (size - 1 - ar)
    cols = torch.where(flip.to(images.device).view(-1, 1), cols_rev, cols_fwd)
    if images.ndim == 3:
        return images[rows[:, :, None], cols[:, None, :]]
    b = torch.arange(images.shape[0], device=images.device).view(-1, 1, 1)
    return images[b, rows[:, :, None], cols[:, None, :]]


def ten_crop_offsets(base: int, crop: int) -> list[tuple[int, int]]:
    """(top, left) of the four corner crops and the centre crop, in that order."""
    far, mid = base - crop, (base - crop) // 2
    return [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]


class AlexNetAugment:
    """The paper's train / test transforms for one set of colour statistics.

    Call :meth:`train` as the trainer's ``train_transform`` and :meth:`ten_crop`
    or :meth:`centre_crop` as its ``eval_transform``. Inputs are uint8 NHWC
    batches of any square size on the device; outputs are float32 NCHW
    (channels-last strided, which is what a channels_last model wants).
    """

    def __init__(
        self,
        stats: ColourStatistics,
        crop: int = 224,
        base: int = 256,
        mean: str = "pixel",
        pca_std: float = PCA_ALPHA_STD,
        device: str | torch.device = "cpu",
        standardise: bool = False,
    ) -> None:
        if mean not in ("pixel", "channel"):
            raise ValueError(f"mean must be 'pixel' or 'channel', got {mean!r}")
        if not 0 < crop <= base:
            raise ValueError(f"crop {crop} must be in (0, base={base}]")
        self.crop, self.base, self.mean, self.pca_std = crop, base, mean, pca_std
        self.device = torch.device(device)
        mean_image = torch.from_numpy(np.asarray(stats.mean_image, dtype=np.float32))
        if mean == "channel":
            mean_image = mean_image.mean(dim=(0, 1), keepdim=True).expand_as(mean_image)
        self.mean_image = self._resize(mean_image[None].to(self.device))[
            0
        ].contiguous()  # (base, base, 3)
        self.eigvecs = torch.as_tensor(stats.eigvecs, dtype=torch.float32, device=self.device)
        self.eigvals = torch.as_tensor(stats.eigvals, dtype=torch.float32, device=self.device)
        # Not the paper's (it only subtracts the mean): unit-variance channels for init="kaiming".
        self.standardise = standardise
        channel_std = (
            np.sqrt(np.clip(np.diag(stats.rgb_cov), 1e-6, None)) if standardise else np.ones(3)
        )
        self.inv_std = torch.as_tensor(1.0 / channel_std, dtype=torch.float32, device=self.device)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        """NHWC (uint8 or float) -> NHWC at the base size; float whenever resampled."""
        if x.shape[1] == self.base and x.shape[2] == self.base:
            return x
        if x.shape[1] != x.shape[2]:
            raise ValueError(f"AlexNetAugment expects square images, got {tuple(x.shape[1:3])}")
        nchw = x.permute(0, 3, 1, 2).float()
        out = F.interpolate(
            nchw,
            size=(self.base, self.base),
            mode="bilinear",
            align_corners=False,
            antialias=x.shape[1] > self.base,  # only downsampling needs a low-pass
        )
        return out.permute(0, 2, 3, 1)

    def colour_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 3) RGB offsets in 0..255 units, ``255 P (alpha * lambda01)``, alpha ~ N(0, pca_std^2).

        ``lambda01`` are the eigenvalues for pixels scaled to [0, 1] (``eigvals / 255^2``),
        see the module docstring.
        """
        alpha = torch.randn(n, 3, generator=generator, device=self.device) * self.pca_std
        return (alpha * self.eigvals / 255.0) @ self.eigvecs.T

    def _finish(self, crops: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        out = crops.float() - mean
        if self.standardise:
            out *= self.inv_std
        return out.permute(0, 3, 1, 2)

    def train(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random crop + mirror + PCA colour noise + mean subtraction: (B, 3, crop, crop) float32."""
        x = self._resize(images.to(self.device, non_blocking=True))
        b, span = x.shape[0], self.base - self.crop + 1
        top = torch.randint(0, span, (b,), generator=generator, device=self.device)
        left = torch.randint(0, span, (b,), generator=generator, device=self.device)
        flip = torch.rand(b, generator=generator, device=self.device) < 0.5
        crops = crop_flip(x, top, left, flip, self.crop).float()
        crops -= crop_flip(self.mean_image, top, left, flip, self.crop)
        crops += self.colour_noise(b, generator).view(b, 1, 1, 3)
        if self.standardise:
            crops *= self.inv_std
        return crops.permute(0, 3, 1, 2)

    def centre_crop(self, images: torch.Tensor) -> torch.Tensor:
        """The single centre crop, mean-subtracted: (B, 3, crop, crop)."""
        x = self._resize(images.to(self.device, non_blocking=True))
        t, left = ten_crop_offsets(self.base, self.crop)[4]
        sl = (slice(t, t + self.crop), slice(left, left + self.crop))
        return self._finish(x[:, sl[0], sl[1]], self.mean_image[sl])

    def ten_crop(self, images: torch.Tensor) -> torch.Tensor:
        """Four corners + centre and their mirrors: (B, 10, 3, crop, crop), mean-subtracted."""
        x = self._resize(images.to(self.device, non_blocking=True))
        views = []
        for t, left in ten_crop_offsets(self.base, self.crop):
            sl = (slice(t, t + self.crop), slice(left, left + self.crop))
            views.append(self._finish(x[:, sl[0], sl[1]], self.mean_image[sl]))
        views += [v.flip(-1) for v in views]  # mirror: reverse the width axis of NCHW
        return torch.stack(views, dim=1)
