"""AlexNet architecture, initialisation and parameter count against the paper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alexnet.model import STEMS, AlexNet, build_alexnet, count_parameters

# Computed by hand from the paper's layer table (see alexnet/model.py).
PAPER_PARAMS_1000 = (
    (96 * 3 * 11 * 11 + 96)  # conv1
    + (256 * 48 * 5 * 5 + 256)  # conv2, 2 groups
    + (384 * 256 * 3 * 3 + 384)  # conv3, across groups
    + (384 * 192 * 3 * 3 + 384)  # conv4, 2 groups
    + (256 * 192 * 3 * 3 + 256)  # conv5, 2 groups
    + (9216 * 4096 + 4096)  # fc6
    + (4096 * 4096 + 4096)  # fc7
    + (4096 * 1000 + 1000)  # fc8
)


def test_parameter_count_for_1000_classes() -> None:
    assert PAPER_PARAMS_1000 == 60_965_224
    assert count_parameters(build_alexnet(1000)) == 60_965_224


def test_every_layer_output_shape_at_224() -> None:
    model = build_alexnet(1000).eval()
    expected = [
        (96, 55, 55), (96, 55, 55), (96, 55, 55), (96, 27, 27),  # conv1 relu lrn pool
        (256, 27, 27), (256, 27, 27), (256, 27, 27), (256, 13, 13),  # conv2 relu lrn pool
        (384, 13, 13), (384, 13, 13),  # conv3 relu
        (384, 13, 13), (384, 13, 13),  # conv4 relu
        (256, 13, 13), (256, 13, 13), (256, 6, 6),  # conv5 relu pool
    ]  # fmt: skip
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        for layer, shape in zip(model.features, expected, strict=True):
            x = layer(x)
            assert tuple(x.shape[1:]) == shape, layer
        x = torch.flatten(x, 1)
        assert x.shape[1] == 9216
        sizes = []
        for layer in model.classifier:
            x = layer(x)
            sizes.append(x.shape[1])
    assert sizes == [4096, 4096, 4096, 4096, 4096, 4096, 1000]


def test_grouping_matches_the_two_gpu_split() -> None:
    layers = build_alexnet(10).named_layers()
    groups = {name: layer.groups for name, layer in layers.items() if isinstance(layer, nn.Conv2d)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    assert [layers[f"conv{i}"].out_channels for i in range(1, 6)] == [96, 256, 384, 384, 256]
    assert layers["conv1"].kernel_size == (11, 11) and layers["conv1"].stride == (4, 4)


def test_paper_initialisation() -> None:
    torch.manual_seed(0)
    layers = build_alexnet(1000).named_layers()
    for name, layer in layers.items():
        bias = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert torch.all(layer.bias == bias), name
        w = layer.weight.detach()
        assert abs(w.mean().item()) < 1e-3, name
        assert w.std().item() == pytest.approx(0.01, rel=0.05), name


def test_dropout_and_lrn_positions() -> None:
    model = build_alexnet(10)
    kinds = [type(m).__name__ for m in model.classifier]
    # the paper's (and Caffe's): dropout on the outputs of fc6 and fc7, after their ReLUs;
    # not torchvision's layout (dropout on pool5 and fc6's output)
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    layers = model.named_layers()
    assert model.classifier[0] is layers["fc6"] and model.classifier[3] is layers["fc7"]
    assert model.classifier[6] is layers["fc8"]
    assert all(m.p == 0.5 for m in model.classifier if isinstance(m, nn.Dropout))
    feats = [type(m).__name__ for m in model.features]
    assert [i for i, k in enumerate(feats) if k == "LocalResponseNorm"] == [2, 6]
    assert [i for i, k in enumerate(feats) if k == "MaxPool2d"] == [3, 7, 14]


def test_small_stem_is_a_separate_named_variant() -> None:
    model = AlexNet(n_classes=7, stem="small")
    assert model.stem == "small"
    spec = STEMS["small"]
    out = model.eval()(torch.zeros(2, 3, spec.crop, spec.crop))
    assert out.shape == (2, 7)
    with pytest.raises(ValueError, match="unknown AlexNet stem"):
        AlexNet(stem="tiny")
