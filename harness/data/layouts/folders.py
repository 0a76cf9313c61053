"""The shared reader of ``train/<class>/`` + ``val/<class>/`` trees (val-sorted, Imagenette, ImageFolder).

These layouts differ in how they are recognised and where class names come
from, not in how they are read: every class is a folder in train/, every val
class must also have one there, and the label of an image is its folder.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.errors import LayoutError
from harness.data.layouts.base import DatasetIndex, Layout, build_index, read_synset_names
from harness.data.layouts.scan import flat_images, read_class_folders, require_dirs

__all__ = ["NAME_FILES", "ClassFolderLayout"]

#: Optional class-name files read when present, first found wins.
NAME_FILES = ("words.txt", "LOC_synset_mapping.txt")


class ClassFolderLayout(Layout):
    """A layout whose label is the class folder; subclasses say how to detect it."""

    def class_names(self, root: Path) -> dict[str, str]:
        """wnid -> name, from the first :data:`NAME_FILES` present (else none)."""
        for name in NAME_FILES:
            if (root / name).exists():
                return read_synset_names(root / name, f"the class names of the {self.name} layout")
        return {}

    def read(self, root: Path) -> DatasetIndex:
        notes: list[str] = []
        require_dirs(root, self, [root / "train", root / "val"])
        train = read_class_folders(root / "train", root, notes)
        if not train:
            raise LayoutError(
                f"{root / 'train'}/ has no class folders: the {self.name} layout needs "
                f"{self.requirements}; put each class's images in train/<class>/",
                layout=self.name,
            )
        val = read_class_folders(root / "val", root, notes)
        if not val:
            loose = len(flat_images(root / "val"))
            held = f"holds {loose} loose images but" if loose else "has"
            raise LayoutError(
                f"{root / 'val'}/ {held} no class folders: the {self.name} layout needs "
                f"{self.requirements}; put each val image in val/<class>/ (a flat val/ needs "
                f"the devkit's or Kaggle's label files)",
                layout=self.name,
            )
        for split in ("train", "val"):
            self._refuse_loose_images(root, split)
        for wnid in val:
            if wnid not in train:
                raise LayoutError(
                    f"unknown wnid {wnid}: val/{wnid}/ has no matching class folder in train/ of "
                    f"{root}; add train/{wnid}/ or remove val/{wnid}/",
                    layout=self.name,
                )
        return build_index(root, self.name, train, val, self.class_names(root), notes)

    def _refuse_loose_images(self, root: Path, split: str) -> None:
        """An image beside the class folders has no label; dropping it would change the split."""
        loose = flat_images(root / split)
        if loose:
            shown = ", ".join(p.name for p in loose[:3]) + (", ..." if len(loose) > 3 else "")
            raise LayoutError(
                f"{root / split}/ holds {len(loose)} image(s) outside any class folder ({shown}): "
                f"the {self.name} layout labels an image by its folder; move them into "
                f"{split}/<class>/ or remove them",
                layout=self.name,
            )
