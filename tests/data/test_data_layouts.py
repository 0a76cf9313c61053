"""Layout detection and reading, and every layout/label error of issue 6."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.data import (
    LayoutError,
    Subset,
    SubsetError,
    build_manifest,
    detect_layout,
    read_layout,
)
from harness.data.synthetic import SYNTHETIC_LAYOUTS

ALL = Subset("all", size=24)


@pytest.mark.parametrize(
    ("layout", "detected"),
    [
        ("ilsvrc-devkit", "ilsvrc-devkit"),
        ("ilsvrc-kaggle", "ilsvrc-kaggle"),
        ("ilsvrc-sorted", "ilsvrc-val-sorted"),
        ("tiny-imagenet", "tiny-imagenet"),
        # the generated "imagefolder" tree has wnid-named folders: it is a val-sorted copy
        # (trees whose class names are not wnids: tests/data/test_layouts_synthetic.py)
        ("imagefolder", "ilsvrc-val-sorted"),
    ],
)
def test_each_layout_is_detected_and_read(synthetic_root, layout, detected):
    root = synthetic_root(layout)
    assert detect_layout(root) == detected
    m = build_manifest(root, ALL)
    assert m.layout == detected
    assert list(m.wnids) == sorted(m.wnids) and len(m.wnids) == 4
    train, val = m.split_entries("train"), m.split_entries("val")
    assert len(train) == 4 * 6 and len(val) == 4 * 3
    # labels are positions in the sorted wnid list, for every row
    assert all(
        m.wnids[lab] == w for lab, w in zip(m.entries["label"], m.entries["wnid"], strict=True)
    )
    assert (train.groupby("wnid").size() == 6).all() and (val.groupby("wnid").size() == 3).all()
    assert list(m.entries["split"]) == ["train"] * 24 + ["val"] * 12
    assert all(not p.startswith("/") and (root / p).is_file() for p in m.entries["path"])


def _val_truth(root: Path) -> dict[str, str]:
    m = build_manifest(root, ALL)
    val = m.split_entries("val")
    return {Path(p).name: w for p, w in zip(val["path"], val["wnid"], strict=True)}


def test_devkit_and_kaggle_labels_match_the_sorted_copy(synthetic_root):
    """Same seed -> same pictures: the flat-val readers must give the labels of the sorted copy.

    The devkit copy numbers classes by ILSVRC2012_IDs in a shuffled order, so this
    fails if IDs are mixed up with sorted-wnid indices anywhere.
    """
    truth = _val_truth(synthetic_root("ilsvrc-sorted"))
    assert _val_truth(synthetic_root("ilsvrc-devkit")) == truth
    assert _val_truth(synthetic_root("ilsvrc-kaggle")) == truth


def test_devkit_ids_are_not_sorted_wnid_order(synthetic_root):
    from harness.data.layouts import read_devkit_meta

    root = synthetic_root("ilsvrc-devkit")
    id_to_wnid, names = read_devkit_meta(root / "ILSVRC2012_devkit_t12/data/meta.mat")
    assert sorted(id_to_wnid) == [1, 2, 3, 4]  # the parent synset (num_children > 0) is dropped
    assert [id_to_wnid[i] for i in sorted(id_to_wnid)] != sorted(id_to_wnid.values())
    assert "n99999999" not in names and len(names) == 4


def test_class_names_come_from_the_layout_files(synthetic_root):
    for layout in ("ilsvrc-devkit", "ilsvrc-kaggle", "ilsvrc-sorted", "tiny-imagenet"):
        m = build_manifest(synthetic_root(layout), ALL)
        assert m.class_names[0].endswith("(0)") and "stripes" in m.class_names[0], layout
    m = build_manifest(synthetic_root("imagefolder"), ALL)
    assert m.class_names == m.wnids  # no names file: the wnid


def test_kaggle_without_the_nesting(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle", fresh=True)
    nested = root / "ILSVRC/Data/CLS-LOC"
    shutil.move(nested / "train", root / "train")
    shutil.move(nested / "val", root / "val")
    shutil.rmtree(root / "ILSVRC")
    assert detect_layout(root) == "ilsvrc-kaggle"
    assert _val_truth(root) == _val_truth(synthetic_root("ilsvrc-sorted"))


def test_devkit_files_found_in_the_root_too(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    data = root / "ILSVRC2012_devkit_t12/data"
    for f in data.iterdir():
        shutil.move(f, root / f.name)
    shutil.rmtree(root / "ILSVRC2012_devkit_t12")
    assert _val_truth(root) == _val_truth(synthetic_root("ilsvrc-sorted"))


# ----------------------------------------------------------------------------- errors


def test_not_a_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(
        LayoutError, match=r"missing train/ and val/ \(found: photos/\).*tiny-imagenet"
    ):
        detect_layout(tmp_path)
    with pytest.raises(LayoutError, match="does not exist"):
        detect_layout(tmp_path / "nope")


def test_missing_val_ground_truth(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    (root / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt").unlink()
    with pytest.raises(LayoutError) as err:
        read_layout(root)
    msg = str(err.value)
    assert "missing val ground truth" in msg
    assert "missing: ILSVRC2012_validation_ground_truth.txt" in msg
    assert str(root / "ILSVRC2012_devkit_t12/data") in msg


def test_ground_truth_rows_do_not_match_val_images(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    (root / "val/ILSVRC2012_val_00000005.JPEG").unlink()
    with pytest.raises(
        LayoutError,
        match=r"ILSVRC2012_validation_ground_truth.txt has 12 rows but val/ has 11 images",
    ):
        read_layout(root)


def test_kaggle_val_image_without_a_row(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle", fresh=True)
    csv = root / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines(keepends=True)
    dropped = lines.pop(3).split(",")[0]
    csv.write_text("".join(lines))
    with pytest.raises(
        LayoutError,
        match=rf"LOC_val_solution.csv has 11 rows but .*12 images; unlabelled: {dropped}",
    ):
        read_layout(root)


def test_unknown_wnid_in_kaggle_labels(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle", fresh=True)
    csv = root / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines(keepends=True)
    image_id = lines[2].split(",")[0]
    lines[2] = f"{image_id},n99999999 1 2 3 4\n"
    csv.write_text("".join(lines))
    with pytest.raises(
        LayoutError,
        match=rf"unknown wnid n99999999: .*LOC_val_solution.csv line 3 labels {image_id}",
    ):
        read_layout(root)


def test_unknown_wnid_in_tiny_annotations(synthetic_root):
    root = synthetic_root("tiny-imagenet", fresh=True)
    ann = root / "val/val_annotations.txt"
    lines = ann.read_text().splitlines(keepends=True)
    parts = lines[0].split("\t")
    lines[0] = "\t".join([parts[0], "n98765432", *parts[2:]])
    ann.write_text("".join(lines))
    with pytest.raises(
        LayoutError,
        match=rf"unknown wnid n98765432: .*val_annotations.txt line 1 labels {parts[0]}",
    ):
        read_layout(root)


def test_unknown_wnid_devkit_id_outside_meta(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    gt = root / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
    lines = gt.read_text().splitlines(keepends=True)
    lines[1] = "999\n"
    gt.write_text("".join(lines))
    with pytest.raises(
        LayoutError,
        match=r"line 2: ILSVRC2012_ID 999 is not a leaf synset in .*meta.mat \(IDs 1..4\)",
    ):
        read_layout(root)


def test_unknown_wnid_val_folder_without_train_folder(synthetic_root):
    root = synthetic_root("imagefolder", fresh=True)
    first = sorted((root / "val").iterdir())[0]
    first.rename(root / "val" / "n91111111")
    with pytest.raises(
        LayoutError,
        match=r"unknown wnid n91111111: val/n91111111/ has no matching class folder in train/",
    ):
        read_layout(root)


def test_empty_class_folder(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    folder = sorted((root / "train").iterdir())[2]
    for f in folder.iterdir():
        f.unlink()
    (folder / "readme.txt").write_text("not an image")
    with pytest.raises(
        LayoutError, match=rf"empty class folder: train/{folder.name}/ contains no images"
    ):
        read_layout(root)


def test_duplicate_file_names_across_classes(synthetic_root):
    root = synthetic_root("imagefolder", fresh=True)
    a, b = sorted((root / "train").iterdir())[:2]
    src = sorted(a.iterdir())[0]
    shutil.copy(src, b / src.name)
    with pytest.raises(
        LayoutError,
        match=rf"duplicate file names across classes in train/.*train/{a.name}/{src.name} and train/{b.name}/{src.name}",
    ):
        read_layout(root)


def test_non_image_files_are_ignored_with_a_note(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    folder = sorted((root / "train").iterdir())[0]
    (folder / "notes.txt").write_text("x")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / f"._{folder.name}_1.JPEG").write_bytes(b"\0\5\26\7")  # macOS resource fork
    m = build_manifest(root, ALL)
    assert len(m.split_entries("train")) == 24
    assert any(f"ignored 3 non-image file(s) in train/{folder.name}/" in n for n in m.notes)


def test_tiny_partial_layout_names_what_is_missing(synthetic_root):
    root = synthetic_root("tiny-imagenet", fresh=True)
    (root / "val/val_annotations.txt").unlink()
    with pytest.raises(
        LayoutError, match=r"not a complete tiny-imagenet layout: missing val/val_annotations.txt"
    ):
        read_layout(root)


def test_subset_asks_for_more_images_than_exist(synthetic_root):
    root = synthetic_root("ilsvrc-devkit")
    with pytest.raises(
        SubsetError,
        match=r"asks for 7 train images per class but class n9000000\d has only 6 in train/n9000000\d/",
    ):
        build_manifest(root, Subset("big", train_per_class=7, size=24))
    with pytest.raises(SubsetError, match=r"asks for 5 classes but the dataset in .* has only 4"):
        build_manifest(root, Subset("many", classes=5, size=24))
    with pytest.raises(
        SubsetError, match=r"needs 1 class\(es\) the dataset .* does not have \(n01440764"
    ):
        build_manifest(root, Subset("named", classes=("n01440764", "n90000001"), size=24))


def test_subset_layout_hint_in_errors(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(
        LayoutError, match=r"subset tiny-imagenet@1 expects the tiny-imagenet layout: wnids.txt"
    ):
        from harness.data import get_subset

        build_manifest(tmp_path, get_subset("tiny-imagenet"))


def test_every_synthetic_layout_is_covered():
    assert set(SYNTHETIC_LAYOUTS) == {
        "ilsvrc-devkit",
        "ilsvrc-kaggle",
        "ilsvrc-sorted",
        "tiny-imagenet",
        "imagefolder",
    }


# ----------------------------------------------------------------------------- val labels listed twice


def test_tiny_annotation_listing_one_image_twice_and_another_not_at_all(synthetic_root):
    """Used to pass (same row count) and score one image twice."""
    root = synthetic_root("tiny-imagenet", fresh=True)
    ann = root / "val/val_annotations.txt"
    lines = ann.read_text().splitlines(keepends=True)
    twice, dropped = lines[0].split("\t")[0], lines[4].split("\t")[0]
    lines[4] = lines[0]
    ann.write_text("".join(lines))
    with pytest.raises(LayoutError) as err:
        read_layout(root)
    msg = str(err.value)
    assert f"{ann} lines 1 and 5 both label {twice}" in msg and "remove one of the lines" in msg
    assert dropped  # the duplicate is reported first; the unlabelled image next:
    lines[4] = ""
    ann.write_text("".join(lines))
    with pytest.raises(LayoutError, match=rf"val/images/ has 12 images; unlabelled: {dropped}"):
        read_layout(root)


def test_kaggle_solution_listing_one_image_twice(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle", fresh=True)
    csv = root / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines(keepends=True)
    image_id = lines[3].split(",")[0]
    csv.write_text("".join([*lines, lines[3]]))
    with pytest.raises(
        LayoutError,
        match=rf"LOC_val_solution.csv lines 4 and {len(lines) + 1} both label {image_id}",
    ):
        read_layout(root)


# ----------------------------------------------------------------------------- errors name the right layout


def test_empty_train_and_val_folders_say_so(tmp_path):
    """Used to be reported as 'missing val ground truth' (the devkit's)."""
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(LayoutError) as err:
        read_layout(tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'train'}/ has no class folders" in msg
    assert "ground truth" not in msg and "meta.mat" not in msg


def test_train_without_val_class_folders(synthetic_root, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(synthetic_root("imagefolder") / "train", root / "train")
    (root / "val").mkdir()
    with pytest.raises(LayoutError, match=rf"{root / 'val'}/ has no class folders"):
        read_layout(root)


def test_kaggle_errors_name_kaggle_files_only(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle", fresh=True)
    (root / "LOC_val_solution.csv").unlink()  # still Kaggle: its ILSVRC/Data/CLS-LOC nesting
    with pytest.raises(LayoutError) as err:
        read_layout(root)
    msg = str(err.value)
    assert "ilsvrc-kaggle layout: missing LOC_val_solution.csv" in msg
    assert "meta.mat" not in msg and "devkit" not in msg and "ground_truth" not in msg
    assert err.value.layout == "ilsvrc-kaggle"


def test_kaggle_images_pointed_at_directly_get_a_hint(synthetic_root):
    root = synthetic_root("ilsvrc-kaggle")
    nested = root / "ILSVRC/Data/CLS-LOC"
    assert detect_layout(nested) == "ilsvrc-devkit"  # a flat val/: the devkit's shape
    with pytest.raises(LayoutError, match=rf"missing val ground truth: .*pass --data {root}$"):
        read_layout(nested)


def test_unknown_layout_lists_every_layout_and_ends_with_what_to_type(tmp_path):
    from harness.data.layouts import LAYOUT_REQUIREMENTS

    (tmp_path / "photos").mkdir()
    (tmp_path / "train").mkdir()
    with pytest.raises(LayoutError) as err:
        detect_layout(tmp_path)
    msg = str(err.value)
    assert "missing val/ (found: photos/, train/)" in msg
    for name, needs in LAYOUT_REQUIREMENTS.items():
        assert f"{name}: {needs}" in msg
    assert msg.endswith(
        "point --data at the folder that holds train/ and val/ (for Tiny ImageNet: wnids.txt)"
    )


def test_unknown_layout_points_at_a_dataset_one_level_down(synthetic_root, tmp_path):
    shutil.copytree(synthetic_root("tiny-imagenet"), tmp_path / "tiny-imagenet-200")
    with pytest.raises(LayoutError) as err:
        detect_layout(tmp_path)
    assert str(err.value).endswith(
        f"tiny-imagenet-200/ holds a tiny-imagenet layout: pass --data {tmp_path / 'tiny-imagenet-200'}"
    )


# ----------------------------------------------------------------------------- one line each


def test_layout_error_messages_are_one_line():
    err = LayoutError("meta.mat: not a devkit meta.mat: scipy says\n  line one\r\n  line two\n")
    assert str(err) == "meta.mat: not a devkit meta.mat: scipy says line one line two"


def _breakages(synthetic_root, tmp_path):
    """(description, root) for a spread of broken roots, one per reader and kind of error."""

    def fresh(layout):
        return synthetic_root(layout, fresh=True)

    root = fresh("ilsvrc-devkit")
    (root / "ILSVRC2012_devkit_t12/data/meta.mat").write_bytes(b"not a mat file\n\n")
    yield "devkit: corrupt meta.mat", root
    root = fresh("ilsvrc-devkit")
    gt = root / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
    gt.write_text(gt.read_text().replace("1\n", "one\n", 1))
    yield "devkit: a bad ID", root
    root = fresh("ilsvrc-kaggle")
    (root / "LOC_val_solution.csv").write_text("a,b\n")
    yield "kaggle: bad header", root
    root = fresh("tiny-imagenet")
    (root / "wnids.txt").write_text("n00000009\n")
    yield "tiny: unlisted class", root
    root = fresh("tiny-imagenet")
    (root / "val/val_annotations.txt").write_text("just-one-field\n")
    yield "tiny: a bad line", root
    root = fresh("imagefolder")
    first = sorted((root / "train").iterdir())[0]
    for f in first.iterdir():
        f.unlink()
    yield "folders: an empty class", root
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir()
    yield "folders: empty train/ and val/", tmp_path / "empty"
    (tmp_path / "nothing").mkdir()
    yield "no layout", tmp_path / "nothing"


_FIXES = (
    "restore",
    "put ",
    "add ",
    "remove",
    "chmod",
    "--data",
    "extract",
    "use ",
    "fix ",
    "unpack",
    "replace",
    "keep ",
)


def test_every_layout_error_names_the_place_and_a_fix_on_one_line(synthetic_root, tmp_path):
    for what, root in _breakages(synthetic_root, tmp_path):
        with pytest.raises(LayoutError) as err:
            read_layout(root)
        msg = str(err.value)
        assert "\n" not in msg, what
        assert str(root) in msg, what
        assert any(fix in msg for fix in _FIXES), (what, msg)


def test_val_images_outside_the_class_folders_are_an_error(synthetic_root):
    root = synthetic_root("imagefolder", fresh=True)
    first = sorted((root / "val").iterdir())[0]
    stray = sorted(first.iterdir())[0]
    stray.rename(root / "val" / stray.name)
    with pytest.raises(
        LayoutError, match=rf"val/ holds 1 image\(s\) outside any class folder \({stray.name}\)"
    ):
        read_layout(root)
