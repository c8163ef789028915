"""A face as a detector reports it: box, confidence and (YuNet) five landmarks.

Coordinates are in the pixels of the image the pipeline decoded. The quality gate reads all
three; the encoder aligns the face from the landmarks (SFace) or finds its own (dlib).
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.image import Box

# YuNet's landmark order: right eye, left eye, nose tip, right and left mouth corners
# ("right" is the person's right, on the left of the photo).
Point = tuple[float, float]
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")


@dataclass(frozen=True)
class Face:
    box: Box  # (top, right, bottom, left), clipped to the image
    score: float | None = None  # detector confidence 0-1; None where the detector gives none
    landmarks: tuple[Point, ...] = ()  # the five points above, or () (dlib's HOG)
    cut: bool = False  # the detector's box reached past the photo's edge (clipped here)

    def scaled(self, factor: float, shape: tuple[int, ...]) -> Face:
        """The same face in an image ``factor`` times larger, clipped to ``shape``."""
        top, right, bottom, left = (round(v * factor) for v in self.box)
        box = (max(top, 0), min(right, shape[1]), min(bottom, shape[0]), max(left, 0))
        points = tuple((x * factor, y * factor) for x, y in self.landmarks)
        return Face(box, self.score, points, self.cut)


def clipped(box: Box, shape: tuple[int, ...]) -> tuple[Box, bool]:
    """``box`` clipped to an image of ``shape``, and whether it reached its edge."""
    top, right, bottom, left = box
    inside = (max(top, 0), min(right, shape[1]), min(bottom, shape[0]), max(left, 0))
    return inside, (top <= 0 or left <= 0 or bottom >= shape[0] or right >= shape[1])
