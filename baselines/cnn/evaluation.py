"""Softmax scores of a split, and the top-k errors of the learning curve.

``predict_proba`` runs the model in eval mode over a split in row order. The
eval transform returns ``(B, C, H, W)`` or, for multi-crop testing,
``(B, n_crops, C, H, W)``; with crops the softmax is averaged over them (the
paper's ten-crop protocol). The curve's errors are computed by
:func:`harness.protocol.topk_errors`, the one definition of the metric; a
method still never scores the val split itself, the harness does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from baselines.cnn.batches import BatchStream
from harness.api import Split

__all__ = ["EvalTransform", "curve_errors", "predict_proba"]

EvalTransform = Callable[[torch.Tensor], torch.Tensor]


def predict_proba(
    model: nn.Module,
    split: Split,
    eval_transform: EvalTransform,
    *,
    batch_size: int,
    prefetch: int = 2,
    autocast: contextlib.AbstractContextManager | None = None,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """``(N, n_classes)`` float32 softmax probabilities of ``split``, in row order.

    ``autocast`` wraps the forward passes (bf16 on CUDA); ``prepare`` adapts
    the transformed batch to the model (e.g. channels-last).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: list[torch.Tensor] = []
    stream = BatchStream(
        split.images, split.labels, np.arange(len(split)), batch_size, device, prefetch=prefetch
    )
    try:
        with torch.inference_mode(), autocast or contextlib.nullcontext():
            for images, _ in stream:
                x = eval_transform(images)
                n_crops = x.shape[1] if x.ndim == 5 else 0
                if n_crops:
                    x = x.flatten(0, 1)
                if prepare is not None:
                    x = prepare(x)
                proba = torch.softmax(model(x).float(), dim=1)
                if n_crops:
                    proba = proba.view(-1, n_crops, proba.shape[1]).mean(dim=1)
                parts.append(proba.cpu())
    finally:
        model.train(was_training)
    if not parts:
        return np.zeros((0, split.n_classes), dtype=np.float32)
    return torch.cat(parts).numpy().astype(np.float32, copy=False)


def curve_errors(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(top-1, top-5) error in percent; with fewer than 5 classes, top-5 is top-n_classes."""
    from harness.protocol import topk_errors

    k5 = min(5, proba.shape[1])
    errors = topk_errors(proba, labels, (1, k5))
    return float(errors[1]), float(errors[k5])
