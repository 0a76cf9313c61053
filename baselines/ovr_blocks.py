"""The one-vs-rest SVMs over blocks of classes: in this process, or as Dask tasks.

In :class:`baselines.linear.OvrHingeSgd` the classes are independent: each
has its own weight column, and what they share (the row order, the centre,
the batch size, the step schedule) depends on the rows, not on the class. So a
block of classes trained alone (``fit_grid(..., classes=block)``) gets the
weights it gets in a run of all classes, up to float rounding.

With ``ctx.dask_scheduler`` set and the features in the cache's memory map,
:func:`train_grid` (the selection's candidates, scored on the monitor at each
checkpoint) and :func:`train_final` (the refit) split the classes into one
block per worker thread and run :func:`train_class_block` on each as a task
(``distributed.Client(address)``). A task gets the path of the feature file,
not the array (on a cluster the cache folder is shared, at the same path on
every worker), and opens it read-only. The driver assembles the blocks'
monitor scores into each candidate's ``(n_monitor, n_classes)`` matrix (one
checkpoint at a time) and hands it to the same scoring callback as the local
path, so the choice is made by the same criterion over the same candidates;
the refit's weight blocks become one ``(dim, n_classes)`` model, scored on the
driver. The step ``eta0`` is calibrated on the driver in both cases.

Without a scheduler, or with features that are not a file, the same calls run
:meth:`OvrHingeSgd.fit_grid` on all classes in this process, as before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines.linear import OvrHingeSgd
from baselines.ovr import decision_functions
from harness.api import RowView, RunContext

#: score(epoch, [(lambda, class weighting) per model], [(n_monitor, C) scores per model])
ScoreFn = Callable[[int, list[tuple[float, Any]], list[np.ndarray]], None]


@dataclass(frozen=True)
class FeatureFile:
    """Where a task finds features: a ``.npy`` file and the rows of it shown (None: all)."""

    path: str
    rows: np.ndarray | None = None

    def open(self) -> Any:
        """The features, memory-mapped read-only (a row view if ``rows``)."""
        features = np.load(self.path, mmap_mode="r")
        return features if self.rows is None else RowView(features, self.rows)


def feature_file(features: Any) -> FeatureFile | None:
    """The file behind a cached memory map or a row view of one; None for in-memory arrays."""
    rows = None
    if isinstance(features, RowView):
        features, rows = features._base, np.asarray(features._rows, np.int64)
    path = getattr(features, "filename", None) if isinstance(features, np.memmap) else None
    return FeatureFile(str(path), rows) if path and str(path).endswith(".npy") else None


def class_blocks(n_classes: int, n_blocks: int) -> list[np.ndarray]:
    """``n_blocks`` (at most ``n_classes``) contiguous blocks of class indices, sizes within one."""
    return np.array_split(np.arange(n_classes, dtype=np.int64), max(1, min(n_blocks, n_classes)))


def train_class_block(
    svm: OvrHingeSgd,
    features: FeatureFile,
    labels: np.ndarray,
    n_classes: int,
    classes: np.ndarray,
    regs: Sequence[float],
    modes: Sequence[str | None],
    eta0s: Sequence[float],
    checkpoints: Sequence[int] = (),
    monitor: FeatureFile | None = None,
) -> dict[str, Any]:
    """Train the one-vs-rest SVMs of ``classes``, one per ``(regs, modes, eta0s)``: one task.

    Returns ``curves`` (each model's per-epoch rows on these classes), with a
    monitor ``scores`` {epoch in checkpoints: (M, n_monitor, len(classes))},
    else the final ``coef`` (dim, M, len(classes)) and ``intercept`` (M, len(classes)).
    """
    from threadpoolctl import threadpool_limits

    svm = copy.copy(svm)
    svm.n_threads = 1  # one Dask thread, one core
    feats, mon = features.open(), monitor.open() if monitor is not None else None
    scores: dict[int, np.ndarray] = {}

    def on_checkpoint(epoch: int, models: list[OvrHingeSgd]) -> None:
        scores[epoch] = np.stack(decision_functions(models, mon))

    with threadpool_limits(1):
        models = svm.fit_grid(
            feats,
            labels,
            n_classes,
            regs,
            class_weights=modes,
            eta0s=eta0s,
            checkpoints=checkpoints if mon is not None else (),
            on_checkpoint=on_checkpoint if mon is not None else None,
            classes=classes,
        )
    out: dict[str, Any] = {"curves": [m.curve_ for m in models]}
    if mon is not None:
        out["scores"] = scores
    else:
        out["coef"] = np.stack([m.coef_.cpu().numpy() for m in models], axis=1)
        out["intercept"] = np.stack([m.intercept_.cpu().numpy() for m in models])
    return out


def _scores_at(result: dict[str, Any], epoch: int) -> np.ndarray:
    return result["scores"][epoch]


def _curves(result: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return result["curves"]


def _weights(result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    return result["coef"], result["intercept"]


@contextmanager
def _blocks_on_dask(
    ctx: RunContext, svm: OvrHingeSgd, files: tuple[FeatureFile, FeatureFile | None], **task: Any
) -> Iterator[tuple[Any, list[Any]]]:
    """A client and one :func:`train_class_block` future per block (one block per worker thread)."""
    from distributed import Client

    with Client(ctx.dask_scheduler, set_as_default=False) as client:
        n_threads = sum(client.nthreads().values())
        labels = client.scatter(np.asarray(task.pop("labels"), np.int64), broadcast=True)
        futures = [
            client.submit(
                train_class_block,
                svm,
                files[0],
                labels,
                classes=block,
                monitor=files[1],
                pure=False,
                **task,
            )
            for block in class_blocks(task["n_classes"], n_threads)
        ]
        yield client, futures


def _log_curves(client: Any, futures: list[Any], log_epoch: Callable[..., None] | None) -> None:
    """The blocks' per-epoch rows summed over classes (hinge and squared norm add up) and logged."""
    if log_epoch is None:
        return
    parts = client.gather([client.submit(_curves, f, pure=False) for f in futures])
    n_models, n_epochs = len(parts[0]), len(parts[0][0])
    for e in range(n_epochs):
        for m in range(n_models):
            rows = [curves[m][e] for curves in parts]  # this model's epoch, one row per block
            hinge = sum(r["train_hinge_loss"] for r in rows)
            norm_sq = sum(r["weight_norm"] ** 2 for r in rows)
            log_epoch(
                **{
                    **rows[0],
                    "train_objective": float(rows[0]["reg"] / 2 * norm_sq + hinge),
                    "train_hinge_loss": float(hinge),
                    "weight_norm": float(np.sqrt(norm_sq)),
                }
            )


def train_grid(
    runner: OvrHingeSgd,
    feats: Any,
    labels: np.ndarray,
    n_classes: int,
    grid: Sequence[tuple[float, str | None, float]],
    checkpoints: Sequence[int],
    mon_feats: Any,
    score: ScoreFn,
    ctx: RunContext,
    log_epoch: Callable[..., None] | None = None,
) -> None:
    """Train the candidates ``grid`` ((lambda, class weighting, eta0) each) on ``feats`` to
    ``runner.epochs`` and call ``score`` with their monitor scores at every checkpoint."""
    regs, modes, eta0s = ([g[i] for g in grid] for i in range(3))
    files = (feature_file(feats), feature_file(mon_feats))
    if not ctx.dask_scheduler or None in files:

        def on_checkpoint(epoch: int, models: list[OvrHingeSgd]) -> None:
            keys = [(m.reg, m.class_weight) for m in models]
            score(epoch, keys, decision_functions(models, mon_feats))  # one pass for all

        runner.fit_grid(
            feats,
            labels,
            n_classes,
            regs,
            class_weights=modes,
            eta0s=eta0s,
            progress=ctx.progress,
            log_epoch=log_epoch,
            checkpoints=checkpoints,
            on_checkpoint=on_checkpoint,
        )
        return
    task = dict(labels=labels, n_classes=n_classes, regs=regs, modes=modes, eta0s=eta0s)
    with _blocks_on_dask(ctx, runner, files, checkpoints=tuple(checkpoints), **task) as (
        client,
        futures,
    ):
        _log_curves(client, futures, log_epoch)
        keys = [(float(r), m) for r, m in zip(regs, modes, strict=True)]
        for epoch in sorted(e for e in set(checkpoints) if e <= runner.epochs):
            parts = client.gather(
                [client.submit(_scores_at, f, epoch, pure=False) for f in futures]
            )
            full = np.concatenate(parts, axis=2)  # (M, n_monitor, C): the blocks side by side
            score(epoch, keys, [np.ascontiguousarray(s) for s in full])


def train_final(
    svm: OvrHingeSgd,
    feats: Any,
    labels: np.ndarray,
    n_classes: int,
    ctx: RunContext,
    log_epoch: Callable[..., None] | None = None,
) -> OvrHingeSgd:
    """``svm.fit(feats, labels, n_classes)``: in blocks of classes on Dask when a scheduler is set."""
    file = feature_file(feats)
    if not ctx.dask_scheduler or file is None:
        return svm.fit(feats, labels, n_classes, progress=ctx.progress, log_epoch=log_epoch)
    import torch

    svm._setup()
    eta0 = svm.eta0 if svm.eta0 is not None else svm.calibrate(feats, labels, n_classes)
    task = dict(labels=labels, n_classes=n_classes, regs=[svm.reg], eta0s=[eta0])
    with _blocks_on_dask(ctx, svm, (file, None), modes=[svm.class_weight], **task) as (
        client,
        futures,
    ):
        curves: list[dict[str, Any]] = []
        _log_curves(client, futures, lambda **row: curves.append(row))
        parts = client.gather([client.submit(_weights, f, pure=False) for f in futures])
    for row in curves:
        if log_epoch is not None:
            log_epoch(**row)
    svm.eta0_ = min(float(eta0), 1.0 / svm.reg)  # as fit_grid caps it
    svm.curve_ = curves
    coef = np.concatenate([c[:, 0] for c, _ in parts], axis=1)
    svm.coef_ = torch.as_tensor(coef, device=svm.device_)
    svm.intercept_ = torch.as_tensor(np.concatenate([b[0] for _, b in parts]), device=svm.device_)
    return svm
