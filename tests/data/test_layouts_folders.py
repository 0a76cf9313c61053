"""Class folders as real copies break them: symlink loops, links elsewhere, folders that cannot be read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.data import LayoutError, read_layout
from tests.fixtures.layout_trees import write_tiny_imagenet_tree, write_val_sorted_tree


@pytest.fixture()
def sorted_tree(tmp_path):
    return write_val_sorted_tree(tmp_path / "d", 7, train_per_class=3)


# ----------------------------------------------------------------------------- symlinks


@pytest.mark.parametrize("target", [".", "..", "../.."])
def test_a_symlink_loop_counts_images_once_and_is_noted(sorted_tree, target):
    """``train/<wnid>/loop -> .`` used to multiply that class's images (exit 0)."""
    t = sorted_tree
    wnid = t.wnids[2]
    (t.root / "train" / wnid / "loop").symlink_to(target, target_is_directory=True)
    index = read_layout(t.root)
    assert {w: len(index.files["train"][w]) for w in t.wnids} == {w: 3 for w in t.wnids}
    assert any(
        f"in train/{wnid}/" in note and "symlink loop" in note and f"train/{wnid}/loop" in note
        for note in index.notes
    ), index.notes


def test_a_loop_deeper_inside_a_class_folder(sorted_tree):
    t = sorted_tree
    wnid = t.wnids[0]
    sub = t.root / "train" / wnid / "more"
    sub.mkdir()
    shutil.copy(t.root / "train" / wnid / f"{wnid}_0.JPEG", sub / f"{wnid}_extra.JPEG")
    (sub / "back").symlink_to("..", target_is_directory=True)
    index = read_layout(t.root)
    assert len(index.files["train"][wnid]) == 4
    assert f"train/{wnid}/more/{wnid}_extra.JPEG" in index.files["train"][wnid]


def test_symlinked_class_folders_elsewhere_are_still_followed(sorted_tree, tmp_path):
    t = sorted_tree
    wnid = t.wnids[1]
    elsewhere = tmp_path / "elsewhere" / wnid
    shutil.move(t.root / "train" / wnid, elsewhere)
    (t.root / "train" / wnid).symlink_to(elsewhere, target_is_directory=True)
    index = read_layout(t.root)
    assert len(index.files["train"][wnid]) == 3 and not index.notes


# ----------------------------------------------------------------------------- unreadable folders


def _deny_scandir(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Listing ``denied`` raises PermissionError, as chmod 000 does for anyone but root."""
    real = os.scandir

    def fake_scandir(path="."):
        if os.fspath(path) == os.fspath(denied):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)


def test_an_unreadable_class_folder_is_not_called_empty(sorted_tree, monkeypatch):
    t = sorted_tree
    folder = t.root / "train" / t.wnids[3]
    _deny_scandir(monkeypatch, folder)
    with pytest.raises(LayoutError) as err:
        read_layout(t.root)
    msg = str(err.value)
    assert "empty" not in msg and "\n" not in msg
    assert msg == (
        f"cannot read class folder {folder}: permission denied; "
        f"make it readable: chmod -R a+rX {folder}"
    )


def test_an_unreadable_split_folder(sorted_tree, monkeypatch):
    t = sorted_tree
    _deny_scandir(monkeypatch, t.root / "val")
    with pytest.raises(
        LayoutError, match=rf"cannot read .*{t.root / 'val'}: permission denied; .*chmod -R a\+rX"
    ):
        read_layout(t.root)


def test_an_unreadable_tiny_images_folder(tmp_path, monkeypatch):
    t = write_tiny_imagenet_tree(tmp_path / "t", 7)
    folder = t.root / "train" / t.wnids[0] / "images"
    _deny_scandir(monkeypatch, folder)
    with pytest.raises(LayoutError, match=rf"cannot read class folder {folder}: permission denied"):
        read_layout(t.root)


def test_chmod_000_class_folder(sorted_tree):
    t = sorted_tree
    folder = t.root / "train" / t.wnids[3]
    folder.chmod(0)
    try:
        if os.access(folder, os.R_OK):
            pytest.skip("running as a user who can read a chmod 000 folder (root)")
        with pytest.raises(LayoutError, match=r"cannot read class folder .*permission denied"):
            read_layout(t.root)
    finally:
        folder.chmod(0o755)
