"""Label files as editors save them (BOM, UTF-16, cp1252, CRLF) and label files that cannot be read."""

from __future__ import annotations

import builtins
import codecs
import io
import os
from pathlib import Path

import pytest

from harness.data import LayoutError, read_layout
from harness.data.textfiles import decode_label_bytes, label_lines, read_label_text
from tests.fixtures.layout_trees import (
    WRITERS,
    write_kaggle_tree,
    write_tiny_imagenet_tree,
    write_val_sorted_tree,
)

# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (codecs.BOM_UTF8 + "n01 café\n".encode(), "n01 café\n"),
        ("n01 café\n".encode("utf-16"), "n01 café\n"),  # with a BOM, either byte order
        ("n01 café\n".encode("utf-16-be"), None),  # no BOM: not guessed (decodes to junk)
        (codecs.BOM_UTF16_BE + "n01 café\n".encode("utf-16-be"), "n01 café\n"),
        ("n01 café\n".encode("utf-32"), "n01 café\n"),
        ("n01 café\n".encode(), "n01 café\n"),
        ("n01 café – naïve\n".encode("cp1252"), "n01 café – naïve\n"),
        (b"n01 \x81\xe9\n", "n01 \x81é\n"),  # 0x81 is undefined in cp1252: Latin-1
        (codecs.BOM_UTF8 + b"n01 caf\xe9\n", "n01 café\n"),  # a BOM, then cp1252
    ],
)
def test_decode_label_bytes(data, text):
    decoded = decode_label_bytes(data)
    assert isinstance(decoded, str) and "\ufeff" not in decoded
    if text is not None:
        assert decoded == text


def test_label_lines_number_every_line_and_split_only_on_newlines():
    text = "a\r\nb\rc\n\n  \nd\u2028e\x85f\n"
    assert list(label_lines(text)) == [(1, "a"), (2, "b"), (3, "c"), (6, "d\u2028e\x85f")]


# ----------------------------------------------------------------------------- every reader


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize(
    "layout", ["tiny-imagenet", "ilsvrc-kaggle", "ilsvrc-devkit", "ilsvrc-val-sorted"]
)
def test_label_files_in_any_editor_encoding_read_the_same(tmp_path, layout, encoding):
    """Excel's "CSV UTF-8" (BOM), Notepad's "Unicode" (UTF-16) and "ANSI" (cp1252) label files.

    With a BOM the first wnid or the CSV header used to carry '\\ufeff' (a lost name, a bad
    header, an unknown class); UTF-16 and cp1252 names used to raise UnicodeDecodeError.
    """
    t = WRITERS[layout](tmp_path / "d", 7, encoding=encoding)
    index = read_layout(t.root)
    assert index.wnids == t.wnids
    assert {p: w for w, ps in index.files["val"].items() for p in ps} == dict(t.val_truth)
    assert dict(index.class_names) == dict(t.class_names)
    assert "crème brûlée" in index.class_names[t.wnids[0]]


def test_excel_saved_kaggle_csv_with_bom_and_crlf(tmp_path):
    t = write_kaggle_tree(tmp_path / "k", 7)
    for name in ("LOC_val_solution.csv", "LOC_synset_mapping.txt"):
        path = t.root / name
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\n", b"\r\n"))
    index = read_layout(t.root)
    assert dict(index.class_names) == dict(t.class_names)  # the first name is not lost
    assert index.count("val") == len(t.val_truth)


def test_bom_in_tiny_wnids_and_annotations(tmp_path):
    t = write_tiny_imagenet_tree(tmp_path / "t", 7)
    for name in ("wnids.txt", "val/val_annotations.txt", "words.txt"):
        path = t.root / name
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    assert read_layout(t.root).wnids == t.wnids


# ----------------------------------------------------------------------------- unreadable label files


def test_a_folder_where_a_label_file_should_be(tmp_path):
    t = write_tiny_imagenet_tree(tmp_path / "t", 7)
    ann = t.root / "val/val_annotations.txt"
    ann.unlink()
    ann.mkdir()
    with pytest.raises(LayoutError) as err:
        read_layout(t.root)
    msg = str(err.value)
    assert f"{ann} is a folder, but a file is expected there" in msg and "\n" not in msg


def test_a_folder_where_the_kaggle_synset_mapping_should_be(tmp_path):
    t = write_kaggle_tree(tmp_path / "k", 7)
    mapping = t.root / "LOC_synset_mapping.txt"
    mapping.unlink()
    mapping.mkdir()
    with pytest.raises(LayoutError, match=rf"{mapping} is a folder, but a file is expected there"):
        read_layout(t.root)


def _deny(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Opening ``denied`` raises PermissionError, as chmod 000 does for anyone but root."""
    real_open = io.open

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(denied):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", fake_open)  # what pathlib uses
    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize(
    ("layout", "label_file"),
    [
        ("tiny-imagenet", "words.txt"),
        ("tiny-imagenet", "val/val_annotations.txt"),
        ("ilsvrc-kaggle", "LOC_val_solution.csv"),
        ("ilsvrc-devkit", "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"),
        ("ilsvrc-devkit", "ILSVRC2012_devkit_t12/data/meta.mat"),
        ("ilsvrc-val-sorted", "LOC_synset_mapping.txt"),
    ],
)
def test_an_unreadable_label_file_says_so_and_how_to_fix_it(
    tmp_path, monkeypatch, layout, label_file
):
    t = WRITERS[layout](tmp_path / "d", 7)
    path = t.root / label_file
    _deny(monkeypatch, path)
    with pytest.raises(LayoutError) as err:
        read_layout(t.root)
    msg = str(err.value)
    assert msg.startswith("cannot read ") and f"{path}: permission denied" in msg
    assert msg.endswith(f"make it readable: chmod a+r {path}") and "\n" not in msg


def test_chmod_000_label_file(tmp_path):
    t = write_val_sorted_tree(tmp_path / "v", 7)
    path = t.root / "LOC_synset_mapping.txt"
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read a chmod 000 file (root)")
        with pytest.raises(
            LayoutError, match=rf"permission denied; make it readable: chmod a\+r {path}"
        ):
            read_layout(t.root)
    finally:
        path.chmod(0o644)


def test_read_label_text_keeps_the_callers_error_type(tmp_path):
    class OwnError(ValueError):
        pass

    with pytest.raises(OwnError, match=r"the thing .*missing.txt does not exist"):
        read_label_text(tmp_path / "missing.txt", "the thing", error=OwnError)
