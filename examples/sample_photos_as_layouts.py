"""Arrange ImageNet photographs as Kaggle, devkit and ImageFolder copies, then run on each.

Checks the core on real, full-size JPEGs in the layouts users have, with class
counts no built-in subset has (23, 37 and 12). Each layout writes its own
tree (``Layout.write_example``: the devkit's IDs deliberately out of
sorted-wnid order), with the photographs as its pictures, round robin::

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

import numpy as np

from harness.data.layouts import get_layout
from harness.data.layouts.examples import ExampleSpec, WrittenExample


def write_tree(
    root: Path, layout: str, n_classes: int, photos: list[Path], seed: int, **counts: int
) -> WrittenExample:
    """``layout``'s example tree under ``root`` with ``n_classes`` fake wnids, pictures from ``photos``."""
    rng = np.random.default_rng(seed)
    wnids = [f"n9{int(x):07d}" for x in rng.choice(10_000_000, size=n_classes, replace=False)]
    cycle = itertools.cycle(photos)
    spec = ExampleSpec(
        classes=wnids,
        names={w: f"sample class {i}" for i, w in enumerate(sorted(wnids))},
        picture=lambda split, cls, k: next(cycle).read_bytes(),
        rng=rng,
        **counts,
    )
    return get_layout(layout).write_example(root, spec)


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
        "kaggle": write_tree(args.out / "trees" / "kaggle", "ilsvrc-kaggle", 23, photos, 1,
                             train_per_class=3, val_per_class=1),
        "devkit": write_tree(args.out / "trees" / "devkit", "ilsvrc-devkit", 37, photos, 2,
                             train_per_class=2, val_per_class=1),
        "imagefolder": write_tree(args.out / "trees" / "imagefolder", "imagefolder", 12, photos, 3,
                                  train_per_class=4, val_per_class=2),
    }  # fmt: skip
    failed = False
    for name, tree in trees.items():
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
