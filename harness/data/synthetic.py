"""Generated ImageNet look-alikes on disk, in every supported layout, for demos and tests.

Each class is a combination of a shape (ellipse, box, triangle, star, cross,
ring), a stripe texture (orientation and frequency) filling it and a hue; each
image draws the class's object at a random position, scale and rotation,
with a jittered hue, over a random cluttered background with a distractor
object of another class's kind and pixel noise. Shape and stripe orientation
are what a HOG/SIFT pipeline or a CNN can learn, hue what a colour statistic
sees; the jitter, clutter and overlap between classes keep it well above
chance but far from trivial. Everything is deterministic for a seed.

wnids are well-formed but fake (``n9...``, never a real WordNet id). Each
layout writes the tree in its own format (``Layout.write_example``, beside
its reader: the devkit's is a real ``meta.mat`` with ILSVRC2012_IDs out of
sorted-wnid order), so the real readers are exercised, not bypassed.

``quirks=True`` replaces the first training images of the first class with
the ILSVRC-2012 file quirks that must decode correctly (see :data:`QUIRKS`).
Files that must be *reported* (truncated, zero-byte, a decompression bomb)
are the tests' fault injection, in ``tests/fixtures/bad_files.py``.
"""

from __future__ import annotations

import colorsys
import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from harness.data.errors import DataError
from harness.data.layouts.examples import ExampleSpec

__all__ = [
    "DEMO_VERSION",
    "QUIRKS",
    "SYNTHETIC_LAYOUTS",
    "make_demo_dataset",
    "make_synthetic_imagenet",
]

#: the layouts the demo and the tests generate (any layout with a write_example works)
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


# --------------------------------------------------------------------------- quirks


def _quirk_bytes(kind: str, w: int, h: int) -> bytes:
    """The file of quirk ``kind``: a solid ``QUIRKS[kind]`` colour in that odd encoding."""
    rgb = QUIRKS[kind][1]
    buf = io.BytesIO()
    if kind == "cmyk":
        Image.new("RGB", (w, h), rgb).convert("CMYK").save(buf, "JPEG", quality=95)
    elif kind == "cmyk-plain":
        # Pillow writes CMYK inverted with an Adobe marker: write inverted samples (so the file
        # holds plain ones) and drop the marker.
        cmyk = np.asarray(Image.new("RGB", (w, h), rgb).convert("CMYK"))
        Image.fromarray(255 - cmyk, "CMYK").save(buf, "JPEG", quality=95)
        return _strip_adobe_marker(buf.getvalue())
    elif kind == "gray":
        Image.new("L", (w, h), rgb[0]).save(buf, "JPEG", quality=95)
    elif kind == "png":
        Image.new("RGB", (w, h), rgb).save(buf, "PNG")
    elif kind == "palette":
        Image.new("RGB", (w, h), rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
            buf, "PNG"
        )
    elif kind == "png16":
        Image.fromarray(np.full((h, w), 40000, np.uint16)).save(buf, "PNG")
    elif kind == "rgba":
        Image.new("RGBA", (w, h), (0, 0, 0, 0)).save(buf, "PNG")
    else:  # pragma: no cover
        raise ValueError(kind)
    return buf.getvalue()


def _strip_adobe_marker(jpeg: bytes) -> bytes:
    """Remove the APP14 ("Adobe") segment of a baseline JPEG."""
    at = jpeg.find(b"\xff\xee")
    if at < 0:
        return jpeg
    length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
    return jpeg[:at] + jpeg[at + 2 + length :]


# --------------------------------------------------------------------------- layouts


def _wnids(n_classes: int, seed: int) -> list[str]:
    # n9 + 7 digits: well-formed, never a real WordNet noun id (those are < n15...)
    return [f"n9{(seed % 1000):03d}{c:04d}" for c in range(n_classes)]


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
    the centre crop is exercised), except where the layout's images are
    square (Tiny ImageNet's). The layout writes its own files
    (``Layout.write_example``); this module only draws the pictures.
    """
    from harness.data.layouts import get_layout

    try:
        writer = get_layout(layout)
    except DataError:
        raise ValueError(
            f"unknown layout {layout!r}; known: {', '.join(SYNTHETIC_LAYOUTS)}"
        ) from None
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    styles = [_ClassStyle(c, n_classes, rng) for c in range(n_classes)]
    wnids = _wnids(n_classes, seed)
    index = {w_: c for c, w_ in enumerate(wnids)}
    w, h = (size, size) if getattr(writer, "square_images", False) else (round(size * 1.25), size)
    quirk_kinds = list(QUIRKS) if quirks else []

    def picture(split: str, wnid: str, k: int) -> Image.Image | bytes:
        c = index[wnid]
        if split == "train" and c == 0 and k < len(quirk_kinds):
            return _quirk_bytes(quirk_kinds[k], w, h)
        other = styles[int(rng.integers(n_classes))]
        return _draw(styles[c], other, w, h, rng)

    def train_name(wnid: str, k: int) -> str:
        if index[wnid] == 0 and k < len(quirk_kinds):
            return f"{wnid}_{QUIRKS[quirk_kinds[k]][0]}.JPEG"
        return f"{wnid}_{k}.JPEG"

    spec = ExampleSpec(
        classes=wnids,
        names={w_: f"{s.name} ({i})" for i, (w_, s) in enumerate(zip(wnids, styles, strict=True))},
        picture=picture,
        rng=rng,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        image_size=(w, h),
        train_name=train_name,
    )
    writer.write_example(root, spec)
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
