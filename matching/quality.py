"""The quality gate: one usable face, big enough, lit well enough, in focus.

Pure numpy on the decoded RGB image and the detector's boxes (original-image pixels). Each
failed check raises the MatchingError a counter clerk can act on, in this order:
face_not_found, multiple_faces, face_too_small, image_too_dark, image_overexposed,
image_blurry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from matching.detection import Face
from matching.errors import (
    FaceNotFound,
    FaceTooSmall,
    ImageBlurry,
    ImageOverexposed,
    ImageTooDark,
    MultipleFaces,
)
from matching.image import Box

# Sharpness is measured on the face resized to this square, so it does not depend on the
# photo's resolution (a 1,000-px face and a 100-px face of the same focus score alike).
SHARPNESS_SIDE = 64
# ITU-R BT.601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: int = 60
    multiple_face_ratio: float = 0.5
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    min_sharpness: float = 20.0
    detect_max_side: int = 800


@dataclass(frozen=True)
class QualityReport:
    face_box: Box
    face_height_px: int
    brightness: float
    sharpness: float
    faces_found: int


def assess(rgb: np.ndarray, faces: list[Face], settings: QualitySettings) -> QualityReport:
    """Pick the largest face in ``faces`` and check it; raise the first failed check."""
    box = largest_face([f.box for f in faces], settings.multiple_face_ratio)
    height = box[2] - box[0]
    if height < settings.min_face_px:
        raise FaceTooSmall()
    grey = luma(crop(rgb, box))
    brightness = float(grey.mean())
    _check_exposure(brightness, settings)
    sharpness = laplacian_variance(grey)
    if sharpness < settings.min_sharpness:
        raise ImageBlurry()
    return QualityReport(box, height, brightness, sharpness, len(faces))


def largest_face(boxes: list[Box], multiple_face_ratio: float) -> Box:
    """The largest box; MultipleFaces if another is at least ``ratio`` of its area."""
    if not boxes:
        raise FaceNotFound()
    ranked = sorted(boxes, key=box_area, reverse=True)
    if len(ranked) > 1 and box_area(ranked[1]) >= multiple_face_ratio * box_area(ranked[0]):
        raise MultipleFaces()
    return ranked[0]


def box_area(box: Box) -> int:
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    top, right, bottom, left = box
    height, width = rgb.shape[:2]
    return rgb[max(0, top) : min(height, bottom), max(0, left) : min(width, right)]


def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey level 0-255 as float32."""
    return rgb.astype(np.float32) @ _LUMA


def _check_exposure(brightness: float, settings: QualitySettings) -> None:
    if brightness < settings.min_brightness:
        raise ImageTooDark()
    if brightness > settings.max_brightness:
        raise ImageOverexposed()


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of ``grey`` resized to SHARPNESS_SIDE square."""
    if grey.size == 0:
        return 0.0
    g = _resize_grey(grey, SHARPNESS_SIDE)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def _resize_grey(grey: np.ndarray, side: int) -> np.ndarray:
    # Area averaging when shrinking (no aliasing to fake sharpness), bilinear when growing.
    image = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32))  # mode "F"
    resample = Image.Resampling.BOX if min(image.size) >= side else Image.Resampling.BILINEAR
    return np.asarray(image.resize((side, side), resample), dtype=np.float32)
