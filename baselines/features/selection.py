"""The SVM selection of :class:`~baselines.features.pipeline.EncodedSvmBaseline`, per channel.

Every (lambda, class weighting) of the grid is trained on the fit rows in
one stream per group of candidates (as many as :func:`baselines.ovr.models_together` allows)
and scored on the monitor at each epoch count of ``svm_epoch_grid``; the
lowest monitor top-5 wins (ties: :func:`candidate_key`). See the pipeline's
docstring for the whole procedure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from baselines.linear import check_class_counts
from baselines.ovr import models_together
from baselines.ovr_blocks import train_grid
from harness.api import RunContext, Selection, Split
from harness.protocol import topk_errors

if TYPE_CHECKING:
    from baselines.features.pipeline import EncodedSvmBaseline

__all__ = ["candidate_key", "select_channel"]

MAIN = "main"  # the channel every pipeline has (pipeline.MAIN)


def candidate_key(
    candidate: dict[str, Any], modes: list[str] | None = None
) -> tuple[float, float, float, int, int]:
    """Sort key of a selection candidate: monitor top-5, then top-1, then the stronger
    regulariser (larger lambda, fewer epochs), then the class weighting listed first."""
    mode = candidate.get("svm_class_weight")
    return (
        candidate["monitor_top5_err"],
        candidate["monitor_top1_err"],
        -candidate["svm_reg"],
        candidate["svm_epochs"],
        modes.index(mode) if modes and mode in modes else 0,
    )


def select_channel(
    method: EncodedSvmBaseline,
    channel: str,
    feats: Any,
    fit: Split,
    mon_feats: Any,
    monitor: Split,
    ctx: RunContext,
) -> tuple[dict[str, Any], np.ndarray]:
    """Grid over (lambda, epochs, class weighting) trained on the fit rows, scored on the
    monitor. Returns the chosen values (for the refit) and their monitor scores.
    """
    regs, epoch_grid, modes = method._grids()
    labels = np.asarray(fit.labels)
    mon_labels = np.asarray(monitor.labels)
    check_class_counts(labels, fit.wnids, 1)
    eta0 = {  # the step depends on the loss's weighting, not on lambda: one per weighting
        mode: method._svm(ctx, regs[0], 1, class_weight=mode).calibrate(
            feats, labels, fit.n_classes
        )
        for mode in modes
    }
    grid = [(reg, mode) for mode in modes for reg in regs]
    runner = method._svm(ctx, regs[0], epoch_grid[-1])  # epochs: the longest checkpoint
    candidates: list[dict[str, Any]] = []
    best: dict[str, Any] = {}

    def score(epoch: int, keys: list[tuple[float, Any]], every: list[np.ndarray]) -> None:
        for (reg, mode), scores in zip(keys, every, strict=True):
            errs = topk_errors(scores, mon_labels, (1, 5))
            cand = {
                "svm_reg": reg,
                "svm_epochs": epoch,
                "svm_class_weight": mode,
                "monitor_top1_err": round(errs[1], 4),
                "monitor_top5_err": round(errs[5], 4),
            }
            candidates.append(cand)
            if not best or candidate_key(cand, modes) < candidate_key(best["cand"], modes):
                best.update(cand=cand, scores=scores)

    group = models_together(int(feats.shape[1]), fit.n_classes)
    for start in range(0, len(grid), group):
        part = grid[start : start + group]
        train_grid(  # in blocks of classes on Dask with a scheduler, else in this process
            runner,
            feats,
            labels,
            fit.n_classes,
            [(reg, mode, eta0[mode]) for reg, mode in part],
            epoch_grid,
            mon_feats,
            score,
            ctx,
            method._logger(ctx, channel, "select"),
        )
    chosen = best["cand"]
    prefix = "" if channel == MAIN else f"{channel}_"
    names = ("svm_reg", "svm_epochs", "svm_class_weight")
    ctx.report_selection(
        Selection(
            parameters=tuple(prefix + n for n in names),
            candidates=tuple(
                {**c, "channel": channel}
                for c in sorted(
                    candidates,
                    key=lambda c: (
                        modes.index(c["svm_class_weight"]),
                        c["svm_reg"],
                        c["svm_epochs"],
                    ),
                )
            ),
            chosen={prefix + n: chosen[n] for n in names},
            criterion="monitor_top5_err",
            refit=True,
        )
    )
    mode = chosen["svm_class_weight"]
    ctx.note(
        f"{method.name}_{channel}_svm",
        {
            "reg": chosen["svm_reg"],
            "epochs": chosen["svm_epochs"],
            "class_weight": mode,
            "eta0": eta0[mode],
            "monitor_top1_err": chosen["monitor_top1_err"],
            "monitor_top5_err": chosen["monitor_top5_err"],
            # the best lambda at an end of the grid: a wider grid may do better
            "at_grid_edge": chosen["svm_reg"] in (regs[0], regs[-1]) and len(regs) > 1,
            "n_fit": int(len(fit)),
            "n_monitor": int(len(monitor)),
        },
    )
    ctx.logger.info(
        "%s: %s SVM chose lambda=%g, %d epochs, class weight %s (monitor top-5 %.2f%%)",
        method.name,
        channel,
        chosen["svm_reg"],
        chosen["svm_epochs"],
        mode,
        chosen["monitor_top5_err"],
    )
    values = {
        "reg": chosen["svm_reg"],
        "epochs": chosen["svm_epochs"],
        "class_weight": mode,
        "eta0": eta0[mode],
    }
    return values, best["scores"]
