"""decade/ is a plugin on the public surface: it imports only what a third-party plugin may."""

from __future__ import annotations

import grimp

from harness.registry import BASELINES

#: the harness modules a plugin may import, and the shared trainer's public package
ALLOWED = {
    "harness.api",
    "harness.types",
    "harness.params",
    "harness.protocol",
    "harness.registry",
    "baselines.cnn",
}


def test_decade_imports_only_the_public_surface() -> None:
    graph = grimp.build_graph(
        "decade", "harness", "baselines", "alexnet", cache_dir=None, include_external_packages=False
    )
    outside = {
        (importer, imported)
        for importer in graph.find_children("decade") | {"decade"}
        for imported in graph.find_modules_directly_imported_by(importer)
        if not imported.startswith("decade")
    }
    bad = sorted((a, b) for a, b in outside if b not in ALLOWED)
    assert not bad, bad


def test_the_six_methods_are_registered_by_entry_point() -> None:
    for name in ("zfnet", "vgg11", "vgg16", "googlenet", "resnet18", "resnet34"):
        cls = BASELINES.get(name)
        assert cls.__module__ == "decade.baseline" and cls.name == name
