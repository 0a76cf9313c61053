"""The shared CNN training loop: batches, schedules, checkpoints, resume, evaluation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import baselines.cnn.checkpoint as checkpoint_module
from baselines.cnn import TrainConfig, Trainer, parameter_groups
from baselines.cnn.batches import BatchStream, shuffled_order
from baselines.cnn.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from baselines.cnn.reproducibility import SeedStream, derive_seed
from baselines.cnn.resume import CHECKPOINT_FORMAT, rows_digest
from baselines.cnn.schedule import LrSchedule
from harness.api import MethodError, RunContext, Split, handover
from harness.holdout import carve_holdout

N_CLASSES = 3


def make_colour_split(name: str, per_class: int, size: int = 8, seed: int = 0) -> Split:
    """Tiny images whose class is their dominant colour channel."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(N_CLASSES), per_class).astype(np.int64)
    images = rng.integers(0, 100, (len(labels), size, size, 3), dtype=np.uint8)
    images[np.arange(len(labels)), :, :, labels] += 120
    return Split(name, images, labels, tuple(f"n{c:08d}" for c in range(N_CLASSES)))


def tiny_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, N_CLASSES),
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 3, 1, 2).float() / 255.0 - 0.5


def flip_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = to_float(images)
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def make_trainer(work_dir: Path, epochs: int = 3, **overrides) -> tuple[Trainer, RunContext]:
    ctx = RunContext(work_dir=work_dir, quiet=True, seed=7, deterministic=True)
    config = TrainConfig(epochs=epochs, batch_size=8, lr=0.2, **overrides)
    trainer = Trainer(
        tiny_net, config, ctx, train_transform=flip_augment, eval_transform=to_float, run_name="net"
    )
    return trainer, ctx


@pytest.fixture(scope="module")
def splits() -> tuple[Split, Split]:
    return make_colour_split("train", 16, seed=0), make_colour_split("val", 6, seed=1)


# ----------------------------------------------------------------- config


def test_config_rejects_bad_values_with_all_reasons() -> None:
    with pytest.raises(ValueError) as info:
        TrainConfig(epochs=0, batch_size=0, lr=-1.0, lr_schedule="cyclic")
    message = str(info.value)
    for reason in ("epochs must be >= 1", "batch_size must be >= 1", "lr must be > 0", "'cyclic'"):
        assert reason in message
    with pytest.raises(ValueError, match="needs lr_milestones"):
        TrainConfig(epochs=3, batch_size=1, lr=0.1, lr_schedule="step")


# ---------------------------------------------------------------- batches


