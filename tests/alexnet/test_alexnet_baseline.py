"""AlexNetBaseline through the shared trainer: learning, resume, variants, registry."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.augment import AlexNetAugment
from alexnet.baseline import AlexNetBaseline
from harness.api import MethodError, RunContext
from harness.registry import BASELINES

TINY = dict(stem="small", width=0.25, init="kaiming", batch_size=8, lr=1e-3)  # see conftest


def _ctx(tmp_path, monitor=None, seed: int = 0) -> RunContext:
    return RunContext(work_dir=tmp_path / "work", cache_dir=tmp_path / "cache", quiet=True,
                      monitor=monitor, seed=seed)  # fmt: skip


def test_registered_and_params_are_recorded() -> None:
    assert BASELINES.get("alexnet") is AlexNetBaseline
    params = AlexNetBaseline(ensemble=5, stem="small").get_params()
    assert params["ensemble"] == 5 and params["stem"] == "small"
    paper = AlexNetBaseline().get_params()
    assert (paper["batch_size"], paper["lr"], paper["momentum"], paper["weight_decay"]) == (
        128, 0.01, 0.9, 5e-4)  # fmt: skip
    assert (paper["stem"], paper["init"], paper["width"], paper["max_lr_drops"]) == (
        "paper", "paper", 1.0, 3)  # fmt: skip
    assert AlexNetBaseline.year == 2012 and "NIPS 2012" in AlexNetBaseline.source


def test_tiny_subset_trains_above_chance(tmp_path, colour_data) -> None:
    train, val = colour_data
    ctx = _ctx(tmp_path, monitor=val)
    model = AlexNetBaseline(epochs=8, **TINY).fit(train, ctx)
    scores = model.decision_function(val, ctx)
    assert scores.shape == (len(val), 4)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = (scores.argmax(axis=1) == val.labels).mean()
    assert accuracy > 0.5  # chance is 0.25
    assert [row["epoch"] for row in ctx.epoch_log] == list(range(1, 9))
    assert ctx.notes["stem"] == "small"


def test_resume_after_a_crash_and_ensemble_variants(tmp_path, colour_data, monkeypatch) -> None:
    train, val = colour_data
    params = dict(epochs=2, ensemble=2, **TINY)
    calls = {"n": 0}
    real_train = AlexNetAugment.train

    def crash_in_second_epoch(self, images, generator=None):
        calls["n"] += 1
        if calls["n"] > 8 + 3:  # 8 batches per epoch: die during member 0's epoch 2
            raise KeyboardInterrupt("simulated kill")
        return real_train(self, images, generator)

    monkeypatch.setattr(AlexNetAugment, "train", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        AlexNetBaseline(**params).fit(train, _ctx(tmp_path, monitor=val))
    monkeypatch.setattr(AlexNetAugment, "train", real_train)

    ctx = _ctx(tmp_path, monitor=val)
    model = AlexNetBaseline(**params).fit(train, ctx)
    assert ctx.notes["member0_resumed_from_epoch"] == 1
    assert ctx.notes["member1_resumed_from_epoch"] == 0
    assert [row["epoch"] for row in ctx.epoch_log] == [1, 2]  # member 0's curve only
    assert (tmp_path / "work" / "member1" / "last.pt").exists()

    main = model.decision_function(val, ctx)
    variants = model.variant_scores(val, ctx)
    assert set(variants) == {"centre-crop", "ensemble-2"}
    for scores in (main, *variants.values()):
        assert scores.shape == (len(val), 4) and np.isfinite(scores).all()
    members = [model._proba(i, True, val) for i in range(2)]
    np.testing.assert_allclose(variants["ensemble-2"], (members[0] + members[1]) / 2, rtol=1e-5)
    assert not np.allclose(members[0], members[1])  # different seeds, different networks

    # A finished run refits by loading, not training.
    again = _ctx(tmp_path, monitor=val)
    AlexNetBaseline(**params).fit(train, again)
    assert again.notes["member0_resumed_from_epoch"] == 2


def test_paper_stem_upsamples_a_small_cache(tmp_path, make_colour_split) -> None:
    train = make_colour_split(2, n_classes=2, size=16, seed=0)
    val = make_colour_split(1, n_classes=2, size=16, seed=1)
    ctx = _ctx(tmp_path)
    params = dict(TINY, stem="paper", width=0.1, batch_size=2, eval_batch_size=2)
    model = AlexNetBaseline(epochs=1, **params).fit(train, ctx)
    assert model.augment_.base == 256 and model.augment_.crop == 224
    assert "16px -> 256px" in ctx.notes["input"]
    assert model.decision_function(val, ctx).shape == (2, 2)


def test_bad_parameters_and_data_fail_clearly(tmp_path, make_colour_split) -> None:
    train = make_colour_split(2, n_classes=2, size=16)
    with pytest.raises(MethodError, match="stem"):
        AlexNetBaseline(stem="huge").fit(train, _ctx(tmp_path))
    one_class = train.subset(np.flatnonzero(train.labels == 0))
    with pytest.raises(MethodError, match="fewer than 2 classes"):
        AlexNetBaseline(**TINY).fit(one_class, _ctx(tmp_path))
    with pytest.raises(MethodError, match="torchrun"):
        AlexNetBaseline(ddp_world_size=2, **TINY).fit(train, _ctx(tmp_path))
    with pytest.raises(RuntimeError, match="before fit"):
        AlexNetBaseline().decision_function(train, _ctx(tmp_path))


def test_departures_from_the_paper_are_named_in_the_row() -> None:
    assert AlexNetBaseline().display_tag() is None  # the paper network keeps its plain name
    tag = AlexNetBaseline(stem="small", width=0.5, init="kaiming").display_tag()
    assert tag == "small stem, width 0.5, kaiming init"
