"""Generated ImageNet look-alikes on disk, in every supported layout, for demos and tests.

Each class is a combination of a shape (ellipse, box, triangle, star, cross,
ring), a stripe texture (orientation and frequency) filling it and a hue; each
image draws the class's object at a random position, scale and rotation,
with a jittered hue, over a random cluttered background with a distractor
object of another class's kind and pixel noise. Shape and stripe orientation
are what a HOG/SIFT pipeline or a CNN can learn, hue what a colour statistic
sees; the jitter, clutter and overlap between classes keep it well above
chance but far from trivial. Everything is deterministic for a seed.

wnids are well-formed but fake (``n9...``, never a real WordNet id); the
devkit layout gets a real ``meta.mat`` (written with ``scipy.io.savemat`` in
the devkit's struct layout, with ILSVRC2012_IDs in a different order from the
sorted wnids) so that the real readers are exercised, not bypassed.

``quirks=True`` replaces the first training images of the first class with
the ILSVRC-2012 file quirks that must decode correctly (see :data:`QUIRKS`);
:func:`add_bad_files` adds files that must be reported (truncated JPEG,
zero-byte, text named .JPEG, a 20000x20000 bomb header, ...).
"""

from __future__ import annotations

import colorsys
import csv
import io
import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from harness.data.errors import DataError

__all__ = [
    "BAD_FILE_KINDS",
    "DEMO_VERSION",
    "QUIRKS",
    "SYNTHETIC_LAYOUTS",
    "add_bad_files",
    "make_demo_dataset",
    "make_synthetic_imagenet",
]

SYNTHETIC_LAYOUTS = (
    "ilsvrc-devkit",
    "ilsvrc-kaggle",
    "ilsvrc-sorted",
    "tiny-imagenet",
    "imagefolder",
)
SHAPES = ("ellipse", "box", "triangle", "star", "cross", "ring")
STRIPES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
HUE_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")

#: kind -> (file name tag, the RGB colour it must decode to). Solid colours so tests can check them.
QUIRKS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "cmyk": ("quirk-cmyk", (200, 40, 50)),  # Adobe-style (inverted) CMYK JPEG (ILSVRC has 22)
    "cmyk-plain": ("quirk-cmyk-plain", (40, 160, 200)),  # plain CMYK JPEG, no Adobe marker
    "gray": ("quirk-gray", (90, 90, 90)),  # grayscale JPEG
    "png": ("quirk-png", (30, 60, 220)),  # a PNG named .JPEG (like n02105855_2933.JPEG)
    "palette": ("quirk-palette", (10, 200, 30)),  # palette PNG named .JPEG
    "png16": ("quirk-png16", (156, 156, 156)),  # 16-bit grayscale PNG (40000/65535) named .JPEG
    "rgba": ("quirk-rgba", (255, 255, 255)),  # fully transparent RGBA PNG: composited on white
}

BAD_FILE_KINDS = ("truncated", "zero-byte", "text", "bomb", "unreadable", "non-image")

DEMO_VERSION = 1
DEMO_PARAMS = {
    "n_classes": 20,
    "train_per_class": 40,
    "val_per_class": 10,
    "size": 80,
    "seed": 2012,
}
_MARKER = ".harness-demo.json"


# --------------------------------------------------------------------------- drawing


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 4)[:3] - math.pi / 2]
    elif kind == "star":
        pts = [
            (
                (1.0 if i % 2 == 0 else 0.42) * math.cos(a),
                (1.0 if i % 2 == 0 else 0.42) * math.sin(a),
            )
            for i, a in enumerate(np.linspace(0, 2 * math.pi, 11)[:10] - math.pi / 2)
        ]
    elif kind == "cross":
        t = 0.33
        pts = [
            (-t, -1),
            (t, -1),
            (t, -t),
            (1, -t),
            (1, t),
            (t, t),
            (t, 1),
            (-t, 1),
            (-t, t),
            (-1, t),
            (-1, -t),
            (-t, -t),
        ]
    else:  # box
        pts = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]


