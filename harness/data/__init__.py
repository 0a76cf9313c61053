"""The data layer: ImageNet layouts -> subsets -> manifests -> the decoded-image cache.

Typical use::

    from harness.data import get_subset, build_manifest, ensure_cache
    manifest = build_manifest(root, get_subset("tiny-imagenet"))
    cached = ensure_cache(manifest, cache_root, n_jobs=os.cpu_count())
    train, val = cached.split("train"), cached.split("val")
"""

from harness.data.cache import CachedSubset, ensure_cache
from harness.data.decode import decode_image
from harness.data.errors import (
    BadImagesError,
    CacheWriteError,
    DataError,
    DecodeError,
    LayoutError,
    SubsetError,
)
from harness.data.layouts import DatasetIndex, detect_layout, read_layout
from harness.data.manifest import Manifest, build_manifest
from harness.data.subsets import SUBSETS, Subset, adhoc_subset, get_subset

_SYNTHETIC = ("add_bad_files", "make_demo_dataset", "make_synthetic_imagenet")


def __getattr__(name: str) -> object:
    # The generator is only needed for demos and tests; import it on first use.
    if name in _SYNTHETIC:
        from harness.data import synthetic

        return getattr(synthetic, name)
    raise AttributeError(f"module 'harness.data' has no attribute {name!r}")


__all__ = [
    "SUBSETS",
    "BadImagesError",
    "CacheWriteError",
    "CachedSubset",
    "DataError",
    "DatasetIndex",
    "DecodeError",
    "LayoutError",
    "Manifest",
    "Subset",
    "SubsetError",
    "adhoc_subset",
    "add_bad_files",
    "build_manifest",
    "decode_image",
    "detect_layout",
    "ensure_cache",
    "get_subset",
    "make_demo_dataset",
    "make_synthetic_imagenet",
    "read_layout",
]
