"""On-disk feature cache: float16 (or float32) ``.npy`` memory maps keyed by data and parameters.

Key: the manifest hash (or, for splits built in memory, a fingerprint of the
labels and a sample of the pixels), the split's name and length, the image
size, the encoder's parameters including a digest of its learned arrays, and
the storage dtype (``FEATURE_DTYPES``; float16, every method's default, keeps
the key it had before the dtype was a choice, so existing files stay valid;
any other dtype is in the key, and a file whose dtype is not the one asked for
is never used either way). The SVMs read the rows block by block and widen
them to float32 for the arithmetic (:mod:`baselines.linear`).
A rerun with the same key memory-maps the file instead of recomputing.

A row view (``Split.view``: the fit rows, the monitor) shares its parent's
file: the file has a row per image of the parent split and a ``done`` mask,
and only rows not yet encoded are encoded, so the fit rows, the monitor and a
refit on all of train together encode each image once.

Writes are safe against a kill: the file is created under a temporary name
and renamed into place; rows are marked done (an atomic rewrite of the mask)
only after they are written and flushed, and the completion marker is written
when every row is done. A reader trusts only rows marked done under the same
key and shape, so a process killed mid-extraction never leaves rows that are
used; the next run encodes them again. A file lock makes two concurrent runs
encode a given row once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import RowView, RunContext, Split
from harness.memory import release_rows

FEATURE_DTYPES = ("float16", "float32", "uint8")  # storage (uint8: product-quantised codes)

#: How many times :func:`cached_features` has computed (not loaded) a feature file; tests read it.
BUILD_COUNT = {"n": 0}


def array_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def split_fingerprint(split: Split, manifest_hash: str, rows: bool = False) -> str:
    """The manifest hash when there is one, else a digest of ~64 sampled images of the parent.

    ``rows=True`` adds which rows of its parent a row view shows (a codebook
    learned on the fit rows is not one learned on all of train).
    """
    if manifest_hash:
        base = manifest_hash
    else:  # the parent's pixels (features depend on nothing else): a view shares the key
        images = split.images._base if isinstance(split.images, RowView) else split.images
        step = max(1, len(images) // 64)
        base = "data-" + array_digest(np.asarray(images[::step]))
    if rows and split.parent_rows is not None:
        base += "-rows-" + array_digest(np.asarray(split.parent_rows, dtype=np.int64))
    return base


def feature_key(
    split: Split, ctx: RunContext, params: dict[str, Any], dtype: str = "float16"
) -> str:
    """Key of the feature file of ``split``'s *parent* (a row view shares its parent's file)."""
    desc: dict[str, Any] = {
        "data": split_fingerprint(split, ctx.manifest_hash),
        "split": split.parent or split.name,
        "n": split.parent_len if split.parent is not None else len(split),
        "size": split.size,
        "params": params,
    }
    if dtype != "float16":  # float16 keys are those of the files written before the choice
        desc["dtype"] = dtype
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def load_features(
    directory: Path, key: str, shape: tuple[int, int], dtype: str = "float16"
) -> np.ndarray | None:
    """The cached memmap if complete and matching, else None."""
    marker, data = directory / "complete.json", directory / "features.npy"
    if not (marker.exists() and data.exists()):
        return None
    try:
        meta = json.loads(marker.read_text())
        feats = np.load(data, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or tuple(feats.shape) != tuple(shape) or feats.dtype != dtype:
        return None
    return feats


def _done_rows(directory: Path, key: str, shape: tuple[int, int], dtype: str) -> np.ndarray | None:
    """The rows already encoded in a partly filled file (None: no usable partial file)."""
    try:
        meta = json.loads((directory / "partial.json").read_text())
        done = np.load(directory / "done.npy")
        feats = np.load(directory / "features.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    ok = (
        meta.get("key") == key
        and tuple(feats.shape) == tuple(shape)
        and feats.dtype == dtype
        and len(done) == shape[0]
    )
    return done.astype(bool) if ok else None


def _shown(split: Split, features: np.ndarray) -> Any:
    """The rows of the parent's ``features`` that ``split`` shows (all of them: the memmap)."""
    if split.parent is None:
        return features
    return RowView(features, split.parent_rows)


