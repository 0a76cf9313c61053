"""Decode one image file into the stored form: ``(size, size, 3)`` uint8 RGB.

The short side is resized to ``size`` and the centre square kept (AlexNet's
256x256 preprocessing; torchvision's ``Resize(size) + CenterCrop(size)``),
done in one antialiased resampling of the centre box of the original.

Why Pillow and not OpenCV: Pillow's JPEG *draft mode* lets libjpeg decode a
large JPEG directly at 1/2, 1/4 or 1/8 scale in the DCT domain (a photo whose
short side is at least twice the stored size decodes several times faster:
ImageNet's larger photos at 256 px, every photo at Tiny sizes); it reads
the image header without decoding, so a decompression bomb is refused by
pixel count before any pixel is decoded; it handles Adobe (inverted) CMYK
JPEGs, palette, 16-bit and alpha PNGs, and it says *why* a file fails, where
``cv2.imread`` returns ``None`` for every failure.

Colour conventions: CMYK JPEGs with an Adobe APP14 marker hold inverted samples
(Photoshop's convention, that of ILSVRC's 22 CMYK files), those without hold
plain ones; both are converted with Pillow's CMYK->RGB; grayscale replicated to three channels;
16-bit samples scaled to 8 bit (not clipped, which is what a plain
``convert('RGB')`` does); transparent pixels composited over white, as an
image viewer shows them. EXIF orientation is *not* applied, like torchvision
and the ILSVRC reference pipelines.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.data.errors import DecodeError

__all__ = ["MAX_PIXELS", "decode_image"]

#: Refuse images with more pixels than this (Pillow's own bomb threshold,
#: ~89.5 Mpx, ~9500x9500; the largest ILSVRC-2012 photos are far below it).
MAX_PIXELS = 89_478_485


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        # 16-bit samples -> 8 bit by the top byte; "I" (32-bit) images from 16-bit PNGs too.
        arr8 = (np.clip(arr.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "F":
        arr8 = np.clip(np.asarray(im), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def decode_image(path: str | Path, size: int, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``path`` -> ``(size, size, 3)`` uint8 RGB; raises :class:`DecodeError` naming path and reason."""
    path = Path(path)
    try:
        nbytes = path.stat().st_size
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from exc
    if nbytes == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; make that a refusal too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                im = Image.open(f)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                # Pillow's own guard (> MAX_IMAGE_PIXELS) fires while reading the header.
                raise DecodeError(path, f"refused: decompression bomb guard: {exc}") from None
            except UnidentifiedImageError:
                f.seek(0)
                head = f.read(16)
                raise DecodeError(
                    path, f"not an image file (unrecognised format; starts with {head!r})"
                ) from None
            w, h = im.size
            if w < 1 or h < 1:
                raise DecodeError(path, f"image header says {w}x{h} pixels")
            if w * h > max_pixels:
                raise DecodeError(
                    path,
                    f"refused: header says {w}x{h} = {w * h:,} pixels, over the {max_pixels:,} limit "
                    f"(decompression bomb guard); nothing was decoded",
                )
            if im.format == "JPEG":
                # Ask libjpeg for the smallest DCT scale whose short side is still >= size.
                scale = size / min(w, h)
                im.draft("RGB", (max(1, int(w * scale + 0.999)), max(1, int(h * scale + 0.999))))
            im.load()
            if im.mode == "CMYK" and im.format == "JPEG" and "adobe" not in im.info:
                # Pillow reads every CMYK JPEG as Adobe's inverted CMYK; without an
                # APP14 "Adobe" marker the samples are plain CMYK: undo the inversion.
                im = Image.fromarray(255 - np.asarray(im), "CMYK")
            im = _to_rgb(im)
    except DecodeError:
        raise
    except PermissionError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated ...").
        raise DecodeError(path, f"corrupt or truncated image data: {exc}") from exc
    return _square(im, size)


def _square(im: Image.Image, size: int) -> np.ndarray:
    w, h = im.size
    if (w, h) != (size, size):
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        # Resize only the centre box: same result as resize-short-side-then-crop, less work.
        # Pillow's BILINEAR widens its support when shrinking, i.e. it is antialiased.
        im = im.resize(
            (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
        )
    arr = np.asarray(im, dtype=np.uint8)
    if arr.shape != (size, size, 3):  # pragma: no cover - defensive: a mode we did not foresee
        raise DecodeError(
            getattr(im, "filename", "?"),
            f"decoded to shape {arr.shape}, expected ({size}, {size}, 3)",
        )
    return arr


def decode_or_reason(
    path: str | Path, size: int, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray | None, str]:
    """``(image, "")`` or ``(None, reason)``: for the cache builder, which collects every failure."""
    try:
        return decode_image(path, size, max_pixels=max_pixels), ""
    except DecodeError as exc:
        return None, exc.reason
    except Exception as exc:  # a decoder bug on one odd file must not hide the others
        return None, f"unexpected {type(exc).__name__} while decoding: {exc}"
