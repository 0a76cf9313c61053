"""The optimiser: SGD with weight decay on the weights and none on the biases.

cuda-convnet (the paper's code) and Caffe's bvlc_alexnet (``decay_mult: 0``
on every bias) decay only the weights; so does this, unless
``TrainConfig.bias_decay`` asks otherwise. A bias is a parameter whose name
ends in ``bias`` (``fc6.bias``, LeNet's subsampling ``s2.bias``), not any
1-D tensor: LeNet's per-map subsampling coefficients are 1-D weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from baselines.cnn.config import TrainConfig

__all__ = ["OptimizerFactory", "is_bias", "parameter_groups", "sgd_optimizer"]

#: ``(params, config) -> optimizer``; ``params`` is what :func:`parameter_groups` returns
#: (a list of torch parameter-group dicts), which every torch optimiser accepts.
OptimizerFactory = Callable[[Iterable[Any], TrainConfig], torch.optim.Optimizer]


def is_bias(name: str) -> bool:
    """Whether the parameter called ``name`` (as in ``named_parameters()``) is a bias."""
    return name.rsplit(".", 1)[-1] == "bias"


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Two groups: weights (``config.weight_decay``) and biases (0 unless ``bias_decay``)."""
    weights, biases = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (biases if is_bias(name) else weights).append(p)
    bias_decay = config.weight_decay if config.bias_decay else 0.0
    groups = [
        {"params": weights, "weight_decay": config.weight_decay, "name": "weights"},
        {"params": biases, "weight_decay": bias_decay, "name": "biases"},
    ]
    return [g for g in groups if g["params"]]


def sgd_optimizer(params: Iterable[Any], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with the config's momentum and Nesterov flag; decay per group (see above)."""
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
