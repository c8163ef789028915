"""Decoding of uploaded photos into RGB pixel arrays, with size limits checked first.

Order of checks: byte length, then the width and height the header declares (Pillow opens
lazily, so nothing is decoded yet) against the pixel budget of the photo's format, then the
full decode. A 20,000 x 20,000 PNG of a few hundred bytes is refused before a single row is
allocated.

The budgets keep the worst-case decode near a second of a face worker. JPEG is decoded at
reduced scale (DCT scaling to about `max_side`), so its cost grows slowly with pixels and
it keeps the general `max_pixels`; PNG, WebP and GIF are decoded at full size, and a
6,300 x 6,300 PNG of 151 KB would cost 6-10 s and a gigabyte. Figures per format and mode:
benchmarks/decode_budget.py.
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
    # The decoded image is at most this long on its long side: a face in it is still far
    # larger than the encoder's 150-px chip, and a 4,000-px photo then costs about what a
    # 2,000-px one does (JPEG is even decoded at reduced scale, by DCT scaling).
    max_side: int = 2000
    # Formats decoded at full size (no reduced-scale decode): about a second of decode at
    # most on the measured machine (benchmarks/results/decode_budget.json, worst mode).
    # Measured: ms per megapixel, quiet machine / loaded (2 cores, other jobs running).
    png_max_pixels: int = 4_000_000  # RGBA 137 / 274, 16-bit grey 93 / 218
    webp_max_pixels: int = 3_000_000  # RGBA 199 / 290, lossless 234 (loaded)
    gif_max_pixels: int = 6_000_000  # 71 / 100


def budget_for(limits: ImageLimits, image_format: str | None) -> int:
    """The most pixels a photo of this format may declare (JPEG/MPO: `max_pixels`)."""
    full_size = {"PNG": limits.png_max_pixels, "WEBP": limits.webp_max_pixels,
                 "GIF": limits.gif_max_pixels}
    return min(limits.max_pixels, full_size.get(image_format or "", limits.max_pixels))


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
            _draft(im, limits.max_side)
            return _bounded(_to_rgb_array(ImageOps.exif_transpose(im)), limits.max_side)
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
    if width * height > budget_for(limits, im.format):
        raise ImageTooLarge()


def _draft(im: Image.Image, max_side: int) -> None:
    """JPEG only: decode at the smallest 1/2, 1/4 or 1/8 scale still >= max_side."""
    scale = max_side / max(im.size)
    if im.format == "JPEG" and scale < 1:
        im.draft("RGB", (max(1, int(im.width * scale)), max(1, int(im.height * scale))))


def _bounded(rgb: np.ndarray, max_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8)


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
