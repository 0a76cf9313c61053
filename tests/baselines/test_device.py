"""The device module: every branch that differs by device, reached on a CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import baselines.cnn.device as device_module
from baselines.cnn import TrainConfig, Trainer
from baselines.cnn.batches import BatchStream
from baselines.cnn.device import (
    CPU_COMPILE_MIN_STEPS,
    autocast,
    configure_backends,
    grad_scaler,
    memory_format,
    non_blocking,
    pin_memory,
    speed_switches,
    synchronize,
)
from harness.api import RunContext, Split

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _switches(device, **kw):
    given = {"amp": None, "channels_last": None, "compile": None, **kw}
    return speed_switches(device, **given)


def test_cuda_rule_turns_every_switch_on() -> None:
    s = _switches("cuda")
    assert (s.device, s.amp, s.channels_last, s.compile) == ("cuda", True, True, True)
    assert s.as_note() == {"device": "cuda", "autocast": "bfloat16", "channels_last": True,
                           "compile": True, "rule": "device rule"}  # fmt: skip


def test_cpu_rule_keeps_fp32_and_compiles_only_long_runs(monkeypatch) -> None:
    monkeypatch.setattr(device_module, "has_cxx_compiler", lambda: True)
    short = _switches("cpu", total_steps=CPU_COMPILE_MIN_STEPS - 1)
    assert (short.amp, short.channels_last, short.compile) == (False, True, False)
    long = _switches("cpu", total_steps=CPU_COMPILE_MIN_STEPS)
    assert long.compile and not long.amp
    monkeypatch.setattr(device_module, "has_cxx_compiler", lambda: False)
    assert not _switches("cpu", total_steps=10 * CPU_COMPILE_MIN_STEPS).compile  # no inductor


def test_a_forced_switch_is_kept_and_named() -> None:
    s = _switches("cpu", amp=True, compile=False)
    assert s.amp and not s.compile and s.rule == "device rule; set: amp, compile"
    assert not _switches("cuda", channels_last=False).channels_last


def test_has_cxx_compiler_reads_cxx(monkeypatch) -> None:
    monkeypatch.setattr(device_module.shutil, "which", lambda name: name == "my-cxx")
    monkeypatch.setenv("CXX", "my-cxx")
    assert device_module.has_cxx_compiler()
    monkeypatch.delenv("CXX")
    assert not device_module.has_cxx_compiler()


def test_bf16_autocast_runs_on_cpu_and_off_is_fp32() -> None:
    layer = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    with autocast(_switches("cpu", amp=True), CPU):
        assert layer(x).dtype == torch.bfloat16
    with autocast(_switches("cpu"), CPU):
        assert layer(x).dtype == torch.float32


def test_channels_last_layout_only_for_4d_batches() -> None:
    prepare = memory_format(_switches("cpu"))
    x = prepare(torch.randn(2, 3, 5, 5))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert prepare(torch.randn(2, 3)).shape == (2, 3)
    plain = memory_format(_switches("cpu", channels_last=False))
    assert plain(torch.randn(2, 3, 5, 5)).is_contiguous()


def test_grad_scaler_only_for_fp16_on_cuda() -> None:
    assert grad_scaler(_switches("cpu", amp=True)) is None
    assert grad_scaler(_switches("cpu", amp=True, amp_dtype="float16")) is None
    assert grad_scaler(_switches("cuda")) is None  # bf16 needs no loss scaling
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        scaler = grad_scaler(_switches("cuda", amp_dtype="float16"))
    assert isinstance(scaler, torch.amp.GradScaler)


class _nothing:
    def __enter__(self) -> None: ...
    def __exit__(self, *exc: object) -> None: ...


def test_pinned_memory_and_async_copies_only_for_cuda() -> None:
    assert not pin_memory(CPU) and not non_blocking(CPU)
    assert pin_memory(CUDA) and non_blocking(CUDA)
    stream = BatchStream(torch.zeros(4, 2, 2, 3, dtype=torch.uint8).numpy(), [0, 1, 0, 1],
                         [3, 2, 1, 0], 2, CPU)  # fmt: skip
    assert not stream._pin and not stream._non_blocking
    assert [labels.tolist() for _, labels in stream] == [[0, 1], [0, 1]]


def test_cudnn_autotuner_only_on_cuda_and_never_when_deterministic(monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    configure_backends(CPU, deterministic=False)
    configure_backends(CUDA, deterministic=True)
    assert torch.backends.cudnn.benchmark is False
    configure_backends(CUDA, deterministic=False)
    assert torch.backends.cudnn.benchmark is True


def test_synchronize_waits_only_on_cuda(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(d))
    synchronize(CPU)
    synchronize(CUDA)
    assert calls == [CUDA]


def test_trainer_records_the_switches_and_trains_in_bf16_on_cpu(tmp_path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(2), 8).astype(np.int64)
    images = rng.integers(0, 100, (16, 8, 8, 3), dtype=np.uint8)
    images[np.arange(16), :, :, labels] += 120
    train = Split("train", images, labels, ("n00000000", "n00000001"))

    def to_float(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float() / 255.0

    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2))  # fmt: skip

    ctx = RunContext(work_dir=tmp_path, quiet=True)
    config = TrainConfig(epochs=2, batch_size=8, lr=0.1, amp=True)
    trainer = Trainer(net, config, ctx, train_transform=lambda x, g: to_float(x),
                      eval_transform=to_float)  # fmt: skip
    trainer.fit(train)
    assert ctx.notes["speed_switches"] == {"device": "cpu", "autocast": "bfloat16",
        "channels_last": True, "compile": False, "rule": "device rule; set: amp"}  # fmt: skip
    assert trainer.predict_proba(train).dtype == np.float32
    # the checkpoint holds the resolved switches, so a resume compares what ran
    assert torch.load(trainer.checkpoint_path, weights_only=False)["config"]["amp"] is True


def test_the_plans_short_fits_pin_the_runs_compile_switch(monkeypatch) -> None:
    """harness plan times fits of a few steps; left to the rule they ran eager while
    ZFNet's 2,816-step run compiled: projected 1.7x too long."""
    from alexnet.baseline import AlexNetBaseline
    from decade.baseline import ZFNetBaseline

    monkeypatch.setattr(device_module, "has_cxx_compiler", lambda: True)
    for method in (ZFNetBaseline(), AlexNetBaseline()):
        assert method.calibration_params(CPU_COMPILE_MIN_STEPS, "cpu") == {"compile": True}
        assert method.calibration_params(CPU_COMPILE_MIN_STEPS - 1, "cpu") == {"compile": False}
        assert method.calibration_params(10, "cuda") == {"compile": True}
    assert ZFNetBaseline(compile=False).calibration_params(10**6, "cpu") == {}  # set: kept
