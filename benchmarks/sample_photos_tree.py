"""Arrange ../shared/data/imagenet-samples-100 (one full-size photo per class) as an ImageFolder.

One photo per class cannot give a train and a val image, so each class gets
views of its photo, all still full size (over 256 px on the short side):
``train/<wnid>/`` the photo, its mirror and a 90% crop; ``val/<wnid>/`` an
85% crop from the other corner. For exercising the full-resolution path
(decoding, short-side-256 resizing, 224 crops, ten-crop test), not for
measuring accuracy.

    python benchmarks/sample_photos_tree.py SAMPLES_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageOps


def arrange(samples: Path, out: Path) -> Path:
    for photo in sorted(Path(samples).glob("*.JPEG")):
        wnid = photo.name.split("_", 1)[0]
        image = ImageOps.exif_transpose(Image.open(photo)).convert("RGB")
        w, h = image.size
        views = {
            "train": {
                f"{wnid}_0.JPEG": image,
                f"{wnid}_1.JPEG": ImageOps.mirror(image),
                f"{wnid}_2.JPEG": image.crop((0, 0, int(0.9 * w), int(0.9 * h))),
            },
            "val": {f"{wnid}_v.JPEG": image.crop((int(0.15 * w), int(0.15 * h), w, h))},
        }
        for split, files in views.items():
            folder = out / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for name, view in files.items():
                view.save(folder / name, quality=90)
    return out


if __name__ == "__main__":
    print(arrange(Path(sys.argv[1]), Path(sys.argv[2])))
