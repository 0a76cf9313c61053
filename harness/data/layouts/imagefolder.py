"""Any ``train/<class>/``, ``val/<class>/`` tree (torchvision's ImageFolder convention).

The catch-all, detected last: class folder names need not be wnids, and the
index's "wnids" are then those folder names. Names are read from a
``words.txt`` or ``LOC_synset_mapping.txt`` in the root when one is there.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.layouts.base import LayoutDefaults
from harness.data.layouts.examples import ExampleSpec, WrittenExample, write_class_folder_example
from harness.data.layouts.folders import ClassFolderLayout

__all__ = ["ImageFolderLayout"]


class ImageFolderLayout(ClassFolderLayout):
    """``imagefolder``: a train/ and a val/ folder; their contents are checked by the reader."""

    name = "imagefolder"
    priority = 90
    requirements = "train/<class>/ and val/<class>/ class folders"
    defaults = LayoutDefaults(size=256, label="ImageFolder", suite="ilsvrc2012-100")

    def detect(self, root: Path) -> bool:
        return (root / "train").is_dir() and (root / "val").is_dir()

    def write_example(self, root: Path, spec: ExampleSpec) -> WrittenExample:
        """train/<class>/ and val/<class>/ images, no names file: names are the folders'."""
        return write_class_folder_example(root, spec, self.name, {})


LAYOUT = ImageFolderLayout()
