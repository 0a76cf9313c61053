"""A 1,000-class copy of ILSVRC-2012 in the devkit layout, from a folder of real photographs.

Every picture is a view of one of the photographs (``../shared/data``'s
imagenet-samples-100: one full-size photo for each of 100 classes): a random
crop of 50-100% of its area, flipped half the time, rescaled so that its
short side is 256 px (as the harness stores ILSVRC), saved as a JPEG. The
1,000 wnids are drawn at random, each class takes its pictures from a
photograph of its own (classes share photographs: 1,000 over 100), and the
devkit's ``meta.mat`` numbers them in a derangement of the sorted-wnid order,
as the layout's example writer does (:meth:`DevkitLayout.write_example`).
Its purpose is scale (class count, full-size decoding, memory, disk, time),
not accuracy: a method's error on it says nothing about ImageNet.

    python -m studies.scale.make_copy --photos /path/to/imagenet-samples-100 \\
        --out /data/ilsvrc-1000x4 --train-per-class 4 --val-per-class 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from harness.data.layouts import get_layout
from harness.data.layouts.examples import ExampleSpec, WrittenExample

SHORT_SIDE = 256


def view(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random crop (50-100% of the area, aspect 3/4-4/3), maybe mirrored, short side 256."""
    w, h = photo.size
    area = rng.uniform(0.5, 1.0) * w * h
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = photo.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    scale = SHORT_SIDE / min(out.size)
    size = (max(SHORT_SIDE, round(out.width * scale)), max(SHORT_SIDE, round(out.height * scale)))
    return out.resize(size, Image.Resampling.BILINEAR)


def make_copy(
    photos: list[Path],
    out: Path,
    n_classes: int = 1000,
    train_per_class: int = 4,
    val_per_class: int = 1,
    seed: int = 0,
) -> WrittenExample:
    """Write the copy under ``out``; return what a correct reader must report."""
    rng = np.random.default_rng(seed)
    wnids = [f"n9{int(x):07d}" for x in rng.choice(10_000_000, size=n_classes, replace=False)]
    opened = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in photos]
    source = {w: opened[i % len(opened)] for i, w in enumerate(wnids)}
    draws = np.random.default_rng(seed + 1)
    spec = ExampleSpec(
        classes=wnids,
        names={w: f"generated class {i}" for i, w in enumerate(sorted(wnids))},
        picture=lambda split, wnid, k: view(source[wnid], draws),
        rng=rng,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        image_size=(SHORT_SIDE, SHORT_SIDE),
    )
    return get_layout("ilsvrc-devkit").write_example(out, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True, help="folder of *.JPEG photographs")
    p.add_argument("--out", type=Path, required=True, help="empty folder for the copy")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--train-per-class", type=int, default=4)
    p.add_argument("--val-per-class", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    photos = sorted(args.photos.glob("*.JPEG"))
    if not photos:
        print(f"make_copy: no *.JPEG photographs in {args.photos}", file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()):
        print(f"make_copy: {args.out} is not empty; name a new folder", file=sys.stderr)
        return 2
    written = make_copy(photos, args.out, args.classes, args.train_per_class,
                        args.val_per_class, args.seed)  # fmt: skip
    n_train = len(written.wnids) * written.train_per_class
    print(f"{written.root}: {written.layout}, {len(written.wnids)} classes, "
          f"{n_train} train / {len(written.val_truth)} val images")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
