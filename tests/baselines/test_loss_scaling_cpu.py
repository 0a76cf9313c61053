"""The loss-scaling branch of a training step (fp16 on CUDA) run on a CPU.

``device.grad_scaler`` hands a ``GradScaler`` only to fp16 autocast on CUDA,
so the default tests never reach the scaled step through a fit. The step
itself is device-agnostic: with a CPU ``GradScaler`` (its scale a power of
two) it must update the weights exactly as the plain step does, with and
without gradient clipping.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from baselines.cnn.device import speed_switches
from baselines.cnn.loop import cross_entropy_loss, train_step


def _state(model: nn.Module, scaler: torch.amp.GradScaler | None, clip: float | None):
    return SimpleNamespace(
        config=SimpleNamespace(label_smoothing=0.0, grad_clip_norm=clip),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        scaler=scaler,
        switches=speed_switches("cpu", amp=False, channels_last=False, compile=False),
        device=torch.device("cpu"),
        loss_fn=cross_entropy_loss,
    )


@pytest.mark.parametrize("clip", [None, 0.05])
def test_a_scaled_step_updates_the_weights_as_the_plain_step(clip: float | None) -> None:
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4))
    scaled = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4))
    scaled.load_state_dict(plain.state_dict())
    x, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 3, 0, 1])
    a, b = _state(plain, None, clip), _state(scaled, torch.amp.GradScaler("cpu"), clip)
    for _ in range(3):
        loss_a, _ = train_step(a, plain, x, y)
        loss_b, _ = train_step(b, scaled, x, y)
        torch.testing.assert_close(loss_a, loss_b)
    for p, q in zip(plain.parameters(), scaled.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert b.scaler.get_scale() > 0  # it scaled (and found no inf to skip a step for)
