"""Decoded-image cache build rate: images/s of ``harness.data.ensure_cache`` on a real copy.

Builds the cache of a subset into a fresh temporary folder (never a shared
cache) and prints: manifest seconds (layout scan + fingerprints), build
seconds, images/s, bytes written, and the time to reopen and verify the
built cache (what every later run pays).

    python benchmarks/data_cache_build.py --root /path/to/tiny-imagenet-100 --subset tiny-imagenet --n-jobs 2
    python benchmarks/data_cache_build.py --root /path/to/imagenet --subset ilsvrc2012-100 --n-jobs 16

Figures depend on the CPU, the disk (and whether files are in the page cache:
``--repeat 2`` shows a cold and a warm pass) and on other load on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from harness.data import build_manifest, ensure_cache, get_subset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True, help="dataset root (any supported layout)")
    p.add_argument("--subset", default="tiny-imagenet", help="registered subset name")
    p.add_argument("--n-jobs", type=int, default=os.cpu_count(), help="decoding processes")
    p.add_argument("--repeat", type=int, default=1, help="builds to time (each from scratch)")
    args = p.parse_args()

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    t0 = time.perf_counter()
    manifest = build_manifest(args.root, get_subset(args.subset))
    print(
        f"manifest: {len(manifest)} images, {manifest.n_classes} classes, layout {manifest.layout}, "
        f"{time.perf_counter() - t0:.2f} s (scan + fingerprints)"
    )
    for i in range(args.repeat):
        scratch = Path(tempfile.mkdtemp(prefix="cache-bench-"))
        try:
            cached = ensure_cache(manifest, scratch, n_jobs=args.n_jobs, quiet=True)
            nbytes = cached.images.nbytes
            t1 = time.perf_counter()
            ensure_cache(manifest, scratch, n_jobs=args.n_jobs, quiet=True)
            reopen = time.perf_counter() - t1
            print(
                f"build {i + 1}: {cached.n_decoded} images at {manifest.subset.size}px, n_jobs={args.n_jobs}: "
                f"{cached.build_seconds:.2f} s = {cached.decode_rate:.0f} images/s; "
                f"{nbytes / 2**20:.0f} MiB written; reopen+verify {reopen:.2f} s"
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