def cached_features(
    split: Split,
    ctx: RunContext,
    params: dict[str, Any],
    dim: int,
    chunks: Callable[[Split], Iterator[tuple[slice, np.ndarray]]],
    label: str = "features",
    dtype: str = "float16",
) -> Any:
    """``(len(split), dim)`` features of ``split`` stored as ``dtype``, each image encoded once.

    The file holds the features of ``split``'s parent (for a row view of
    train, all of train's rows) and is filled as rows are asked for: the fit
    rows when ``fit`` encodes them, the monitor's when it selects, nothing new
    at the refit on all of train. ``chunks(todo)`` yields ``(rows, float32
    features)`` covering every row of the Split ``todo`` (the rows still
    missing); it is called only when some are. A full split gets the memmap,
    a row view a :class:`harness.types.RowView` of it.
    """
    from filelock import FileLock

    if dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature dtype {dtype!r}: expected one of {FEATURE_DTYPES}")
    key = feature_key(split, ctx, params, dtype)
    parent = split.parent or split.name
    n_parent = split.parent_len if split.parent is not None else len(split)
    directory = Path(ctx.cache_dir) / "features" / f"{label}-{parent}-{key}"
    shape = (n_parent, dim)
    found = load_features(directory, key, shape, dtype)
    if found is not None:
        ctx.logger.info("reusing cached %s for %s split: %s", label, parent, directory)
        return _shown(split, found)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".lock")):
        found = load_features(directory, key, shape, dtype)  # another process may have built it
        if found is not None:
            return _shown(split, found)
        rows = np.arange(len(split)) if split.parent is None else np.asarray(split.parent_rows)
        done = _done_rows(directory, key, shape, dtype)
        if done is None:  # start the parent's file afresh (a killed run's leftovers go)
            (directory / "complete.json").unlink(missing_ok=True)
            for stale in directory.glob(".features.*.tmp.npy"):
                stale.unlink(missing_ok=True)
            tmp = directory / f".features.{os.getpid()}.tmp.npy"
            np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=shape).flush()
            os.replace(tmp, directory / "features.npy")
            done = np.zeros(n_parent, dtype=bool)
            _atomic_save(directory / "done.npy", done)
            _atomic_write_text(directory / "partial.json", json.dumps({"key": key}))
        missing = np.flatnonzero(~done[rows])  # positions in split still to encode
        if len(missing):
            todo = split if len(missing) == len(split) else split.view(missing)
            targets = rows[missing]  # their rows in the parent's file
            out = np.load(directory / "features.npy", mmap_mode="r+")
            filled = np.zeros(len(todo), dtype=bool)
            for part, feats in chunks(todo):
                if not np.all(np.isfinite(feats)):
                    raise FloatingPointError(f"non-finite {label} for {split.name} rows {part}")
                out[targets[part]] = feats
                release_rows(out, targets[part])  # written through to the file: not this process's
                filled[part] = True
            if not filled.all():
                raise RuntimeError(
                    f"{label} extraction for {split.name} missed {int((~filled).sum())} rows"
                )
            out.flush()
            del out
            done[targets] = True  # only now: a kill before this line re-encodes these rows
            _atomic_save(directory / "done.npy", done)
            BUILD_COUNT["n"] += 1
        if done.all():
            _atomic_write_text(
                directory / "complete.json",
                json.dumps(
                    {"key": key, "shape": list(shape), "dtype": dtype, "params": params},
                    default=str,
                    indent=1,
                ),
            )
    return _shown(split, np.load(directory / "features.npy", mmap_mode="r"))


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
