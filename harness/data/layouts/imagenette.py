"""fast.ai's Imagenette and Imagewoof: 10-class ImageNet subsets as ``train/<wnid>/``, ``val/<wnid>/``.

Recognised by the label-noise CSV that every release ships in its root
(``noisy_imagenette.csv`` or ``noisy_imagewoof.csv``; older releases:
``imagenette.csv`` / ``imagewoof.csv``). The releases carry no names file, so
the 20 class names are known here.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.layouts.base import LayoutDefaults
from harness.data.layouts.examples import (
    ExampleSpec,
    WrittenExample,
    write_class_folder_example,
    write_text,
)
from harness.data.layouts.folders import ClassFolderLayout

__all__ = ["IMAGENETTE_MARKERS", "ImagenetteLayout"]

IMAGENETTE_MARKERS = (
    "noisy_imagenette.csv",
    "noisy_imagewoof.csv",
    "imagenette.csv",
    "imagewoof.csv",
)

CLASS_NAMES = {
    # Imagenette
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888605": "parachute",
    # Imagewoof
    "n02086240": "Shih-Tzu",
    "n02087394": "Rhodesian ridgeback",
    "n02088364": "beagle",
    "n02089973": "English foxhound",
    "n02093754": "Border terrier",
    "n02096294": "Australian terrier",
    "n02099601": "golden retriever",
    "n02105641": "Old English sheepdog",
    "n02111889": "Samoyed",
    "n02115641": "dingo",
}


class ImagenetteLayout(ClassFolderLayout):
    """``imagenette``: class folders plus fast.ai's CSV in the root."""

    name = "imagenette"
    priority = 40
    requirements = (
        "train/<wnid>/ and val/<wnid>/ class folders and fast.ai's noisy_imagenette.csv "
        "(or noisy_imagewoof.csv) in the root"
    )
    defaults = LayoutDefaults(size=256, label="Imagenette", suite="ilsvrc2012-100")

    def detect(self, root: Path) -> bool:
        return any((root / m).is_file() for m in IMAGENETTE_MARKERS)

    def class_names(self, root: Path) -> dict[str, str]:
        return {**CLASS_NAMES, **super().class_names(root)}

    def write_example(
        self, root: Path, spec: ExampleSpec, *, marker: str = IMAGENETTE_MARKERS[0]
    ) -> WrittenExample:
        """train/<wnid>/, val/<wnid>/ and the ``marker`` CSV in the root.

        The CSV has the columns of the real one (path, noisy_labels_{0,1,5,25,50},
        is_valid), every label clean; the release carries no names file.
        """
        written = write_class_folder_example(root, spec, self.name, CLASS_NAMES)
        lines = ["path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,"
                 "noisy_labels_50,is_valid"]  # fmt: skip
        for c in written.wnids:
            for k in range(spec.train_per_class):
                lines.append(f"train/{c}/{spec.train_name(c, k)}" + f",{c}" * 5 + ",False")
        lines += [p + f",{c}" * 5 + ",True" for p, c in sorted(written.val_truth.items())]
        write_text(root / marker, "\n".join(lines) + "\n")
        return written


LAYOUT = ImagenetteLayout()