def _mask(kind: str, w: int, h: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    if kind in ("ellipse", "ring"):
        ry = r * 0.75
        d.ellipse((cx - r, cy - ry, cx + r, cy + ry), fill=255)
        if kind == "ring":
            d.ellipse((cx - r * 0.55, cy - ry * 0.55, cx + r * 0.55, cy + ry * 0.55), fill=0)
        m = m.rotate(math.degrees(angle), center=(cx, cy))
    else:
        d.polygon(_polygon(kind, cx, cy, r, angle), fill=255)
    return m


def _stripes(w: int, h: int, orientation: str, period: float, phase: float) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = {
        "horizontal": y,
        "vertical": x,
        "diagonal": (x + y) / 1.414,
        "anti-diagonal": (x - y) / 1.414,
    }[orientation]
    return (0.5 + 0.5 * np.sin(2 * math.pi * t / period + phase)).astype(np.float32)


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(hue % 1.0, sat, val), np.float32) * 255


class _ClassStyle:
    def __init__(self, index: int, n_classes: int, rng: np.random.Generator) -> None:
        self.shape = SHAPES[index % len(SHAPES)]
        self.stripe = STRIPES[(index // len(SHAPES)) % len(STRIPES)]
        # Hues interleave so that neighbouring shape classes do not share a hue.
        self.hue = ((index * 0.381966) + rng.uniform(-0.03, 0.03)) % 1.0
        self.period = float(rng.uniform(3.0, 6.0))

    @property
    def name(self) -> str:
        return f"{HUE_NAMES[int(self.hue * len(HUE_NAMES)) % len(HUE_NAMES)]} {self.shape} with {self.stripe} stripes"


def _draw(
    style: _ClassStyle, other: _ClassStyle, w: int, h: int, rng: np.random.Generator
) -> Image.Image:
    s = 2  # supersample, then downsample: antialiased edges like a photo
    W, H = w * s, h * s
    # background: low-frequency coloured blobs (class independent)
    low = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.uint8)
    bg = np.asarray(Image.fromarray(low).resize((W, H), Image.Resampling.BICUBIC), np.float32)
    img = bg * rng.uniform(0.5, 0.9)
    # distractor: another class's shape, plain colour, smaller
    r2 = min(W, H) * rng.uniform(0.12, 0.22)
    m2 = (
        np.asarray(
            _mask(
                other.shape, W, H, rng.uniform(0, W), rng.uniform(0, H), r2, rng.uniform(0, math.pi)
            ),
            np.float32,
        )
        / 255
    )
    img = (
        img * (1 - m2[..., None])
        + _rgb(other.hue + rng.uniform(-0.1, 0.1), 0.6, 0.8) * m2[..., None]
    )
    # the object
    r = min(W, H) * rng.uniform(0.25, 0.42)
    cx, cy = rng.uniform(r * 0.6, W - r * 0.6), rng.uniform(r * 0.6, H - r * 0.6)
    angle = rng.uniform(-0.45, 0.45)
    mask = np.asarray(_mask(style.shape, W, H, cx, cy, r, angle), np.float32) / 255
    tex = _stripes(
        W, H, style.stripe, style.period * s * rng.uniform(0.8, 1.25), rng.uniform(0, 2 * math.pi)
    )
    hue = style.hue + rng.normal(0, 0.06)
    c1, c2 = (
        _rgb(hue, rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0)),
        _rgb(hue + 0.5, 0.3, rng.uniform(0.1, 0.5)),
    )
    obj = c1 * tex[..., None] + c2 * (1 - tex[..., None])
    img = img * (1 - mask[..., None]) + obj * mask[..., None]
    img += rng.normal(0, 12, size=img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.6)
    )
    return out.resize((w, h), Image.Resampling.BILINEAR)


