"""The record of one method's run, built from what the runner handed over and measured.

:func:`base_record` fills what is known before ``fit`` (the data, the
machine, the configuration); :func:`finish_record` adds what the method
reported (training facts, selections, notes, its learning curve) and what
the runner observed of the hand-over (:func:`monitor_block`): which rows were
``data.fit`` and ``data.monitor``, how many monitor images the method read,
whether a refit on the whole training split ran.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np

from harness.api import RunContext, Split
from harness.config import MethodSpec, RunConfig
from harness.environment import device_name, git_commit, package_versions
from harness.prepare import PreparedData
from harness.protocol import hit_error, topk_hits
from harness.record import RunRecord, ValHits
from harness.types import RowView, TrainData

__all__ = ["LABEL_SPACE", "base_record", "finish_record", "monitor_block", "variant_record"]

LABEL_SPACE = "sorted-wnid-index"


def rows_digest(rows: Any) -> str:
    """sha256 (16 hex) of a row-number array: which rows, in which order."""
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def monitor_block(
    data: PreparedData,
    cfg: RunConfig,
    handed: TrainData,
    refit_rows: int | None,
    ctx: RunContext,
) -> dict[str, Any]:
    """The record's ``monitor``: the draw, and what the runner handed over and saw."""
    if cfg.monitor == "val":
        block: dict[str, Any] = {
            "split": "val",
            "n_images": len(data.val),
            "n_fit": len(data.train),
        }
    elif handed.monitor is None:
        block = {"split": "none", "n_fit": len(handed.fit)}
    else:
        block = data.holdout.describe()  # type: ignore[union-attr]
    block["fit_rows_digest"] = rows_digest(handed.fit.parent_rows)
    if handed.monitor is not None:
        block["monitor_rows_digest"] = rows_digest(handed.monitor.parent_rows)
        images = handed.monitor.images
        block["monitor_rows_read"] = int(images.rows_read) if isinstance(images, RowView) else None
    block["refit"] = refit_rows is not None
    if refit_rows is not None:
        block["refit_rows"] = int(refit_rows)
    block["candidates_tried"] = sum(len(s.candidates) for s in ctx.selections)
    return block


def fit_split(cfg: RunConfig, handed: TrainData, refit: bool) -> str:
    """What the method trained on, as observed: ``train-fit`` (train minus the monitor), etc."""
    if cfg.monitor == "val" or handed.monitor is None:
        return "train"
    return "train-fit, refit on train" if refit else "train-fit"


def base_record(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, run_id: str, device: str
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "error",
        "error": None,
        "method": spec.name,
        "config_name": spec.key or None,
        "variant": None,
        "tag": None,
        "family": "other",
        "year": None,
        "source": None,
        "params": dict(spec.params),
        "subset": data.subset.name,
        "subset_version": getattr(data.subset, "version", None),
        "manifest_hash": data.manifest.hash,
        "layout": getattr(data.manifest, "layout", None),
        "label_space": LABEL_SPACE,
        "n_classes": data.train.n_classes,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "image_size": data.train.size,
        "crop": None,
        "top1_err": None,
        "top5_err": None,
        "train_seconds": None,
        "resumed": None,
        "startup_seconds": None,
        "eval_seconds": None,
        "train_images_per_s": None,
        "eval_images_per_s": None,
        "peak_rss_mib": None,
        "peak_anon_mib": None,
        "device": device_name(device),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "seed": cfg.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **data.cached.record(),  # cache folder, decode rate, bad_images
        "manifest_notes": list(getattr(data.manifest, "notes", [])),
        "monitor": {"split": "none"},
        "training": {},
        "selection": [],
        "learning_curve": [],
        "notes": {},
        "config": cfg.to_dict(),
        "command": cfg.command,
    }


def finish_record(
    record: dict[str, Any],
    ctx: RunContext,
    cfg: RunConfig,
    data: PreparedData,
    handed: TrainData,
    refit_rows: int | None,
) -> None:
    """Add what the method reported and what the runner observed (in place)."""
    record["learning_curve"] = list(ctx.epoch_log)
    facts = ctx.training.model_dump(exclude_defaults=True, mode="json")
    facts["fit_split"] = fit_split(cfg, handed, refit_rows is not None)
    record["training"] = facts
    record["selection"] = [s.model_dump(mode="json") for s in ctx.selections]
    record["monitor"] = monitor_block(data, cfg, handed, refit_rows, ctx)
    record["crop"] = facts.get("crop")
    if facts.get("images_per_s"):  # the method knows its true throughput (all epochs)
        record["train_images_per_s"] = facts["images_per_s"]
    if (
        facts.get("seconds_before_resume")
        and record["train_seconds"] is not None
        and not record.get("resumed")  # the runner's clock counted the time before already
    ):
        # a resumed run: this process's fit plus the epochs trained before the kill
        record["train_seconds"] = round(record["train_seconds"] + facts["seconds_before_resume"], 3)
        record["resumed"] = True
    record["notes"] = dict(ctx.notes)


def val_hits(hits: dict[int, np.ndarray], val: Split) -> dict[str, Any]:
    """The record's per-image hits of the val split (row order), for intervals later."""
    packed = ValHits.from_arrays(hits[1], hits[5], paths=val.paths, labels=val.labels)
    return packed.model_dump(mode="json")


def scored(scores: np.ndarray, val: Split) -> dict[str, Any]:
    """The error fields of a record from a method's val scores."""
    hits = topk_hits(scores, val.labels, (1, 5))
    return {
        "top1_err": round(hit_error(hits[1]), 4),
        "top5_err": round(hit_error(hits[5]), 4),
        "val_hits": val_hits(hits, val),
    }


def variant_record(
    rec: RunRecord, name: str, reason: str, scores: np.ndarray, val: Split
) -> RunRecord:
    """A declared variant's row: its method's record with the variant's scores and reason."""
    return rec.with_changes(
        run_id=f"{rec.run_id}__{name}",
        variant=name,
        variant_reason=reason,
        learning_curve=[],
        **scored(scores, val),
    )
