"""Tiny ImageNet (Stanford CS231n): 200 classes of 64x64 images.

``wnids.txt`` lists the classes, ``words.txt`` names them (it covers all of
WordNet, not only these 200), ``train/<wnid>/images/*.JPEG`` holds 500
training images per class (next to a ``<wnid>_boxes.txt``), and the 10,000
val images sit in ``val/images/``, labelled by ``val/val_annotations.txt``
(``file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1``). The test split has no labels
and is not read.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.errors import LayoutError
from harness.data.layouts.base import (
    DatasetIndex,
    Layout,
    LayoutDefaults,
    ValLabels,
    build_index,
    read_synset_names,
)
from harness.data.layouts.examples import (
    PARENT_WNID,
    ExampleSpec,
    WrittenExample,
    draw_val_order,
    write_picture,
    write_text,
    write_train_images,
)
from harness.data.layouts.scan import (
    flat_images,
    read_class_folders,
    require_dirs,
    require_files,
)
from harness.data.textfiles import label_lines, read_label_text

__all__ = ["TinyImageNetLayout"]

WNIDS = "wnids.txt"
WORDS = "words.txt"
ANNOTATIONS = "val/val_annotations.txt"


class TinyImageNetLayout(Layout):
    """``tiny-imagenet``: marked by ``wnids.txt`` in the root."""

    name = "tiny-imagenet"
    priority = 10
    requirements = f"{WNIDS}, {WORDS}, train/<wnid>/images/, val/images/ and {ANNOTATIONS}"
    defaults = LayoutDefaults(size=64, label="Tiny ImageNet", suite="tiny-imagenet")

    def detect(self, root: Path) -> bool:
        return (root / WNIDS).is_file()

    def read(self, root: Path) -> DatasetIndex:
        notes: list[str] = []
        require_files(root, self, [WNIDS, ANNOTATIONS])
        require_dirs(root, self, [root / "train", root / "val" / "images"])
        wnids_path = root / WNIDS
        listed = read_label_text(wnids_path, "the Tiny ImageNet class list").split()
        names = (
            read_synset_names(root / WORDS, "the Tiny ImageNet class names")
            if (root / WORDS).exists()
            else {}
        )
        train = read_class_folders(root / "train", root, notes, sub="images")
        for wnid in train:
            if wnid not in listed:
                raise LayoutError(
                    f"unknown wnid {wnid}: class folder train/{wnid}/ is not listed in "
                    f"{wnids_path}; add it to {WNIDS} or remove the folder",
                    layout=self.name,
                )
        for wnid in listed:
            if wnid not in train:
                raise LayoutError(
                    f"class {wnid} is listed in {wnids_path} but train/{wnid}/images/ is missing; "
                    f"restore the folder or remove the line",
                    layout=self.name,
                )
        val = self._read_val(root, train)
        return build_index(root, self.name, train, val, names, notes)

    def _read_val(self, root: Path, train: dict[str, list[str]]) -> dict[str, list[str]]:
        images = {p.name: p for p in flat_images(root / "val" / "images")}
        ann = root / ANNOTATIONS
        text = read_label_text(ann, "the Tiny ImageNet val labels")
        labels = ValLabels(ann, images, root, self.name)
        for lineno, line in label_lines(text):
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) < 2:
                raise LayoutError(
                    f"{ann} line {lineno}: expected 'file<TAB>wnid<TAB>box', got {line!r}; "
                    f"fix that line",
                    layout=self.name,
                )
            name, wnid = parts[0].strip(), parts[1].strip()
            if name not in images:
                raise LayoutError(
                    f"{ann} line {lineno}: {name} is not in val/images/; restore the image or "
                    f"remove the line",
                    layout=self.name,
                )
            if wnid not in train:
                raise LayoutError(
                    f"unknown wnid {wnid}: {ann} line {lineno} labels {name} with a class that is "
                    f"not in {root / WNIDS}; fix the line or add the class",
                    layout=self.name,
                )
            labels.add(name, wnid, lineno)
        return labels.finish("val/images/", "add a line for each or remove those images")

    #: the release's images are square (64x64); an example's pictures should be too
    square_images = True

    def write_example(self, root: Path, spec: ExampleSpec) -> WrittenExample:
        """wnids.txt, words.txt, train/<wnid>/images/ + boxes, val/images/ + val_annotations.txt."""
        write_train_images(spec, root / "train", sub="images")
        w, h = spec.image_size
        for c in spec.classes:  # the per-class box files, which the reader ignores
            boxes = "".join(
                f"{spec.train_name(c, k)}\t0\t0\t{w - 1}\t{h - 1}\n"
                for k in range(spec.train_per_class)
            )
            write_text(root / "train" / c / f"{c}_boxes.txt", boxes)
        val_name = spec.val_name or (lambda j: f"val_{j}.JPEG")
        truth: dict[str, str] = {}
        ann: list[str] = []
        for j, c in enumerate(draw_val_order(spec)):
            name = val_name(j)
            write_picture(root / "val" / "images" / name, spec.picture("val", c, j))
            truth[f"val/images/{name}"] = c
            ann.append(f"{name}\t{c}\t0\t0\t{w - 1}\t{h - 1}\n")
        ordered = tuple(sorted(spec.classes))
        names = {c: spec.names.get(c, c) for c in ordered}
        write_text(root / WNIDS, "".join(f"{c}\n" for c in spec.classes), spec.encoding)
        words = f"{PARENT_WNID}\texample entity\n" + "".join(f"{c}\t{names[c]}\n" for c in ordered)
        write_text(root / WORDS, words, spec.encoding)
        write_text(root / ANNOTATIONS, "".join(ann), spec.encoding)
        return WrittenExample(root, self.name, ordered, names, truth, spec.train_per_class)


LAYOUT = TinyImageNetLayout()
