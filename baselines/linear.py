"""One-vs-rest linear SVMs by averaged SGD (Pegasos steps), in torch, streaming over feature blocks.

The 2010-2012 ImageNet systems trained one linear SVM per class with SGD on
the primal hinge loss (NEC-UIUC 2010: averaged SGD; XRCE 2011: SGD, Sanchez &
Perronnin), because the features (10^4-10^5 dims, 10^6 images) do not fit a
batch solver. scikit-learn's ``SGDClassifier`` does the same one sample and
one class at a time in Cython, ~100x slower than a batched matrix product and
without a GPU; so this is a small torch implementation of the objective::

    min_W,b  lambda/2 ||W||^2 + 1/N sum_i sum_c  w_ic max(0, 1 - y_ic (W_c . x_i + b_c))

with y_ic = +1 for the image's class and -1 otherwise, the bias b
unregularised, and w_ic the positive/negative balancing weight
(``class_weight="balanced"`` as in scikit-learn: each class's positives and
negatives weigh the same in total; Perronnin et al. CVPR 2012 found
rebalancing essential for one-vs-rest). This is ``sklearn.svm.LinearSVC(
loss="hinge")`` at ``C = 1 / (lambda N)`` with an unpenalised intercept;
``tests/baselines/test_linear.py`` checks the objective reaches its optimum.

Optimiser (Bottou's ``svmsgd``/``svmasgd``; Shalev-Shwartz et al.'s Pegasos):

* steps ``eta_t = 1 / (lambda (t + t0))`` over mini-batch steps t, with
  ``t0 = 1 / (lambda eta0)``: about eta0 while t << t0, then the
  ``1 / (lambda t)`` of Pegasos. Each step shrinks W by ``1 - eta_t lambda``,
  so over T steps weight decay multiplies W by ``t0 / (t0 + T)``: the
  regulariser acts as soon as ``lambda eta0 T`` nears 1. (Tiny ImageNet-100
  Fisher vectors, lambda 1e-4, 8 epochs: T = 1,400, eta0 = 16, a factor 0.3;
  the former momentum-SGD solver's sum of lr x lambda shrank W by under 1%.)
* ``eta0`` is calibrated as in Bottou's ``determineEta0``: a constant-step
  pass over a seeded sample of the training rows (``CALIBRATION_ROWS``, in
  the run's batches) for each of a ladder of candidates (factor 4 apart), kept
  by the lowest hinge loss on that sample.
  The regulariser is left out, so the step is a property of the data and a
  caller tuning lambda calibrates once (:meth:`OvrHingeSgd.calibrate`) and
  passes it as ``eta0``.
* averaging (ASGD, Polyak-Ruppert): the returned weights are the mean of the
  iterates from the start of epoch ``average_from + 1`` on; with fewer epochs,
  the last iterate. The schedule never depends on the number of epochs, so
  the model after e epochs of a longer run is exactly a run of e epochs:
  :meth:`OvrHingeSgd.fit_grid` scores candidates at several epochs in one run,
  and trains several lambdas in one stream (one block read and one matrix
  product per step for all of them).
* the features are centred on a sample mean before training. With the bias
  unregularised this is an exact reparametrisation (the optimum is the same
  for any centre), but it takes the features' common component out of the
  bias direction; the bias then steps at ``BIAS_STEP`` x eta (a constant
  feature adds up coherently over a batch).
* mini-batches of ``batch_size`` rows, smaller on small training sets so an
  epoch has at least ``MIN_STEPS_PER_EPOCH`` steps.

Memory: ``block_rows`` rows at a time (from the float16 memory map, in a seeded
order), plus per model W, its average and at most two copies (16 bytes per
weight); models trained together stay within ``MODEL_BYTES``, more go in turn.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from baselines.ovr import (
    CLASS_WEIGHTS,
    _torch_device,
    _weight_tensors,
    check_class_counts,
    class_weights,
    decision_functions,
    fitted_objective,
    models_together,
    squared_norms,
    stacked_objectives,
)
from harness.api import MethodError
from harness.memory import read_rows

__all__ = ["CLASS_WEIGHTS", "OvrHingeSgd", "check_class_counts", "class_weights"]

CALIBRATION_ROWS = 4096  # rows of the eta0 calibration sample (16 steps of 256)
# eta0 candidates, in units of 1 / mean ||x - mu||^2 (the step that moves one
# sample's own margin by ~1; a batch of B nearly orthogonal rows allows more).
# Measured picks: 4 (blobs), 16 (HOG, dense SIFT Fisher vectors), all inside.
ETA0_LADDER = tuple(4.0**k for k in range(-1, 5))
MIN_STEPS_PER_EPOCH = 32  # a small set still gets these (smaller batches; 800 images: 3 of 256)
_NO_REG = 1e-12  # the lambda of calibration runs
BIAS_STEP = 0.1  # the bias's step relative to W's: a constant feature is coherent across a batch


class OvrHingeSgd:
    """One-vs-rest hinge-loss linear SVMs by averaged SGD; ``fit`` streams rows from an array-like.

    After ``fit``: ``coef_`` (dim, C) and ``intercept_`` (C,) torch tensors on
    the device, ``eta0_`` the step scale used, ``curve_`` one dict per epoch.
    """

    def __init__(
        self,
        reg: float = 1e-4,  # lambda, the L2 weight on W (per-sample objective); C = 1/(lambda N)
        epochs: int = 10,  # passes over the training rows
        eta0: float | None = None,  # initial step; None: calibrated on a sample (Bottou)
        average_from: int = 1,  # average the iterates after this many epochs (ASGD)
        batch_size: int = 256,  # rows per SGD step (fewer on small sets: MIN_STEPS_PER_EPOCH)
        block_rows: int = 2048,  # rows read from disk per block (bounds RAM)
        class_weight: str | None = "balanced",  # "balanced" | None (or "none")
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = None,  # torch CPU threads (None: torch's default)
    ) -> None:
        self.reg = reg
        self.epochs = epochs
        self.eta0 = eta0
        self.average_from = average_from
        self.batch_size = batch_size
        self.block_rows = block_rows
        self.class_weight = class_weight
        self.seed = seed
        self.device = device
        self.n_threads = n_threads

    # ------------------------------------------------------------------ data

    def _setup(self) -> None:
        import torch

        self.device_ = _torch_device(self.device)
        if self.n_threads and self.device_.type == "cpu":
            torch.set_num_threads(self.n_threads)

    def _blocks(self, rows: np.ndarray, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Consecutive ``block_rows`` chunks of ``rows``, in a seeded random order if ``rng``.

        Rows are read in that random order (each row is one contiguous read of
        the memory map), so a block's consecutive slices are random mini-batches.
        """
        order = rows[rng.permutation(len(rows))] if rng is not None else rows
        return [order[s : s + self.block_rows] for s in range(0, len(rows), self.block_rows)]

    def _load(
        self,
        features: Any,
        rows: np.ndarray,
        transform: Callable | None,
        mu: Any = None,
        out: Any = None,
    ) -> Any:
        """Rows of ``features`` as a float32 tensor on the device, minus ``mu`` if given.

        The float16 rows travel as they are stored and are widened by torch
        into ``out`` (a reused ``(block_rows, dim)`` float32 buffer: a fresh
        300 MB tensor per block costs more in page faults than the copy).
        The result is a view of ``out``, valid until the next load into it.
        """
        import torch

        block = read_rows(features, rows)  # a copy; the mapped pages are the kernel's
        if transform is not None:
            block = transform(block.astype(np.float32))
        if block.dtype not in (np.float16, np.float32):
            block = block.astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(block))
        if out is None:
            out = torch.empty(x.shape, dtype=torch.float32, device=self.device_)
        x = out[: len(x)].copy_(x)
        return x.sub_(mu) if mu is not None else x

    def _buffer(self, dim: int) -> Any:
        import torch

        return torch.empty(self.block_rows, dim, dtype=torch.float32, device=self.device_)

    def effective_batch(self, n_rows: int) -> int:
        """``batch_size``, or less: an epoch of ``n_rows`` has ``MIN_STEPS_PER_EPOCH`` steps."""
        return max(1, min(self.batch_size, -(-n_rows // MIN_STEPS_PER_EPOCH)))

    @staticmethod
    def _rows(features: Any, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return np.arange(len(features), dtype=np.int64)
        return np.asarray(rows, dtype=np.int64)

    def _centre(
        self, features: Any, rows: np.ndarray, transform: Callable | None
    ) -> tuple[Any, float]:
        """Mean of a seeded sample of ``rows`` and the mean squared norm around it."""
        rng = np.random.default_rng([self.seed, 1])
        take = np.sort(rng.choice(rows, size=min(len(rows), CALIBRATION_ROWS), replace=False))
        x = self._load(features, take, transform)
        mu = x.mean(0)
        # in slabs of rows: (x - mu)^2 of the whole sample would be a second copy of it
        spread = sum(float(((x[s : s + 256] - mu) ** 2).sum()) for s in range(0, len(x), 256))
        spread /= max(len(x), 1)
        return mu, max(spread, 1e-12)

    # ------------------------------------------------------------------ the solver

    def _train(
        self,
        features: Any,
        labels: np.ndarray,
        rows: np.ndarray,
        n_classes: int,
        regs: Sequence[float],
        eta0s: Sequence[float],
        epochs: int,
        *,
        mu: Any,
        transform: Callable | None = None,
        progress: Callable[..., Any] | None = None,
        on_epoch: Callable[[int, Any, Any, dict[str, Any]], None] | None = None,
        seed: int | None = None,
        batch: int | None = None,
        modes: Sequence[str | None] | None = None,
        classes: np.ndarray | None = None,
    ) -> tuple[Any, Any]:
        """M = len(regs) models trained jointly in one stream: returns averaged (dim, M, C), (M, C).

        ``classes``: train only these classes' one-vs-rest models (C = their
        number; each against all other images, as in the full run); None: all.

        Each model m has its own lambda, eta0 and class weighting (``modes``,
        default this estimator's ``class_weight``); they share every block read,
        every row order and one matrix product per step (scores of all models at
        once). ``on_epoch(epoch, W, b, stats)`` gets the current averaged
        weights (in the centred parametrisation) after every epoch.
        """
        import torch

        dev = self.device_
        seed = self.seed if seed is None else seed
        # the classes trained (a block of them: each still one-vs-rest against all others)
        cls = torch.as_tensor(np.arange(n_classes) if classes is None else classes, device=dev)
        m_models, c = len(regs), len(cls)
        labels = np.asarray(labels, dtype=np.int64)
        modes = [self.class_weight] * m_models if modes is None else list(modes)
        w_pos, w_neg = _weight_tensors(labels[rows], n_classes, modes, dev)  # (M, C) each
        if classes is not None:
            w_pos, w_neg = w_pos[:, cls], w_neg[:, cls]
        lam = torch.as_tensor(np.asarray(regs, np.float64), device=dev)  # float64: t0 may be ~1e9
        t0 = 1.0 / (lam * torch.as_tensor(np.asarray(eta0s, np.float64), device=dev))
        dim = int(mu.shape[0])
        W = torch.zeros(dim, m_models * c, device=dev)
        b = torch.zeros(m_models * c, device=dev)
        W_avg, b_avg = torch.zeros_like(W), torch.zeros_like(b)
        n_avg = 0
        buf = self._buffer(dim)
        batch = batch or self.effective_batch(len(rows))
        rng = np.random.default_rng(seed)
        # np.array copies (torch.as_tensor would not): labels may be a read-only memmap
        labels_t = torch.as_tensor(np.array(labels), device=dev)
        step = 0
        epoch_range = range(epochs)
        for epoch in progress(epoch_range, desc="svm epochs") if progress else epoch_range:
            averaging = epoch >= self.average_from
            hinge = torch.zeros(m_models, device=dev)  # device tensors: no sync per step
            for block in self._blocks(rows, rng):
                X = self._load(features, block, transform, mu, buf)
                Y = labels_t[torch.as_tensor(block, device=dev)]
                for s in range(0, len(block), batch):
                    x, y = X[s : s + batch], Y[s : s + batch]
                    pos = (y[:, None] == cls)[:, None, :]  # (B, 1, C)
                    sign = pos.float() * 2 - 1
                    weight = torch.where(pos, w_pos, w_neg)  # (B, M, C)
                    margin = sign * (x @ W + b).view(-1, m_models, c)  # (B, M, C)
                    hinge += (torch.clamp(1 - margin, min=0) * weight).sum((0, 2))
                    # eta_t = 1 / (lambda (t + t0)): Pegasos after t0, ~eta0 before
                    eta = (1.0 / (lam * (t0 + step))).float()
                    g = ((margin < 1).float() * weight * sign) * (eta[:, None] / len(x))
                    g = g.view(len(x), m_models * c)  # minus the step's loss gradient, scaled
                    decay = (1 - 1.0 / (t0 + step)).float().repeat_interleave(c)  # 1 - eta lambda
                    W.mul_(decay).addmm_(x.T, g)
                    b.add_(g.sum(0), alpha=BIAS_STEP)
                    step += 1
                    if averaging:
                        n_avg += 1
                        W_avg.lerp_(W, 1.0 / n_avg)
                        b_avg.lerp_(b, 1.0 / n_avg)
            if on_epoch is not None:
                w_out, b_out = (W_avg, b_avg) if n_avg else (W, b)
                stats = {
                    "hinge": (hinge / len(rows)).cpu().numpy(),
                    "norm_sq": squared_norms(w_out.view(dim, m_models, c)),
                    "steps": step,
                }
                on_epoch(epoch + 1, w_out.view(dim, m_models, c), b_out.view(m_models, c), stats)
        if n_avg:
            W, b = W_avg, b_avg
        return W.view(dim, m_models, c), b.view(m_models, c)

    def _finish(self, W: Any, b: Any, mu: Any) -> OvrHingeSgd:
        """This estimator with weights from the centred parametrisation ``(x - mu) W + b``."""
        import torch

        self.coef_ = W.clone(memory_format=torch.contiguous_format)  # never a view of the run
        self.intercept_ = b - mu @ W
        return self

    # ------------------------------------------------------------------ public

    def calibrate(
        self,
        features: Any,
        labels: np.ndarray,
        n_classes: int,
        *,
        rows: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> float:
        """Bottou's ``determineEta0``: the ladder step with the lowest hinge loss after one
        constant-step pass over a seeded sample of the rows (all candidates at once).

        The regulariser is left out of the calibration, so the step is a property
        of the data (its scale and curvature) and one calibration serves every
        lambda of a grid.
        """
        self._setup()
        rows = self._rows(features, rows)
        mu, spread = self._centre(features, rows, transform)
        rng = np.random.default_rng([self.seed, 2])
        sample = np.sort(rng.choice(rows, size=min(len(rows), CALIBRATION_ROWS), replace=False))
        ladder = np.asarray(ETA0_LADDER) / spread
        regs = [_NO_REG] * len(ladder)  # t0 ~ 1e12 steps: a constant step, no decay
        saved = self.average_from
        self.average_from = 1  # one pass, no averaging: the raw effect of the step
        # the ladder's steps train in groups within MODEL_BYTES (each model is independent
        # and sees the same sample in the same order, so grouping changes nothing)
        dim = int(mu.shape[0])
        group = models_together(dim, n_classes)
        objectives_parts = []
        try:
            for lo in range(0, len(ladder), group):
                part = ladder[lo : lo + group]
                W, b = self._train(
                    features,
                    labels,
                    sample,
                    n_classes,
                    regs[lo : lo + group],
                    part,
                    1,
                    mu=mu,
                    transform=transform,
                    seed=self.seed + 7919,
                    batch=self.effective_batch(len(rows)),  # the batch of the run it calibrates
                )
                objectives_parts.append(
                    stacked_objectives(
                        self, features, labels, sample, W, b, regs[lo : lo + group], mu, transform
                    )
                )
                del W, b
        finally:
            self.average_from = saved
        objectives = np.concatenate(objectives_parts)
        best = int(np.argmin(objectives))
        self.calibration_ = {
            "eta0": [float(e) for e in ladder],
            "hinge": [float(o) for o in objectives],
            "rows": len(sample),
            "at_edge": best in (0, len(ladder) - 1),  # the ladder may not bracket the best step
        }
        self.eta0_ = float(ladder[best])
        return self.eta0_

    def fit(
        self,
        features: Any,
        labels: np.ndarray,
        n_classes: int,
        *,
        rows: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: Callable[..., Any] | None = None,
        log_epoch: Callable[..., None] | None = None,
    ) -> OvrHingeSgd:
        """Train on ``features[rows]`` (all rows by default); ``labels`` index like ``features``."""
        (fitted,) = self.fit_grid(
            features,
            labels,
            n_classes,
            [self.reg],
            rows=rows,
            transform=transform,
            progress=progress,
            log_epoch=log_epoch,
        )
        vars(self).update(vars(fitted))
        return self

    def fit_grid(
        self,
        features: Any,
        labels: np.ndarray,
        n_classes: int,
        regs: Sequence[float],
        *,
        rows: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: Callable[..., Any] | None = None,
        log_epoch: Callable[..., None] | None = None,
        checkpoints: Sequence[int] = (),
        on_checkpoint: Callable[[int, list[OvrHingeSgd]], None] | None = None,
        class_weights: Sequence[str | None] | None = None,
        eta0s: Sequence[float] | None = None,
        classes: np.ndarray | None = None,
    ) -> list[OvrHingeSgd]:
        """One fitted copy of this estimator per lambda in ``regs``, trained in one stream.

        ``class_weights`` and ``eta0s``, if given, pair with ``regs`` (model m:
        ``regs[m]``, ``class_weights[m]``, ``eta0s[m]``); by default every model
        has this estimator's ``class_weight`` and ``eta0``. ``classes``: only
        these classes' models (a block, :mod:`baselines.ovr_blocks`); None: all.

        ``on_checkpoint(epoch, models)`` is called after each epoch in
        ``checkpoints`` with the models as they are then (averaged weights, the
        same as a fit of that many epochs); ``self.epochs`` is the last epoch.
        Without ``eta0s`` one step scale serves all models: ``eta0``, or one
        calibration (which ignores lambda); each model's ``t0 = 1 / (lambda
        eta0)``, with eta0 capped at 1 / lambda so no step flips W's sign.
        """
        self._setup()
        rows = self._rows(features, rows)
        labels = np.asarray(labels, dtype=np.int64)
        if len(rows) == 0:
            raise MethodError("no training rows for the SVM")
        regs = [float(r) for r in regs]
        modes = [self.class_weight] * len(regs) if class_weights is None else list(class_weights)
        if eta0s is None:
            eta0 = self.eta0
            if eta0 is None:  # a caller tuning lambda calibrates once and passes eta0 instead
                eta0 = self.calibrate(features, labels, n_classes, rows=rows, transform=transform)
            eta0s = [eta0] * len(regs)
        if not len(regs) == len(modes) == len(eta0s):
            raise ValueError("regs, class_weights and eta0s must pair up")
        mu, _ = self._centre(features, rows, transform)
        eta0s = [min(float(e), 1.0 / r) for e, r in zip(eta0s, regs, strict=True)]
        curve: list[list[dict[str, Any]]] = [[] for _ in regs]

        def make(W: Any, b: Any, m: int, epochs: int) -> OvrHingeSgd:
            model = copy.copy(self)
            model.reg, model.epochs, model.eta0_ = regs[m], epochs, eta0s[m]
            model.class_weight = modes[m]
            model.curve_ = list(curve[m])
            return model._finish(W[:, m], b[m], mu)

        def on_epoch(epoch: int, W: Any, b: Any, stats: dict[str, Any]) -> None:
            for m, reg in enumerate(regs):
                row = {
                    "epoch": epoch,
                    "reg": reg,
                    "class_weight": modes[m] or "none",
                    # the running hinge of the iterates during the epoch, plus the
                    # regulariser of the averaged weights: an estimate, no extra pass
                    "train_objective": float(reg / 2 * stats["norm_sq"][m] + stats["hinge"][m]),
                    "train_hinge_loss": float(stats["hinge"][m]),
                    "weight_norm": float(np.sqrt(stats["norm_sq"][m])),
                }
                curve[m].append(row)
                if log_epoch is not None:
                    log_epoch(**row)
            if on_checkpoint is not None and epoch in checkpoints:
                on_checkpoint(epoch, [make(W, b, m, epoch) for m in range(len(regs))])

        W, b = self._train(
            features,
            labels,
            rows,
            n_classes,
            regs,
            eta0s,
            self.epochs,
            mu=mu,
            transform=transform,
            progress=progress,
            on_epoch=on_epoch,
            modes=modes,
            classes=classes,
        )
        return [make(W, b, m, self.epochs) for m in range(len(regs))]

    def decision_function(
        self,
        features: Any,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores ``(n, n_classes)`` float32 of ``features[rows]`` (all rows by default)."""
        return decision_functions([self], features, transform, rows)[0]

    def objective(
        self,
        features: Any,
        labels: np.ndarray,
        rows: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> float:
        """The primal objective of the fitted weights on ``features[rows]`` (exact, one pass)."""
        return fitted_objective(self, features, labels, rows, transform)
