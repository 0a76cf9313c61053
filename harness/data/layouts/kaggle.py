"""The Kaggle "ImageNet Object Localization Challenge" copy of ILSVRC-2012.

Val labels come from ``LOC_val_solution.csv`` (``ImageId,PredictionString``;
the first token of the prediction string is the wnid, the rest are boxes)
and names from ``LOC_synset_mapping.txt`` (``wnid names``), both in the root.
Images are in ``train/<wnid>/`` and a flat ``val/``, either in the root or in
Kaggle's own ``ILSVRC/Data/CLS-LOC/`` nesting.
"""

from __future__ import annotations

import csv
import io
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
    ExampleSpec,
    WrittenExample,
    draw_val_order,
    ilsvrc_val_name,
    write_picture,
    write_text,
    write_train_images,
)
from harness.data.layouts.scan import (
    flat_images,
    read_class_folders,
    rel,
    require_dirs,
    require_files,
)
from harness.data.textfiles import read_label_text

__all__ = ["KAGGLE_NESTING", "KAGGLE_SOLUTION", "KAGGLE_SYNSETS", "KaggleLayout"]

KAGGLE_SOLUTION = "LOC_val_solution.csv"
KAGGLE_SYNSETS = "LOC_synset_mapping.txt"
KAGGLE_NESTING = "ILSVRC/Data/CLS-LOC"


class KaggleLayout(Layout):
    """``ilsvrc-kaggle``: marked by its solution CSV or its ``ILSVRC/Data/CLS-LOC`` nesting."""

    name = "ilsvrc-kaggle"
    priority = 20
    requirements = (
        f"{KAGGLE_SOLUTION}, {KAGGLE_SYNSETS}, and train/<wnid>/ + a flat val/ "
        f"(directly or under {KAGGLE_NESTING}/)"
    )
    defaults = LayoutDefaults(size=256, label="ILSVRC-2012", suite="ilsvrc2012-100")

    def detect(self, root: Path) -> bool:
        return (root / KAGGLE_SOLUTION).is_file() or (root / KAGGLE_NESTING).is_dir()

    def read(self, root: Path) -> DatasetIndex:
        notes: list[str] = []
        base = root / KAGGLE_NESTING if (root / KAGGLE_NESTING).is_dir() else root
        require_files(root, self, [KAGGLE_SOLUTION, KAGGLE_SYNSETS])
        require_dirs(root, self, [base / "train", base / "val"])
        train = read_class_folders(base / "train", root, notes)
        if not train:
            raise LayoutError(
                f"{base / 'train'}/ has no class folders: the {self.name} layout needs "
                f"{self.requirements}; unpack the Kaggle archive there again",
                layout=self.name,
            )
        names = read_synset_names(root / KAGGLE_SYNSETS, "Kaggle's class list")
        val = self._read_val(root, base / "val", set(train))
        return build_index(root, self.name, train, val, names, notes)

    def _read_val(self, root: Path, val_dir: Path, known: set[str]) -> dict[str, list[str]]:
        csv_path = root / KAGGLE_SOLUTION
        images = {p.stem: p for p in flat_images(val_dir)}
        text = read_label_text(csv_path, "Kaggle's val ground truth")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise LayoutError(
                f"{csv_path}: expected the header 'ImageId,PredictionString', got {header}; "
                f"use the {KAGGLE_SOLUTION} of the Kaggle download",
                layout=self.name,
            )
        labels = ValLabels(csv_path, images, root, self.name)
        for row in reader:
            lineno = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 2 or not row[1].split():
                raise LayoutError(
                    f"{csv_path} line {lineno}: expected 'ImageId,<wnid> <box> ...', got {row}; "
                    f"fix that line",
                    layout=self.name,
                )
            image_id, wnid = row[0].strip(), row[1].split()[0]
            if image_id not in images:
                raise LayoutError(
                    f"{csv_path} line {lineno}: image {image_id} is not in {rel(val_dir, root)}/; "
                    f"restore the image or remove the line",
                    layout=self.name,
                )
            if wnid not in known:
                raise LayoutError(
                    f"unknown wnid {wnid}: {csv_path} line {lineno} labels {image_id} with a class "
                    f"that has no folder in {rel(val_dir.parent / 'train', root)}/; restore "
                    f"{rel(val_dir.parent / 'train' / wnid, root)}/",
                    layout=self.name,
                )
            labels.add(image_id, wnid, lineno)
        return labels.finish(
            f"{rel(val_dir, root)}/", "restore the missing lines or remove those images"
        )

    def write_example(
        self, root: Path, spec: ExampleSpec, *, nested: bool = True
    ) -> WrittenExample:
        """The solution CSV + synset mapping in the root; images under Kaggle's nesting.

        ``nested=False`` puts train/ and val/ directly in the root. The CSV lists
        the val images in a shuffled order, each with two boxes, like Kaggle's.
        """
        base = f"{KAGGLE_NESTING}/" if nested else ""
        write_train_images(spec, root / base / "train")
        val_name = spec.val_name or ilsvrc_val_name
        truth: dict[str, str] = {}
        w, h = spec.image_size
        rows: list[tuple[str, str]] = []
        for j, wnid in enumerate(draw_val_order(spec)):
            name = val_name(j)
            write_picture(root / base / "val" / name, spec.picture("val", wnid, j))
            truth[f"{base}val/{name}"] = wnid
            rows.append((Path(name).stem, f"{wnid} 1 2 {w - 2} {h - 2} {wnid} 3 3 9 9"))
        buf = io.StringIO(newline="")
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["ImageId", "PredictionString"])
        out.writerows(rows[i] for i in spec.rng.permutation(len(rows)))  # not in file order
        write_text(root / KAGGLE_SOLUTION, buf.getvalue(), spec.encoding)
        ordered = tuple(sorted(spec.classes))
        names = {c: spec.names.get(c, c) for c in ordered}
        mapping = "".join(f"{c} {names[c]}\n" for c in ordered)
        write_text(root / KAGGLE_SYNSETS, mapping, spec.encoding)
        return WrittenExample(root, self.name, ordered, names, truth, spec.train_per_class)


LAYOUT = KaggleLayout()
