"""Find and read the ImageNet copy a user already has, whatever its layout.

Supported layouts (auto-detected by :func:`detect_layout`):

``ilsvrc-devkit``
    ILSVRC-2012 as distributed: ``train/<wnid>/*.JPEG`` and a flat ``val/``
    folder labelled by the devkit's ``ILSVRC2012_validation_ground_truth.txt``
    (one ILSVRC2012_ID per line, in val file-name order) and ``meta.mat``
    (ILSVRC2012_ID -> wnid). Both are looked for in the root,
    ``ILSVRC2012_devkit_t12/data`` and ``devkit/data``.
``ilsvrc-kaggle``
    The Kaggle ImageNet Object Localization copy: ``LOC_val_solution.csv``
    (``ImageId,PredictionString``; the first token is the wnid) and
    ``LOC_synset_mapping.txt``, images either in ``train/``, ``val/`` or in
    Kaggle's own ``ILSVRC/Data/CLS-LOC/{train,val}`` nesting.
``tiny-imagenet``
    ``wnids.txt``, ``words.txt``, ``train/<wnid>/images/*.JPEG``,
    ``val/images/*.JPEG`` labelled by ``val/val_annotations.txt``.
``imagefolder``
    Any ``train/<wnid>/``, ``val/<wnid>/`` tree: Imagenette, Imagewoof, an
    ILSVRC-2012 copy whose val images were sorted into class folders.

Conventions. Class indices follow sorted wnid order (torchvision/timm); the
devkit's ILSVRC2012_IDs are converted to wnids here, at the edge, and never
leave this module. Human-readable names come from the layout's own files
(``words.txt``, ``LOC_synset_mapping.txt``, ``meta.mat``), else the wnid.

Non-image files in class folders (anything whose extension is not an image
extension, and hidden files such as macOS ``._x.JPEG`` forks) are *ignored*
and listed in :attr:`DatasetIndex.notes`: real copies carry ``*_boxes.txt``,
``.DS_Store`` and the like, and refusing them would make every such copy
unusable. A file with an image extension is never ignored: if it is not an
image, decoding reports it by path (see ``harness.data.decode``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.errors import LayoutError

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "DatasetIndex",
    "detect_layout",
    "read_layout",
]

IMAGE_EXTENSIONS = frozenset(
    {".jpeg", ".jpg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"
DEVKIT_DIRS = (".", "ILSVRC2012_devkit_t12/data", "devkit/data")
KAGGLE_SOLUTION = "LOC_val_solution.csv"
KAGGLE_SYNSETS = "LOC_synset_mapping.txt"
KAGGLE_NESTING = "ILSVRC/Data/CLS-LOC"

#: What each layout needs, for error messages.
LAYOUTS: dict[str, str] = {
    "ilsvrc-devkit": (
        f"train/<wnid>/*.JPEG, a flat val/ folder, and {DEVKIT_GROUND_TRUTH} + {DEVKIT_META} "
        f"in the root, ILSVRC2012_devkit_t12/data/ or devkit/data/"
    ),
    "ilsvrc-kaggle": (
        f"{KAGGLE_SOLUTION}, {KAGGLE_SYNSETS}, and train/<wnid>/ + a flat val/ "
        f"(directly or under {KAGGLE_NESTING}/)"
    ),
    "tiny-imagenet": "wnids.txt, words.txt, train/<wnid>/images/, val/images/ and val/val_annotations.txt",
    "imagefolder": "train/<wnid>/ and val/<wnid>/ class folders",
}


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


# --------------------------------------------------------------------------- scanning


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _scan_images(folder: Path, root: Path, notes: list[str]) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted root-relative posix paths."""
    found: list[str] = []
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in filenames:
            rel = Path(dirpath, name).relative_to(root).as_posix()
            (found if _is_image_name(name) else ignored).append(rel)
    if ignored:
        shown = ", ".join(sorted(ignored)[:3]) + (", ..." if len(ignored) > 3 else "")
        notes.append(f"ignored {len(ignored)} non-image file(s) in {_rel(folder, root)}/: {shown}")
    return sorted(found)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _flat_images(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_file() and _is_image_name(p.name))


