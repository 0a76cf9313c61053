"""Tiny dataset trees in each supported layout, with their truth, for tests of the layout readers.

Each ``write_*_tree(root, n_classes, ...)`` writes a few real 16x16 random
JPEGs per class and the layout's own label files, and returns a
:class:`SyntheticTree` that says what a correct reader must find: the layout
name, the sorted classes, their names and the class of every val image.
Unlike ``harness.data.synthetic`` (pictures that methods can learn), these
trees are for checking layouts: the class counts are the caller's (7, 12, ...),
label files can be written in any encoding (``encoding="utf-8-sig"`` is
Excel's "CSV UTF-8", ``"utf-16"`` Notepad's "Unicode", ``"cp1252"`` "ANSI"),
and class names carry non-ASCII letters so that a wrong decoding shows.

The wnids are well-formed but fake (``n9`` + 7 digits, drawn at random so
that creation order is not sorted order). The devkit tree numbers its classes
with ILSVRC2012_IDs that are a derangement of the sorted-wnid order: no class
has the ID that a sorted-order assumption would give it, so such a bug
mislabels every val image instead of some.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "IMAGE_SIDE",
    "WRITERS",
    "SyntheticTree",
    "write_devkit_tree",
    "write_imagefolder_tree",
    "write_imagenette_tree",
    "write_kaggle_tree",
    "write_tiny_imagenet_tree",
    "write_val_sorted_tree",
]

IMAGE_SIDE = 16  # px: enough for a real JPEG, small enough for hundreds per test
PARENT_WNID = "n00000001"  # a non-leaf synset in the label files; never a class (fakes are n9...)


@dataclass(frozen=True)
class SyntheticTree:
    """What was written, i.e. what a correct reader of ``root`` must report."""

    root: Path
    layout: str  # the name detect_layout must return
    wnids: tuple[str, ...]  # every class, sorted: label i <-> wnids[i]
    class_names: Mapping[str, str]  # wnid -> the name the layout's files give it
    val_truth: Mapping[str, str]  # root-relative posix path of each val image -> its wnid
    train_per_class: int
    ilsvrc_ids: Mapping[str, int] = field(default_factory=dict)  # devkit only: wnid -> ID

    @property
    def n_classes(self) -> int:
        return len(self.wnids)


# --------------------------------------------------------------------------- pieces


def _fake_wnids(n_classes: int, rng: np.random.Generator) -> list[str]:
    """``n_classes`` distinct fake wnids in a random (unsorted) order."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    numbers = rng.choice(10_000_000, size=n_classes, replace=False)
    return [f"n9{int(x):07d}" for x in numbers]


def _names(keys: list[str]) -> dict[str, str]:
    # non-ASCII on purpose: a label file decoded with the wrong codec garbles these
    return {k: f"synthetic class {i} (crème brûlée)" for i, k in enumerate(keys)}


