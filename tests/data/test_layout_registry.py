"""Layouts come from the ``harness.layouts`` entry points (or the package's modules); order by priority."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import harness.data.layouts as layouts_pkg
from harness.data.errors import LayoutError
from harness.data.layouts import (
    LAYOUT_GROUP,
    Layout,
    LayoutDefaults,
    detect_layout,
    detection_order,
)
from harness.registry import RegistrationError

BUILT_IN_ORDER = [
    "tiny-imagenet",
    "ilsvrc-kaggle",
    "ilsvrc-devkit",
    "imagenette",
    "ilsvrc-val-sorted",
    "imagefolder",
]


class MarkerLayout(Layout):
    """A plugin layout recognised by a ``MARKER`` file; asked before every built-in."""

    name = "marker"
    priority = 1
    requirements = "a MARKER file"
    defaults = LayoutDefaults(size=32, label="Marker", suite="demo")

    def detect(self, root: Path) -> bool:
        return (root / "MARKER").is_file()

    def read(self, root: Path):  # pragma: no cover - never read here
        raise NotImplementedError


LAYOUT = MarkerLayout()
NOT_A_LAYOUT = object()


def _entry_points(values: dict[str, str]):
    eps = [EntryPoint(name=n, value=v, group=LAYOUT_GROUP) for n, v in values.items()]

    def fake(*, group: str):
        return [ep for ep in eps if ep.group == group]

    return fake


def _fresh_registry(monkeypatch, values: dict[str, str]):
    monkeypatch.setattr("harness.registry.entry_points", _entry_points(values))
    reg = layouts_pkg._LayoutRegistry("layout", LAYOUT_GROUP, check=layouts_pkg._check_layout)
    monkeypatch.setattr(layouts_pkg, "LAYOUTS", reg)
    return reg


def test_built_ins_are_ordered_by_priority_then_name():
    assert [lay.name for lay in detection_order()] == BUILT_IN_ORDER
    assert [lay.name for lay in layouts_pkg.DETECTION_ORDER] == BUILT_IN_ORDER
    priorities = [lay.priority for lay in detection_order()]
    assert priorities == sorted(priorities)


def test_an_empty_group_falls_back_to_the_package_modules(monkeypatch):
    reg = _fresh_registry(monkeypatch, {})
    assert sorted(reg.names()) == sorted(BUILT_IN_ORDER)
    assert [lay.name for lay in detection_order()] == BUILT_IN_ORDER


def test_entry_points_register_built_ins_and_plugins_in_priority_order(monkeypatch, tmp_path):
    values = {
        name: f"harness.data.layouts.{module}:LAYOUT"
        for name, module in [
            ("tiny-imagenet", "tiny_imagenet"),
            ("ilsvrc-kaggle", "kaggle"),
            ("ilsvrc-devkit", "devkit"),
            ("imagenette", "imagenette"),
            ("ilsvrc-val-sorted", "val_sorted"),
            ("imagefolder", "imagefolder"),
        ]
    }
    values["marker"] = f"{__name__}:LAYOUT"
    reg = _fresh_registry(monkeypatch, values)
    assert reg.spec("marker") == f"{__name__}:LAYOUT"  # lazy until asked
    assert [lay.name for lay in detection_order()] == ["marker", *BUILT_IN_ORDER]
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    assert detect_layout(tmp_path) == "imagefolder"
    (tmp_path / "MARKER").write_text("")
    assert detect_layout(tmp_path) == "marker"  # priority 1 is asked first


def test_a_plugin_group_without_built_ins_keeps_the_built_ins(monkeypatch):
    _fresh_registry(monkeypatch, {"marker": f"{__name__}:LAYOUT"})
    assert [lay.name for lay in detection_order()] == ["marker", *BUILT_IN_ORDER]


@pytest.mark.parametrize(
    ("name", "attr", "match"),
    [("marker", "NOT_A_LAYOUT", "not an instance"), ("other", "LAYOUT", "whose name is 'marker'")],
)
def test_a_bad_layout_entry_is_refused(monkeypatch, name, attr, match):
    _fresh_registry(monkeypatch, {name: f"{__name__}:{attr}"})
    with pytest.raises(RegistrationError, match=match):
        detection_order()


def test_the_unknown_layout_message_lists_the_order(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(LayoutError) as err:
        detect_layout(tmp_path)
    msg = str(err.value)
    positions = [msg.index(f"{name}: ") for name in BUILT_IN_ORDER]
    assert positions == sorted(positions)


# ----------------------------------------------------------------------------- each layout's example


@pytest.mark.parametrize("layout", BUILT_IN_ORDER)
def test_every_layout_writes_an_example_its_own_reader_reads(tmp_path, layout):
    from harness.data import make_synthetic_imagenet, read_layout

    root = make_synthetic_imagenet(
        tmp_path / layout, layout=layout, n_classes=3, train_per_class=2, val_per_class=2, size=16
    )
    # generated classes are wnids, so an ImageFolder of them is also (and first) a val-sorted tree
    assert detect_layout(root) == ("ilsvrc-val-sorted" if layout == "imagefolder" else layout)
    index = read_layout(root, layout)
    assert len(index.wnids) == 3 and index.count("train") == 6 and index.count("val") == 6


def test_a_layout_without_a_writer_says_so(tmp_path):
    from harness.data.layouts.examples import ExampleSpec

    spec = ExampleSpec(classes=["a", "b"], names={}, picture=lambda *a: b"", rng=None)
    with pytest.raises(NotImplementedError, match="marker layout writes no example"):
        LAYOUT.write_example(tmp_path, spec)


def test_the_devkit_example_numbers_classes_out_of_sorted_order(tmp_path):
    from tests.fixtures.layout_trees import write_devkit_tree

    tree = write_devkit_tree(tmp_path, 5, seed=3)
    sorted_ids = {w: i + 1 for i, w in enumerate(tree.wnids)}
    assert all(tree.ilsvrc_ids[w] != sorted_ids[w] for w in tree.wnids)  # a derangement


def test_a_folder_is_detected_once_per_process(tmp_path, monkeypatch) -> None:
    """Choosing the suite and reading the data both ask; the markers are read once."""
    from harness.data import layouts as layouts_mod
    from harness.data import make_synthetic_imagenet

    root = make_synthetic_imagenet(
        tmp_path / "d",
        layout="imagefolder",
        n_classes=2,
        train_per_class=2,
        val_per_class=1,
        size=8,
    )
    calls = []
    real = layouts_mod._detect
    monkeypatch.setattr(layouts_mod, "_detect", lambda r: calls.append(r) or real(r))
    first = layouts_mod.detect_layout(root)
    assert layouts_mod.read_layout(root).layout == first == layouts_mod.detect_layout(root)
    assert len(calls) == 1