def test_batch_stream_covers_every_row_once_with_its_label() -> None:
    images = np.arange(23 * 2 * 2 * 3, dtype=np.int64).reshape(23, 2, 2, 3).astype(np.uint8)
    labels = np.arange(23) * 10
    order = shuffled_order(23, seed=3)
    batches = list(BatchStream(images, labels, order, 5, "cpu", prefetch=1))
    assert [len(y) for _, y in batches] == [5, 5, 5, 5, 3]
    seen = torch.cat([y for _, y in batches]).numpy() // 10
    assert sorted(seen.tolist()) == list(range(23))
    for x, y in batches:
        assert x.dtype == torch.uint8 and x.shape[1:] == (2, 2, 3)
        assert np.array_equal(x.numpy(), images[y.numpy() // 10])
    # batch membership follows the order (rows are only sorted within a batch)
    assert set(batches[0][1].numpy() // 10) == set(order[:5])
    assert len(list(BatchStream(images, labels, order, 5, "cpu", drop_last=True))) == 4


def test_shuffle_depends_on_the_seed_only() -> None:
    assert np.array_equal(shuffled_order(50, 1), shuffled_order(50, 1))
    assert not np.array_equal(shuffled_order(50, 1), shuffled_order(50, 2))


def test_batch_stream_reports_a_reading_error() -> None:
    images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
    stream = BatchStream(images, np.zeros(4), np.arange(4), 2, "cpu")

    def fail(rows):
        raise OSError("disk gone while reading the cache")

    stream._host_batch = fail  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk gone"):
        list(stream)
    with pytest.raises(IndexError, match="outside"):
        BatchStream(images, np.zeros(4), np.array([0, 4]), 2, "cpu")


# -------------------------------------------------------------- schedules


def _schedule(**overrides) -> tuple[LrSchedule, torch.optim.Optimizer]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    config = TrainConfig(epochs=20, batch_size=1, lr=0.01, **overrides)
    return LrSchedule(optimizer, config, steps_per_epoch=4), optimizer


def test_plateau_divides_by_ten_at_most_three_times() -> None:
    schedule, _ = _schedule(lr_schedule="plateau", plateau_patience=1, max_lr_drops=3)
    lrs = []
    for error in [50.0, 40.0] + [40.0] * 12:
        lrs.append(schedule.lr)
        schedule.after_epoch(error)
    # patience 1: the first epoch without improvement (epoch 3) ends with a drop
    assert lrs[:6] == pytest.approx([0.01, 0.01, 0.01, 1e-3, 1e-4, 1e-5])
    assert sorted(set(lrs), reverse=True) == pytest.approx([1e-2, 1e-3, 1e-4, 1e-5])
    assert schedule.n_drops == 3 and schedule.lr == pytest.approx(1e-5)
    assert schedule.drop_epochs == [3, 4, 5]


def test_plateau_patience_counts_the_epochs_without_improvement() -> None:
    # as documented (alexnet/README.md): patience 4 = the 4th epoch without a lower error drops
    schedule, _ = _schedule(lr_schedule="plateau", plateau_patience=4)
    for error in [50.0, 40.0, 41.0, 40.0, 45.0]:  # epoch 2 is the best; epochs 3-5 are not
        schedule.after_epoch(error)
    assert schedule.n_drops == 0
    schedule.after_epoch(40.0)  # epoch 6: the 4th in a row without improvement
    assert schedule.drop_epochs == [6] and schedule.lr == pytest.approx(1e-3)
    schedule.after_epoch(39.0)  # an improvement resets the count
    for _ in range(3):
        schedule.after_epoch(39.5)
    assert schedule.n_drops == 1
    schedule.after_epoch(39.5)
    assert schedule.drop_epochs == [6, 11]
    with pytest.raises(ValueError, match="plateau_patience must be >= 1"):
        TrainConfig(epochs=1, batch_size=1, lr=0.1, plateau_patience=0)


def test_step_and_onecycle_schedules() -> None:
    schedule, optimizer = _schedule(lr_schedule="step", lr_milestones=(2, 4))
    lrs = []
    for _ in range(5):
        lrs.append(schedule.lr)
        optimizer.step()
        schedule.after_epoch(None)
    assert lrs == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert schedule.drop_epochs == [2, 4]
    schedule, optimizer = _schedule(lr_schedule="cosine")
    seen = []
    for _ in range(20 * 4):
        optimizer.step()
        schedule.after_batch()
        seen.append(schedule.lr)
    assert seen[20 * 2 - 1] == pytest.approx(0.005) and seen[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(seen, seen[1:], strict=False))
    schedule, optimizer = _schedule(lr_schedule="onecycle")
    seen = []
    for _ in range(20 * 4 - 1):
        optimizer.step()
        schedule.after_batch()
        seen.append(schedule.lr)
    assert max(seen) == pytest.approx(0.01) and seen[-1] < 1e-4


def test_schedule_state_survives_weights_only_round_trip(tmp_path) -> None:
    schedule, _ = _schedule(lr_schedule="plateau", plateau_patience=1)
    schedule.after_epoch(10.0)
    schedule.after_epoch(10.0)
    save_checkpoint({"epoch": 2, "model": {}, "schedule": schedule.state_dict()}, tmp_path / "s.pt")
    restored, _ = _schedule(lr_schedule="plateau", plateau_patience=1)
    restored.load_state_dict(load_checkpoint(tmp_path / "s.pt")["schedule"])
    assert restored.n_drops == 1 and restored.drop_epochs == [2]
    assert restored.state_dict() == schedule.state_dict()


# -------------------------------------------------------------- training


def test_fit_logs_a_learning_curve_and_beats_chance(tmp_path, splits) -> None:
    train, val = splits
    trainer, ctx = make_trainer(tmp_path, epochs=4)
    model = trainer.fit(train, monitor=val)
    assert isinstance(model, nn.Module)
    rows = ctx.epoch_log
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {
        "epoch",
        "train_loss",
        "train_top1_err",
        "monitor_top1_err",
        "monitor_top5_err",
        "lr",
        "images_per_s",
        "seconds",
        "elapsed_seconds",
        "images_seen",
        "steps",
    }
    assert [r["images_seen"] for r in rows] == [len(train) * e for e in (1, 2, 3, 4)]
    assert all(
        b["elapsed_seconds"] > a["elapsed_seconds"] for a, b in zip(rows, rows[1:], strict=False)
    )
    assert rows[-1]["monitor_top5_err"] == 0.0  # 3 classes: the top 5 always hold the truth
    proba = trainer.predict_proba(val)
    assert proba.shape == (len(val), N_CLASSES) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(proba.argmax(axis=1) != val.labels) < 2 / 3 / 2  # chance is 2/3
    assert rows[-1]["monitor_top1_err"] == pytest.approx(
        100 * np.mean(proba.argmax(1) != val.labels)
    )


def test_without_monitor_the_curve_has_no_monitor_error(tmp_path, splits) -> None:
    trainer, ctx = make_trainer(tmp_path, epochs=1)
    trainer.fit(splits[0])
    assert ctx.epoch_log[0]["monitor_top1_err"] is None
    # every row of the split is trained on when no rows are given
    assert trainer.summary_.monitor_use is None and trainer.summary_.n_fit == len(splits[0])


def test_crops_average_the_softmax(tmp_path, splits) -> None:
    train, val = splits
    trainer, _ = make_trainer(tmp_path, epochs=1)
    model = trainer.fit(train)
    plain = trainer.predict_proba(val)
    mirrored = Trainer(
        lambda: model,
        trainer.config,
        trainer.ctx,
        train_transform=flip_augment,
        eval_transform=lambda images: to_float(images).flip(-1),
    ).predict_proba(val, model)
    two_crops = Trainer(
        lambda: model,
        trainer.config,
        trainer.ctx,
        train_transform=flip_augment,
        eval_transform=lambda images: torch.stack([to_float(images), to_float(images).flip(-1)], 1),
    ).predict_proba(val, model)
    assert np.allclose(two_crops, (plain + mirrored) / 2, atol=1e-6)
    assert not np.allclose(plain, mirrored)


def test_deterministic_runs_are_identical(tmp_path, splits) -> None:
    first, _ = make_trainer(tmp_path / "a", epochs=2)
    second, _ = make_trainer(tmp_path / "b", epochs=2)
    first.fit(splits[0])
    second.fit(splits[0])
    assert np.array_equal(first.predict_proba(splits[1]), second.predict_proba(splits[1]))


def test_diverging_loss_is_a_method_error(tmp_path, splits) -> None:
    ctx = RunContext(work_dir=tmp_path, quiet=True)
    trainer = Trainer(
        tiny_net,
        TrainConfig(epochs=1, batch_size=8, lr=1e30),
        ctx,
        train_transform=lambda images, g: to_float(images) * 1e6,
        eval_transform=to_float,
    )
    with pytest.raises(MethodError, match="lower the learning rate"):
        trainer.fit(splits[0])


def test_compile_failure_falls_back_to_eager(tmp_path, splits, monkeypatch, caplog) -> None:
    class Uncompilable(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("inductor backend unavailable")

    monkeypatch.setattr(torch, "compile", lambda model: Uncompilable(model))
    trainer, ctx = make_trainer(tmp_path, epochs=1, compile=True)
    with caplog.at_level(logging.WARNING):
        trainer.fit(splits[0])
    assert "inductor backend unavailable" in ctx.notes["compile_fallback"]
    assert ctx.notes["speed_switches"]["compile"] == "fallback to eager"
    assert "continuing in eager mode" in caplog.text
    assert len(ctx.epoch_log) == 1


# ------------------------------------------------------------ checkpoints


def test_checkpoint_holds_everything_needed_to_resume(tmp_path, splits) -> None:
    trainer, _ = make_trainer(tmp_path, epochs=2, lr_schedule="plateau")
    trainer.fit(splits[0], monitor=splits[1])
    ckpt = torch.load(trainer.checkpoint_path, weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["run_name"] == "net" and ckpt["n_fit"] == len(splits[0])
    assert ckpt["format"] == CHECKPOINT_FORMAT == 2
    assert ckpt["rows_digest"] == rows_digest(np.arange(len(splits[0])))
    assert 0 < ckpt["elapsed_seconds"] <= trainer.summary_.seconds
    assert ckpt["config"]["lr_schedule"] == "plateau"
    assert set(ckpt["model"]) == set(trainer.model_.state_dict())
    assert ckpt["optimizer"]["state"] and "momentum_buffer" in ckpt["optimizer"]["state"][0]
    assert (
        ckpt["schedule"]["kind"] == "plateau" and "num_bad_epochs" in ckpt["schedule"]["scheduler"]
    )
    assert {"torch", "python_state", "numpy_keys"} <= set(ckpt["rng"])
    assert all(
        isinstance(v, torch.Tensor)
        for k, v in ckpt["rng"].items()
        if k in {"torch", "python_state", "numpy_keys"}
    )
    assert ckpt["best_epoch"] in (1, 2) and ckpt["best_error"] is not None
    assert [row["epoch"] for row in ckpt["curve"]] == [1, 2]
    assert list(trainer.checkpoint_path.parent.iterdir()) == [trainer.checkpoint_path]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "model": {"w": torch.ones(3)}}, path)

    def torn_save(obj, f):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", torn_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"epoch": 2, "model": {"w": torch.zeros(3)}}, path)
    assert load_checkpoint(path)["epoch"] == 1  # the old checkpoint is intact
    assert list(tmp_path.iterdir()) == [path]  # and no temporary file is left behind


def test_loading_is_weights_only(tmp_path) -> None:
    path = tmp_path / "last.pt"
    torch.save({"epoch": 1, "model": {}, "payload": logging.getLogger("x")}, path)
    with pytest.raises(CorruptCheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_resume_continues_where_it_stopped_and_matches(tmp_path, splits) -> None:
    train, val = splits
    reference, ref_ctx = make_trainer(tmp_path / "whole", epochs=3)
    reference.fit(train, monitor=val)

    class Killed(Exception):
        pass

    def crash_after_first(epoch: int) -> None:
        if epoch == 1:
            raise Killed

    interrupted, _ = make_trainer(tmp_path / "cut", epochs=3)
    interrupted.on_epoch_end = crash_after_first
    with pytest.raises(Killed):
        interrupted.fit(train, monitor=val)
    resumed, ctx = make_trainer(tmp_path / "cut", epochs=3)
    trained_epochs = []
    resumed.on_epoch_end = trained_epochs.append
    resumed.fit(train, monitor=val)
    assert trained_epochs == [2, 3]
    summary = resumed.summary_
    assert summary.resumed_from_epoch == 1 and summary.epochs == 3
    assert [r["epoch"] for r in ctx.epoch_log] == [1, 2, 3]  # replayed + new rows
    # the throughput covers all three epochs, the one trained before the crash included
    before = load_checkpoint(resumed.checkpoint_path)  # (now after epoch 3)
    assert 0 < summary.seconds_before_resume < before["elapsed_seconds"] <= summary.seconds
    assert summary.images_seen == 3 * len(train)
    assert summary.images_per_s == pytest.approx(3 * len(train) / summary.seconds)
    assert np.array_equal(resumed.predict_proba(val), reference.predict_proba(val))
    for ours, theirs in zip(ctx.epoch_log, ref_ctx.epoch_log, strict=True):
        assert ours["train_loss"] == theirs["train_loss"]
        assert ours["monitor_top1_err"] == theirs["monitor_top1_err"]
    # a finished run is not trained again
    again, again_ctx = make_trainer(tmp_path / "cut", epochs=3)
    again.on_epoch_end = trained_epochs.append
    again.fit(train, monitor=val)
    assert trained_epochs == [2, 3]
    assert np.array_equal(again.predict_proba(val), reference.predict_proba(val))


def test_checkpoint_of_another_config_is_refused(tmp_path, splits) -> None:
    trainer, _ = make_trainer(tmp_path, epochs=1)
    trainer.fit(splits[0])
    other, _ = make_trainer(tmp_path, epochs=1, weight_decay=0.1)
    with pytest.raises(MethodError, match=r"weight_decay: checkpoint 0.0, now 0.1"):
        other.fit(splits[0])


def test_unreadable_checkpoint_is_set_aside_and_training_restarts(tmp_path, splits, caplog) -> None:
    trainer, ctx = make_trainer(tmp_path, epochs=1)
    trainer.checkpoint_path.parent.mkdir(parents=True)
    trainer.checkpoint_path.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING):
        trainer.fit(splits[0])
    assert trainer.summary_.resumed_from_epoch == 0
    assert "cannot be read" in caplog.text
    aside = list(trainer.checkpoint_path.parent.glob("last.pt.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"not a checkpoint"
    assert load_checkpoint(trainer.checkpoint_path)["epoch"] == 1


def test_stale_temporary_of_a_dead_process_is_removed(tmp_path, splits) -> None:
    trainer, _ = make_trainer(tmp_path, epochs=1)
    trainer.checkpoint_path.parent.mkdir(parents=True)
    stale = trainer.checkpoint_path.with_name(".last.pt.999999999.tmp")
    stale.write_bytes(b"half")
    trainer.fit(splits[0])
    assert not stale.exists()


def test_an_old_format_checkpoint_is_refused_with_the_reason(tmp_path, splits) -> None:
    trainer, _ = make_trainer(tmp_path, epochs=1)
    trainer.fit(splits[0])
    ckpt = load_checkpoint(trainer.checkpoint_path)
    ckpt["format"] = 1
    save_checkpoint(ckpt, trainer.checkpoint_path)
    again, _ = make_trainer(tmp_path, epochs=1)
    with pytest.raises(MethodError, match=r"format 1.*reads format 2.*wrong layers.*delete it"):
        again.fit(splits[0])


# ------------------------------------------------------- the audit's fixes


def test_weight_decay_skips_the_biases() -> None:
    net = tiny_net()
    config = TrainConfig(epochs=1, batch_size=1, lr=0.1, weight_decay=5e-4)
    groups = {g["name"]: g for g in parameter_groups(net, config)}
    names = dict((id(p), n) for n, p in net.named_parameters())
    assert [names[id(p)] for p in groups["weights"]["params"]] == ["0.weight", "4.weight"]
    assert [names[id(p)] for p in groups["biases"]["params"]] == ["0.bias", "4.bias"]
    assert groups["weights"]["weight_decay"] == 5e-4 and groups["biases"]["weight_decay"] == 0.0
    with_bias = TrainConfig(epochs=1, batch_size=1, lr=0.1, weight_decay=5e-4, bias_decay=True)
    assert all(g["weight_decay"] == 5e-4 for g in parameter_groups(net, with_bias))
    # and the trainer's optimizer is built from those groups: a zero-gradient step moves
    # only the weights (decay), never the biases
    trainer = Trainer(tiny_net, config, RunContext(quiet=True), train_transform=flip_augment,
                      eval_transform=to_float)  # fmt: skip
    optimizer = trainer.optimizer_factory(parameter_groups(net, config), config)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for n, p in net.named_parameters():
        assert torch.equal(p, before[n]) == n.endswith("bias"), n


def _row_coded_split(n_per_class: int) -> Split:
    """Images whose first pixel holds their row number, so a batch tells which rows it came from."""
    split = make_colour_split("train", n_per_class, seed=3)
    images = split.images.copy()
    images[:, 0, 0, 0] = np.arange(len(split))
    return Split("train", images, split.labels, split.wnids)


def test_training_sees_only_the_fit_rows_never_the_monitor(tmp_path) -> None:
    train = _row_coded_split(12)  # 36 rows
    holdout = carve_holdout(train.labels, N_CLASSES, fraction=0.25, seed=5)
    data = handover(train, holdout=holdout)  # the fit rows and the monitor, as row views
    ctx = RunContext(work_dir=tmp_path, quiet=True, seed=1)
    seen: list[int] = []

    def recording(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        seen.extend(images[:, 0, 0, 0].tolist())
        return to_float(images)

    trainer = Trainer(tiny_net, TrainConfig(epochs=2, batch_size=5, lr=0.1, lr_schedule="plateau"),
                      ctx, train_transform=recording, eval_transform=to_float)  # fmt: skip
    trainer.fit(data.fit, monitor=data.monitor)  # every row of the fit view, none of the monitor
    assert len(holdout.monitor_rows) == 9
    assert not set(seen) & set(holdout.monitor_rows.tolist())
    assert sorted(seen) == sorted(2 * holdout.fit_rows.tolist())  # every fit row, once an epoch
    summary = trainer.summary_
    assert (summary.n_fit, summary.monitor_use) == (27, "lr-plateau")
    assert summary.n_fit < len(train)  # train minus the monitor
    assert all(r["monitor_top1_err"] is not None for r in ctx.epoch_log)
    # the same rows given as rows= of the whole split are the same run (the view's
    # identity is its parent's rows): its finished checkpoint is resumed, nothing retrained
    seen.clear()
    ctx_rows = RunContext(work_dir=tmp_path, quiet=True, seed=1)
    by_rows = Trainer(tiny_net, trainer.config, ctx_rows, train_transform=recording,
                      eval_transform=to_float)  # fmt: skip
    by_rows.fit(train, monitor=data.monitor, rows=holdout.fit_rows)
    assert seen == [] and by_rows.summary_.resumed_from_epoch == 2
    assert by_rows.summary_.n_fit == 27
    # another holdout of the same size is another run: its checkpoint is not resumed
    other = carve_holdout(train.labels, N_CLASSES, fraction=0.25, seed=6)
    assert len(other.fit_rows) == 27 and not np.array_equal(other.fit_rows, holdout.fit_rows)
    ctx2 = RunContext(work_dir=tmp_path, quiet=True, seed=1)
    again = Trainer(tiny_net, trainer.config, ctx2, train_transform=recording,
                    eval_transform=to_float)  # fmt: skip
    with pytest.raises(MethodError, match="other rows"):
        again.fit(handover(train, holdout=other).fit, monitor=data.monitor)


def test_throughput_is_images_over_the_whole_fit(tmp_path, splits) -> None:
    train, val = splits
    trainer, ctx = make_trainer(tmp_path, epochs=3)
    trainer.fit(train, monitor=val)
    summary = trainer.summary_
    assert summary.images_seen == 3 * len(train)
    # the whole fit (evaluation and set-up included) is at least the sum of its epochs
    assert summary.seconds >= sum(r["seconds"] for r in ctx.epoch_log)
    assert summary.images_per_s == pytest.approx(summary.images_seen / summary.seconds)
    mean_of_rates = np.mean([r["images_per_s"] for r in ctx.epoch_log])
    assert summary.images_per_s < mean_of_rates  # the audit's defect: never this mean


def test_seed_derivation_depends_on_every_key() -> None:
    base = derive_seed(7, SeedStream.AUGMENT, epoch=2, rank=0)
    assert base == derive_seed(7, SeedStream.AUGMENT, epoch=2, rank=0)
    others = {
        derive_seed(8, SeedStream.AUGMENT, epoch=2, rank=0),
        derive_seed(7, SeedStream.DROPOUT, epoch=2, rank=0),
        derive_seed(7, SeedStream.AUGMENT, epoch=3, rank=0),
        derive_seed(7, SeedStream.AUGMENT, epoch=2, rank=1),
        derive_seed(7, SeedStream.MEMBER, member=1),
    }
    assert base not in others and len(others) == 5
    assert 0 <= base < 2**63


def test_cosine_with_warm_up_rises_linearly_then_ends_near_zero() -> None:
    import torch

    from baselines.cnn.config import TrainConfig
    from baselines.cnn.schedule import LrSchedule

    cfg = TrainConfig(epochs=5, batch_size=4, lr=0.1, lr_schedule="cosine", warmup_epochs=1)
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([weight], lr=cfg.lr)
    schedule = LrSchedule(opt, cfg, steps_per_epoch=10)
    lrs = []
    for _ in range(50):
        lrs.append(schedule.lr)
        opt.step()
        schedule.after_batch()
    assert lrs[0] == pytest.approx(0.01) and lrs[10] == pytest.approx(0.1)  # linear to the peak
    assert all(b > a for a, b in zip(lrs[:10], lrs[1:11], strict=True))
    assert all(b <= a for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then cosine down
    assert lrs[-1] < 0.002  # ends low within the budget
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig(epochs=5, batch_size=4, lr=0.1, lr_schedule="plateau", warmup_epochs=1)


def test_a_step_budget_stops_mid_epoch_and_a_resume_trains_no_further(tmp_path, splits) -> None:
    train, val = splits  # 48 rows, batch 8: 6 steps an epoch
    trainer, ctx = make_trainer(tmp_path, epochs=5, max_steps=8)
    trainer.fit(train, monitor=val)
    rows = ctx.epoch_log
    assert [(r["epoch"], r["steps"], r["images_seen"]) for r in rows] == [(1, 6, 48), (2, 8, 64)]
    assert rows[-1]["monitor_top1_err"] is not None  # the short epoch is still evaluated
    assert (trainer.summary_.epochs, trainer.summary_.images_seen) == (2, 64)
    again, ctx2 = make_trainer(tmp_path, epochs=5, max_steps=8)
    again.fit(train, monitor=val)  # resumes from the checkpoint: the budget is spent
    assert again.summary_.resumed_from_epoch == 2 and len(ctx2.epoch_log) == 2
    assert again.summary_.images_seen == 64


def test_smoke_tag_names_the_budget() -> None:
    from baselines.cnn.config import smoke_tag

    assert smoke_tag(None) == [] and smoke_tag(1) == ["smoke: 1 step"]
    assert smoke_tag(4) == ["smoke: 4 steps"]
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(epochs=1, batch_size=1, lr=0.1, max_steps=0)
