"""Find and read the ImageNet copy a user already has, whatever its layout.

One module per layout, each a :class:`~harness.data.layouts.base.Layout`
(``name``, ``requirements``, ``detect``, ``read``, ``defaults``), all held in
the :data:`LAYOUTS` registry:

=====================  ==========================================================
``ilsvrc-devkit``      ILSVRC-2012 as distributed: flat val/ + the devkit's files
``ilsvrc-kaggle``      the Kaggle copy: ``LOC_val_solution.csv`` + synset mapping
``ilsvrc-val-sorted``  ILSVRC-2012 with val sorted into ``val/<wnid>/`` folders
``tiny-imagenet``      ``wnids.txt``, ``train/<wnid>/images/``, ``val/images/``
``imagenette``         fast.ai's Imagenette/Imagewoof (their CSV marks them)
``imagefolder``        any ``train/<class>/``, ``val/<class>/`` tree
=====================  ==========================================================

:func:`detect_layout` asks each layout in :data:`DETECTION_ORDER` and takes
the first that recognises the root. The order runs from the most specific
evidence to the least: a marker file that only one layout has (Tiny
ImageNet's ``wnids.txt``, Kaggle's CSV or nesting), then a shape with its
label files (a flat val/ is the devkit's), then Imagenette's CSV, then a tree
of wnid-named folders, and last any train/ + val/ tree. Imagenette comes
before val-sorted because its folders are wnids too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from harness.data.errors import LayoutError
from harness.data.layouts import (
    devkit,
    imagefolder,
    imagenette,
    kaggle,
    tiny_imagenet,
    val_sorted,
)
from harness.data.layouts.base import DatasetIndex, Layout, LayoutDefaults
from harness.data.layouts.devkit import read_devkit_meta
from harness.data.layouts.scan import IMAGE_EXTENSIONS, list_folder
from harness.registry import Registry, UnknownNameError

__all__ = [
    "DETECTION_ORDER",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "LAYOUT_REQUIREMENTS",
    "DatasetIndex",
    "Layout",
    "LayoutDefaults",
    "detect_layout",
    "get_layout",
    "read_devkit_meta",
    "read_layout",
]

#: Layouts in the order :func:`detect_layout` tries them, most specific first (see above).
DETECTION_ORDER: tuple[Layout, ...] = (
    tiny_imagenet.LAYOUT,
    kaggle.LAYOUT,
    devkit.LAYOUT,
    imagenette.LAYOUT,
    val_sorted.LAYOUT,
    imagefolder.LAYOUT,
)

#: Every layout by name.
LAYOUTS: Registry[Layout] = Registry("layout")
for _layout in DETECTION_ORDER:
    LAYOUTS.add(_layout.name, _layout)

#: name -> what that layout needs on disk, for error messages.
LAYOUT_REQUIREMENTS: Mapping[str, str] = MappingProxyType(
    {layout.name: layout.requirements for layout in DETECTION_ORDER}
)

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
    for layout in DETECTION_ORDER:
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
    layout = _detect(root)
    if layout is not None:
        return layout.name
    raise LayoutError(_unknown_layout_message(root))


def _unknown_layout_message(root: Path) -> str:
    entries = list_folder(root, "dataset root")
    present = ", ".join(e.name + ("/" if e.is_dir() else "") for e in entries[:10])
    if len(entries) > 10:
        present += ", ..."
    missing = [d for d in ("train", "val") if not (root / d).is_dir()]
    expected = "; ".join(f"{layout.name}: {layout.requirements}" for layout in DETECTION_ORDER)
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
