"""The CPU recipe study: candidates, pilot schedules, the harness's holdout, one tiny study."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from baselines.cnn.schedule import LrSchedule
from studies.cpu_recipe import (
    DEFAULT_CANDIDATES,
    Candidate,
    candidate,
    load_pilot_data,
    main,
    parse_candidate,
    pilot_config,
)


def _lrs(c: Candidate, segments: int, per_segment: int, errors=None) -> tuple[list[float], list]:
    """The lr of every step of a pilot of ``c`` under the shared loop's schedule."""
    import torch

    cfg = pilot_config(c, segments)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    schedule = LrSchedule(opt, cfg, per_segment)
    lrs = []
    for seg in range(segments):
        for _ in range(per_segment):
            lrs.append(schedule.lr)
            opt.step()
            schedule.after_batch()
        schedule.after_epoch(errors[seg] if errors else 50.0)
    return lrs, schedule.drop_epochs


def test_candidates_scale_the_lr_linearly_from_batch_128() -> None:
    c = candidate("warmup-cosine", 0.02, batch_size=64)
    assert c.lr == pytest.approx(0.01) and c.lr128 == pytest.approx(0.02)
    p = parse_candidate("schedule=cosine,lr128=0.04,batch=256,width=0.75,name=wide")
    assert (p.name, p.schedule, p.batch_size, p.width, p.warmup) == ("wide", "cosine", 256, 0.75, 0)
    assert p.lr == pytest.approx(0.08)
    assert parse_candidate("schedule=plateau,lr=0.003,batch=64").lr128 == pytest.approx(0.006)
    with pytest.raises(ValueError, match="unknown keys"):
        parse_candidate("schedule=cosine,momentum=0.5")
    with pytest.raises(ValueError, match="schedule"):
        Candidate("x", "step", lr=0.1, batch_size=8, width=0.5)
    v1 = DEFAULT_CANDIDATES["profile-v1"]  # the committed profile is the study's reference
    assert (v1.schedule, v1.lr, v1.batch_size, v1.width) == ("plateau", 0.003, 64, 0.5)


def test_warmup_then_cosine_ends_near_zero() -> None:
    c = candidate("warmup-cosine", 0.04, warmup=0.1)
    lrs, _ = _lrs(c, segments=4, per_segment=25)  # 100 steps, warm-up over the first 10
    # the shared loop's linear warm-up: lr / 10 at the first step, lr once the 10 steps are done
    assert lrs[0] == pytest.approx(0.004) and lrs[10] == pytest.approx(0.04)
    assert all(a <= b for a, b in zip(lrs[:11], lrs[1:11], strict=False))  # rising
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then falling
    assert lrs[-1] < 1e-2 * 0.04
    no_warm, _ = _lrs(candidate("cosine", 0.04), segments=4, per_segment=25)
    assert no_warm[0] == pytest.approx(0.04) and pilot_config(c, 4).lr_schedule == "cosine"


def test_plateau_drops_after_patience_evaluations_without_improvement() -> None:
    c = Candidate("p", "plateau", lr=0.1, batch_size=8, width=0.5, plateau_patience=2)
    errors = [50.0, 40.0, 41.0, 40.0, *([99.0] * 16)]  # 40.0 again is no improvement
    lrs, drops = _lrs(c, segments=len(errors), per_segment=1, errors=errors)
    assert drops[0] == 4 and lrs[4] == pytest.approx(0.01)
    assert len(drops) == 3  # at most three drops, as the paper
    constant, _ = _lrs(candidate("constant", 0.1), segments=2, per_segment=5)
    assert constant[-1] == pytest.approx(0.1)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from harness.data import make_synthetic_imagenet

    base = tmp_path_factory.mktemp("cpu-recipe")
    return make_synthetic_imagenet(base / "data", layout="tiny-imagenet", n_classes=4,
                                   train_per_class=20, val_per_class=2, size=24)  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cpu-recipe-cache")


def test_pilot_data_subsamples_the_harness_holdout(tiny_root, cache, tmp_path) -> None:
    from harness.config import RunConfig
    from harness.prepare import prepare_data

    data = load_pilot_data(tiny_root, cache, classes=3, fit_per_class=5, monitor_per_class=1,
                           seed=0, n_jobs=1)  # fmt: skip
    cfg = RunConfig(subset="tiny-imagenet", data=str(tiny_root), cache=str(cache), n_jobs=1)
    harness = prepare_data(cfg, tmp_path / "elsewhere")  # what `harness run` would use
    assert data.describe["manifest_hash"] == harness.manifest.hash
    assert np.isin(data.fit_rows, harness.holdout.fit_rows).all()
    assert len(data.fit_rows) == 15 and data.n_classes == 3
    assert sorted(np.bincount(data.labels[data.fit_rows])) == [5, 5, 5]
    assert len(data.monitor) == 3 and set(data.monitor.labels.tolist()) == {0, 1, 2}
    # the recommended profile is sized for a full run: every class's fit and monitor rows
    assert data.n_fit_full == len(harness.holdout.fit_rows)
    assert data.n_monitor_full == len(harness.monitor)
    assert data.describe["pilot"]["chance_top5_err"] == 0.0  # 3 classes: top-5 always right
    # every pilot monitor image is one of the harness's monitor images, never a fit row
    mon = {harness.monitor.images[i].tobytes() for i in range(len(harness.monitor))}
    assert all(data.monitor.images[i].tobytes() in mon for i in range(len(data.monitor)))
    assert "not read" in data.describe["val"]


def test_a_tiny_study_writes_its_choice(tiny_root, cache, tmp_path, capsys) -> None:
    out = tmp_path / "study.json"
    study = main(["--data", str(tiny_root), "--cache", str(cache), "--jobs", "1",
                  "--candidates", "",
                  "--candidate", "schedule=warmup-cosine,lr128=0.02,batch=8,name=cos",
                  "--candidate", "schedule=plateau,lr128=0.02,batch=8,name=plat,patience=1",
                  "--budget-minutes", "0.01", "--calibration-seconds", "0.2",
                  "--fit-per-class", "10", "--monitor-per-class", "2", "--curve-points", "2",
                  "--threads", "1", "--target-minutes", "1", "--out", str(out)])  # fmt: skip
    saved = json.loads(out.read_text())
    assert saved["chosen"] == study["chosen"]
    by_name = {r["candidate"]["name"]: r for r in saved["candidates"]}
    assert set(by_name) == {"cos", "plat"}
    best = min(saved["candidates"], key=lambda r: (r["monitor_top5_err"], r["train_seconds"]))
    assert saved["chosen"] == best["candidate"]["name"]
    for r in saved["candidates"]:
        assert r["steps"] == r["planned_steps"] >= 1
        assert len(r["curve"]) == min(2, r["steps"]) and r["curve"][-1]["step"] == r["steps"]
        assert all(math.isfinite(row["monitor_top5_err"]) for row in r["curve"])
        assert r["train_seconds"] > 0 and r["candidate"]["crop"] == 56
    assert by_name["cos"]["warmup_steps"] >= 0
    rec = saved["recommended_profile"]
    assert rec["epochs"] >= 1 and rec["batch_size"] == 8
    assert "not read" in saved["data"]["val"] and saved["threads"] == 1
    assert "chosen:" in capsys.readouterr().out
