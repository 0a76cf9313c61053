"""The CNN training loop shared by LeNet-5 and AlexNet (see :mod:`baselines.cnn.trainer`)."""

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
    "OptimizerFactory",
    "TrainConfig",
    "TrainTransform",
    "Trainer",
    "TrainingSummary",
    "parameter_groups",
    "sgd_optimizer",
]
