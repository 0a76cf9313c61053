"""One-vs-rest helpers of the linear SVMs (:mod:`baselines.linear`).

Class counts and weights, and the passes that score or evaluate several
stacked models at once (a selection grid's candidates share each block read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.api import MethodError

if TYPE_CHECKING:
    from baselines.linear import OvrHingeSgd

MODEL_BYTES = 1 << 30  # models trained together (16 bytes per weight); more train in turn


def models_together(dim: int, n_classes: int) -> int:
    """How many one-vs-rest models of ``dim`` x ``n_classes`` weights train in one stream:
    as many as fit in :data:`MODEL_BYTES` at 16 bytes per weight, at least one."""
    return max(1, MODEL_BYTES // max(dim * n_classes * 16, 1))


def check_class_counts(labels: np.ndarray, wnids: tuple[str, ...], minimum: int) -> np.ndarray:
    """Per-class training counts; :class:`MethodError` naming every class below ``minimum``."""
    counts = np.bincount(np.asarray(labels), minlength=len(wnids))
    short = [f"{wnids[c]} ({counts[c]})" for c in np.flatnonzero(counts < minimum)]
    if short:
        raise MethodError(
            f"one-vs-rest SVM needs at least {minimum} training images per class; "
            f"too few for: {', '.join(short)}"
        )
    return counts


def _torch_device(device: str) -> Any:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MethodError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


CLASS_WEIGHTS = ("balanced", None)  # None may also be written "none" (TOML has no null)


def class_weights(labels: np.ndarray, n_classes: int, mode: str | None) -> np.ndarray:
    """``(2, C)`` weights of a class's positives (row 0) and negatives (row 1)."""
    n = len(labels)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if mode == "balanced":
        return np.stack([n / (2.0 * np.maximum(counts, 1)), n / (2.0 * np.maximum(n - counts, 1))])
    if mode is None or mode == "none":
        return np.ones((2, n_classes))
    raise ValueError(f"class_weight must be 'balanced' or None ('none'), got {mode!r}")


def _weight_tensors(
    labels: np.ndarray, n_classes: int, modes: Sequence[str | None], device: Any
) -> tuple[Any, Any]:
    """``(M, C)`` positive and negative weights of M models (one class-weight mode each)."""
    import torch

    w = np.stack([class_weights(labels, n_classes, mode) for mode in modes])  # (M, 2, C)
    w_t = torch.as_tensor(w, dtype=torch.float32, device=device)
    return w_t[:, 0], w_t[:, 1]


def decision_functions(
    models: Sequence[OvrHingeSgd],
    features: Any,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    rows: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Each fitted model's ``(n, n_classes)`` scores of ``features[rows]``, in one pass.

    The models (of one dimension, on one device; e.g. a grid's candidates)
    share every block read: one product with their stacked weights.
    """
    import torch

    first = models[0]
    rows = first._rows(features, rows)
    W = torch.cat([m.coef_ for m in models], dim=1)
    b = torch.cat([m.intercept_ for m in models])
    out = np.zeros((len(rows), W.shape[1]), dtype=np.float32)
    buf = first._buffer(W.shape[0]) if len(rows) > first.block_rows else None
    with torch.no_grad():
        for s in range(0, len(rows), first.block_rows):
            X = first._load(features, rows[s : s + first.block_rows], transform, out=buf)
            out[s : s + len(X)] = (X @ W + b).cpu().numpy()
    widths = np.cumsum([0] + [m.coef_.shape[1] for m in models])
    return [np.ascontiguousarray(out[:, a:z]) for a, z in zip(widths[:-1], widths[1:], strict=True)]


def stacked_objectives(
    model: OvrHingeSgd,
    features: Any,
    labels: np.ndarray,
    rows: np.ndarray,
    W: Any,
    b: Any,
    regs: Sequence[float],
    mu: Any,
    transform: Callable | None,
    modes: Sequence[str | None] | None = None,
) -> np.ndarray:
    """Objective of each of M stacked models ``(dim, M, C)``, ``(M, C)`` on ``rows``."""
    import torch

    labels = np.asarray(labels, dtype=np.int64)
    _, m_models, c = W.shape
    modes = [model.class_weight] * m_models if modes is None else list(modes)
    w_pos, w_neg = _weight_tensors(labels[rows], c, modes, W.device)
    flat, bias = W.reshape(W.shape[0], -1), b.reshape(-1)
    hinge = torch.zeros(m_models, dtype=torch.float64, device=W.device)
    buf = model._buffer(W.shape[0]) if len(rows) > model.block_rows else None
    with torch.no_grad():
        for s in range(0, len(rows), model.block_rows):
            block = rows[s : s + model.block_rows]
            X = model._load(features, block, transform, mu, buf)
            y = torch.as_tensor(labels[block], device=W.device)
            pos = torch.nn.functional.one_hot(y, c).bool()[:, None, :]
            sign = pos.float() * 2 - 1
            weight = torch.where(pos, w_pos, w_neg)
            margin = sign * (X @ flat + bias).view(len(block), m_models, c)
            hinge += (torch.clamp(1 - margin, min=0) * weight).sum((0, 2)).double()
    norm_sq = torch.as_tensor(squared_norms(W), device=W.device)
    lam = torch.as_tensor(np.asarray(regs, np.float64), device=W.device)
    return (lam / 2 * norm_sq + hinge / len(rows)).cpu().numpy()


def squared_norms(W: Any, rows: int = 1024) -> np.ndarray:
    """``||W_m||^2`` of each of M stacked models ``(dim, M, C)``, in float64.

    A slab of ``rows`` input dimensions at a time, so no full copy of the
    models is ever made (at 1,000 classes one HOG model is 138 MB).
    """
    import torch

    out = torch.zeros(W.shape[1], dtype=torch.float64, device=W.device)
    for s in range(0, W.shape[0], rows):
        out += W[s : s + rows].double().pow(2).sum((0, 2))
    return out.cpu().numpy()


def fitted_objective(
    model: OvrHingeSgd,
    features: Any,
    labels: np.ndarray,
    rows: np.ndarray | None = None,
    transform: Callable | None = None,
) -> float:
    """The primal objective of ``model``'s fitted weights on ``features[rows]`` (one pass)."""
    import torch

    rows = model._rows(features, rows)
    zero = torch.zeros(model.coef_.shape[0], device=model.coef_.device)
    W, b = model.coef_[:, None], model.intercept_[None]
    return float(
        stacked_objectives(model, features, labels, rows, W, b, [model.reg], zero, transform)[0]
    )
