"""The paper profile on a CPU under a step budget, through the runner a GPU user goes through.

224 crops of 256 px images, LRN, PCA lighting, the plateau schedule and the
ten-crop test all run; ``max_steps=4`` keeps it to seconds, the row says
``smoke: 4 steps`` and the leaderboard ranks it nowhere. No ``--allow-slow-cpu``:
the CPU pre-flight counts the budget, not 90 epochs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.cli import main
from harness.store import load_records


def test_paper_profile_smoke_run_on_256px_images_is_unranked(tmp_path: Path) -> None:
    from harness.data import make_synthetic_imagenet

    root = make_synthetic_imagenet(
        tmp_path / "ILSVRC2012", layout="ilsvrc-devkit", n_classes=3, train_per_class=5,
        val_per_class=2, size=256,
    )  # fmt: skip
    rc = main([
        "run", "--data", str(root), "--results", str(tmp_path / "results"),
        "--cache", str(tmp_path / "cache"), "--quiet", "--no-report", "--jobs", "1",
        "--device", "cpu", "--methods", "random,alexnet",
        "--param", 'alexnet.profile="paper"', "--param", "alexnet.max_steps=4",
    ])  # fmt: skip
    assert rc == 0
    records = {r["display_name"]: r for r in load_records(tmp_path / "results")}
    row = records["alexnet (smoke: 4 steps)"]
    assert row["status"] == "ok", row["error"]
    assert row["training"]["profile"] == "paper" and row["training"]["crop"] == 224
    assert row["image_size"] == 256
    assert [e["steps"] for e in row["learning_curve"]][-1] == 4
    assert row["learning_curve"][-1]["monitor_top1_err"] is not None  # the plateau's input
    switches = row["notes"]["speed_switches"]  # what ran, in every CNN row
    assert (switches["device"], switches["autocast"], switches["compile"]) == ("cpu", None, False)
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    smoke = board[board["tag"].fillna("").str.contains("smoke: 4 steps", regex=False)]
    assert len(smoke) == 2  # the ten-crop row and its centre-crop variant
    assert smoke["rank"].isna().all()
    assert board.loc[board["method"] == "random", "rank"].tolist() == [1]
