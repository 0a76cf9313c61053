"""ILSVRC-2012 as distributed: ``train/<wnid>/``, a flat ``val/``, and the devkit's label files.

The val images are labelled by ``ILSVRC2012_validation_ground_truth.txt``
(one ILSVRC2012_ID per line, in val file-name order) and ``meta.mat``
(ILSVRC2012_ID -> wnid). Both are looked for in the root,
``ILSVRC2012_devkit_t12/data`` and ``devkit/data``.

The devkit numbers its 1000 leaf synsets 1..1000 in an order that is *not*
the sorted-wnid order (ID 1 is n02119789, kit fox; sorted index 0 is
n01440764, tench). The IDs are converted to wnids here and never leave this
module, so that no caller can mistake an ID for a sorted-wnid label.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from harness.data.errors import LayoutError
from harness.data.layouts.base import DatasetIndex, Layout, LayoutDefaults, build_index
from harness.data.layouts.examples import (
    PARENT_WNID,
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
    folder_shape,
    read_class_folders,
    rel,
    require_dirs,
)
from harness.data.textfiles import label_lines, read_label_bytes, read_label_text

__all__ = ["DEVKIT_DIRS", "DEVKIT_GROUND_TRUTH", "DEVKIT_META", "DevkitLayout", "read_devkit_meta"]

DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"
DEVKIT_DIRS = (".", "ILSVRC2012_devkit_t12/data", "devkit/data")
_KAGGLE_NESTING = ("ILSVRC", "Data", "CLS-LOC")  # to recognise Kaggle's images pointed at directly


def find_devkit_file(root: Path, name: str) -> Path | None:
    """``name`` in the first of :data:`DEVKIT_DIRS` that has it."""
    for d in DEVKIT_DIRS:
        p = root / d / name
        if p.is_file():
            return p
    return None


def read_devkit_meta(path: Path) -> tuple[dict[int, str], dict[str, str]]:
    """``meta.mat`` -> ({ILSVRC2012_ID: wnid}, {wnid: words}) for the leaf synsets."""
    import scipy.io  # heavy import, only for this layout

    data = read_label_bytes(path, "the devkit's class list")
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True)
        synsets = mat["synsets"]
        ids = [int(x) for x in synsets["ILSVRC2012_ID"].ravel()]
        wnids = [str(x).strip() for x in synsets["WNID"].ravel()]
        words = [str(x).strip() for x in synsets["words"].ravel()]
        if "num_children" in (synsets.dtype.names or ()):
            leaf = [int(x) == 0 for x in synsets["num_children"].ravel()]
        else:
            leaf = [True] * len(ids)
    except (
        Exception
    ) as exc:  # a corrupt .mat fails inside scipy in many ways (MatReadError, zlib, ...)
        raise LayoutError(
            f"{path}: not a devkit meta.mat (expected a 'synsets' struct array with "
            f"ILSVRC2012_ID, WNID and words fields): {exc}; replace it with the meta.mat of "
            f"ILSVRC2012_devkit_t12.tar.gz"
        ) from exc
    id_to_wnid = {i: w for i, w, is_leaf in zip(ids, wnids, leaf, strict=True) if is_leaf}
    names = {w: n for w, n, is_leaf in zip(wnids, words, leaf, strict=True) if is_leaf}
    return id_to_wnid, names


class DevkitLayout(Layout):
    """``ilsvrc-devkit``: the official ILSVRC-2012 train/val tars plus the devkit."""

    name = "ilsvrc-devkit"
    priority = 30
    requirements = (
        f"train/<wnid>/*.JPEG, a flat val/ folder, and {DEVKIT_GROUND_TRUTH} + {DEVKIT_META} "
        f"in the root, ILSVRC2012_devkit_t12/data/ or devkit/data/"
    )
    defaults = LayoutDefaults(size=256, label="ILSVRC-2012", suite="ilsvrc2012-100")

    def detect(self, root: Path) -> bool:
        # a flat val/ (loose images, no class folders) is the devkit's shape; so is an empty
        # val/ next to the devkit's own files, which the reader then reports as empty
        if not (root / "train").is_dir() or not (root / "val").is_dir():
            return False
        class_folders, loose_images = folder_shape(root / "val")
        if class_folders:
            return False
        return loose_images > 0 or any(
            find_devkit_file(root, n) for n in (DEVKIT_GROUND_TRUTH, DEVKIT_META)
        )

    def read(self, root: Path) -> DatasetIndex:
        notes: list[str] = []
        require_dirs(root, self, [root / "train", root / "val"])
        train = read_class_folders(root / "train", root, notes)
        if not train:
            raise LayoutError(
                f"{root / 'train'}/ has no class folders: the {self.name} layout needs "
                f"{self.requirements}; extract ILSVRC2012_img_train.tar and its per-class tars there",
                layout=self.name,
            )
        val, names = self._read_val(root, root / "val", set(train))
        return build_index(root, self.name, train, val, names, notes)

    def _read_val(
        self, root: Path, val_dir: Path, known: set[str]
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        gt_path = find_devkit_file(root, DEVKIT_GROUND_TRUTH)
        meta_path = find_devkit_file(root, DEVKIT_META)
        if gt_path is None or meta_path is None:
            missing = [
                n
                for n, p in ((DEVKIT_GROUND_TRUTH, gt_path), (DEVKIT_META, meta_path))
                if p is None
            ]
            looked = ", ".join(f"{(root / d).as_posix().rstrip('/.')}/" for d in DEVKIT_DIRS)
            raise LayoutError(
                f"missing val ground truth: {rel(val_dir, root)}/ is a flat folder of images, "
                f"which the {self.name} layout labels with the devkit's {DEVKIT_GROUND_TRUTH} + "
                f"{DEVKIT_META} (missing: {', '.join(missing)}; looked in {looked}); extract "
                f"ILSVRC2012_devkit_t12.tar.gz into {root}{_kaggle_hint(root)}",
                layout=self.name,
            )
        id_to_wnid, names = read_devkit_meta(meta_path)
        images = flat_images(val_dir)
        if not images:
            raise LayoutError(
                f"{val_dir}/ has no images: the {self.name} layout needs the 50,000 val images "
                f"directly in val/; extract ILSVRC2012_img_val.tar there",
                layout=self.name,
            )
        text = read_label_text(gt_path, "the devkit's val ground truth")
        rows = list(label_lines(text))
        if len(rows) != len(images):
            raise LayoutError(
                f"ground truth {gt_path} has {len(rows)} rows but {rel(val_dir, root)}/ has "
                f"{len(images)} images; the devkit labels val images one line each, in file-name "
                f"order: restore the missing images (or lines) so that both match",
                layout=self.name,
            )
        ids = sorted(id_to_wnid)
        val: dict[str, list[str]] = {}
        for (lineno, line), image in zip(rows, images, strict=True):
            try:
                ilsvrc_id = int(line)
            except ValueError:
                raise LayoutError(
                    f"{gt_path} line {lineno}: {line!r} is not an ILSVRC2012_ID (an integer); "
                    f"fix that line (the file holds one ID per line, in val file-name order)",
                    layout=self.name,
                ) from None
            if ilsvrc_id not in id_to_wnid:
                raise LayoutError(
                    f"{gt_path} line {lineno}: ILSVRC2012_ID {ilsvrc_id} is not a leaf synset in "
                    f"{meta_path} (IDs {ids[0] if ids else 0}..{ids[-1] if ids else 0}); use the "
                    f"ground truth and meta.mat of the same devkit",
                    layout=self.name,
                )
            wnid = id_to_wnid[ilsvrc_id]
            if wnid not in known:
                raise LayoutError(
                    f"unknown wnid {wnid}: {gt_path} line {lineno} labels {image.name} with "
                    f"ILSVRC2012_ID {ilsvrc_id} = {wnid}, which has no class folder in train/ of "
                    f"{root}; extract that class's train tar into train/{wnid}/",
                    layout=self.name,
                )
            val.setdefault(wnid, []).append(rel(image, root))
        return val, names

    def write_example(
        self, root: Path, spec: ExampleSpec, *, devkit_dir: str = DEVKIT_DIRS[1]
    ) -> WrittenExample:
        """train/<wnid>/, a flat val/, and ``meta.mat`` + the ground truth in ``devkit_dir``.

        ``meta.mat`` is written with ``scipy.io.savemat`` in the devkit's struct
        layout: the leaves get IDs 1..n in a derangement of the sorted-wnid
        order (no class has the ID a sorted-order assumption would give it, so
        such a bug mislabels every val image), then one parent synset
        (num_children > 0) that the reader must skip.
        """
        from scipy.io import savemat  # heavy import, only for this layout

        write_train_images(spec, root / "train")
        val_name = spec.val_name or ilsvrc_val_name
        truth: dict[str, str] = {}
        for j, wnid in enumerate(draw_val_order(spec)):
            path = f"val/{val_name(j)}"
            write_picture(root / path, spec.picture("val", wnid, j))
            truth[path] = wnid
        ordered = sorted(spec.classes)
        n = len(ordered)
        while True:  # a derangement (for two classes or more)
            perm = spec.rng.permutation(n)
            if n < 2 or not (perm == np.arange(n)).any():
                break
        ids = {w: int(perm[i]) + 1 for i, w in enumerate(ordered)}
        names = {w: spec.names.get(w, w) for w in ordered}
        fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
                  "wordnet_height", "num_train_images"]  # fmt: skip
        synsets = np.zeros((n + 1,), dtype=[(f, object) for f in fields])
        for w in ordered:
            leaf = (ids[w], w, names[w], f"gloss of {names[w]}", 0, np.zeros((0,), np.uint8), 0, 0)
            synsets[ids[w] - 1] = leaf
        children = np.arange(1, n + 1, dtype=np.uint16)
        synsets[n] = (n + 1, PARENT_WNID, "example entity", "every class", n, children, 1, 0)
        data = root / devkit_dir
        data.mkdir(parents=True, exist_ok=True)
        savemat(data / DEVKIT_META, {"synsets": synsets.reshape(-1, 1)})
        gt = "".join(f"{ids[truth[p]]}\n" for p in truth)  # val file-name order
        write_text(data / DEVKIT_GROUND_TRUTH, gt, spec.encoding)
        return WrittenExample(
            root, self.name, tuple(ordered), names, truth, spec.train_per_class, ilsvrc_ids=ids
        )


def _kaggle_hint(root: Path) -> str:
    """Kaggle's images pointed at directly (``.../ILSVRC/Data/CLS-LOC``) look like the devkit's."""
    if root.parts[-3:] == _KAGGLE_NESTING and len(root.parts) > 3:
        kaggle_root = root.parents[2]
        if (kaggle_root / "LOC_val_solution.csv").is_file():
            return f"; or, for the Kaggle copy this seems to be, pass --data {kaggle_root}"
    return ""


LAYOUT = DevkitLayout()
