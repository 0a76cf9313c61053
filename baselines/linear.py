"""One-vs-rest linear SVMs trained by mini-batch SGD in torch, streaming over feature chunks.

The 2010-2012 ImageNet systems trained one linear SVM per class with SGD on
the primal hinge loss (NEC-UIUC: averaged SGD; XRCE: SGD, Sanchez &
Perronnin 2011), because the features (10^4-10^5 dims, 10^6 images) do not
fit a batch solver. scikit-learn's ``SGDClassifier.partial_fit`` does the same
thing but one sample and one class at a time in Cython: for 100 classes x 40k
dims that is ~100x slower than a batched matrix product, and it cannot use a
GPU. So this is a small torch implementation of the same objective::

    min_W,b  lambda/2 ||W||^2 + 1/N sum_i sum_c  w_ic max(0, 1 - y_ic (W_c . x_i + b_c))

with y_ic = +1 for the image's class and -1 otherwise, and w_ic the
positive/negative balancing weight (``class_weight="balanced"`` as in
scikit-learn: each class's positives and negatives weigh the same in total;
Perronnin et al. 2012 found rebalancing essential for one-vs-rest).
Optimiser: SGD with momentum and a cosine learning-rate decay to zero, the
bias unregularised. ``tests/baselines/test_linear.py`` checks it agrees with
``sklearn.svm.LinearSVC(loss="hinge")`` on a small problem.

Memory: only ``block_rows`` rows are in RAM at a time (read from the float16
memory map in a random order), plus W and its momentum (2 x dim x classes
x 4 bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.api import MethodError


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


class OvrHingeSgd:
    """One-vs-rest hinge-loss linear SVMs; ``fit`` streams rows from an array-like."""

    def __init__(
        self,
        reg: float = 1e-5,  # lambda, the L2 weight on W (per-sample objective)
        epochs: int = 15,
        lr: float = 0.05,  # peak learning rate, cosine-decayed to 0
        momentum: float = 0.9,
        batch_size: int = 256,
        block_rows: int = 2048,  # rows read from disk per block (bounds RAM)
        class_weight: str | None = "balanced",
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = None,  # torch CPU threads (None: torch's default)
    ) -> None:
        self.reg = reg
        self.epochs = epochs
        self.lr = lr
        self.momentum = momentum
        self.batch_size = batch_size
        self.block_rows = block_rows
        self.class_weight = class_weight
        self.seed = seed
        self.device = device
        self.n_threads = n_threads

    def _blocks(self, n: int, rng: np.random.Generator, shuffle: bool) -> list[np.ndarray]:
        order = rng.permutation(n) if shuffle else np.arange(n)
        return [np.sort(order[s : s + self.block_rows]) for s in range(0, n, self.block_rows)]

    def _load(self, features: Any, rows: np.ndarray, transform: Callable | None) -> Any:
        import torch

        block = np.asarray(features[rows], dtype=np.float32)
        if transform is not None:
            block = transform(block)
        return torch.from_numpy(np.ascontiguousarray(block)).to(self.device_)

    def fit(
        self,
        features: Any,
        labels: np.ndarray,
        n_classes: int,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: Callable[..., Any] | None = None,
        log_epoch: Callable[..., None] | None = None,
    ) -> OvrHingeSgd:
        import torch

        self.device_ = _torch_device(self.device)
        if self.n_threads and self.device_.type == "cpu":
            torch.set_num_threads(self.n_threads)
        labels = np.asarray(labels, dtype=np.int64)
        n = len(labels)
        dim = self._load(features, np.arange(1), transform).shape[1]
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        if self.class_weight == "balanced":
            w_pos = n / (2.0 * np.maximum(counts, 1))
            w_neg = n / (2.0 * np.maximum(n - counts, 1))
        elif self.class_weight is None:
            w_pos, w_neg = np.ones(n_classes), np.ones(n_classes)
        else:
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        dev = self.device_
        w_pos_t = torch.as_tensor(w_pos, dtype=torch.float32, device=dev)
        w_neg_t = torch.as_tensor(w_neg, dtype=torch.float32, device=dev)
        W = torch.zeros(dim, n_classes, device=dev)
        b = torch.zeros(n_classes, device=dev)
        vW, vb = torch.zeros_like(W), torch.zeros_like(b)
        steps_per_epoch = sum(
            -(-len(blk) // self.batch_size)
            for blk in self._blocks(n, np.random.default_rng(0), False)
        )
        total, step = max(self.epochs * steps_per_epoch, 1), 0
        labels_t = torch.tensor(
            np.asarray(labels), device=dev
        )  # a copy: labels may be a read-only memmap
        epochs = range(self.epochs)
        for epoch in progress(epochs, desc="svm epochs") if progress else epochs:
            loss_sum = torch.zeros((), device=dev)  # a device tensor: no sync per step
            for rows in self._blocks(n, rng, shuffle=True):
                X = self._load(features, rows, transform)
                Y = labels_t[torch.as_tensor(rows, device=dev)]
                perm = torch.randperm(len(rows), generator=gen).to(dev)
                for s in range(0, len(rows), self.batch_size):
                    idx = perm[s : s + self.batch_size]
                    x, y = X[idx], Y[idx]
                    pos = torch.nn.functional.one_hot(y, n_classes).bool()
                    sign = pos.float() * 2 - 1
                    weight = torch.where(pos, w_pos_t, w_neg_t)
                    margin = sign * (x @ W + b)
                    active = (margin < 1).float() * weight  # hinge subgradient mask
                    loss_sum += (torch.clamp(1 - margin, min=0) * weight).sum()
                    g_out = -(active * sign) / len(idx)  # d loss / d score
                    gW = torch.addmm(W, x.T, g_out, beta=self.reg)  # x^T g + lambda W, fused
                    gb = g_out.sum(0)
                    lr = 0.5 * self.lr * (1 + np.cos(np.pi * step / total))
                    vW.mul_(self.momentum).add_(gW)
                    vb.mul_(self.momentum).add_(gb)
                    W.add_(vW, alpha=-lr)
                    b.add_(vb, alpha=-lr)
                    step += 1
            if log_epoch is not None:
                log_epoch(epoch=epoch + 1, train_hinge_loss=float(loss_sum) / n)
        self.coef_ = W
        self.intercept_ = b
        return self

    def decision_function(
        self, features: Any, transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """Scores ``(n, n_classes)`` float32, computed on the fitted device in blocks."""
        import torch

        n = len(features)
        out = np.zeros((n, self.coef_.shape[1]), dtype=np.float32)
        with torch.no_grad():
            for rows in self._blocks(n, np.random.default_rng(0), shuffle=False):
                X = self._load(features, rows, transform)
                out[rows] = (X @ self.coef_ + self.intercept_).cpu().numpy()
        return out
