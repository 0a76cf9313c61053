"""The fast LRN computes the paper's formula, as nn.LocalResponseNorm does with alpha*n."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alexnet.lrn import (
    LocalResponseNorm,
    local_response_norm,
    local_response_norm_shifted,
    reference_lrn,
)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_lrn_equals_the_paper_formula_and_torch(channels_last: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 12, 5, 7, generator=g) * 30  # large activations make the denominator matter
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ref = reference_lrn(x, 5, 1e-4, 0.75, 2.0)
    fast = local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    torch_lrn = nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)(x)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(local_response_norm_shifted(x), ref, rtol=1e-5, atol=1e-5)
    for size in (3, 4):  # odd and even windows, other beta
        torch.testing.assert_close(
            local_response_norm_shifted(x, size, 1e-3, 0.5, 1.0),
            nn.LocalResponseNorm(size, alpha=size * 1e-3, beta=0.5, k=1.0)(x),
            rtol=1e-5,
            atol=1e-5,
        )
    torch.testing.assert_close(torch_lrn, ref, rtol=1e-5, atol=1e-5)
    # PyTorch's own alpha convention is *not* the paper's: passing 1e-4 gives another function.
    wrong = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(x)
    assert not torch.allclose(wrong, ref, rtol=1e-3)


def test_module_impls_agree_and_backprop() -> None:
    x = (torch.randn(3, 8, 4, 4) * 10).requires_grad_()
    slow = LocalResponseNorm(impl="torch")
    (gs,) = torch.autograd.grad(slow(x).sum(), x)
    for impl in ("fast", "shifted"):
        fast = LocalResponseNorm(impl=impl)
        torch.testing.assert_close(fast(x), slow(x), rtol=1e-5, atol=1e-5)
        (gf,) = torch.autograd.grad(fast(x).sum(), x)
        torch.testing.assert_close(gf, gs, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="impl"):
        LocalResponseNorm(impl="cuda")
