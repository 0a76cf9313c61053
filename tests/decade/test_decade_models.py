"""The later networks against their papers: parameters, layer shapes at 224px, FLOPs, aux heads."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from decade.googlenet import GoogLeNet, googlenet_loss
from decade.layers import count_parameters
from decade.resnet import ResNet
from decade.vgg import VGG
from decade.zfnet import ZFNet


def meta(factory):
    with torch.device("meta"):
        return factory()


def _zfnet_by_hand() -> int:
    """Fig. 3 of Zeiler & Fergus, layer by layer (weights + biases), 1,000 classes."""
    convs = [(3, 96, 7), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    fcs = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    return sum(i * o * k * k + o for i, o, k in convs) + sum(i * o + o for i, o in fcs)


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (ZFNet, _zfnet_by_hand()),  # 62,357,608; the paper gives no count
        (lambda: VGG("A"), 132_863_336),  # Table 2: 133M; torchvision vgg11
        (lambda: VGG("D"), 138_357_544),  # Table 2: 138M; torchvision vgg16
        (lambda: ResNet(18), 11_689_512),  # 11.7M; torchvision resnet18
        (lambda: ResNet(34), 21_797_672),  # 21.8M; torchvision resnet34
        # inference network (no aux heads), convolutions with biases, no BN: Caffe's
        # bvlc_googlenet count; "about 6.8M" for the paper's network
        (lambda: GoogLeNet(aux=False), 6_998_552),
        (GoogLeNet, 13_378_280),  # with the two aux heads (6,379,728 between them)
    ],
)
def test_parameter_counts_at_1000_classes(factory, expected: int) -> None:
    assert count_parameters(meta(factory)) == expected


def test_zfnet_count_is_fig3s() -> None:
    assert _zfnet_by_hand() == 62_357_608


def test_googlenet_without_heads_is_within_3_percent_of_6_8m() -> None:
    assert count_parameters(meta(lambda: GoogLeNet(aux=False))) == pytest.approx(6.8e6, rel=0.03)


def test_small_stem_keeps_every_parameter() -> None:
    for factory in (ZFNet, lambda **k: VGG("D", **k), GoogLeNet, lambda **k: ResNet(34, **k)):
        assert count_parameters(meta(lambda f=factory: f(stem="small"))) == count_parameters(
            meta(factory)
        )


def _shapes(model: torch.nn.Module, x: torch.Tensor, kinds: tuple[type, ...]) -> list[tuple]:
    out: list[tuple] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: out.append(tuple(o.shape[1:])))
        for m in model.modules()
        if isinstance(m, kinds)
    ]
    model.eval()(x)
    for h in hooks:
        h.remove()
    return out


def test_zfnet_maps_follow_fig3() -> None:
    x = torch.empty(1, 3, 224, 224, device="meta")
    kinds = (torch.nn.Conv2d, torch.nn.MaxPool2d)
    assert _shapes(meta(ZFNet), x, kinds) == [
        (96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13),
        (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6),
    ]  # fmt: skip


@pytest.mark.parametrize(("config", "n_conv"), [("A", 8), ("D", 13)])
def test_vgg_pools_halve_224_to_7(config: str, n_conv: int) -> None:
    net = meta(lambda: VGG(config))
    x = torch.empty(1, 3, 224, 224, device="meta")
    pools = _shapes(net, x, (torch.nn.MaxPool2d,))
    assert pools == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    assert len(_shapes(net, x, (torch.nn.Conv2d,))) == n_conv
    assert net(x).shape == (1, 1000)


def test_googlenet_maps_follow_table1() -> None:
    net = meta(GoogLeNet).eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    x = net.stem(x)
    assert tuple(x.shape[1:]) == (192, 28, 28)
    got = {}
    for name, block in net.blocks.items():
        x = net.pool3(x) if name == "4a" else net.pool4(x) if name == "5a" else x
        x = block(x)
        got[name] = tuple(x.shape[1:])
    assert got == {
        "3a": (256, 28, 28), "3b": (480, 28, 28), "4a": (512, 14, 14), "4b": (512, 14, 14),
        "4c": (512, 14, 14), "4d": (528, 14, 14), "4e": (832, 14, 14), "5a": (832, 7, 7),
        "5b": (1024, 7, 7),
    }  # fmt: skip


@pytest.mark.parametrize("depth", [18, 34])
def test_resnet_stages_follow_table1(depth: int) -> None:
    net = meta(lambda: ResNet(depth)).eval()
    x = net.stem(torch.empty(1, 3, 224, 224, device="meta"))
    assert tuple(x.shape[1:]) == (64, 56, 56)
    sides = []
    for stage in net.stages:
        x = stage(x)
        sides.append(tuple(x.shape[1:]))
    assert sides == [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]


@pytest.mark.parametrize(("depth", "gmacs"), [(18, 1.8), (34, 3.6)])
def test_resnet_multiply_adds_match_table1(depth: int, gmacs: float) -> None:
    net = meta(lambda: ResNet(depth)).eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, 3, 224, 224, device="meta"))
    macs = counter.get_total_flops() / 2  # the counter counts 2 FLOPs per multiply-add
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.05)


def test_googlenet_aux_heads_train_only() -> None:
    torch.manual_seed(0)
    net = GoogLeNet(n_classes=5, stem="small", width=0.125)
    x = torch.randn(2, 3, 56, 56)
    out = net.train()(x)
    assert isinstance(out, tuple) and len(out) == 3
    assert all(o.shape == (2, 5) for o in out)
    labels = torch.tensor([0, 1])
    loss, main = googlenet_loss(out, labels)
    ce = torch.nn.functional.cross_entropy
    expected = ce(out[0], labels) + 0.3 * (ce(out[1], labels) + ce(out[2], labels))
    assert torch.allclose(loss, expected) and main is out[0]
    with torch.no_grad():
        eval_out = net.eval()(x)
    assert isinstance(eval_out, torch.Tensor) and eval_out.shape == (2, 5)
