"""decode_image: the ILSVRC file quirks decode to the right colours; bad files say why."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data import DecodeError, decode_image
from harness.data.synthetic import QUIRKS
from tests.fixtures.bad_files import add_bad_files


@pytest.fixture(scope="module")
def quirky_root(synthetic_root) -> Path:
    return synthetic_root("ilsvrc-devkit", quirks=True, train_per_class=8)


@pytest.mark.parametrize("kind", sorted(QUIRKS))
def test_quirks_decode_to_the_expected_colour(quirky_root, kind):
    tag, rgb = QUIRKS[kind]
    (path,) = quirky_root.glob(f"train/*/*_{tag}.JPEG")
    img = decode_image(path, 16)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    # JPEG (and CMYK round trips) are lossy: a few levels of tolerance, far below a wrong conversion
    np.testing.assert_allclose(img.reshape(-1, 3).mean(0), rgb, atol=4)


def test_quirk_files_really_are_quirky(quirky_root):
    def opened(tag: str) -> Image.Image:
        (p,) = quirky_root.glob(f"train/*/*_{tag}.JPEG")
        return Image.open(p)

    assert (opened("quirk-cmyk").format, opened("quirk-cmyk").mode) == ("JPEG", "CMYK")
    assert "adobe" in opened("quirk-cmyk").info
    assert (
        opened("quirk-cmyk-plain").mode == "CMYK" and "adobe" not in opened("quirk-cmyk-plain").info
    )
    assert opened("quirk-gray").mode == "L"
    assert opened("quirk-png").format == "PNG"
    assert opened("quirk-palette").mode == "P"
    assert opened("quirk-png16").mode.startswith("I")
    assert opened("quirk-rgba").mode == "RGBA"


def test_short_side_resize_and_centre_crop(tmp_path):
    # 120x60: red side bands, a green 60x60 centre square
    arr = np.zeros((60, 120, 3), np.uint8)
    arr[:, :] = (255, 0, 0)
    arr[:, 30:90] = (0, 255, 0)
    Image.fromarray(arr).save(tmp_path / "wide.png")
    img = decode_image(tmp_path / "wide.png", 30)
    assert img.shape == (30, 30, 3)
    assert (img[:, 1:-1, 1] > 200).all() and (img[:, 1:-1, 0] < 50).all()


def test_tall_image_is_cropped_vertically(tmp_path):
    arr = np.zeros((90, 30, 3), np.uint8)
    arr[30:60] = 255  # white centre square, black above and below
    Image.fromarray(arr).save(tmp_path / "tall.png")
    img = decode_image(tmp_path / "tall.png", 10)
    assert (img[1:-1] > 200).all()


def test_large_jpeg_draft_decode_matches_full_decode(tmp_path):
    rng = np.random.default_rng(0)
    low = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(low).resize((1600, 1200), Image.Resampling.BICUBIC).save(
        tmp_path / "big.JPEG", quality=92
    )
    fast = decode_image(tmp_path / "big.JPEG", 64).astype(float)
    full = Image.open(tmp_path / "big.JPEG").convert("RGB")  # no draft: full-resolution decode
    ref = np.asarray(
        full.resize((64, 64), Image.Resampling.BILINEAR, box=(200, 0, 1400, 1200)), float
    )
    assert np.abs(fast - ref).mean() < 3


@pytest.fixture()
def bad_files(synthetic_root) -> dict[str, Path]:
    root = synthetic_root("ilsvrc-devkit", fresh=True)
    kinds = ["truncated", "zero-byte", "text", "bomb", "unreadable"]
    return dict(zip(kinds, add_bad_files(root, kinds), strict=True))


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", r"corrupt or truncated image data: .*truncated"),
        ("zero-byte", r"empty file \(0 bytes\)"),
        ("text", r"not an image file \(unrecognised format; starts with b'<html><body>404"),
        ("bomb", r"refused: decompression bomb guard: .*400000000 pixels"),
    ],
)
def test_bad_files_are_reported_by_path_with_the_reason(bad_files, kind, reason):
    path = bad_files[kind]
    with pytest.raises(DecodeError, match=reason) as err:
        decode_image(path, 24)
    assert err.value.path == str(path)
    assert str(err.value).startswith(f"{path}: ")


def test_bomb_under_pillows_limit_refused_by_our_pixel_count(tmp_path):
    Image.new("RGB", (300, 200)).save(tmp_path / "x.png")
    with pytest.raises(
        DecodeError, match=r"header says 300x200 = 60,000 pixels, over the 50,000 limit"
    ):
        decode_image(tmp_path / "x.png", 16, max_pixels=50_000)


def test_unreadable_permissions(bad_files, monkeypatch):
    path = bad_files["unreadable"]  # mode 000
    if os.geteuid() == 0:  # root reads anything: make open() fail as it would for a user
        import harness.data.decode as decode_module

        def denied(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr(decode_module, "open", denied, raising=False)
    with pytest.raises(DecodeError, match=r"cannot read: Permission denied") as err:
        decode_image(path, 24)
    assert err.value.path == str(path)


def test_dangling_symlink_is_unreadable(tmp_path):
    (tmp_path / "gone.JPEG").symlink_to(tmp_path / "missing-target.JPEG")
    with pytest.raises(DecodeError, match=r"gone.JPEG: cannot read: No such file or directory"):
        decode_image(tmp_path / "gone.JPEG", 24)