def _read_class_folders(
    split_dir: Path, root: Path, notes: list[str], *, sub: str = ""
) -> dict[str, list[str]]:
    """``<split_dir>/<wnid>/[sub/]*`` -> {wnid: [paths]}; an empty class folder is an error."""
    out: dict[str, list[str]] = {}
    for class_dir in _class_dirs(split_dir):
        folder = class_dir / sub if sub else class_dir
        if not folder.is_dir():
            raise LayoutError(
                f"class folder {_rel(class_dir, root)}/ has no {sub}/ subfolder "
                f"(expected {_rel(folder, root)}/*.JPEG) in {root}"
            )
        images = _scan_images(folder, root, notes)
        if not images:
            raise LayoutError(
                f"empty class folder: {_rel(folder, root)}/ contains no images "
                f"(expected image files such as *.JPEG) in {root}"
            )
        out[class_dir.name] = images
    return out


# --------------------------------------------------------------------------- label files


def _read_words(path: Path) -> dict[str, str]:
    """``wnid<TAB>names`` (Tiny ImageNet words.txt) or ``wnid names`` (LOC_synset_mapping.txt)."""
    names: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            wnid, _, words = line.replace("\t", " ", 1).partition(" ")
            names[wnid] = words.strip() or wnid
    return names


def _find_devkit_file(root: Path, name: str) -> Path | None:
    for d in DEVKIT_DIRS:
        p = root / d / name
        if p.is_file():
            return p
    return None


def read_devkit_meta(path: Path) -> tuple[dict[int, str], dict[str, str]]:
    """``meta.mat`` -> ({ILSVRC2012_ID: wnid}, {wnid: words}) for the leaf synsets."""
    import scipy.io  # heavy import, only for this layout

    try:
        mat = scipy.io.loadmat(path, squeeze_me=True)
        synsets = mat["synsets"]
        ids = [int(x) for x in synsets["ILSVRC2012_ID"].ravel()]
        wnids = [str(x) for x in synsets["WNID"].ravel()]
        words = [str(x) for x in synsets["words"].ravel()]
        if "num_children" in (synsets.dtype.names or ()):
            leaf = [int(x) == 0 for x in synsets["num_children"].ravel()]
        else:
            leaf = [True] * len(ids)
    except (KeyError, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise LayoutError(
            f"{path}: not a devkit meta.mat (expected a 'synsets' struct array with "
            f"ILSVRC2012_ID, WNID and words fields): {exc}"
        ) from exc
    id_to_wnid = {i: w for i, w, is_leaf in zip(ids, wnids, leaf, strict=True) if is_leaf}
    names = {w: n for w, n, is_leaf in zip(wnids, words, leaf, strict=True) if is_leaf}
    return id_to_wnid, names


def _val_from_devkit(root: Path, val_dir: Path, train_wnids: Iterable[str]) -> tuple[dict, dict]:
    gt_path = _find_devkit_file(root, DEVKIT_GROUND_TRUTH)
    meta_path = _find_devkit_file(root, DEVKIT_META)
    looked = ", ".join(f"{(root / d).as_posix().rstrip('/.')}/" for d in DEVKIT_DIRS)
    if gt_path is None or meta_path is None:
        missing = [
            n for n, p in ((DEVKIT_GROUND_TRUTH, gt_path), (DEVKIT_META, meta_path)) if p is None
        ]
        raise LayoutError(
            f"missing val ground truth: {_rel(val_dir, root)}/ is a flat folder of images, which "
            f"needs the devkit's {DEVKIT_GROUND_TRUTH} + {DEVKIT_META} (missing: "
            f"{', '.join(missing)}; looked in {looked}) or Kaggle's {KAGGLE_SOLUTION} + "
            f"{KAGGLE_SYNSETS} in {root}"
        )
    id_to_wnid, names = read_devkit_meta(meta_path)
    images = _flat_images(val_dir)
    with open(gt_path, encoding="utf-8") as f:
        rows = [(n, line.strip()) for n, line in enumerate(f, 1) if line.strip()]
    if len(rows) != len(images):
        raise LayoutError(
            f"ground truth {gt_path} has {len(rows)} rows but {_rel(val_dir, root)}/ has "
            f"{len(images)} images; the devkit labels val images one line each, in file-name order"
        )
    known = set(train_wnids)
    val: dict[str, list[str]] = {}
    for (lineno, text), image in zip(rows, images, strict=True):
        try:
            ilsvrc_id = int(text)
        except ValueError:
            raise LayoutError(
                f"{gt_path} line {lineno}: {text!r} is not an ILSVRC2012_ID (an integer)"
            ) from None
        if ilsvrc_id not in id_to_wnid:
            raise LayoutError(
                f"{gt_path} line {lineno}: ILSVRC2012_ID {ilsvrc_id} is not a leaf synset in "
                f"{meta_path} (IDs {min(id_to_wnid, default=0)}..{max(id_to_wnid, default=0)})"
            )
        wnid = id_to_wnid[ilsvrc_id]
        if wnid not in known:
            raise LayoutError(
                f"unknown wnid {wnid}: {gt_path} line {lineno} labels {image.name} with "
                f"ILSVRC2012_ID {ilsvrc_id} = {wnid}, which has no class folder in train/ of {root}"
            )
        val.setdefault(wnid, []).append(image.relative_to(root).as_posix())
    return val, names


def _val_from_kaggle(root: Path, val_dir: Path, train_wnids: Iterable[str]) -> dict:
    csv_path = root / KAGGLE_SOLUTION
    images = {p.stem: p for p in _flat_images(val_dir)}
    known = set(train_wnids)
    val: dict[str, list[str]] = {}
    seen: set[str] = set()
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise LayoutError(
                f"{csv_path}: expected the header 'ImageId,PredictionString', got {header}"
            )
        for lineno, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) < 2 or not row[1].split():
                raise LayoutError(
                    f"{csv_path} line {lineno}: expected 'ImageId,<wnid> ...', got {row}"
                )
            image_id, wnid = row[0].strip(), row[1].split()[0]
            if image_id not in images:
                raise LayoutError(
                    f"{csv_path} line {lineno}: image {image_id} is not in {_rel(val_dir, root)}/"
                )
            if wnid not in known:
                raise LayoutError(
                    f"unknown wnid {wnid}: {csv_path} line {lineno} labels {image_id} with a class "
                    f"that has no folder in {_rel(val_dir.parent / 'train', root)}/"
                )
            seen.add(image_id)
            val.setdefault(wnid, []).append(images[image_id].relative_to(root).as_posix())
    unlabelled = sorted(set(images) - seen)
    if unlabelled:
        raise LayoutError(
            f"ground truth {csv_path} has {len(seen)} rows but {_rel(val_dir, root)}/ has "
            f"{len(images)} images; unlabelled: {', '.join(unlabelled[:3])}"
            + (", ..." if len(unlabelled) > 3 else "")
        )
    return val