def _jpeg(path: Path, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, size=(IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=85)


def _write_text(path: Path, text: str, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def _val_order(classes: list[str], val_per_class: int, rng: np.random.Generator) -> list[str]:
    """The class of each val image, interleaved as in ILSVRC's numbered val files."""
    labels = [c for c in classes for _ in range(val_per_class)]
    return [labels[i] for i in rng.permutation(len(labels))]


def _ilsvrc_val_name(j: int) -> str:
    return f"ILSVRC2012_val_{j + 1:08d}.JPEG"


def _write_train(
    train_dir: Path, classes: list[str], per_class: int, rng: np.random.Generator, *, sub: str = ""
) -> None:
    for c in classes:
        folder = train_dir / c / sub if sub else train_dir / c
        for k in range(per_class):
            _jpeg(folder / f"{c}_{k}.JPEG", rng)


def _class_folder_tree(
    root: Path,
    classes: list[str],
    train_per_class: int,
    val_per_class: int,
    rng: np.random.Generator,
    val_name: Callable[[int], str] = _ilsvrc_val_name,
) -> dict[str, str]:
    """train/<c>/ and val/<c>/ images; returns the val truth."""
    _write_train(root / "train", classes, train_per_class, rng)
    truth: dict[str, str] = {}
    for j, c in enumerate(_val_order(classes, val_per_class, rng)):
        path = f"val/{c}/{val_name(j)}"
        _jpeg(root / path, rng)
        truth[path] = c
    return truth


# --------------------------------------------------------------------------- layouts


def write_devkit_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
    encoding: str = "utf-8",
    devkit_dir: str = "ILSVRC2012_devkit_t12/data",
) -> SyntheticTree:
    """ILSVRC-2012 as distributed: train/<wnid>/, a flat val/, and the devkit's meta.mat + ground truth.

    ``meta.mat`` is written with ``scipy.io.savemat`` in the devkit's struct
    layout (``synsets`` with ILSVRC2012_ID, WNID, words, gloss, num_children,
    ...): the leaves get IDs 1..n in a derangement of the sorted-wnid order,
    followed by one parent synset (num_children > 0) that readers must skip.
    """
    from scipy.io import savemat  # heavy import, only for this layout

    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = _fake_wnids(n_classes, rng)
    ordered = sorted(wnids)
    while True:  # a derangement: no class keeps its sorted position as its ID
        perm = rng.permutation(n_classes)
        if not (perm == np.arange(n_classes)).any():
            break
    ids = {w: int(perm[i]) + 1 for i, w in enumerate(ordered)}
    names = _names(ordered)

    _write_train(root / "train", wnids, train_per_class, rng)
    truth: dict[str, str] = {}
    gt_lines: list[str] = []
    for j, w in enumerate(_val_order(wnids, val_per_class, rng)):
        path = f"val/{_ilsvrc_val_name(j)}"
        _jpeg(root / path, rng)
        truth[path] = w
        gt_lines.append(f"{ids[w]}\n")

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children"]
    synsets = np.zeros((n_classes + 1,), dtype=[(f, object) for f in fields])
    for w in ordered:
        synsets[ids[w] - 1] = (ids[w], w, names[w], f"gloss of {w}", 0, np.zeros((0,), np.uint8))
    children = np.arange(1, n_classes + 1, dtype=np.uint16)
    synsets[n_classes] = (
        n_classes + 1,
        PARENT_WNID,
        "synthetic entity",
        "all",
        n_classes,
        children,
    )
    data = root / devkit_dir
    data.mkdir(parents=True, exist_ok=True)
    savemat(data / "meta.mat", {"synsets": synsets.reshape(-1, 1)})
    _write_text(data / "ILSVRC2012_validation_ground_truth.txt", "".join(gt_lines), encoding)
    return SyntheticTree(
        root, "ilsvrc-devkit", tuple(ordered), names, truth, train_per_class, ilsvrc_ids=ids
    )


def write_kaggle_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
    encoding: str = "utf-8",
    nested: bool = True,
) -> SyntheticTree:
    """The Kaggle copy: LOC_val_solution.csv + LOC_synset_mapping.txt, images in ILSVRC/Data/CLS-LOC/.

    ``nested=False`` puts train/ and val/ directly in the root. The CSV lists
    the val images in a shuffled order, each with two boxes, like Kaggle's.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = _fake_wnids(n_classes, rng)
    names = _names(sorted(wnids))
    base = "ILSVRC/Data/CLS-LOC/" if nested else ""
    _write_train(root / base / "train", wnids, train_per_class, rng)
    truth: dict[str, str] = {}
    rows: list[tuple[str, str]] = []
    for j, w in enumerate(_val_order(wnids, val_per_class, rng)):
        name = _ilsvrc_val_name(j)
        _jpeg(root / base / "val" / name, rng)
        truth[f"{base}val/{name}"] = w
        rows.append((name[: -len(".JPEG")], f"{w} 1 2 14 15 {w} 3 3 9 9"))
    buf = io.StringIO(newline="")
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["ImageId", "PredictionString"])
    out.writerows(rows[i] for i in rng.permutation(len(rows)))
    _write_text(root / "LOC_val_solution.csv", buf.getvalue(), encoding)
    _write_text(
        root / "LOC_synset_mapping.txt",
        "".join(f"{w} {names[w]}\n" for w in sorted(wnids)),
        encoding,
    )
    return SyntheticTree(root, "ilsvrc-kaggle", tuple(sorted(wnids)), names, truth, train_per_class)


def write_val_sorted_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
    encoding: str = "utf-8",
    names_file: bool = True,
) -> SyntheticTree:
    """ILSVRC-2012 with val sorted into val/<wnid>/ (``valprep.sh``); a LOC_synset_mapping.txt if ``names_file``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = _fake_wnids(n_classes, rng)
    truth = _class_folder_tree(root, wnids, train_per_class, val_per_class, rng)
    ordered = sorted(wnids)
    names = _names(ordered) if names_file else {w: w for w in ordered}
    if names_file:
        _write_text(
            root / "LOC_synset_mapping.txt",
            "".join(f"{w} {names[w]}\n" for w in ordered),
            encoding,
        )
    return SyntheticTree(root, "ilsvrc-val-sorted", tuple(ordered), names, truth, train_per_class)


