"""What a dataset layout is: the :class:`Layout` contract and the :class:`DatasetIndex` it reads.

A layout is one way an ImageNet copy can sit on disk (the devkit's, Kaggle's,
Tiny ImageNet's, ...). Each lives in its own module of this package as a
subclass of :class:`Layout`, registered in ``harness.data.layouts.LAYOUTS``.

Conventions every reader keeps. Class indices follow sorted wnid order
(torchvision/timm); layout-specific class numbers (the devkit's
ILSVRC2012_IDs) are converted to wnids by the reader and never leave it.
Human-readable names come from the layout's own files, else the wnid.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.data.errors import LayoutError
from harness.data.textfiles import label_lines, read_label_text

if TYPE_CHECKING:
    from harness.data.layouts.examples import ExampleSpec, WrittenExample

__all__ = [
    "DatasetIndex",
    "Layout",
    "LayoutDefaults",
    "ValLabels",
    "build_index",
    "read_synset_names",
]


@dataclass(frozen=True)
class DatasetIndex:
    """Every labelled image a dataset root holds, before any subset is applied.

    ``files[split][wnid]`` is the sorted tuple of image paths (relative to
    ``root``, posix) of class ``wnid`` in ``split`` ("train" or "val").
    """

    layout: str
    root: Path
    wnids: tuple[str, ...]  # all classes, sorted: index i <-> wnids[i]
    class_names: Mapping[str, str]  # wnid -> human-readable name
    files: Mapping[str, Mapping[str, tuple[str, ...]]]
    notes: tuple[str, ...] = field(default=())  # ignored files and other remarks

    def count(self, split: str) -> int:
        return sum(len(v) for v in self.files.get(split, {}).values())


@dataclass(frozen=True)
class LayoutDefaults:
    """What a layout implies when the user names nothing else."""

    size: int  # stored image side, px: 256 for ImageNet (as AlexNet), 64 for Tiny ImageNet
    label: str  # short human name, e.g. "Tiny ImageNet"; names ad-hoc subsets
    suite: str  # the suite whose methods and per-scale settings run when only --data is given


class Layout(ABC):
    """One on-disk layout: how to recognise it and how to read it.

    Subclasses set the four class attributes and implement :meth:`detect`
    (cheap: marker files and folder shapes, never the images) and
    :meth:`read`, and :meth:`write_example` to write their format for demos
    and tests. Errors are :class:`LayoutError` one-liners that name this
    layout's own files, what was expected and what to do.
    """

    name: ClassVar[str]  # registry key, e.g. "tiny-imagenet"; recorded in manifests
    priority: ClassVar[int]  # detection order: lower is asked first (the more specific evidence)
    requirements: ClassVar[str]  # one line: what the layout needs on disk
    defaults: ClassVar[LayoutDefaults]

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """Whether ``root`` (an existing folder) looks like this layout."""

    @abstractmethod
    def read(self, root: Path) -> DatasetIndex:
        """Every labelled image under ``root`` (absolute, resolved)."""

    def write_example(self, root: Path, spec: ExampleSpec, **options: Any) -> WrittenExample:
        """Write a small tree in this layout under ``root`` (demos, tests); see ``layouts.examples``.

        ``options`` are the layout's own variants (a devkit folder, Kaggle's
        nesting, ...). The default refuses: a layout need not write examples.
        """
        raise NotImplementedError(f"the {self.name} layout writes no example trees")

    def __repr__(self) -> str:
        return f"<layout {self.name}>"


class ValLabels:
    """Val image -> wnid from one ground-truth file: every image listed once, none left out.

    A repeated line would score one image twice and hide an unlabelled one, so
    both are errors naming the file, the lines and what to do.
    """

    def __init__(self, path: Path, images: Mapping[str, Path], root: Path, layout: str) -> None:
        self.path, self.images, self.root, self.layout = path, images, root, layout
        self.val: dict[str, list[str]] = {}
        self.first_line: dict[str, int] = {}  # image key -> the line that labelled it

    def add(self, key: str, wnid: str, lineno: int) -> None:
        """Label image ``key`` (a key of ``images``) with ``wnid``, from line ``lineno``."""
        if key in self.first_line:
            raise LayoutError(
                f"{self.path} lines {self.first_line[key]} and {lineno} both label {key}: each "
                f"val image must be listed once; remove one of the lines",
                layout=self.layout,
            )
        self.first_line[key] = lineno
        self.val.setdefault(wnid, []).append(self.images[key].relative_to(self.root).as_posix())

    def finish(self, folder: str, fix: str) -> dict[str, list[str]]:
        """{wnid: paths}, once every image of ``folder`` is labelled; ``fix``: what to do."""
        unlabelled = sorted(set(self.images) - set(self.first_line))
        if unlabelled:
            shown = ", ".join(unlabelled[:3]) + (", ..." if len(unlabelled) > 3 else "")
            raise LayoutError(
                f"ground truth {self.path} has {len(self.first_line)} rows but {folder} has "
                f"{len(self.images)} images; unlabelled: {shown}; {fix}",
                layout=self.layout,
            )
        return self.val


def read_synset_names(path: Path, what: str) -> dict[str, str]:
    """``wnid<TAB>names`` (Tiny ImageNet's words.txt) or ``wnid names`` (LOC_synset_mapping.txt)."""
    names: dict[str, str] = {}
    for _, line in label_lines(read_label_text(path, what)):
        wnid, _, words = line.replace("\t", " ", 1).partition(" ")
        names[wnid] = words.strip() or wnid
    return names


def build_index(
    root: Path,
    layout: str,
    train: Mapping[str, list[str]],
    val: Mapping[str, list[str]],
    names: Mapping[str, str],
    notes: list[str],
) -> DatasetIndex:
    """The :class:`DatasetIndex` of per-class path lists; classes are train's, sorted."""
    for split, files in (("train", train), ("val", val)):
        _check_duplicate_names(root, split, files)
    wnids = tuple(sorted(train))
    return DatasetIndex(
        layout=layout,
        root=root,
        wnids=wnids,
        class_names={w: names.get(w, w) for w in wnids},
        files={
            "train": {w: tuple(sorted(train[w])) for w in wnids},
            "val": {w: tuple(sorted(val.get(w, ()))) for w in wnids},
        },
        notes=tuple(notes),
    )


def _check_duplicate_names(root: Path, split: str, files: Mapping[str, list[str]]) -> None:
    """The same file name in two classes of one split is almost always a copy accident."""
    first: dict[str, tuple[str, str]] = {}  # file name -> (wnid, path) where first seen
    dups: list[str] = []
    for wnid in sorted(files):
        for path in files[wnid]:
            name = path.rsplit("/", 1)[-1]
            seen_wnid, seen_path = first.setdefault(name, (wnid, path))
            if seen_wnid != wnid:
                dups.append(f"{seen_path} and {path}")
    if dups:
        shown = "; ".join(dups[:3]) + ("; ..." if len(dups) > 3 else "")
        raise LayoutError(
            f"duplicate file names across classes in {split}/ of {root}: {len(dups)} name(s) "
            f"appear in more than one class folder ({shown}); keep each image in one class folder"
        )
