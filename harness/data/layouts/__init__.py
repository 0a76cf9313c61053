"""Find and read the ImageNet copy a user already has, whatever its layout.

One module per layout, each a :class:`~harness.data.layouts.base.Layout`
(``name``, ``priority``, ``requirements``, ``detect``, ``read``,
``write_example``, ``defaults``), all held in the :data:`LAYOUTS` registry:

=====================  ==========================================================
``ilsvrc-devkit``      ILSVRC-2012 as distributed: flat val/ + the devkit's files
``ilsvrc-kaggle``      the Kaggle copy: ``LOC_val_solution.csv`` + synset mapping
``ilsvrc-val-sorted``  ILSVRC-2012 with val sorted into ``val/<wnid>/`` folders
``tiny-imagenet``      ``wnids.txt``, ``train/<wnid>/images/``, ``val/images/``
``imagenette``         fast.ai's Imagenette/Imagewoof (their CSV marks them)
``imagefolder``        any ``train/<class>/``, ``val/<class>/`` tree
=====================  ==========================================================

Layouts are found through the entry-point group ``harness.layouts``
(``name = "module:LAYOUT"``; the built-ins are declared there too, in
pyproject.toml), so a third-party layout is one module and one entry point.
When the installed metadata declares no built-in (a source checkout run
without reinstalling), the modules of this package that define ``LAYOUT``
are registered instead.

:func:`detect_layout` asks each layout in :func:`detection_order` (ascending
``priority``, ties by name) and takes the first that recognises the root.
The built-ins' priorities run from the most specific evidence to the least:
a marker file that only one layout has (Tiny ImageNet's ``wnids.txt``,
Kaggle's CSV or nesting), then a shape with its label files (a flat val/ is
the devkit's), then Imagenette's CSV, then a tree of wnid-named folders, and
last any train/ + val/ tree. Imagenette comes before val-sorted because its
folders are wnids too.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from harness.data.errors import LayoutError
from harness.data.layouts.base import DatasetIndex, Layout, LayoutDefaults
from harness.data.layouts.devkit import read_devkit_meta
from harness.data.layouts.scan import IMAGE_EXTENSIONS, list_folder
from harness.registry import RegistrationError, Registry, UnknownNameError

__all__ = [
    "DETECTION_ORDER",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "LAYOUT_GROUP",
    "LAYOUT_REQUIREMENTS",
    "DatasetIndex",
    "Layout",
    "LayoutDefaults",
    "detect_layout",
    "detection_order",
    "get_layout",
    "layout_requirements",
    "read_devkit_meta",
    "read_layout",
]

#: The entry-point group layouts register under: ``name = "module:LAYOUT"``.
LAYOUT_GROUP = "harness.layouts"


def _check_layout(name: str, obj: object) -> None:
    """A layout entry must be a :class:`Layout` instance registered under its own name."""
    if not isinstance(obj, Layout):
        raise RegistrationError(
            f"layout {name!r} is {obj!r}, not an instance of harness.data.layouts.base.Layout; "
            f"point the entry point at the module's LAYOUT object"
        )
    if obj.name != name:
        raise RegistrationError(
            f"layout entry point {name!r} loads {obj!r}, whose name is {obj.name!r}; "
            f"give the entry point the layout's name"
        )


class _LayoutRegistry(Registry[Layout]):
    """The ``harness.layouts`` entry points, or this package's modules when none is a built-in."""

    def _discover(self) -> None:
        if self._discovered:
            return
        super()._discover()
        if not any(spec.startswith(f"{__name__}.") for spec in self._lazy.values()):
            for module in pkgutil.iter_modules(__path__):
                spec = f"{__name__}.{module.name}"
                layout = getattr(importlib.import_module(spec), "LAYOUT", None)
                if isinstance(layout, Layout) and layout.name not in self:
                    self.add(layout.name, layout)