def write_imagenette_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
    marker: str = "noisy_imagenette.csv",
) -> SyntheticTree:
    """fast.ai's Imagenette/Imagewoof: train/<wnid>/, val/<wnid>/ and the ``marker`` CSV in the root.

    The CSV has the columns of the real one (path, noisy_labels_{0,1,5,25,50},
    is_valid), all labels clean.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = _fake_wnids(n_classes, rng)
    truth = _class_folder_tree(root, wnids, train_per_class, val_per_class, rng)
    lines = [
        "path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid"
    ]
    for w in sorted(wnids):
        lines += [
            f"train/{w}/{w}_{k}.JPEG" + f",{w}" * 5 + ",False" for k in range(train_per_class)
        ]
    lines += [f"{p}" + f",{w}" * 5 + ",True" for p, w in sorted(truth.items())]
    _write_text(root / marker, "\n".join(lines) + "\n", "utf-8")
    ordered = tuple(sorted(wnids))
    return SyntheticTree(
        root, "imagenette", ordered, {w: w for w in ordered}, truth, train_per_class
    )


def write_imagefolder_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
) -> SyntheticTree:
    """A torchvision ImageFolder tree whose class folders are words, not wnids.

    The folders are created in reverse alphabetical order, so a reader that
    labels classes in creation (or directory) order instead of sorted order
    gets every label wrong.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = [f"class-{chr(ord('a') + c % 26)}{c:02d}" for c in range(n_classes)][::-1]
    truth = _class_folder_tree(
        root, classes, train_per_class, val_per_class, rng, val_name=lambda j: f"val_{j:04d}.jpg"
    )
    ordered = tuple(sorted(classes))
    return SyntheticTree(
        root, "imagefolder", ordered, {c: c for c in ordered}, truth, train_per_class
    )


def write_tiny_imagenet_tree(
    root: str | Path,
    n_classes: int,
    *,
    train_per_class: int = 2,
    val_per_class: int = 2,
    seed: int = 0,
    encoding: str = "utf-8",
) -> SyntheticTree:
    """Tiny ImageNet: wnids.txt, words.txt, train/<wnid>/images/, val/images/ + val_annotations.txt."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = _fake_wnids(n_classes, rng)
    names = _names(sorted(wnids))
    _write_train(root / "train", wnids, train_per_class, rng, sub="images")
    for w in wnids:  # Tiny ImageNet's per-class box files, which readers must ignore
        _write_text(root / "train" / w / f"{w}_boxes.txt", f"{w}_0.JPEG\t0\t0\t15\t15\n", "utf-8")
    truth: dict[str, str] = {}
    ann: list[str] = []
    for j, w in enumerate(_val_order(wnids, val_per_class, rng)):
        name = f"val_{j}.JPEG"
        _jpeg(root / "val" / "images" / name, rng)
        truth[f"val/images/{name}"] = w
        ann.append(f"{name}\t{w}\t0\t0\t15\t15\n")
    _write_text(root / "wnids.txt", "".join(f"{w}\n" for w in wnids), encoding)
    words = f"{PARENT_WNID}\tsynthetic entity\n" + "".join(
        f"{w}\t{names[w]}\n" for w in sorted(wnids)
    )
    _write_text(root / "words.txt", words, encoding)
    _write_text(root / "val" / "val_annotations.txt", "".join(ann), encoding)
    return SyntheticTree(root, "tiny-imagenet", tuple(sorted(wnids)), names, truth, train_per_class)


#: layout name -> its writer (each takes ``root, n_classes`` and keyword options).
WRITERS: dict[str, Callable[..., SyntheticTree]] = {
    "ilsvrc-devkit": write_devkit_tree,
    "ilsvrc-kaggle": write_kaggle_tree,
    "ilsvrc-val-sorted": write_val_sorted_tree,
    "tiny-imagenet": write_tiny_imagenet_tree,
    "imagenette": write_imagenette_tree,
    "imagefolder": write_imagefolder_tree,
}