# --------------------------------------------------------------------------- layouts


def _read_ilsvrc(root: Path, layout: str) -> DatasetIndex:
    notes: list[str] = []
    base = root / KAGGLE_NESTING if (root / KAGGLE_NESTING).is_dir() else root
    _require_dirs(root, layout, [base / "train", base / "val"])
    train = _read_class_folders(base / "train", root, notes)
    if layout == "ilsvrc-devkit":
        val, names = _val_from_devkit(root, base / "val", train)
    else:
        synsets = root / KAGGLE_SYNSETS
        if not synsets.is_file():
            raise LayoutError(
                f"missing {KAGGLE_SYNSETS} in {root} (the ilsvrc-kaggle layout needs "
                f"{LAYOUTS['ilsvrc-kaggle']})"
            )
        names = _read_words(synsets)
        val = _val_from_kaggle(root, base / "val", train)
    return _index(root, layout, train, val, names, notes)


def _read_tiny(root: Path) -> DatasetIndex:
    layout = "tiny-imagenet"
    notes: list[str] = []
    _require_files(root, layout, ["wnids.txt", "val/val_annotations.txt"])
    _require_dirs(root, layout, [root / "train", root / "val" / "images"])
    listed = [
        w.strip() for w in (root / "wnids.txt").read_text(encoding="utf-8").split() if w.strip()
    ]
    names = _read_words(root / "words.txt") if (root / "words.txt").is_file() else {}
    train = _read_class_folders(root / "train", root, notes, sub="images")
    for wnid in train:
        if wnid not in listed:
            raise LayoutError(
                f"unknown wnid {wnid}: class folder train/{wnid}/ is not listed in {root / 'wnids.txt'}"
            )
    for wnid in listed:
        if wnid not in train:
            raise LayoutError(
                f"class {wnid} is listed in {root / 'wnids.txt'} but train/{wnid}/images/ is missing"
            )
    images = {p.name: p for p in _flat_images(root / "val" / "images")}
    ann = root / "val" / "val_annotations.txt"
    val: dict[str, list[str]] = {}
    labelled = 0
    with open(ann, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise LayoutError(
                    f"{ann} line {lineno}: expected 'file<TAB>wnid<TAB>box', got {line!r}"
                )
            name, wnid = parts[0].strip(), parts[1].strip()
            if name not in images:
                raise LayoutError(f"{ann} line {lineno}: {name} is not in val/images/")
            if wnid not in train:
                raise LayoutError(
                    f"unknown wnid {wnid}: {ann} line {lineno} labels {name} with a class that is "
                    f"not in {root / 'wnids.txt'}"
                )
            val.setdefault(wnid, []).append(images[name].relative_to(root).as_posix())
            labelled += 1
    if labelled != len(images):
        raise LayoutError(
            f"ground truth {ann} has {labelled} rows but val/images/ has {len(images)} images"
        )
    return _index(root, layout, train, val, names, notes)


def _read_imagefolder(root: Path) -> DatasetIndex:
    layout = "imagefolder"
    notes: list[str] = []
    _require_dirs(root, layout, [root / "train", root / "val"])
    train = _read_class_folders(root / "train", root, notes)
    if not train:
        raise LayoutError(
            f"no class folders in {root / 'train'} (the imagefolder layout needs {LAYOUTS[layout]})"
        )
    val = _read_class_folders(root / "val", root, notes)
    for wnid in val:
        if wnid not in train:
            raise LayoutError(
                f"unknown wnid {wnid}: val/{wnid}/ has no matching class folder in train/ of {root}"
            )
    names: dict[str, str] = {}
    for name in ("words.txt", KAGGLE_SYNSETS):
        if (root / name).is_file():
            names = _read_words(root / name)
            break
    return _index(root, layout, train, val, names, notes)


def _index(
    root: Path,
    layout: str,
    train: dict[str, list[str]],
    val: dict[str, list[str]],
    names: Mapping[str, str],
    notes: list[str],
) -> DatasetIndex:
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
            f"appear in more than one class folder ({shown})"
        )