#: Every layout by name.
LAYOUTS: Registry[Layout] = _LayoutRegistry("layout", LAYOUT_GROUP, check=_check_layout)


def detection_order() -> tuple[Layout, ...]:
    """Every layout in the order :func:`detect_layout` tries them: ascending priority, then name."""
    layouts = [LAYOUTS.get(name) for name in LAYOUTS.names()]
    return tuple(sorted(layouts, key=lambda lay: (lay.priority, lay.name)))


def layout_requirements() -> Mapping[str, str]:
    """name -> what that layout needs on disk, for error messages."""
    return MappingProxyType({lay.name: lay.requirements for lay in detection_order()})


def __getattr__(name: str) -> object:
    # DETECTION_ORDER and LAYOUT_REQUIREMENTS are computed from the registry when first asked
    if name == "DETECTION_ORDER":
        return detection_order()
    if name == "LAYOUT_REQUIREMENTS":
        return layout_requirements()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Other names a user may give a layout.
ALIASES = {
    "devkit": "ilsvrc-devkit",
    "kaggle": "ilsvrc-kaggle",
    "val-sorted": "ilsvrc-val-sorted",
    "ilsvrc-sorted": "ilsvrc-val-sorted",
    "imagewoof": "imagenette",
}

_MAX_CHILDREN_PROBED = 20  # subfolders of a non-layout root checked for a layout, for the hint


def get_layout(name: str) -> Layout:
    """The layout registered as ``name`` (or one of its :data:`ALIASES`)."""
    try:
        return LAYOUTS.get(ALIASES.get(name, name))
    except UnknownNameError as exc:
        raise LayoutError(str(exc)) from None


def _detect(root: Path) -> Layout | None:
    for layout in detection_order():
        if layout.detect(root):
            return layout
    return None


def detect_layout(root: str | Path) -> str:
    """The name of the layout of ``root`` (a key of :data:`LAYOUTS`), from its marker files."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(
            f"dataset root {root} does not exist or is not a folder; point --data at the folder "
            f"that holds the dataset"
        )
    # detected once per folder and process (a run asks when it picks the suite, then reads)
    key = (str(root.resolve()), root.stat().st_mtime_ns)
    if key in _DETECTED:
        return _DETECTED[key]
    layout = _detect(root)
    if layout is not None:
        _DETECTED[key] = layout.name
        return layout.name
    raise LayoutError(_unknown_layout_message(root))


#: (resolved root, its mtime) -> the layout detected there, for this process
_DETECTED: dict[tuple[str, int], str] = {}


def _unknown_layout_message(root: Path) -> str:
    entries = list_folder(root, "dataset root")
    present = ", ".join(e.name + ("/" if e.is_dir() else "") for e in entries[:10])
    if len(entries) > 10:
        present += ", ..."
    missing = [d for d in ("train", "val") if not (root / d).is_dir()]
    expected = "; ".join(f"{layout.name}: {layout.requirements}" for layout in detection_order())
    hint = "point --data at the folder that holds train/ and val/ (for Tiny ImageNet: wnids.txt)"
    children = [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
    for child in children[:_MAX_CHILDREN_PROBED]:
        try:
            found = _detect(child)
        except LayoutError:
            continue
        if found is not None:
            hint = f"{child.name}/ holds a {found.name} layout: pass --data {child}"
            break
    return (
        f"{root} is not a dataset layout we know: missing {' and '.join(d + '/' for d in missing)} "
        f"(found: {present or 'nothing'}). Known layouts -- {expected}. To fix: {hint}"
    )


def read_layout(root: str | Path, layout: str | None = None) -> DatasetIndex:
    """Read every labelled image of ``root``; ``layout`` forces a layout instead of detecting it."""
    root = Path(root).resolve()
    chosen = get_layout(layout) if layout else get_layout(detect_layout(root))
    try:
        return chosen.read(root)
    except LayoutError as exc:
        if exc.layout is None:
            exc.layout = chosen.name
        raise
