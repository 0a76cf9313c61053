"""The typed run record: built once, validated, round-tripped, schema 1 read through upgrade_v1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError

from harness.api import FAMILIES
from harness.commands import command_line
from harness.record import (
    SCHEMA_VERSION,
    Family,
    RecordError,
    RunRecord,
    TrainingFacts,
    ValHits,
    order_digest,
    parse_record,
    upgrade_v1,
)
from harness.store import read_record, write_record


def full_record(**changes) -> RunRecord:
    fields = {
        "run_id": "tiny__alexnet__abc123",
        "status": "ok",
        "method": "alexnet",
        "tag": "small stem, width 0.5",
        "family": "cnn",
        "year": 2012,
        "source": "Krizhevsky et al. 2012",
        "params": {"epochs": np.int64(4), "lr_drop_at": (0.5, 0.75), "width": np.float32(0.5)},
        "subset": "tiny-imagenet",
        "subset_version": 1,
        "manifest_hash": "5ad3afeaf6048224",
        "layout": "tiny-imagenet",
        "label_space": "sorted-wnid-index",
        "n_classes": 100,
        "n_train": 45_000,
        "n_val": 5_000,
        "image_size": 64,
        "top1_err": 82.24,
        "top5_err": np.float64(56.66),
        "train_seconds": 1158.7,
        "eval_seconds": float("nan"),
        "peak_rss_mib": 1457.6,
        "device": "cpu: Test (2 cores)",
        "versions": {"python": "3.12.3"},
        "seed": 0,
        "date": "2026-11-25T07:36:45+00:00",
        "bad_images": [("train/a.JPEG", "truncated")],
        "monitor": {"split": "train-holdout", "n_images": 5000, "n_fit": 45_000, "fraction": 0.1},
        "training": TrainingFacts(epochs=4, images_seen=180_000, param_count=14_000_000, crop=56),
        "selection": [
            {
                "parameters": ("lr",),
                "candidates": ({"lr": 0.01, "monitor_top5_err": 60.0},),
                "chosen": {"lr": 0.01},
                "criterion": "monitor_top5_err",
            }
        ],
        "learning_curve": [{"epoch": 1, "train_loss": 4.5, "monitor_top5_err": 80.0}],
        "notes": {"input": "cache 64px, 56px crops"},
        "config": {"suite": "tiny-imagenet", "methods": [{"name": "alexnet", "params": {}}]},
        "command": "harness run --suite tiny-imagenet --data /data/tiny",
    }
    return RunRecord(**{**fields, **changes})


def test_a_record_round_trips_through_its_file(tmp_path: Path) -> None:
    record = full_record()
    path = write_record(tmp_path, record)
    assert path == tmp_path / "runs" / "tiny__alexnet__abc123.json"
    back = read_record(path)
    assert back == record
    assert back.to_dict() == record.to_dict()
    stored = json.loads(path.read_text())
    assert stored["schema_version"] == SCHEMA_VERSION
    assert stored["display_name"] == "alexnet (small stem, width 0.5)"
    assert stored["eval_seconds"] is None  # JSON has no NaN
    assert stored["params"] == {"epochs": 4, "lr_drop_at": [0.5, 0.75], "width": 0.5}
    # the plain columns follow the training facts
    assert (back.param_count, back.crop) == (14_000_000, 56)
    assert back.training.lr_drops == () and back.selection[0].refit is True
    assert back["top5_err"] == 56.66 and back.get("nope") is None
    assert back["monitor"]["split"] == "train-holdout" and back["display_name"].startswith("alex")


def test_the_record_is_frozen_and_refuses_unknown_fields() -> None:
    record = full_record()
    with pytest.raises(ValidationError):
        record.top5_err = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra_thing"):
        full_record(extra_thing=1)
    changed = record.with_changes(variant="centre-crop", top5_err=57.5)
    assert changed.display_name == "alexnet (small stem, width 0.5)[centre-crop]"
    with pytest.raises(ValidationError):
        record.with_changes(top5_err=101.0)


def test_a_variant_says_why_it_exists(tmp_path: Path) -> None:
    record = full_record()
    assert record.variant_reason is None  # older records: no reason stored
    crop = record.with_changes(
        run_id="tiny__alexnet__abc123__centre-crop",
        variant="centre-crop",
        variant_reason="the paper's single-crop figure",
    )
    back = read_record(write_record(tmp_path, crop))
    assert back.variant_reason == "the paper's single-crop figure"
    assert json.loads(record.to_json())["variant_reason"] is None


def test_families_are_the_api_families() -> None:
    assert set(get_args(Family)) == set(FAMILIES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"family": None}, "field family"),
        ({"status": "ok", "top5_err": None}, "status 'ok' needs top1_err and top5_err"),
        ({"status": "error", "error": None}, "status 'error' needs the error message"),
        ({"top5_err": "abc"}, "field top5_err: Input should be a valid number"),
        ({"n_classes": "x"}, "field n_classes"),
        ({"top1_err": 120.0}, "field top1_err: Input should be less than or equal to 100"),
        ({"monitor": {"split": "test"}}, "field monitor.split"),
        ({"date": "yesterday"}, "field date: not an ISO 8601 date"),
        ({"schema_version": SCHEMA_VERSION + 1}, "schema_version 3 is newer than this harness"),
    ],
)
def test_a_bad_record_names_its_first_bad_field(change: dict, message: str) -> None:
    data = {**full_record().to_dict(), **change}
    with pytest.raises(RecordError) as info:
        parse_record(data, "runs/x.json")
    text = str(info.value)
    assert text.startswith("runs/x.json: ") and message in text and "\n" not in text


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "torn.json"
    path.write_text('{"run_id": "torn", ')
    with pytest.raises(RecordError, match="torn.json: not a readable JSON record"):
        read_record(path)
    path.write_text("[1, 2]")
    with pytest.raises(RecordError, match="torn.json: a record must be a JSON object"):
        read_record(path)


# Schema 1: the 42-key dicts of every record written before schema 2.

V1_ALEXNET = {
    "schema_version": 1,
    "run_id": "tiny-imagenet__alexnet__9812c3a0b43d__centre-crop",
    "status": "ok",
    "error": None,
    "method": "alexnet",
    "variant": "centre-crop",
    "display_name": "alexnet (small stem, width 0.5, kaiming init)[centre-crop]",
    "family": "cnn",
    "year": 2012,
    "source": "A. Krizhevsky, I. Sutskever, G. E. Hinton. NIPS 2012.",
    "params": {"epochs": 8, "stem": "small", "width": 0.5},
    "subset": "tiny-imagenet",
    "subset_version": 1,
    "manifest_hash": "5ad3afeaf6048224a5b77e3d03adf2cce362328daa2ab6bcefb0b4bf5cc8971c",
    "layout": "tiny-imagenet",
    "label_space": "sorted-wnid-index",
    "n_classes": 100,
    "n_train": 50000,
    "n_val": 5000,
    "image_size": 64,
    "top1_err": 83.66,
    "top5_err": 57.54,
    "train_seconds": 1158.694,
    "eval_seconds": 43.793,
    "train_images_per_s": 396.6,
    "eval_images_per_s": 114.17,
    "peak_rss_mib": 1457.6,
    "device": "cpu: Intel(R) Xeon(R) Processor (2 cores)",
    "versions": {"python": "3.11.7", "torch": "2.13.0+cpu"},
    "git_commit": "d596b7ed16c9ad07b2d83cd4e566c0a07b298032",
    "seed": 0,
    "date": "2026-11-25T07:36:45+00:00",
    "cache_dir": ".harness/images/tiny-imagenet-5ad3afeaf6048224-s64",
    "cache_built_now": False,
    "cache_build_seconds": 5.229,
    "cache_decode_images_per_s": 10519.1,
    "cache_n_jobs": 2,
    "bad_images": [],
    "manifest_notes": [],
    "learning_curve": [],
    "notes": {"epochs_trained": 8, "input": "cache 64px, 56px crops", "train_images_per_s": 396.6},
    "config": {
        "suite": "tiny-imagenet",
        "subset": "tiny-imagenet",
        "data": "/tmp/tifull/tiny-imagenet-100",
        "methods": [{"name": "alexnet", "params": {"epochs": 8, "stem": "small"}}],
        "seed": 0,
        "device": "auto",
    },
}


def test_a_v1_cnn_record_is_upgraded_honestly(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / f"{V1_ALEXNET['run_id']}.json"
    path.write_text(json.dumps(V1_ALEXNET, indent=2))
    before = path.read_bytes()
    record = read_record(path)
    assert path.read_bytes() == before  # read, never rewritten
    assert record.schema_version == SCHEMA_VERSION
    assert (record.method, record.variant) == ("alexnet", "centre-crop")
    assert record.tag == "small stem, width 0.5, kaiming init"
    assert record.display_name == V1_ALEXNET["display_name"]
    assert record.family == "cnn"
    assert record.monitor.split == "val"  # v1 CNNs watched the split they were scored on
    assert record.crop == 56 and record.training.crop == 56
    assert record.training.images_per_s == 396.6 and record.training.epochs == 8
    assert record.command is None
    assert command_line(record) == (
        "harness run --suite tiny-imagenet --data /tmp/tifull/tiny-imagenet-100 "
        "--methods alexnet --param alexnet.epochs=8 --param alexnet.stem=small"
    )


def test_v1_upgrade_of_other_methods() -> None:
    lenet = {
        **V1_ALEXNET,
        "method": "lenet5",
        "variant": None,
        "display_name": "lenet5",
        "notes": {"lenet5_parameters": 68500},
    }
    up = upgrade_v1(lenet)
    assert up["tag"] is None and up["param_count"] == 68500 and up["crop"] is None
    assert up["monitor"] == {"split": "val"}
    hog = {**lenet, "method": "hog-svm", "display_name": "hog-svm", "family": "hand-crafted"}
    record = parse_record(hog)
    assert record.monitor.split == "none" and record.family == "hand-crafted"
    assert parse_record({**hog, "family": "reference"}).monitor.split == "none"


# Per-image hits (val_hits): packed, round-tripped, checked against the errors.


def hits_record(n: int = 50, **changes) -> RunRecord:
    rng = np.random.default_rng(0)
    top5 = rng.random(n) < 0.6
    top1 = top5 & (rng.random(n) < 0.5)
    paths = [f"val/img_{i}.JPEG" for i in range(n)]
    hits = ValHits.from_arrays(top1, top5, paths=paths, labels=np.arange(n) % 7)
    return full_record(
        n_val=n,
        top1_err=round(hits.error(1), 4),
        top5_err=round(hits.error(5), 4),
        val_hits=hits,
        **changes,
    )


def test_a_record_with_hits_round_trips(tmp_path: Path) -> None:
    record = hits_record(n=53)  # not a multiple of 8: the packing pads the last byte
    back = read_record(write_record(tmp_path, record))
    assert back == record and back.val_hits is not None
    stored = json.loads((tmp_path / "runs" / f"{record.run_id}.json").read_text())
    assert set(stored["val_hits"]) == {"n", "top1", "top5", "order_digest"}
    assert back.val_hits.hits(5).shape == (53,)
    assert back.val_hits.error(5) == pytest.approx(record.top5_err, abs=1e-3)
    assert np.array_equal(back.val_hits.hits(1), record.val_hits.hits(1))
    # a record without hits (every record before them) still reads
    assert full_record().val_hits is None


def test_the_order_digest_names_the_images_and_their_order() -> None:
    labels = [0, 1, 2]
    one = order_digest(["a", "b", "c"], labels)
    assert one == order_digest(["a", "b", "c"], labels)
    assert one != order_digest(["b", "a", "c"], labels)
    assert one != order_digest(["a", "b", "c"], [0, 1, 1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"top5_err": 1.0}, "val_hits give a top-5 error of"),
        ({"n_val": 49}, "val_hits has 50 images but n_val is 49"),
    ],
)
def test_hits_that_disagree_with_the_record_are_refused(change: dict, message: str) -> None:
    data = {**hits_record().to_dict(), **change}
    with pytest.raises(RecordError, match=message):
        parse_record(data)


def test_malformed_hits_are_refused() -> None:
    good = hits_record().to_dict()["val_hits"]
    for bad, message in (
        ({**good, "top1": "!!"}, "top1 is not base64"),
        ({**good, "n": 80}, "top1 holds 7 bytes; 80 images need 10"),
        ({**good, "top1": good["top5"], "top5": good["top1"]}, "top-1 hit but not a top-5 hit"),
    ):
        with pytest.raises(ValidationError, match=message):
            ValHits.model_validate(bad)
