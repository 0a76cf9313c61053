"""An ILSVRC-2012 copy whose val images were sorted into ``val/<wnid>/`` class folders.

This is what PyTorch's ImageNet example (its ``valprep.sh``) and most
training setups leave behind: ``train/<wnid>/`` and ``val/<wnid>/``, every
folder named by a WordNet id (``n`` + 8 digits). Names are read from a
``words.txt`` or ``LOC_synset_mapping.txt`` in the root when one is there.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.data.layouts.base import LayoutDefaults
from harness.data.layouts.examples import (
    ExampleSpec,
    WrittenExample,
    write_class_folder_example,
    write_text,
)
from harness.data.layouts.folders import ClassFolderLayout
from harness.data.layouts.scan import folder_shape

__all__ = ["WNID_PATTERN", "ValSortedLayout"]

WNID_PATTERN = re.compile(r"n\d{8}")


class ValSortedLayout(ClassFolderLayout):
    """``ilsvrc-val-sorted``: train/ and val/ hold only wnid-named class folders."""

    name = "ilsvrc-val-sorted"
    priority = 50
    requirements = (
        "train/<wnid>/ and val/<wnid>/ class folders, each named by a wnid (n + 8 digits)"
    )
    defaults = LayoutDefaults(size=256, label="ILSVRC-2012", suite="ilsvrc2012-100")

    def detect(self, root: Path) -> bool:
        train_classes, _ = folder_shape(root / "train")
        val_classes, val_loose = folder_shape(root / "val")
        return (
            bool(train_classes and val_classes)
            and not val_loose
            and all(WNID_PATTERN.fullmatch(c) for c in (*train_classes, *val_classes))
        )

    def write_example(
        self, root: Path, spec: ExampleSpec, *, names_file: bool = True
    ) -> WrittenExample:
        """train/<wnid>/ and val/<wnid>/ (``valprep.sh``); a LOC_synset_mapping.txt if ``names_file``."""
        names = {c: spec.names.get(c, c) for c in spec.classes} if names_file else {}
        written = write_class_folder_example(root, spec, self.name, names)
        if names_file:
            mapping = "".join(f"{c} {names[c]}\n" for c in written.wnids)
            write_text(root / "LOC_synset_mapping.txt", mapping, spec.encoding)
        return written


LAYOUT = ValSortedLayout()
