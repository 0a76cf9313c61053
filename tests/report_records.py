"""Realistic fake run records for the report and sweep tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.results import write_record

VERSIONS = {"python": "3.12.3", "harness": "0.1.0", "numpy": "2.1.0", "torch": "2.13.0"}


def make_record(
    method: str,
    subset: str,
    top5: float | None,
    *,
    top1: float | None = None,
    year: int = 2012,
    family: str | None = None,
    status: str = "ok",
    error: str | None = None,
    n_classes: int = 100,
    n_train: int = 25_000,
    n_val: int = 5_000,
    train_seconds: float = 120.0,
    device: str = "cpu: Test CPU (2 cores)",
    curve: list[dict[str, Any]] | None = None,
    sweep: dict[str, int] | None = None,
    manifest_hash: str = "0123456789abcdef0123",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": f"{subset}__{method}__cfg0001",
        "status": status,
        "error": error,
        "method": method,
        "variant": None,
        "display_name": method,
        "year": year,
        "source": "test citation",
        "params": {},
        "subset": subset,
        "subset_version": 1,
        "manifest_hash": manifest_hash,
        "layout": "tiny-imagenet",
        "label_space": "sorted-wnid-index",
        "n_classes": n_classes,
        "n_train": n_train,
        "n_val": n_val,
        "image_size": 64,
        "top1_err": top1 if top1 is not None else (None if top5 is None else min(100.0, top5 + 20)),
        "top5_err": top5,
        "train_seconds": train_seconds if status == "ok" else None,
        "eval_seconds": train_seconds / 10 if status == "ok" else None,
        "train_images_per_s": n_train / train_seconds if status == "ok" else None,
        "eval_images_per_s": None,
        "device": device,
        "versions": VERSIONS,
        "git_commit": "abcdef1234567890",
        "seed": 0,
        "date": "2026-11-23T12:00:00+00:00",
        "bad_images": [],
        "learning_curve": curve or [],
        "notes": {},
        "config": {"sweep": sweep} if sweep else {"suite": "test"},
    }
    if family is not None:
        record["family"] = family
    return record


def write_records(results_dir: Path, records: list[dict[str, Any]]) -> list[Path]:
    return [write_record(results_dir, r) for r in records]


def curve(epochs: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "epoch": e,
            "train_loss": 4.0 / e,
            "val_top1_err": 90.0 - 10 * e,
            "val_top5_err": 70.0 - 10 * e,
            "lr": 0.01,
        }
        for e in range(1, epochs + 1)
    ]