# --------------------------------------------------------------------------- quirks and bad files


def _write_quirk(path: Path, kind: str, w: int, h: int) -> None:
    rgb = QUIRKS[kind][1]
    if kind == "cmyk":
        Image.new("RGB", (w, h), rgb).convert("CMYK").save(path, "JPEG", quality=95)
    elif kind == "cmyk-plain":
        # Pillow writes CMYK inverted with an Adobe marker: write inverted samples (so the file
        # holds plain ones) and drop the marker.
        cmyk = np.asarray(Image.new("RGB", (w, h), rgb).convert("CMYK"))
        buf = io.BytesIO()
        Image.fromarray(255 - cmyk, "CMYK").save(buf, "JPEG", quality=95)
        path.write_bytes(_strip_adobe_marker(buf.getvalue()))
    elif kind == "gray":
        Image.new("L", (w, h), rgb[0]).save(path, "JPEG", quality=95)
    elif kind == "png":
        Image.new("RGB", (w, h), rgb).save(path, "PNG")
    elif kind == "palette":
        Image.new("RGB", (w, h), rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
            path, "PNG"
        )
    elif kind == "png16":
        Image.fromarray(np.full((h, w), 40000, np.uint16)).save(path, "PNG")
    elif kind == "rgba":
        Image.new("RGBA", (w, h), (0, 0, 0, 0)).save(path, "PNG")
    else:  # pragma: no cover
        raise ValueError(kind)


def _strip_adobe_marker(jpeg: bytes) -> bytes:
    """Remove the APP14 ("Adobe") segment of a baseline JPEG."""
    at = jpeg.find(b"\xff\xee")
    if at < 0:
        return jpeg
    length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
    return jpeg[:at] + jpeg[at + 2 + length :]


def _tiny_jpeg(w: int = 16, h: int = 16) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _bomb_jpeg(side: int = 20000) -> bytes:
    """A small valid JPEG whose SOF header claims ``side`` x ``side`` pixels."""
    data = bytearray(_tiny_jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = side.to_bytes(2, "big") + side.to_bytes(2, "big")
    return bytes(data)


def _first_class_folder(root: Path, split: str = "train") -> tuple[str, Path]:
    for base in (root / "ILSVRC" / "Data" / "CLS-LOC", root):
        split_dir = base / split
        if split_dir.is_dir():
            wnid_dir = sorted(p for p in split_dir.iterdir() if p.is_dir())[0]
            folder = wnid_dir / "images" if (wnid_dir / "images").is_dir() else wnid_dir
            return wnid_dir.name, folder
    raise DataError(f"{root}: no {split}/<wnid>/ folder to add files to")


def add_bad_files(root: str | Path, kinds: Iterable[str] = BAD_FILE_KINDS) -> list[Path]:
    """Add one file of each kind to the first train class folder; return their paths.

    ``truncated``: a JPEG cut in half; ``zero-byte``; ``text``: text named
    .JPEG; ``bomb``: a JPEG header claiming 20000x20000; ``unreadable``: a
    JPEG with mode 000 (only unreadable when not running as root);
    ``non-image``: ``notes.txt`` (ignored by the layout reader, not an image).
    """
    root = Path(root)
    wnid, folder = _first_class_folder(root)
    made = []
    for kind in kinds:
        if kind not in BAD_FILE_KINDS:
            raise ValueError(f"unknown bad file kind {kind!r}; known: {', '.join(BAD_FILE_KINDS)}")
        path = folder / ("notes.txt" if kind == "non-image" else f"{wnid}_bad-{kind}.JPEG")
        if kind == "truncated":
            big = io.BytesIO()
            rng = np.random.default_rng(1)
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                big, "JPEG", quality=90
            )
            path.write_bytes(big.getvalue()[: len(big.getvalue()) // 2])
        elif kind == "zero-byte":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("<html><body>404 Not Found</body></html>\n")
        elif kind == "bomb":
            path.write_bytes(_bomb_jpeg())
        elif kind == "unreadable":
            path.write_bytes(_tiny_jpeg())
            path.chmod(0)
        else:
            path.write_text("bounding boxes: none\n")
        made.append(path)
    return made


# --------------------------------------------------------------------------- layouts


def _wnids(n_classes: int, seed: int) -> list[str]:
    # n9 + 7 digits: well-formed, never a real WordNet noun id (those are < n15...)
    return [f"n9{(seed % 1000):03d}{c:04d}" for c in range(n_classes)]


def _save_jpeg(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=90)


def _write_devkit(
    root: Path,
    wnids: Sequence[str],
    names: Sequence[str],
    ids: Sequence[int],
    val_labels: Sequence[int],
) -> None:
    from scipy.io import savemat

    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True, exist_ok=True)
    fields = [
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    ]
    n = len(wnids)
    # leaves (IDs 1..n, in an order that is not the sorted-wnid order) plus one parent synset
    synsets = np.zeros((n + 1,), dtype=[(f, object) for f in fields])
    for c in range(n):
        synsets[ids[c] - 1] = (
            ids[c],
            wnids[c],
            names[c],
            f"a generated class: {names[c]}",
            0,
            np.zeros((0,), np.uint8),
            0,
            0,
        )
    synsets[n] = (
        n + 1,
        "n99999999",
        "generated entity",
        "the parent of every generated class",
        n,
        np.arange(1, n + 1, dtype=np.uint16),
        1,
        0,
    )
    savemat(data / "meta.mat", {"synsets": synsets.reshape(-1, 1)})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{ids[c]}\n" for c in val_labels)
    )


