"""The decoded-image cache: built once, reused, rebuilt when damaged, safe under kills and full disks."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import harness.data.cache as cache_module
from harness.data import (
    BadImagesError,
    CacheWriteError,
    Subset,
    build_manifest,
    decode_image,
    ensure_cache,
)
from tests.fixtures.bad_files import add_bad_files

REPO = Path(__file__).parents[2]
SUB = Subset("cache-test", size=16)


@pytest.fixture()
def manifest(synthetic_root):
    return build_manifest(synthetic_root("ilsvrc-devkit"), SUB)


def _files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def test_build_then_reuse(manifest, tmp_path):
    first = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    assert first.built_now and first.n_decoded == len(manifest) and first.build_seconds > 0
    again = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    assert not again.built_now
    assert again.build_seconds == first.build_seconds  # the facts of the build that made it
    assert _files(first.directory) == {"images.u8", "meta.json"}


def test_splits_hold_the_decoded_images_in_manifest_order(manifest, tmp_path):
    cached = ensure_cache(manifest, tmp_path, n_jobs=2, quiet=True)  # the process-pool path
    for name in ("train", "val"):
        split = cached.split(name)
        rows = manifest.split_entries(name)
        assert split.images.shape == (len(rows), 16, 16, 3) and isinstance(split.images, np.memmap)
        assert not split.images.flags.writeable
        assert split.labels.dtype == np.int64 and list(split.labels) == list(rows["label"])
        assert split.paths == tuple(rows["path"])
        assert split.wnids == manifest.wnids and split.class_names == manifest.class_names
        for i in (0, len(rows) - 1):
            np.testing.assert_array_equal(
                split.images[i], decode_image(manifest.root / split.paths[i], 16)
            )
    assert cached.record()["cache_decode_images_per_s"] > 0


@pytest.mark.parametrize(
    "damage",
    ["flip-byte", "truncate-data", "drop-data", "edit-meta", "garbage-meta", "drop-meta"],
)
def test_damaged_cache_is_rebuilt_not_used(manifest, tmp_path, damage):
    good = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    reference = np.array(good.images)
    data, meta = good.directory / "images.u8", good.directory / "meta.json"
    del good
    if damage == "flip-byte":
        with open(data, "r+b") as f:
            f.seek(1000)
            b = f.read(1)
            f.seek(1000)
            f.write(bytes([b[0] ^ 0xFF]))
    elif damage == "truncate-data":
        os.truncate(data, data.stat().st_size - 16 * 16 * 3)
    elif damage == "drop-data":
        data.unlink()
    elif damage == "edit-meta":
        m = json.loads(meta.read_text())
        m["n_rows"] += 1  # any edit breaks the metadata's own checksum
        meta.write_text(json.dumps(m))
    elif damage == "garbage-meta":
        meta.write_text('{"format": "harness-cache/1", "manifest_ha')
    else:
        meta.unlink()
    rebuilt = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    assert rebuilt.built_now
    np.testing.assert_array_equal(rebuilt.images, reference)


def test_stale_metadata_for_another_manifest_is_rebuilt(manifest, tmp_path):
    good = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    m = json.loads((good.directory / "meta.json").read_text())
    m["manifest_hash"] = "0" * 64
    m["meta_checksum"] = cache_module._meta_digest(m)  # a well-formed but stale metadata file
    (good.directory / "meta.json").write_text(json.dumps(m))
    assert ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True).built_now


def test_bad_images_all_listed_before_anything_trains(synthetic_root, tmp_path):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    bad = add_bad_files(root, ["truncated", "zero-byte", "text", "bomb", "non-image"])
    manifest = build_manifest(root, SUB)
    assert not any("notes.txt" in p for p in manifest.entries["path"])  # ignored by the layout
    with pytest.raises(BadImagesError) as err:
        ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    listed = {p for p, _ in err.value.bad_images}
    assert listed == {str(p) for p in bad[:4]}
    msg = str(err.value)
    assert "4 image(s) could not be decoded" in msg and "--skip-bad-images" in msg
    for path, reason in (
        (bad[0], "truncated"),
        (bad[1], "empty file (0 bytes)"),
        (bad[2], "not an image file"),
        (bad[3], "decompression bomb"),
    ):
        assert f"{path}: " in msg and reason in msg


def test_skip_bad_images_excludes_and_reports_them(synthetic_root, tmp_path):
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    bad = add_bad_files(root, ["truncated", "text"])
    manifest = build_manifest(root, SUB)
    with pytest.raises(BadImagesError):
        ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    cached = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True, skip_bad_images=True)
    assert not cached.built_now  # the failed run already built (and verified) the good rows
    assert sorted(p for p, _ in cached.bad_images) == sorted(str(p) for p in bad)
    assert cached.record()["bad_images"][0][1]
    train = cached.split("train")
    bad_rel = {p.relative_to(root).as_posix() for p in bad}
    assert len(train) == len(manifest.split_entries("train")) - 2
    assert not bad_rel & set(train.paths)
    for i in range(len(train)):  # the compacted rows line up with their paths and labels
        np.testing.assert_array_equal(train.images[i], decode_image(root / train.paths[i], 16))
        assert manifest.wnids[train.labels[i]] in train.paths[i]
    assert len(cached.split("val")) == len(manifest.split_entries("val"))


def test_disk_full_at_allocation_leaves_nothing(manifest, tmp_path, monkeypatch):
    def full(path, nbytes):
        Path(path).write_bytes(b"\0" * 10)  # a partial file, as a real writer would leave
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_allocate", full)
    with pytest.raises(
        CacheWriteError, match=r"no space left on device while writing the image cache"
    ):
        ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    (d,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert _files(d) == set()


def test_disk_full_mid_write_leaves_nothing(manifest, tmp_path, monkeypatch):
    real = cache_module._write_rows

    def half_then_full(data_path, offset, block):
        real(data_path, offset, block[: len(block) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_write_rows", half_then_full)
    with pytest.raises(CacheWriteError, match=r"no space left on device .*nothing was kept"):
        ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    (d,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert _files(d) == set()
    monkeypatch.setattr(cache_module, "_write_rows", real)
    assert ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True).built_now


def test_disk_full_writing_metadata_leaves_nothing_valid(manifest, tmp_path, monkeypatch):
    def full(directory, meta):
        (directory / "meta.json").write_text(json.dumps(meta)[:20])  # torn write
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_write_meta", full)
    with pytest.raises(CacheWriteError, match="no space left"):
        ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    (d,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert _files(d) == set()


# ----------------------------------------------------------------------------- processes

CHILD = """
import json, sys, time
import harness.data.cache as cache
from harness.data import Subset, build_manifest, ensure_cache

