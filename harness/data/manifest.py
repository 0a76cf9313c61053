"""Subset + dataset root -> manifest: exactly which images, with which labels.

A manifest lists every image a run uses (path relative to the root, wnid,
label, split, content fingerprint). Its :attr:`Manifest.hash` identifies "the
same images" everywhere: it keys the decoded-image cache and is written into
every result record. The hash covers the subset's name, version and stored
size and every entry including the fingerprints, and nothing else: the same
copy of ImageNet mounted at another path gives the same hash.

Fingerprints are ``<file size>-<blake2b of the first 64 KiB>`` (why not the
whole file, and the optional memo that avoids re-reading a large copy on every
run: see ``harness.data.fingerprints``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.data.errors import DataError, LayoutError, SubsetError
from harness.data.fingerprints import FINGERPRINT_BYTES, file_fingerprint, fingerprint_files
from harness.data.layouts import DatasetIndex, layout_requirements, read_layout
from harness.data.subsets import Subset

__all__ = ["FINGERPRINT_BYTES", "Manifest", "build_manifest", "file_fingerprint"]

MANIFEST_FORMAT = "harness-manifest/1"
COLUMNS = ["path", "wnid", "label", "split", "fingerprint"]
SPLITS = ("train", "val")

log = logging.getLogger("harness.data")


def _entries_hash(subset: Subset, entries: pd.DataFrame) -> str:
    h = hashlib.sha256()
    head = {
        "format": MANIFEST_FORMAT,
        "subset": subset.name,
        "version": subset.version,
        "size": subset.size,
    }
    h.update(json.dumps(head, sort_keys=True).encode())
    buf = io.StringIO()
    entries[COLUMNS].to_csv(buf, index=False, lineterminator="\n")
    h.update(buf.getvalue().encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The images of one subset of one dataset root. ``entries`` rows: train first, then val."""

    entries: pd.DataFrame  # columns: path, wnid, label, split, fingerprint
    wnids: tuple[str, ...]  # label i <-> wnids[i], sorted
    class_names: tuple[str, ...]  # label i -> human-readable name
    subset: Subset
    root: Path
    layout: str
    hash: str
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def n_classes(self) -> int:
        return len(self.wnids)

    def split_entries(self, split: str) -> pd.DataFrame:
        return self.entries[self.entries["split"] == split]

    def header(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "hash": self.hash,
            "subset": self.subset.to_dict(),
            "layout": self.layout,
            "root": str(self.root),  # informational; not part of the hash
            "wnids": list(self.wnids),
            "class_names": list(self.class_names),
            "n_entries": len(self.entries),
            "notes": list(self.notes),
        }

    def save(self, path: str | Path) -> Path:
        """Write a CSV whose first line is ``# harness-manifest {json header}`` (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write("# " + json.dumps(self.header(), sort_keys=True) + "\n")
                self.entries[COLUMNS].to_csv(f, index=False, lineterminator="\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path, root: str | Path | None = None) -> Manifest:
        """Read a saved manifest; its hash is recomputed and must match the header."""
        path = Path(path)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                first = f.readline()
                if not first.startswith("# "):
                    raise DataError(
                        f"{path}: not a harness manifest (no '# {{header}}' first line)"
                    )
                header = json.loads(first[2:])
                entries = pd.read_csv(
                    f,
                    dtype={
                        "path": str,
                        "wnid": str,
                        "split": str,
                        "fingerprint": str,
                        "label": "int64",
                    },
                    keep_default_na=False,
                )
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read manifest: {exc}") from exc
        if header.get("format") != MANIFEST_FORMAT:
            raise DataError(
                f"{path}: manifest format {header.get('format')!r}, expected {MANIFEST_FORMAT!r}"
            )
        subset = Subset.from_dict(header["subset"])
        digest = _entries_hash(subset, entries)
        if digest != header["hash"]:
            raise DataError(f"{path}: manifest content does not match its hash (edited or damaged)")
        return cls(
            entries=entries,
            wnids=tuple(header["wnids"]),
            class_names=tuple(header["class_names"]),
            subset=subset,
            root=Path(root) if root is not None else Path(header["root"]),
            layout=header["layout"],
            hash=digest,
            notes=tuple(header.get("notes", ())),
        )


def _select(
    index: DatasetIndex, subset: Subset, wnids: tuple[str, ...]
) -> list[tuple[str, str, int, str]]:
    rows: list[tuple[str, str, int, str]] = []
    for split in SPLITS:
        want = subset.per_class(split)
        for label, wnid in enumerate(wnids):
            files = index.files[split].get(wnid, ())
            if want is not None and want > len(files):
                folder = (
                    os.path.dirname(files[0]) + "/" if files else f"{split}/ (no images of {wnid})"
                )
                raise SubsetError(
                    f"subset {subset.key} asks for {want} {split} images per class but class {wnid} "
                    f"has only {len(files)} in {folder} of {index.root}"
                )
            chosen = files if want is None else files[:want]
            rows.extend((path, wnid, label, split) for path in chosen)
    return rows


def build_manifest(
    root: str | Path,
    subset: Subset,
    *,
    layout: str | None = None,
    index: DatasetIndex | None = None,
    fingerprint_memo: str | Path | None = None,
    io_threads: int = 16,
) -> Manifest:
    """Apply ``subset`` to the dataset at ``root`` (layout auto-detected unless given).

    ``index``: the root's :class:`DatasetIndex` when the caller has read it
    already (the runner does, to name an ad-hoc subset after the classes present).

    ``fingerprint_memo``: a folder where fingerprints are remembered by file
    size and mtime, so that a large copy is not re-read on every run.
    """
    root = Path(root).resolve()
    try:
        index = index if index is not None else read_layout(root, layout)
    except LayoutError as exc:
        needs = layout_requirements()
        if getattr(exc, "layout", None) is None and subset.layout and subset.layout in needs:
            raise LayoutError(
                f"{exc} [subset {subset.key} expects the {subset.layout} layout: "
                f"{needs[subset.layout]}]"
            ) from exc
        raise
    wnids = subset.select_classes(index.wnids, where=str(root))
    rows = _select(index, subset, wnids)
    if not any(r[3] == "train" for r in rows):
        raise SubsetError(f"subset {subset.key} selects no train images in {root}")
    fingerprints = fingerprint_files(
        root,
        [r[0] for r in rows],
        memo_dir=Path(fingerprint_memo) if fingerprint_memo is not None else None,
        io_threads=io_threads,
    )
    entries = pd.DataFrame(rows, columns=["path", "wnid", "label", "split"])
    entries["label"] = entries["label"].astype("int64")
    entries["fingerprint"] = fingerprints
    names: Mapping[str, str] = index.class_names
    notes = (*index.notes, *_unscored_classes(entries))
    return Manifest(
        entries=entries,
        wnids=wnids,
        class_names=tuple(names.get(w, w) for w in wnids),
        subset=subset,
        root=root,
        layout=index.layout,
        hash=_entries_hash(subset, entries),
        notes=notes,
    )


def _unscored_classes(entries: pd.DataFrame) -> list[str]:
    """A note (and a console line) per class with training images but no val image: it is
    learnt and never scored, which a val count alone does not show."""
    counts = entries.groupby(["wnid", "split"]).size().unstack(fill_value=0)
    if "val" not in counts:
        return []  # no val split at all: refused where the splits are read
    notes = []
    for wnid, row in counts.iterrows():
        if row.get("train", 0) > 0 and row["val"] == 0:
            note = (
                f"class {wnid} has {int(row['train'])} training images but no val images: "
                "it is trained on and never scored"
            )
            log.warning("%s", note)
            notes.append(note)
    return notes
