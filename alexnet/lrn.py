"""Local response normalisation (Krizhevsky et al. 2012, section 3.3), fast and exact.

The paper's formula, for channel ``i`` of ``N`` at one pixel::

    b_i = a_i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a_j^2) ** beta

with k=2, n=5, alpha=1e-4, beta=0.75. ``torch.nn.LocalResponseNorm`` computes
``k + (alpha / n) * sum`` instead (it divides alpha by the window size), so the
paper's network needs ``alpha = n * 1e-4`` there; :class:`LocalResponseNorm`
below takes the *paper's* alpha and does that conversion in one place.

Why not just ``nn.LocalResponseNorm``: it pads a 5-D view of the squares
and runs ``avg_pool3d`` over it, then ``mul``/``add``/``pow``/``div`` as
separate kernels, a layout made for NCHW tensors. The windowed sum over channels is a 1-D convolution
along the channel axis, which here is one ``avg_pool`` over a
``(B*H*W, 1, C)`` view of the channels-last squares (channels are the
innermost, contiguous axis, so the view is free), and
:func:`local_response_norm_shifted` writes the same sum as shifted slices,
pure element-wise arithmetic for ``torch.compile`` to fuse. Both equal
``nn.LocalResponseNorm`` (with ``alpha * n``) to float rounding (tested in
tests/alexnet/test_alexnet_lrn.py); their speed on a GPU has not been
measured yet (``benchmarks/alexnet_throughput.py --lrn fast|shifted|torch``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LRN_IMPLS",
    "PAPER_LRN",
    "LocalResponseNorm",
    "local_response_norm",
    "local_response_norm_shifted",
    "reference_lrn",
]

#: "fast": channel-window avg_pool; "shifted": sum of shifted slices; "torch": nn.LocalResponseNorm
LRN_IMPLS = ("fast", "shifted", "torch")

#: The paper's hyper-parameters (section 3.3), with alpha in the paper's convention.
PAPER_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def local_response_norm(
    x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> torch.Tensor:
    """LRN across channels of an NCHW tensor with the paper's alpha (not divided by ``size``).

    Works for either memory format; the channel-window sum runs as a 1-D
    average pool over the channel axis of a channels-last view.
    """
    if x.ndim != 4:
        raise ValueError(f"local_response_norm expects an NCHW tensor, got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    # (B, H, W, C) contiguous: channels innermost, so the flat view below is free.
    sq = x.permute(0, 2, 3, 1).contiguous(memory_format=torch.contiguous_format).square()
    half = size // 2
    # avg_pool1d with count_include_pad=True divides every window by `size`,
    # including the clipped windows at the edges, so size*avg == the paper's sum.
    window = F.avg_pool1d(
        sq.view(b * h * w, 1, c),
        kernel_size=size,
        stride=1,
        padding=half,
        count_include_pad=True,
    )
    if size % 2 == 0:  # an even window pads one more on the left than it can use
        window = window[..., :c]
    denom = window.view(b, h, w, c).mul(alpha * size).add(k).pow(beta)
    return x / denom.permute(0, 3, 1, 2)


def local_response_norm_shifted(
    x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> torch.Tensor:
    """The same function as :func:`local_response_norm`, written without a pooling op.

    The channel-window sum is ``size`` shifted slices of the zero-padded
    squares added together, so the whole layer is element-wise arithmetic that
    ``torch.compile`` can fuse into one kernel (a pooling op may stay a
    separate kernel). Which of the two is faster is a measurement for the GPU
    (``benchmarks/alexnet_throughput.py --lrn``), not a guess.
    """
    if x.ndim != 4:
        raise ValueError(f"local_response_norm expects an NCHW tensor, got shape {tuple(x.shape)}")
    c = x.shape[1]
    half = size // 2
    padded = F.pad(x.permute(0, 2, 3, 1).square(), (half, size - 1 - half))  # pad channels
    window = padded[..., 0:c]
    for i in range(1, size):
        window = window + padded[..., i : i + c]
    denom = window.mul(alpha).add(k)
    # d^-0.75 as rsqrt(d) * rsqrt(sqrt(d)): cheaper than pow where beta is the paper's
    scale = (
        torch.rsqrt(denom) * torch.rsqrt(torch.sqrt(denom)) if beta == 0.75 else denom.pow(-beta)
    )
    return x * scale.permute(0, 3, 1, 2)


def reference_lrn(
    x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> torch.Tensor:
    """The paper's formula written out literally (slow; for tests only)."""
    c = x.shape[1]
    sq = x.square()
    out = torch.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + size // 2)
        s = sq[:, lo : hi + 1].sum(dim=1)
        out[:, i] = x[:, i] / (k + alpha * s) ** beta
    return out


class LocalResponseNorm(nn.Module):
    """LRN with the paper's parameter convention; ``impl`` picks the kernel.

    ``impl="fast"`` (default) is :func:`local_response_norm`; ``"shifted"`` is
    :func:`local_response_norm_shifted`; ``"torch"`` is ``nn.LocalResponseNorm``
    with ``alpha * size`` (PyTorch divides alpha by the window size). All three
    compute the same function.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        if impl not in LRN_IMPLS:
            raise ValueError(f"LocalResponseNorm impl must be one of {LRN_IMPLS}, got {impl!r}")
        self.size, self.alpha, self.beta, self.k, self.impl = size, alpha, beta, k, impl
        self._torch = nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "torch":
            return self._torch(x)
        if self.impl == "shifted":
            return local_response_norm_shifted(x, self.size, self.alpha, self.beta, self.k)
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha} (paper convention), beta={self.beta}, k={self.k}, impl={self.impl!r}"
