"""On-disk feature cache: float16 ``.npy`` memory maps keyed by data and parameters.

Key: the manifest hash (or, for splits built in memory, a fingerprint of the
labels and a sample of the pixels), the split's name and length, the image
size, and the encoder's parameters including a digest of its learned arrays.
A rerun with the same key memory-maps the file instead of recomputing.

Writes are atomic: features go to a temporary file, which is renamed
(``os.replace``) into place when complete, and only then is the completion
marker written. A reader trusts a file only when the marker is present and
describes the same key and shape, so a process killed mid-extraction never
leaves a file that is used; the next run rebuilds it. A file lock makes two
concurrent runs build a given file once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import RunContext, Split

#: How many times :func:`cached_features` has computed (not loaded) a feature file; tests read it.
BUILD_COUNT = {"n": 0}


def array_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def split_fingerprint(split: Split, manifest_hash: str) -> str:
    """The manifest hash when there is one, else a digest of labels and ~64 sampled images."""
    if manifest_hash:
        return manifest_hash
    step = max(1, len(split) // 64)
    return "data-" + array_digest(np.asarray(split.labels), np.asarray(split.images[::step]))


def feature_key(split: Split, ctx: RunContext, params: dict[str, Any]) -> str:
    desc = {
        "data": split_fingerprint(split, ctx.manifest_hash),
        "split": split.name,
        "n": len(split),
        "size": split.size,
        "params": params,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_features(directory: Path, key: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached memmap if complete and matching, else None."""
    marker, data = directory / "complete.json", directory / "features.npy"
    if not (marker.exists() and data.exists()):
        return None
    try:
        meta = json.loads(marker.read_text())
        feats = np.load(data, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or tuple(feats.shape) != tuple(shape):
        return None
    return feats


def cached_features(
    split: Split,
    ctx: RunContext,
    params: dict[str, Any],
    dim: int,
    chunks: Callable[[], Iterator[tuple[slice, np.ndarray]]],
    label: str = "features",
) -> np.ndarray:
    """``(len(split), dim)`` float16 memmap of ``split``'s features, built once.

    ``chunks()`` yields ``(rows, float32 features)`` covering every row; it is
    only called when no complete cache exists.
    """
    from filelock import FileLock

    key = feature_key(split, ctx, params)
    directory = Path(ctx.cache_dir) / "features" / f"{label}-{split.name}-{key}"
    shape = (len(split), dim)
    found = load_features(directory, key, shape)
    if found is not None:
        ctx.logger.info("reusing cached %s for %s split: %s", label, split.name, directory)
        return found
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".lock")):
        found = load_features(directory, key, shape)  # another process may have built it
        if found is not None:
            return found
        (directory / "complete.json").unlink(missing_ok=True)
        for stale in directory.glob(
            ".features.*.tmp.npy"
        ):  # left by a killed run; we hold the lock
            stale.unlink(missing_ok=True)
        tmp = directory / f".features.{os.getpid()}.tmp.npy"
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
            done = np.zeros(len(split), dtype=bool)
            for rows, feats in chunks():
                if not np.all(np.isfinite(feats)):
                    raise FloatingPointError(f"non-finite {label} for {split.name} rows {rows}")
                out[rows] = feats
                done[rows] = True
            if not done.all():
                raise RuntimeError(
                    f"{label} extraction for {split.name} missed {int((~done).sum())} rows"
                )
            out.flush()
            del out
            os.replace(tmp, directory / "features.npy")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _atomic_write_text(
            directory / "complete.json",
            json.dumps({"key": key, "shape": list(shape), "params": params}, default=str, indent=1),
        )
        BUILD_COUNT["n"] += 1
    return np.load(directory / "features.npy", mmap_mode="r")


def cached_arrays(
    ctx: RunContext, name: str, params: dict[str, Any], build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """A small ``.npz`` of learned arrays (PCA, GMM, vocabulary), built once per key, atomically."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = Path(ctx.cache_dir) / "codebooks" / f"{name}-{key}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # unreadable: rebuild below
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays
