"""The data layer: ImageNet layouts -> subsets -> manifests -> the decoded-image cache.

Typical use::

    from harness.data import get_subset, build_manifest, ensure_cache
    manifest = build_manifest(root, get_subset("tiny-imagenet"))
    cached = ensure_cache(manifest, cache_root, n_jobs=os.cpu_count())
    train, val = cached.split("train"), cached.split("val")

Errors, layouts and subsets import eagerly (they are light: ``harness list``
needs only them); the manifest (pandas), the cache, the decoder (Pillow) and
the generator are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harness.data.errors import (
    BadImagesError,
    CacheWriteError,
    DataError,
    DecodeError,
    LayoutError,
    SubsetError,
)
from harness.data.layouts import DatasetIndex, detect_layout, get_layout, read_layout
from harness.data.subsets import SUBSETS, Subset, adhoc_subset, get_subset

if TYPE_CHECKING:
    from harness.data.cache import CachedSubset, ensure_cache
    from harness.data.decode import decode_image
    from harness.data.manifest import Manifest, build_manifest
    from harness.data.synthetic import make_demo_dataset, make_synthetic_imagenet

_LAZY = {
    "CachedSubset": "harness.data.cache",
    "ensure_cache": "harness.data.cache",
    "decode_image": "harness.data.decode",
    "Manifest": "harness.data.manifest",
    "build_manifest": "harness.data.manifest",
    "make_demo_dataset": "harness.data.synthetic",
    "make_synthetic_imagenet": "harness.data.synthetic",
}

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
    "build_manifest",
    "decode_image",
    "detect_layout",
    "ensure_cache",
    "get_layout",
    "get_subset",
    "make_demo_dataset",
    "make_synthetic_imagenet",
    "read_layout",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.data' has no attribute {name!r}")
