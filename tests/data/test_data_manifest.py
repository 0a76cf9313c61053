"""Manifests and subsets: what is selected, and a hash that means "the same images"."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from harness.data import (
    SUBSETS,
    DataError,
    Manifest,
    Subset,
    SubsetError,
    adhoc_subset,
    build_manifest,
    get_subset,
)
from harness.data.subsets import load_subsets_toml
from harness.registry import UnknownNameError

SUB = Subset("manifest-test", size=16)


def test_same_data_same_hash_and_root_path_does_not_matter(synthetic_root, tmp_path):
    root = synthetic_root("ilsvrc-devkit")
    a = build_manifest(root, SUB)
    assert build_manifest(root, SUB).hash == a.hash
    moved = tmp_path / "elsewhere with space ü"
    shutil.copytree(root, moved)
    b = build_manifest(moved, SUB)
    assert b.hash == a.hash and b.root != a.root
    assert b.entries.equals(a.entries)


def test_changed_file_changes_the_hash(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    before = build_manifest(root, SUB)
    victim = root / before.entries["path"].iloc[3]
    data = bytearray(victim.read_bytes())
    data[200] ^= 0x01  # same size, one bit in the first 64 KiB
    victim.write_bytes(bytes(data))
    after = build_manifest(root, SUB)
    assert after.hash != before.hash
    assert (after.entries["fingerprint"] != before.entries["fingerprint"]).sum() == 1


def test_subset_version_and_size_are_part_of_the_hash(synthetic_root):
    root = synthetic_root("ilsvrc-devkit")
    base = build_manifest(root, SUB).hash
    assert build_manifest(root, dataclasses.replace(SUB, version=2)).hash != base
    assert build_manifest(root, dataclasses.replace(SUB, size=32)).hash != base
    assert build_manifest(root, dataclasses.replace(SUB, name="other")).hash != base


def test_save_and_load_round_trip(synthetic_root, tmp_path):
    m = build_manifest(synthetic_root("tiny-imagenet"), SUB)
    path = m.save(tmp_path / "m.csv")
    back = Manifest.load(path)
    assert back.hash == m.hash and back.entries.equals(m.entries)
    assert (back.wnids, back.class_names, back.subset, back.layout) == (
        m.wnids,
        m.class_names,
        m.subset,
        m.layout,
    )
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("train", "val")
    (tmp_path / "edited.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"edited.csv: manifest content does not match its hash"):
        Manifest.load(tmp_path / "edited.csv")


def test_per_class_counts_take_the_first_sorted_file_names(synthetic_root):
    root = synthetic_root("ilsvrc-devkit")
    full = build_manifest(root, SUB)
    small = build_manifest(root, dataclasses.replace(SUB, train_per_class=2, val_per_class=1))
    assert len(small.split_entries("train")) == 8 and len(small.split_entries("val")) == 4
    for wnid, rows in small.split_entries("train").groupby("wnid"):
        train = full.split_entries("train")
        all_paths = sorted(train[train["wnid"] == wnid]["path"])
        assert list(rows["path"]) == all_paths[:2]


def test_class_draw_is_seeded_and_labels_follow_the_drawn_sorted_wnids(synthetic_root):
    root = synthetic_root("ilsvrc-devkit", n_classes=8)
    a = build_manifest(root, dataclasses.replace(SUB, classes=3, class_seed=1))
    assert build_manifest(root, dataclasses.replace(SUB, classes=3, class_seed=1)).wnids == a.wnids
    assert len(a.wnids) == 3 and list(a.wnids) == sorted(a.wnids)
    assert set(a.entries["label"]) == {0, 1, 2}
    seeds = {
        build_manifest(root, dataclasses.replace(SUB, classes=3, class_seed=s)).wnids
        for s in range(6)
    }
    assert len(seeds) > 1
    explicit = build_manifest(root, dataclasses.replace(SUB, classes=(a.wnids[2], a.wnids[0])))
    assert explicit.wnids == (a.wnids[0], a.wnids[2])


def test_builtin_subsets():
    for name in (
        "tiny-imagenet",
        "imagenette",
        "imagewoof",
        "ilsvrc2012",
        "ilsvrc2012-100",
        "demo",
    ):
        s = get_subset(name)
        assert s.version >= 1 and s.description and s.source
        assert get_subset(f"{name}@{s.version}") is s
    assert get_subset("tiny-imagenet").size == 64 and get_subset("ilsvrc2012").size == 256
    assert get_subset("demo").size == 64
    assert (
        get_subset("imagenette").classes[0] == "n01440764"
        and len(get_subset("imagewoof").classes) == 10
    )
    c100 = get_subset("ilsvrc2012-100").classes
    assert (
        len(c100) == 100
        and list(c100) == sorted(c100)
        and all(len(w) == 9 and w[0] == "n" for w in c100)
    )
    assert "demo@1" in SUBSETS.names()


def test_unknown_subset_names_the_closest():
    with pytest.raises(
        UnknownNameError, match=r"unknown subset 'imagenete'; did you mean 'imagenette'\?"
    ):
        get_subset("imagenete")


def test_adhoc_subset_name_spells_its_parameters():
    s = adhoc_subset("tiny-imagenet", classes=10, train_per_class=50, val_per_class=20, seed=0)
    assert (
        s.name == "tiny-imagenet:c10-t50-v20-s0"
        and s.version == get_subset("tiny-imagenet").version
    )
    assert (s.classes, s.class_seed, s.train_per_class, s.val_per_class, s.size) == (
        10,
        0,
        50,
        20,
        64,
    )
    e = adhoc_subset("imagenette", classes=3, seed=4)
    assert (
        e.name == "imagenette:c3-s4"
        and len(e.classes) == 3
        and set(e.classes) <= set(get_subset("imagenette").classes)
    )
    with pytest.raises(SubsetError, match="asks for 11 classes but it has 10"):
        adhoc_subset("imagenette", classes=11)


def test_toml_errors_name_the_problem():
    with pytest.raises(SubsetError, match=r"x.toml: not valid TOML"):
        load_subsets_toml("[[subset]\n", source="x.toml")
    with pytest.raises(SubsetError, match=r"unknown keys \['colour'\]"):
        load_subsets_toml('[[subset]]\nname = "a"\ncolour = 1\n')
    with pytest.raises(SubsetError, match=r"classes must be 'all', an int or a list of wnids"):
        Subset("a", classes="some")


def test_fingerprint_memo_skips_unchanged_files_and_sees_changed_ones(
    synthetic_root, tmp_path, monkeypatch
):
    import harness.data.fingerprints as fingerprints

    root = synthetic_root("ilsvrc-devkit", fresh=True)
    memo = tmp_path / "memo"
    first = build_manifest(root, SUB, fingerprint_memo=memo)
    assert first.hash == build_manifest(root, SUB).hash  # the memo changes nothing but speed

    reads: list[str] = []
    real = fingerprints.file_fingerprint
    monkeypatch.setattr(fingerprints, "file_fingerprint", lambda p: reads.append(str(p)) or real(p))
    assert build_manifest(root, SUB, fingerprint_memo=memo).hash == first.hash
    assert reads == []  # nothing re-read

    victim = root / first.entries["path"].iloc[0]
    victim.write_bytes(
        victim.read_bytes()[:-10] + b"0123456789"
    )  # same size, new content and mtime
    changed = build_manifest(root, SUB, fingerprint_memo=memo)
    assert reads == [str(victim)] and changed.hash != first.hash

    (memo_file,) = memo.iterdir()
    memo_file.write_text("garbage,\n1")  # a damaged memo is recomputed, not trusted
    reads.clear()
    assert build_manifest(root, SUB, fingerprint_memo=memo).hash == changed.hash
    assert len(reads) == len(first)