def make_synthetic_imagenet(
    root: str | Path,
    *,
    layout: str = "ilsvrc-devkit",
    n_classes: int = 5,
    train_per_class: int = 6,
    val_per_class: int = 4,
    size: int = 32,
    seed: int = 0,
    quirks: bool = False,
) -> Path:
    """Write a generated dataset in ``layout`` under ``root`` (created); return ``root``.

    Images are ``round(1.25 * size)`` x ``size`` JPEGs (not square, so that
    the centre crop is exercised), except Tiny ImageNet's, which are square.
    """
    if layout not in SYNTHETIC_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(SYNTHETIC_LAYOUTS)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    styles = [_ClassStyle(c, n_classes, rng) for c in range(n_classes)]
    wnids = _wnids(n_classes, seed)
    names = [f"{s.name} ({i})" for i, s in enumerate(styles)]
    w, h = (size, size) if layout == "tiny-imagenet" else (round(size * 1.25), size)

    def picture(c: int) -> Image.Image:
        other = styles[int(rng.integers(n_classes))]
        return _draw(styles[c], other, w, h, rng)

    train_dir = root / ("ILSVRC/Data/CLS-LOC/train" if layout == "ilsvrc-kaggle" else "train")
    quirk_kinds = list(QUIRKS) if quirks else []
    for c, wnid in enumerate(wnids):
        folder = train_dir / wnid / ("images" if layout == "tiny-imagenet" else "")
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(train_per_class):
            if c == 0 and k < len(quirk_kinds):
                _write_quirk(
                    folder / f"{wnid}_{QUIRKS[quirk_kinds[k]][0]}.JPEG", quirk_kinds[k], w, h
                )
            else:
                _save_jpeg(picture(c), folder / f"{wnid}_{k}.JPEG")
        if layout == "tiny-imagenet":
            (train_dir / wnid / f"{wnid}_boxes.txt").write_text(
                "".join(
                    f"{wnid}_{k}.JPEG\t0\t0\t{w - 1}\t{h - 1}\n" for k in range(train_per_class)
                )
            )

    # val: classes interleaved in a seeded order, numbered like ILSVRC2012_val_00000001
    val_labels = [c for c in range(n_classes) for _ in range(val_per_class)]
    val_labels = [val_labels[i] for i in rng.permutation(len(val_labels))]
    val_names = [f"ILSVRC2012_val_{j + 1:08d}.JPEG" for j in range(len(val_labels))]
    if layout == "tiny-imagenet":
        val_names = [f"val_{j}.JPEG" for j in range(len(val_labels))]
    for name, c in zip(val_names, val_labels, strict=True):
        if layout in ("ilsvrc-sorted", "imagefolder"):
            path = root / "val" / wnids[c] / name
        elif layout == "ilsvrc-kaggle":
            path = root / "ILSVRC/Data/CLS-LOC/val" / name
        elif layout == "tiny-imagenet":
            path = root / "val" / "images" / name
        else:
            path = root / "val" / name
        _save_jpeg(picture(c), path)

    if layout == "ilsvrc-devkit":
        ids = [int(i) + 1 for i in rng.permutation(n_classes)]  # ILSVRC2012_ID of class c
        _write_devkit(root, wnids, names, ids, val_labels)
    elif layout == "ilsvrc-kaggle":
        (root / "LOC_synset_mapping.txt").write_text(
            "".join(f"{w_} {n}\n" for w_, n in zip(wnids, names, strict=True))
        )
        order = rng.permutation(len(val_names))  # Kaggle's CSV is not in file order
        with open(root / "LOC_val_solution.csv", "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["ImageId", "PredictionString"])
            for j in order:
                wnid = wnids[val_labels[j]]
                out.writerow([val_names[j][:-5], f"{wnid} 1 2 {w - 2} {h - 2} {wnid} 3 3 9 9"])
    elif layout == "ilsvrc-sorted":
        (root / "LOC_synset_mapping.txt").write_text(
            "".join(f"{w_} {n}\n" for w_, n in zip(wnids, names, strict=True))
        )
    elif layout == "tiny-imagenet":
        (root / "wnids.txt").write_text("".join(f"{w_}\n" for w_ in wnids))
        (root / "words.txt").write_text(
            "n99999999\tgenerated entity\n"
            + "".join(f"{w_}\t{n}\n" for w_, n in zip(wnids, names, strict=True))
        )
        (root / "val" / "val_annotations.txt").write_text(
            "".join(
                f"{nm}\t{wnids[c]}\t0\t0\t{w - 1}\t{h - 1}\n"
                for nm, c in zip(val_names, val_labels, strict=True)
            )
        )
    return root


def make_demo_dataset(root: str | Path) -> Path:
    """The built-in ``demo`` dataset (20 classes x 40 train x 10 val, devkit layout) at ``root``.

    Idempotent: a complete dataset of this :data:`DEMO_VERSION` (marked by
    ``.harness-demo.json``, written last) is reused; it is generated in a
    temporary sibling folder and renamed into place, so a killed or concurrent
    generation never leaves a half-written dataset behind.
    """
    root = Path(root)
    marker = {"version": DEMO_VERSION, "layout": "ilsvrc-devkit", **DEMO_PARAMS}
    if _marker_ok(root, marker):
        return root
    if root.exists():
        if not (root / _MARKER).is_file() and any(root.iterdir()):
            raise DataError(
                f"{root} exists and is not a generated demo dataset; refusing to overwrite it"
            )
        shutil.rmtree(root)  # an older demo version, or an empty folder
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    make_synthetic_imagenet(tmp, layout="ilsvrc-devkit", **DEMO_PARAMS)
    (tmp / _MARKER).write_text(json.dumps(marker, sort_keys=True))
    try:
        os.replace(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _marker_ok(root, marker):  # someone else won the race, and it must be complete
            raise
    return root


def _marker_ok(root: Path, marker: dict) -> bool:
    try:
        return json.loads((root / _MARKER).read_text()) == marker
    except (OSError, ValueError):
        return False