delay = float(sys.argv[3])
real = cache.decode_or_reason
def slow(*args, **kwargs):
    time.sleep(delay)
    return real(*args, **kwargs)
cache.decode_or_reason = slow
cache.CHUNK_ROWS = 4
manifest = build_manifest(sys.argv[1], Subset("cache-test", size=16))
print("manifest-ready", flush=True)
cached = ensure_cache(manifest, sys.argv[2], n_jobs=1, quiet=True)
print(json.dumps({"built_now": cached.built_now, "rows": len(cached.rows)}), flush=True)
"""


def _child(root: Path, cache_root: Path, delay: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(cache_root), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_concurrent_builders_build_once(synthetic_root, tmp_path):
    root = synthetic_root("ilsvrc-devkit")
    procs = [_child(root, tmp_path, 0.05) for _ in range(2)]  # builds overlap
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    assert sorted(r["built_now"] for r in results) == [False, True]
    assert {r["rows"] for r in results} == {36}


def test_sigkilled_build_leaves_nothing_that_is_used(synthetic_root, tmp_path):
    root = synthetic_root("ilsvrc-devkit")
    proc = _child(root, tmp_path, 0.2)
    assert proc.stdout.readline().strip() == "manifest-ready"
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*/images.u8.tmp-*")):  # the build is under way
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # a few chunks written
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (d,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert "meta.json" not in _files(d)
    manifest = build_manifest(root, SUB)
    cached = ensure_cache(manifest, tmp_path, n_jobs=1, quiet=True)
    assert cached.built_now
    assert _files(d) == {"images.u8", "meta.json"}  # the orphaned temporary file is gone
    train = cached.split("train")
    np.testing.assert_array_equal(train.images[-1], decode_image(root / train.paths[-1], 16))


def test_cache_is_shared_by_a_moved_copy_and_a_loaded_manifest(manifest, tmp_path):
    import shutil

    from harness.data import Manifest

    ensure_cache(manifest, tmp_path / "cache", n_jobs=1, quiet=True)
    moved = tmp_path / "moved copy"
    shutil.copytree(manifest.root, moved)
    again = ensure_cache(build_manifest(moved, SUB), tmp_path / "cache", n_jobs=1, quiet=True)
    assert not again.built_now  # same images, same key, wherever the copy lives
    loaded = Manifest.load(manifest.save(tmp_path / "m.csv"), root=moved)
    assert not ensure_cache(loaded, tmp_path / "cache", n_jobs=1, quiet=True).built_now
