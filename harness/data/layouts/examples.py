"""What every layout's ``write_example`` shares: the request, what was written, the image files.

Each layout module writes a small example tree in its own format beside its
reader (``Layout.write_example``), so one module knows a layout's disk
format. The caller decides the classes, their names and the pictures (the
demo's learnable shapes, a test's random pixels) in an :class:`ExampleSpec`;
the layout decides where files go and writes its label files; the returned
:class:`WrittenExample` says what a correct reader of the tree must report.

The order in which pictures are asked for is fixed, so that a seeded caller
gets the same images from every layout: every training image class by class
(``spec.classes`` order), then the val order is drawn from ``spec.rng``
(:func:`draw_val_order`), then every val image in that order; a layout's
own random draws (the devkit's IDs, Kaggle's row order) come after.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "PARENT_WNID",
    "ExampleSpec",
    "WrittenExample",
    "default_train_name",
    "draw_val_order",
    "ilsvrc_val_name",
    "write_class_folder_example",
    "write_picture",
    "write_text",
    "write_train_images",
]

#: A non-leaf synset the label files list beside the classes, which readers must skip.
PARENT_WNID = "n00000001"


def default_train_name(cls: str, k: int) -> str:
    """``<class>_<k>.JPEG``, as ILSVRC names its training images."""
    return f"{cls}_{k}.JPEG"


def ilsvrc_val_name(j: int) -> str:
    """``ILSVRC2012_val_<j + 1, 8 digits>.JPEG``: the val files of ILSVRC-2012."""
    return f"ILSVRC2012_val_{j + 1:08d}.JPEG"


@dataclass(frozen=True)
class ExampleSpec:
    """What to write: classes, names and pictures; the layout decides where and how."""

    classes: Sequence[str]  # class folder names (wnids for ImageNet layouts), in creation order
    names: Mapping[str, str]  # class -> human-readable name, for layouts that carry names
    picture: Callable[[str, str, int], object]  # (split, class, index) -> PIL image or file bytes
    rng: np.random.Generator  # the val order and the layout's own draws, after the pictures
    train_per_class: int = 2
    val_per_class: int = 2
    image_size: tuple[int, int] = (16, 16)  # (width, height) of the pictures: boxes in label files
    encoding: str = "utf-8"  # of the label files (utf-8-sig, utf-16, cp1252 to test readers)
    train_name: Callable[[str, int], str] = default_train_name  # (class, k) -> file name
    val_name: Callable[[int], str] | None = None  # j -> val file name; None: the layout's own


@dataclass(frozen=True)
class WrittenExample:
    """What was written, i.e. what a correct reader of ``root`` must report."""

    root: Path
    layout: str  # the name detect_layout must return
    wnids: tuple[str, ...]  # every class, sorted: label i <-> wnids[i]
    class_names: Mapping[str, str]  # class -> the name the layout's files give it
    val_truth: Mapping[str, str]  # root-relative posix path of each val image -> its class
    train_per_class: int
    ilsvrc_ids: Mapping[str, int] = field(default_factory=dict)  # devkit only: wnid -> ID

    @property
    def n_classes(self) -> int:
        return len(self.wnids)


def write_picture(path: Path, picture: object) -> None:
    """A PIL image as a JPEG at ``path``, or file bytes verbatim (a quirk, a broken file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(picture, bytes):
        path.write_bytes(picture)
    else:
        buf = io.BytesIO()
        picture.save(buf, "JPEG", quality=90)  # type: ignore[attr-defined]
        path.write_bytes(buf.getvalue())


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def write_train_images(spec: ExampleSpec, train_dir: Path, sub: str = "") -> None:
    """``train_dir/<class>[/sub]/<train_name>`` for every class, in ``spec.classes`` order."""
    for c in spec.classes:
        folder = train_dir / c / sub if sub else train_dir / c
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(spec.train_per_class):
            write_picture(folder / spec.train_name(c, k), spec.picture("train", c, k))


def draw_val_order(spec: ExampleSpec) -> list[str]:
    """The class of each val image, interleaved in a seeded order (as ILSVRC numbers val files)."""
    labels = [c for c in spec.classes for _ in range(spec.val_per_class)]
    return [labels[i] for i in spec.rng.permutation(len(labels))]


def write_class_folder_example(
    root: Path, spec: ExampleSpec, layout: str, names: Mapping[str, str]
) -> WrittenExample:
    """``train/<class>/`` and ``val/<class>/`` images (the class-folder layouts' shared shape)."""
    write_train_images(spec, root / "train")
    val_name = spec.val_name or ilsvrc_val_name
    truth: dict[str, str] = {}
    for j, c in enumerate(draw_val_order(spec)):
        path = f"val/{c}/{val_name(j)}"
        write_picture(root / path, spec.picture("val", c, j))
        truth[path] = c
    ordered = tuple(sorted(spec.classes))
    return WrittenExample(
        root, layout, ordered, {c: names.get(c, c) for c in ordered}, truth, spec.train_per_class
    )
