"""Decoding of uploaded photos into RGB pixel arrays, with size limits checked first.

Order of checks: byte length, then the width and height the header declares (Pillow opens
lazily, so nothing is decoded yet), then the full decode. A 20,000 x 20,000 PNG of a few
hundred bytes is refused before a single row is allocated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps

from matching.errors import ImageTooLarge, ImageUnreadable, MatchingError

# A face box in image pixels, face_recognition's (top, right, bottom, left) order.
Box = tuple[int, int, int, int]

# Phone cameras' MPO files open through the JPEG plugin (Pillow's jpeg_factory).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000


def decode_image(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode ``data`` into an HxWx3 uint8 RGB array, upright per its EXIF orientation.

    Raises ImageTooLarge (bytes or declared pixels over ``limits``) or ImageUnreadable.
    """
    if len(data) > limits.max_bytes:
        raise ImageTooLarge()
    if not data:
        raise ImageUnreadable()
    _refuse_truncated_images()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as im:
            _check_declared_size(im, limits)
            return _to_rgb_array(ImageOps.exif_transpose(im))
    except (MatchingError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error...
        raise ImageUnreadable() from exc


def _refuse_truncated_images() -> None:
    # face_recognition's api.py sets this process-wide on import; a truncated upload must
    # fail as unreadable, not be padded with grey and enrolled.
    ImageFile.LOAD_TRUNCATED_IMAGES = False


def _check_declared_size(im: Image.Image, limits: ImageLimits) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageUnreadable()
    if width * height > limits.max_pixels:
        raise ImageTooLarge()


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert any decoded mode to RGB: alpha composited on white, 16-bit grey scaled."""
    im.load()  # GIF/WebP: the first frame only, which is the frame Image.open selects
    if im.mode in _SIXTEEN_BIT:
        return _grey16_to_rgb(im)
    if im.mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if im.mode in _WITH_ALPHA or "transparency" in im.info:
        return _composite_on_white(im)
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _grey16_to_rgb(im: Image.Image) -> np.ndarray:
    # PNG is the only accepted format with 16-bit grey; 65535 / 257 == 255 exactly.
    values = np.asarray(im, dtype=np.int64)
    grey = np.clip((values + 128) // 257, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _composite_on_white(im: Image.Image) -> np.ndarray:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.array(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
