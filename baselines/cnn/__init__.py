"""The CNN training loop shared by LeNet-5 and AlexNet (see :mod:`baselines.cnn.trainer`)."""

from baselines.cnn.trainer import (
    EvalTransform,
    OptimizerFactory,
    TrainConfig,
    Trainer,
    TrainTransform,
    sgd_optimizer,
)

__all__ = [
    "EvalTransform",
    "OptimizerFactory",
    "TrainConfig",
    "TrainTransform",
    "Trainer",
    "sgd_optimizer",
]
