"""Photo bytes to face template: decode, detect, check quality, encode.

Detection runs on a copy no larger than ``detect_max_side`` on its long side, so a 4,000-px
photo costs about what an 800-px one does; the boxes are scaled back and the quality gate
and the encoder work on the full-resolution image. ``extract`` holds no state of its own and
the encoder keeps its models per thread, so the HTTP layer may call it from a worker pool
(never on the event loop: it is CPU-bound for about 0.1-0.3 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from matching.detection import Face
from matching.encoder import Encoder
from matching.image import Box, ImageLimits, decode_image
from matching.quality import QualitySettings, assess
from matching.templates import Template


@dataclass(frozen=True)
class PipelineSettings:
    limits: ImageLimits = ImageLimits()
    quality: QualitySettings = QualitySettings()
    # The encoder a worker process loads (matching.encoder.ENCODERS). "dlib" until the
    # server passes its AUTHD_FACE_MODEL here and SFace's calibration ships; then "sface".
    model: str = "dlib"
    # OpenCV's own thread pool per worker process (the pool already has one process a core).
    opencv_threads: int = 1


class FacePipeline:
    def __init__(self, encoder: Encoder, settings: PipelineSettings | None = None) -> None:
        self.encoder = encoder
        self.settings = settings or PipelineSettings()

    def extract(self, data: bytes) -> Template:
        """The template of the one face in the photo ``data``; raises a MatchingError."""
        rgb = decode_image(data, self.settings.limits)
        faces = self.detect(rgb)
        report = assess(rgb, faces, self.settings.quality)
        face = next(f for f in faces if f.box == report.face_box)
        vector = self.encoder.encode(rgb, face)
        return Template(vector, self.encoder.model_id, self.encoder.model_version, report)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in ``rgb``'s own pixels, found on a downscaled copy."""
        scale = min(1.0, self.settings.quality.detect_max_side / max(rgb.shape[:2]))
        if scale >= 1.0:
            return self.encoder.detect(rgb)
        faces = self.encoder.detect(downscale(rgb, scale))
        return [face.scaled(1.0 / scale, rgb.shape) for face in faces]


def downscale(rgb: np.ndarray, scale: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Pillow's reducing_gap does a fast integer reduce before the filter; area-like quality.
    small = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8)


def scale_box(box: Box, factor: float, shape: tuple[int, ...]) -> Box:
    top, right, bottom, left = (round(v * factor) for v in box)
    return max(top, 0), min(right, shape[1]), min(bottom, shape[0]), max(left, 0)