def _require_dirs(root: Path, layout: str, dirs: list[Path]) -> None:
    missing = [_rel(d, root) + "/" for d in dirs if not d.is_dir()]
    if missing:
        raise LayoutError(
            f"{root} is not a complete {layout} layout: missing {', '.join(missing)} "
            f"(expected {LAYOUTS[layout]})"
        )


def _require_files(root: Path, layout: str, files: list[str]) -> None:
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise LayoutError(
            f"{root} is not a complete {layout} layout: missing {', '.join(missing)} "
            f"(expected {LAYOUTS[layout]})"
        )


# --------------------------------------------------------------------------- public


def detect_layout(root: str | Path) -> str:
    """The name of the layout of ``root`` (a key of :data:`LAYOUTS`), from its marker files."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"dataset root {root} does not exist or is not a folder")
    if (root / "wnids.txt").is_file():
        return "tiny-imagenet"
    if (root / KAGGLE_SOLUTION).is_file() or (root / KAGGLE_NESTING).is_dir():
        return "ilsvrc-kaggle"
    val = root / "val"
    if (root / "train").is_dir() and val.is_dir():
        if _class_dirs(val) and not _flat_images(val):
            return "imagefolder"
        return "ilsvrc-devkit"
    expected = "; ".join(f"{name}: {need}" for name, need in LAYOUTS.items())
    present = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:10])
    raise LayoutError(
        f"{root} is not a dataset layout we know: missing train/ and val/ (found: "
        f"{present or 'nothing'}). Expected one of -- {expected}"
    )


def read_layout(root: str | Path, layout: str | None = None) -> DatasetIndex:
    """Read every labelled image of ``root``; ``layout`` forces a layout instead of detecting it."""
    root = Path(root).resolve()
    layout = layout or detect_layout(root)
    if layout in ("ilsvrc-devkit", "ilsvrc-kaggle"):
        return _read_ilsvrc(root, layout)
    if layout == "tiny-imagenet":
        return _read_tiny(root)
    if layout == "imagefolder":
        return _read_imagefolder(root)
    raise LayoutError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
