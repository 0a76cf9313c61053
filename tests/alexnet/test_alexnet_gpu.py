"""The CUDA fast path (bf16 autocast, channels_last, torch.compile); run on a GPU with -m gpu."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet.baseline import AlexNetBaseline
from alexnet.lrn import local_response_norm, local_response_norm_shifted, reference_lrn
from harness.api import RunContext, fit_method, handover
from tests.fixtures.colour import colour_split

pytestmark = pytest.mark.gpu
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
def test_fast_lrn_on_cuda_channels_last_matches_the_formula() -> None:
    x = (torch.randn(4, 96, 27, 27, device="cuda") * 30).contiguous(
        memory_format=torch.channels_last
    )
    ref = reference_lrn(x)
    torch.testing.assert_close(local_response_norm(x), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(local_response_norm_shifted(x), ref, rtol=1e-4, atol=1e-4)
    compiled = torch.compile(local_response_norm_shifted)
    torch.testing.assert_close(compiled(x), ref, rtol=1e-4, atol=1e-4)


@cuda
def test_paper_network_trains_compiled_in_bf16_on_cuda(tmp_path) -> None:
    train, val = colour_split(64, size=64), colour_split(4, size=64, seed=1)
    ctx = RunContext(device="cuda", work_dir=tmp_path, cache_dir=tmp_path, quiet=True)
    model = AlexNetBaseline(epochs=2, batch_size=32, ensemble=2)
    assert fit_method(model, handover(train, monitor=val), train, ctx) is None  # no refit
    assert "compile_fallback" not in ctx.notes, ctx.notes.get("compile_fallback")
    assert ctx.training.profile == "paper"  # profile="auto" on CUDA
    assert ctx.training.crop == 224 and ctx.training.images_seen == 2 * 2 * len(train)
    scores = model.decision_function(val, ctx)
    assert scores.shape == (16, 4) and np.isfinite(scores).all()
    variants = model.variant_scores(val, ctx)
    assert set(variants) == set(model.declared_variants()) == {"centre-crop", "ensemble-2"}
