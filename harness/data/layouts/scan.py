"""Walking a dataset's folders: class folders, image files, and the ways a real copy breaks.

Non-image files in class folders (anything whose extension is not an image
extension, and hidden files such as macOS ``._x.JPEG`` forks) are *ignored*
and listed in the index's notes: real copies carry ``*_boxes.txt``,
``.DS_Store`` and the like, and refusing them would make every such copy
unusable. A file with an image extension is never ignored: if it is not an
image, decoding reports it by path (see ``harness.data.decode``).

Symlinked folders are followed (copies are often assembled from links), but
each folder is entered once per class folder, by its (st_dev, st_ino): a link
back up the tree (``train/n01/loop -> .``) would otherwise multiply that
class's images. A folder that cannot be listed is an error that says so and
how to fix it, never an "empty" class.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.data.errors import LayoutError, os_error_message
from harness.data.layouts.base import Layout

__all__ = [
    "IMAGE_EXTENSIONS",
    "class_dirs",
    "flat_images",
    "folder_shape",
    "is_image_name",
    "list_folder",
    "read_class_folders",
    "rel",
    "require_dirs",
    "require_files",
    "scan_images",
]

IMAGE_EXTENSIONS = frozenset(
    {".jpeg", ".jpg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def rel(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` as posix (``.`` for the root); absolute if outside it."""
    try:
        return Path(path).relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def list_folder(folder: str | Path, what: str = "folder") -> list[os.DirEntry[str]]:
    """The entries of ``folder`` sorted by name; a folder that cannot be listed is a LayoutError."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise LayoutError(os_error_message(folder, what, exc, folder=True)) from exc


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:  # a dangling or looping link is not a folder
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def class_dirs(split_dir: Path) -> list[Path]:
    """The visible subfolders of ``split_dir``, sorted by name."""
    return [
        Path(e.path)
        for e in list_folder(split_dir, "split folder")
        if not e.name.startswith(".") and _is_dir(e)
    ]


def flat_images(split_dir: Path) -> list[Path]:
    """The image files directly in ``split_dir`` (not in subfolders), sorted by name."""
    return [
        Path(e.path)
        for e in list_folder(split_dir, "split folder")
        if is_image_name(e.name) and _is_file(e)
    ]


def folder_shape(split_dir: Path) -> tuple[list[str], int]:
    """(names of the visible subfolders, number of loose image files) of ``split_dir``.

    For detection; a missing folder has no subfolders and no images.
    """
    if not split_dir.is_dir():
        return [], 0
    dirs: list[str] = []
    images = 0
    for e in list_folder(split_dir, "split folder"):
        if e.name.startswith("."):
            continue
        if _is_dir(e):
            dirs.append(e.name)
        elif is_image_name(e.name):
            images += 1
    return dirs, images


def scan_images(folder: Path, root: Path, notes: list[str]) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted root-relative posix paths."""
    found: list[str] = []
    ignored: list[str] = []
    revisited: list[str] = []
    # the class folder and its ancestors up to the root count as visited: a link to any of
    # them (``loop -> .``, ``up -> ../..``) is a loop, and would pull other classes in
    visited: set[tuple[int, int]] = set()
    for d in (folder, *(p for p in folder.parents if p == root or root in p.parents)):
        try:
            st = os.stat(d)
        except OSError as exc:
            raise LayoutError(os_error_message(d, "class folder", exc, folder=True)) from exc
        visited.add((st.st_dev, st.st_ino))
    stack = [folder]
    while stack:
        current = stack.pop()
        prefix = rel(current, root) + "/"
        what = "class folder" if current == folder else "folder"
        for entry in list_folder(current, what):
            if _is_dir(entry):
                try:
                    est = entry.stat()
                except OSError:
                    continue
                key = (est.st_dev, est.st_ino)
                if key in visited:
                    revisited.append(prefix + entry.name)
                    continue
                visited.add(key)
                stack.append(Path(entry.path))
            else:
                (found if is_image_name(entry.name) else ignored).append(prefix + entry.name)
    if ignored:
        notes.append(
            f"ignored {len(ignored)} non-image file(s) in {rel(folder, root)}/: {_shown(ignored)}"
        )
    if revisited:
        notes.append(
            f"skipped {len(revisited)} symlinked folder(s) in {rel(folder, root)}/ that lead to a "
            f"folder already read (a symlink loop or a second link): {_shown(revisited)}; "
            f"their images are counted once"
        )
    return sorted(found)


def _shown(items: list[str], n: int = 3) -> str:
    items = sorted(items)
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def read_class_folders(
    split_dir: Path, root: Path, notes: list[str], *, sub: str = ""
) -> dict[str, list[str]]:
    """``<split_dir>/<class>/[sub/]*`` -> {class: [paths]}; an empty class folder is an error."""
    out: dict[str, list[str]] = {}
    for class_dir in class_dirs(split_dir):
        folder = class_dir / sub if sub else class_dir
        if not folder.is_dir():
            raise LayoutError(
                f"class folder {rel(class_dir, root)}/ has no {sub}/ subfolder "
                f"(expected {rel(folder, root)}/*.JPEG) in {root}; put the class's images there"
            )
        images = scan_images(folder, root, notes)
        if not images:
            raise LayoutError(
                f"empty class folder: {rel(folder, root)}/ contains no images "
                f"(expected image files such as *.JPEG) in {root}; add its images or remove the folder"
            )
        out[class_dir.name] = images
    return out


def require_dirs(root: Path, layout: Layout, dirs: list[Path]) -> None:
    """Each of ``dirs`` is a folder, or a LayoutError names the missing ones."""
    missing = [rel(d, root) + "/" for d in dirs if not d.is_dir()]
    if missing:
        raise LayoutError(
            f"{root} is not a complete {layout.name} layout: missing {', '.join(missing)} "
            f"(expected {layout.requirements}); restore them, or point --data at the folder "
            f"that holds them",
            layout=layout.name,
        )


def require_files(root: Path, layout: Layout, files: list[str]) -> None:
    """Each of ``files`` (relative to ``root``) exists, or a LayoutError names the missing ones.

    Only existence is checked: a folder or an unreadable file where the file
    should be is reported by the reader, which can say exactly that.
    """
    missing = [f for f in files if not os.path.lexists(root / f)]
    if missing:
        raise LayoutError(
            f"{root} is not a complete {layout.name} layout: missing {', '.join(missing)} "
            f"(expected {layout.requirements}); restore them from the {layout.defaults.label} "
            f"download, or point --data at the folder that holds them",
            layout=layout.name,
        )
