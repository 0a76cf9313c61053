"""AlexNetBaseline through the shared trainer: learning, resume, variants, registry."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.augment import AlexNetAugment
from alexnet.baseline import AlexNetBaseline
from alexnet.model import build_alexnet
from harness.api import MethodError, RunContext, Split, fit_method, handover
from harness.holdout import carve_holdout
from harness.registry import BASELINES

TINY = dict(stem="small", width=0.25, init="kaiming", batch_size=8, lr=1e-3)  # see conftest


def _ctx(tmp_path, seed: int = 0) -> RunContext:
    return RunContext(work_dir=tmp_path / "work", cache_dir=tmp_path / "cache", quiet=True,
                      seed=seed)  # fmt: skip


def _fit(model: AlexNetBaseline, train: Split, ctx: RunContext, monitor: Split | None = None):
    """Fit as the runner does (all of train, ``monitor`` beside it); AlexNet asks no refit."""
    assert fit_method(model, handover(train, monitor=monitor), train, ctx) is None
    return model


def test_registered_and_params_are_recorded() -> None:
    assert BASELINES.get("alexnet") is AlexNetBaseline
    params = AlexNetBaseline(ensemble=5, stem="small").get_params()
    assert params["ensemble"] == 5 and params["stem"] == "small"
    assert params["profile"] == "auto" and params["epochs"] is None  # the profile's, later
    paper = AlexNetBaseline(profile="paper").resolved_params()
    assert (paper["batch_size"], paper["lr"], paper["momentum"], paper["weight_decay"]) == (
        128, 0.01, 0.9, 5e-4)  # fmt: skip
    assert (paper["stem"], paper["init"], paper["width"], paper["max_lr_drops"]) == (
        "paper", "paper", 1.0, 3)  # fmt: skip
    assert (paper["epochs"], paper["plateau_patience"], paper["lr_schedule"]) == (90, 4, "plateau")
    assert AlexNetBaseline.year == 2012 and "NIPS 2012" in AlexNetBaseline.source


def test_tiny_subset_trains_above_chance(tmp_path, colour_data) -> None:
    train, val = colour_data
    ctx = _ctx(tmp_path)
    model = _fit(AlexNetBaseline(epochs=8, **TINY), train, ctx, monitor=val)
    scores = model.decision_function(val, ctx)
    assert scores.shape == (len(val), 4)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = (scores.argmax(axis=1) == val.labels).mean()
    assert accuracy > 0.5  # chance is 0.25
    assert [row["epoch"] for row in ctx.epoch_log] == list(range(1, 9))
    assert ctx.notes["stem"] == "small"
    facts = ctx.training
    assert (facts.epochs, facts.images_seen, facts.crop, facts.profile) == (8, 8 * 64, 56, "cpu")
    assert facts.images_per_s > 0 and facts.param_count > 0
    # images over the whole fit, which lasts at least as long as its epochs together
    assert facts.images_per_s <= facts.images_seen / sum(r["seconds"] for r in ctx.epoch_log)
    # the cpu profile's cosine schedule uses the monitor for the curve only; fit_split is the
    # runner's to set from what it handed over (here all of train), never the method's
    assert (facts.fit_split, facts.monitor_use) == (None, "curve")


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
        _fit(AlexNetBaseline(**params), train, _ctx(tmp_path), monitor=val)
    monkeypatch.setattr(AlexNetAugment, "train", real_train)

    ctx = _ctx(tmp_path)
    model = _fit(AlexNetBaseline(**params), train, ctx, monitor=val)
    assert ctx.notes["members_resumed_from_epoch"] == [1, 0]
    assert ctx.training.resumed_from_epoch == 1 and ctx.training.seconds_before_resume > 0
    assert ctx.training.images_seen == 2 * 2 * len(train)  # both members, all epochs
    assert [row["epoch"] for row in ctx.epoch_log] == [1, 2]  # member 0's curve only
    assert (tmp_path / "work" / "member1" / "last.pt").exists()

    main = model.decision_function(val, ctx)
    variants = model.variant_scores(val, ctx)
    assert set(variants) == set(model.declared_variants()) == {"centre-crop", "ensemble-2"}
    assert all(model.declared_variants().values())  # each declared with its reason
    assert set(AlexNetBaseline(ensemble=1).declared_variants()) == {"centre-crop"}
    for scores in (main, *variants.values()):
        assert scores.shape == (len(val), 4) and np.isfinite(scores).all()
    members = [model._proba(i, True, val) for i in range(2)]
    np.testing.assert_allclose(variants["ensemble-2"], (members[0] + members[1]) / 2, rtol=1e-5)
    assert not np.allclose(members[0], members[1])  # different seeds, different networks

    # A finished run refits by loading, not training.
    again = _ctx(tmp_path)
    _fit(AlexNetBaseline(**params), train, again, monitor=val)
    assert again.training.resumed_from_epoch == 2
    assert again.training.images_seen == ctx.training.images_seen


def test_paper_stem_upsamples_a_small_cache(tmp_path, make_colour_split) -> None:
    train = make_colour_split(2, n_classes=2, size=16, seed=0)
    val = make_colour_split(1, n_classes=2, size=16, seed=1)
    ctx = _ctx(tmp_path)
    params = dict(TINY, stem="paper", width=0.1, batch_size=2, eval_batch_size=2)
    model = _fit(AlexNetBaseline(epochs=1, **params), train, ctx)
    assert model.augment_.base == 256 and model.augment_.crop == 224
    assert "16px -> 256px" in ctx.notes["input"]
    assert model.decision_function(val, ctx).shape == (2, 2)


def test_bad_parameters_and_data_fail_clearly(tmp_path, make_colour_split) -> None:
    train = make_colour_split(2, n_classes=2, size=16)
    with pytest.raises(MethodError, match="stem"):
        AlexNetBaseline(stem="huge").fit(handover(train), _ctx(tmp_path))
    one_class = train.subset(np.flatnonzero(train.labels == 0))
    with pytest.raises(MethodError, match="fewer than 2 classes"):
        AlexNetBaseline(**TINY).fit(handover(one_class), _ctx(tmp_path))
    with pytest.raises(MethodError, match="torchrun"):
        AlexNetBaseline(ddp_world_size=2, **TINY).fit(handover(train), _ctx(tmp_path))
    with pytest.raises(RuntimeError, match="before fit"):
        AlexNetBaseline().decision_function(train, _ctx(tmp_path))


def _resolved(device: str, **params) -> AlexNetBaseline:
    method = AlexNetBaseline(**params)
    method.resolve_profile(device)
    return method


def test_the_profile_follows_the_device() -> None:
    assert _resolved("cuda").profile_ == "paper"
    assert _resolved("cuda:1").profile_ == "paper"
    assert _resolved("cpu").profile_ == "cpu"
    assert _resolved("cuda", profile="cpu").profile_ == "cpu"  # a named profile stays itself
    assert _resolved("cpu", profile="paper").profile_ == "paper"
    cpu = _resolved("cpu").settings()
    assert (cpu.stem, cpu.width, cpu.init, cpu.epochs, cpu.batch_size, cpu.lr, cpu.crop) == (
        "small", 0.5, "kaiming", 8, 64, 0.003, 56)  # fmt: skip
    paper = _resolved("cuda").settings()
    assert (paper.stem, paper.width, paper.init, paper.epochs, paper.batch_size, paper.lr) == (
        "paper", 1.0, "paper", 90, 128, 0.01)  # fmt: skip
    assert (paper.crop, paper.lr_schedule, paper.plateau_patience) == (224, "plateau", 4)
    # explicit parameters override the profile
    assert _resolved("cpu", epochs=3, lr=0.01).settings().epochs == 3
    assert _resolved("cuda", width=0.5).settings().width == 0.5
    assert _resolved("cpu").resolved_params()["profile"] == "cpu"
    with pytest.raises(MethodError, match="profile"):
        _resolved("cpu", profile="gpu")


def test_departures_from_the_paper_are_named_in_the_row() -> None:
    assert _resolved("cuda").display_tag() is None  # the paper network keeps its plain name
    assert _resolved("cpu", profile="paper").display_tag() is None
    cosine = "cosine schedule (monitor for the curve only)"
    assert _resolved("cpu").display_tag() == (
        "cpu profile: small stem, 56px crops, width 0.5, kaiming init, 8 epochs, batch 64, "
        f"lr 0.003, {cosine}"
    )
    # a partial override back to the paper network still names the cpu recipe's budget
    tag = _resolved("cpu", stem="paper", width=1.0, init="paper").display_tag()
    assert tag == f"cpu profile: 8 epochs, batch 64, lr 0.003, {cosine}"
    tag = _resolved("cuda", stem="small", width=0.5, init="kaiming").display_tag()
    assert tag == "small stem, 56px crops, width 0.5, kaiming init"
    # schedule, monitor and recipe departures are named too
    tag = _resolved("cuda", lr_schedule="cosine", plateau_patience=2).display_tag()
    assert tag == "cosine schedule (monitor for the curve only)"
    tag = _resolved("cuda", plateau_patience=2, max_lr_drops=1, momentum=0.0).display_tag()
    assert tag == "momentum 0, plateau patience 2, at most 1 lr drops"
    tag = _resolved("cuda", weight_decay=0.0, mean="channel", pca_std=0.0, epochs=1).display_tag()
    assert tag == "1 epoch, weight decay 0, channel mean, no PCA noise"


def test_preflight_refuses_the_paper_network_on_a_cpu() -> None:
    method = AlexNetBaseline(profile="paper")
    with pytest.raises(MethodError, match=r"would train for about .* on this CPU.*allow_slow_cpu"):
        method.preflight(1_281_167, "cpu")  # ILSVRC-2012: weeks at any CPU speed
    AlexNetBaseline(profile="paper", allow_slow_cpu=True).preflight(50_000, "cpu")
    method.preflight(50_000, "cpu", allow_slow_cpu=True)  # the runner's --allow-slow-cpu
    method.preflight(50_000, "cuda")  # a GPU is what the paper profile is for
    AlexNetBaseline().preflight(800, "cpu")  # the cpu profile on the demo's 800 images


def test_no_weight_decay_on_the_biases(colour_data) -> None:
    from baselines.cnn import parameter_groups

    method = _resolved("cpu", profile="paper")
    config = method._train_config(1000, False, method.settings())
    assert config.weight_decay == 5e-4 and not config.bias_decay
    groups = {g["name"]: g for g in parameter_groups(build_alexnet(10), config)}
    assert groups["biases"]["weight_decay"] == 0.0 and groups["weights"]["weight_decay"] == 5e-4
    assert len(groups["biases"]["params"]) == len(groups["weights"]["params"]) == 8


def test_trains_on_the_fit_rows_only(tmp_path, colour_data, monkeypatch) -> None:
    train, _ = colour_data
    holdout = carve_holdout(train.labels, train.n_classes, fraction=0.25, seed=0)
    ctx = RunContext(work_dir=tmp_path / "w", quiet=True)
    seen: list[int] = []
    real_train = AlexNetAugment.train

    def counting(self, images, generator=None):
        seen.append(len(images))
        return real_train(self, images, generator)

    monkeypatch.setattr(AlexNetAugment, "train", counting)
    model = AlexNetBaseline(epochs=1, **TINY)
    assert fit_method(model, handover(train, holdout=holdout), train, ctx) is None  # no refit
    assert sum(seen) == len(holdout.fit_rows) == 48 < len(train)
    assert model.colour_stats_.n_images == 48  # the monitor is not in the colour statistics
    assert ctx.training.images_seen == 48  # one epoch over the fit rows, nothing more
    assert ctx.epoch_log[0]["monitor_top1_err"] is not None
