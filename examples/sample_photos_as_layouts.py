"""Arrange ImageNet photographs as Kaggle, devkit and ImageFolder copies, then run on each.

Checks the core on real, full-size JPEGs in the layouts users have, with class
counts no built-in subset has (23, 37 and 12). The trees come from
``harness.data.synthetic_layouts`` (devkit IDs deliberately out of sorted-wnid
order); every JPEG in them is then replaced by one of the photographs, round
robin::

    python examples/sample_photos_as_layouts.py --photos DIR_OF_JPEGS --out /tmp/layouts

(``DIR_OF_JPEGS``: e.g. ``../shared/data/imagenet-samples-100.tar.gz`` unpacked.)
Each copy is run with ``harness run --data COPY --methods random``.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

from harness.data.synthetic_layouts import (
    write_devkit_tree,
    write_imagefolder_tree,
    write_kaggle_tree,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, type=Path, help="folder of *.JPEG photographs")
    parser.add_argument("--out", required=True, type=Path, help="folder for the copies and results")
    args = parser.parse_args()
    photos = sorted(args.photos.glob("*.JPEG"))
    if not photos:
        print(f"error: no *.JPEG in {args.photos}", file=sys.stderr)
        return 2
    shutil.rmtree(args.out / "trees", ignore_errors=True)
    trees = {
        "kaggle": write_kaggle_tree(args.out / "trees" / "kaggle", 23, train_per_class=3, val_per_class=1, seed=1),
        "devkit": write_devkit_tree(args.out / "trees" / "devkit", 37, train_per_class=2, val_per_class=1, seed=2),
        "imagefolder": write_imagefolder_tree(
            args.out / "trees" / "imagefolder", 12, train_per_class=4, val_per_class=2, seed=3
        ),
    }  # fmt: skip
    cycle = itertools.cycle(photos)
    failed = False
    for name, tree in trees.items():
        for jpeg in sorted(tree.root.rglob("*.JPEG")):
            shutil.copyfile(next(cycle), jpeg)
        command = [sys.executable, "-m", "harness", "run", "--data", str(tree.root)]
        command += ["--methods", "random", "--quiet", "--no-report"]
        command += [
            "--results",
            str(args.out / f"results-{name}"),
            "--cache",
            str(args.out / "cache"),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        print(f"== {name} ({len(tree.wnids)} classes): exit {done.returncode}")
        print(done.stdout.strip() or done.stderr.strip()[-800:])
        failed |= done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
