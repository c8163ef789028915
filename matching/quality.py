"""The quality gate: one usable face, big enough, facing the camera, lit well, in focus.

Pure numpy on the decoded RGB image and the detector's faces (original-image pixels). Each
failed check raises the MatchingError a counter clerk can act on, in this order:
face_not_found, multiple_faces, face_too_small, face_pose, image_too_dark,
image_overexposed, image_blurry. Two comparable faces are refused unless one of them is at
the centre of the photo, where the camera points.

The detection score and the pose need what YuNet reports (a score, five landmarks); with
dlib's HOG detector, which reports neither, those two checks are skipped. The defaults were
set on LFW (benchmarks/lfw_verify.py): at most 0.5% of its 6,165 press photos refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from matching.detection import Face, Point
from matching.errors import (
    FaceNotFound,
    FacePose,
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
    # A second whole face with at least this share of the largest one's area makes the
    # subject ambiguous: multiple_faces, unless exactly one of them holds the photo's centre.
    # LFW's press photos often show a second face (217 of 6,165 at 0.5 with YuNet), always
    # beside a subject at the centre: none refused; two people side by side are
    # (samples/_multi_face).
    multiple_face_ratio: float = 0.5
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    min_sharpness: float = 20.0
    # Detection runs on a copy at most this long; None: the encoder's own (1,000 px for
    # SFace, 800 for dlib's HOG).
    detect_max_side: int | None = None
    # Faces the detector scores lower are not faces (YuNet; LFW's lowest best face: 0.86).
    min_detection_score: float = 0.7
    # The nose tip's offset from the face's midline, in eye distances (`yaw`): 0 faces the
    # camera, 1.0 is turned about 60 degrees, towards a profile (LFW: 7 photos, 0.11%).
    max_yaw: float = 1.0


@dataclass(frozen=True)
class QualityReport:
    face_box: Box
    face_height_px: int
    brightness: float
    sharpness: float
    faces_found: int
    detection_score: float | None = None
    yaw: float | None = None


def assess(rgb: np.ndarray, faces: list[Face], settings: QualitySettings) -> QualityReport:
    """Pick the subject's face in ``faces`` and check it; raise the first failed check."""
    return check_face(rgb, *choose_face(faces, settings, rgb.shape), settings)


def choose_face(faces: list[Face], settings: QualitySettings,
                shape: tuple[int, ...]) -> tuple[Face, int]:
    """The subject's face, and how many faces were counted (scored at least
    ``min_detection_score``). A face cut by the photo's edge is a bystander while a whole face
    is there (it is the choice only when every face is cut). Of the rest, the largest is the
    subject, unless another is at least ``multiple_face_ratio`` of its area: then the one
    whose box holds the photo's centre (the camera is pointed at the subject), and
    MultipleFaces when none or several do."""
    counted = [f for f in faces if f.score is None or f.score >= settings.min_detection_score]
    whole = [f for f in counted if not f.cut]
    return subject(whole or counted, settings.multiple_face_ratio, shape), len(counted)


def subject(faces: list[Face], multiple_face_ratio: float, shape: tuple[int, ...]) -> Face:
    if not faces:
        raise FaceNotFound()
    ranked = sorted(faces, key=lambda f: box_area(f.box), reverse=True)
    least = multiple_face_ratio * box_area(ranked[0].box)
    rivals = [f for f in ranked if box_area(f.box) >= least]
    if len(rivals) == 1:
        return rivals[0]
    centred = [f for f in rivals if holds_centre(f.box, shape)]
    if len(centred) != 1:
        raise MultipleFaces()
    return centred[0]


def check_face(rgb: np.ndarray, face: Face, faces_found: int,
               settings: QualitySettings) -> QualityReport:
    """Size, pose, exposure and focus of the chosen face."""
    height = face.box[2] - face.box[0]
    if height < settings.min_face_px:
        raise FaceTooSmall()
    turn = yaw(face.landmarks) if len(face.landmarks) == 5 else None
    if turn is not None and turn > settings.max_yaw:
        raise FacePose()
    grey = luma(crop(rgb, face.box))
    brightness = float(grey.mean())
    _check_exposure(brightness, settings)
    sharpness = laplacian_variance(grey)
    if sharpness < settings.min_sharpness:
        raise ImageBlurry()
    return QualityReport(face.box, height, brightness, sharpness, faces_found, face.score, turn)


def holds_centre(box: Box, shape: tuple[int, ...]) -> bool:
    top, right, bottom, left = box
    return top <= shape[0] / 2 <= bottom and left <= shape[1] / 2 <= right


def yaw(landmarks: tuple[Point, ...]) -> float:
    """How far the face is turned left or right, from YuNet's five landmarks: the distance
    of the nose tip from the midline (the line through the middle of the eyes and the middle
    of the mouth), along the eye line, divided by the distance between the eyes. The roll of
    the head cancels out; about 0.55 x tan(yaw angle) for an adult face."""
    right_eye, left_eye, nose, right_mouth, left_mouth = (np.asarray(p) for p in landmarks)
    across = left_eye - right_eye
    eye_distance = float(np.hypot(*across))
    if eye_distance < 1e-6:
        return math.inf
    centre = (right_eye + left_eye + right_mouth + left_mouth) / 4
    return abs(float((nose - centre) @ across)) / eye_distance**2


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
