"""The CNN training loop shared by LeNet-5, AlexNet and the later networks (``decade``).

What a method package outside ``baselines`` may import (the trainer's public
surface; see :mod:`baselines.cnn.trainer`): :class:`Trainer`,
:class:`TrainConfig`, the transform and loss types, the optimiser helpers,
:func:`cross_entropy_loss` (the default loss), :func:`smoke_tag` (the tag
of a step-budget row), :func:`planned_switches` (what ``harness plan``'s short fits pin) and :func:`profile_for_device` (the paper recipe on CUDA,
the CPU profile elsewhere). Anything else under ``baselines.cnn`` is internal.
"""

from baselines.cnn.config import smoke_tag
from baselines.cnn.device import planned_switches, profile_for_device
from baselines.cnn.loop import LossFn, cross_entropy_loss
from baselines.cnn.trainer import (
    EvalTransform,
    OptimizerFactory,
    TrainConfig,
    Trainer,
    TrainingSummary,
    TrainTransform,
    parameter_groups,
    sgd_optimizer,
)

__all__ = [
    "EvalTransform",
    "LossFn",
    "OptimizerFactory",
    "TrainConfig",
    "TrainTransform",
    "Trainer",
    "TrainingSummary",
    "cross_entropy_loss",
    "parameter_groups",
    "planned_switches",
    "profile_for_device",
    "sgd_optimizer",
    "smoke_tag",
]
