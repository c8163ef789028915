"""The quality gate on real photo pixels with known boxes (no detector needed)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageFilter

from matching.detection import Face
from matching.errors import (
    FaceNotFound,
    FacePose,
    FaceTooSmall,
    ImageBlurry,
    ImageOverexposed,
    ImageTooDark,
    MultipleFaces,
)
from matching.quality import QualitySettings, assess, laplacian_variance, luma, yaw

SETTINGS = QualitySettings()
# obama.jpg's face as the HOG detector boxes it (top, right, bottom, left).
OBAMA_BOX = (139, 637, 404, 372)


def faces(*boxes: tuple[int, int, int, int]) -> list[Face]:
    return [Face(box) for box in boxes]


@pytest.fixture(scope="module")
def obama(photo: Callable[[str], bytes]) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(photo("samples/obama/obama.jpg"))).convert("RGB"))


def test_good_face_passes_with_a_report(obama: np.ndarray) -> None:
    report = assess(obama, faces(OBAMA_BOX), SETTINGS)
    assert report.face_box == OBAMA_BOX and report.faces_found == 1
    assert report.face_height_px == 265
    assert SETTINGS.min_brightness < report.brightness < SETTINGS.max_brightness
    assert report.sharpness > SETTINGS.min_sharpness


def test_no_box_is_face_not_found(obama: np.ndarray) -> None:
    with pytest.raises(FaceNotFound):
        assess(obama, [], SETTINGS)


def test_comparable_second_face_is_multiple_faces(obama: np.ndarray) -> None:
    second = (600, 630, 860, 370)  # 260 x 260: 96% of the first face's area
    with pytest.raises(MultipleFaces):
        assess(obama, faces(second, OBAMA_BOX), SETTINGS)
    smaller = (600, 550, 780, 370)  # 180 x 180: 46%, under the 0.5 ratio
    assert assess(obama, faces(smaller, OBAMA_BOX), SETTINGS).face_box == OBAMA_BOX


def test_of_two_comparable_faces_the_one_at_the_centre_is_the_subject(obama: np.ndarray) -> None:
    height, width = obama.shape[:2]
    centred = (height // 2 - 100, width // 2 + 100, height // 2 + 100, width // 2 - 100)
    beside = (height // 2 - 110, width - 5, height // 2 + 110, width - 225)  # larger, whole
    report = assess(obama, faces(beside, centred), SETTINGS)
    assert report.face_box == centred and report.faces_found == 2
    off_centre = (centred[0] - 150, centred[1], centred[2] - 150, centred[3])
    with pytest.raises(MultipleFaces):
        assess(obama, faces(beside, off_centre), SETTINGS)


def test_a_face_cut_by_the_edge_is_a_bystander(obama: np.ndarray) -> None:
    cut = Face((0, 900, 300, 600), cut=True)  # larger than Obama's, but cut by the edge
    report = assess(obama, [cut, Face(OBAMA_BOX)], SETTINGS)
    assert report.face_box == OBAMA_BOX and report.faces_found == 2
    # Only cut faces: the largest of them is still checked.
    assert assess(obama, [cut], SETTINGS).face_box == cut.box


def test_low_detection_scores_are_not_faces(obama: np.ndarray) -> None:
    with pytest.raises(FaceNotFound):
        assess(obama, [Face(OBAMA_BOX, score=0.69)], SETTINGS)
    twin = Face((600, 637, 865, 372), score=0.5)  # as large as Obama's: not counted
    report = assess(obama, [twin, Face(OBAMA_BOX, score=0.95)], SETTINGS)
    assert report.faces_found == 1 and report.detection_score == 0.95


def test_small_background_face_is_ignored_and_largest_used(obama: np.ndarray) -> None:
    background = (10, 150, 110, 50)  # 100 x 100: 14% of the area
    report = assess(obama, faces(background, OBAMA_BOX), SETTINGS)
    assert report.face_box == OBAMA_BOX and report.faces_found == 2


def test_small_face_is_too_small(obama: np.ndarray) -> None:
    with pytest.raises(FaceTooSmall):
        assess(obama, faces((200, 459, 259, 400)), SETTINGS)  # 59 px high
    assess(obama, faces((200, 460, 260, 400)), SETTINGS)  # 60 px is enough


@pytest.mark.parametrize(("factor", "error"), [(0.2, ImageTooDark), (2.5, ImageOverexposed)])
def test_exposure(obama: np.ndarray, factor: float, error: type[Exception]) -> None:
    scaled = np.clip(obama.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    with pytest.raises(error):
        assess(scaled, faces(OBAMA_BOX), SETTINGS)


def test_blur(obama: np.ndarray) -> None:
    # 5% of the face height: the vector drifts > 0.6 from the sharp photo's at this blur.
    blurred = np.array(Image.fromarray(obama).filter(ImageFilter.GaussianBlur(13)))
    with pytest.raises(ImageBlurry):
        assess(blurred, faces(OBAMA_BOX), SETTINGS)


def test_sharpness_does_not_depend_on_resolution(obama: np.ndarray) -> None:
    top, right, bottom, left = OBAMA_BOX
    face = luma(obama[top:bottom, left:right])
    half = luma(np.array(Image.fromarray(obama[top:bottom, left:right]).reduce(2)))
    big, small = laplacian_variance(face), laplacian_variance(half)
    assert 0.5 < big / small < 2.0


def test_flat_grey_has_no_sharpness() -> None:
    assert laplacian_variance(np.full((100, 100), 128.0)) == 0.0
    assert laplacian_variance(np.zeros((0, 0))) == 0.0


@pytest.fixture(scope="module")
def yunet_faces(photo: Callable[[str], bytes]) -> dict[str, tuple[np.ndarray, Face]]:
    """Real YuNet detections (box, score, landmarks) of a frontal and a turned face."""
    from matching.encoder import load_encoder

    encoder = load_encoder("sface")
    out = {}
    for name in ("lfw/images/Jacques_Chirac/Jacques_Chirac_0001.jpg",
                 "lfw/images/Jacques_Chirac/Jacques_Chirac_0010.jpg"):
        rgb = np.array(Image.open(io.BytesIO(photo(name))).convert("RGB"))
        out[name.rsplit("_", 1)[1]] = (rgb, max(encoder.detect(rgb), key=lambda f: f.score))
    return out


def test_yaw_from_real_landmarks(yunet_faces: dict[str, tuple[np.ndarray, Face]]) -> None:
    assert yaw(yunet_faces["0001.jpg"][1].landmarks) < 0.3
    assert yaw(yunet_faces["0010.jpg"][1].landmarks) > 1.0


def test_yaw_ignores_roll_and_mirroring(yunet_faces: dict[str, tuple[np.ndarray, Face]]) -> None:
    points = np.array(yunet_faces["0010.jpg"][1].landmarks)
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = tuple(map(tuple, points @ rotation.T))
    mirrored = np.column_stack([-points[:, 0], points[:, 1]])[[1, 0, 2, 4, 3]]
    want = yaw(tuple(map(tuple, points)))
    assert yaw(rolled) == pytest.approx(want)
    assert yaw(tuple(map(tuple, mirrored))) == pytest.approx(want)


def test_turned_face_is_face_pose(yunet_faces: dict[str, tuple[np.ndarray, Face]]) -> None:
    rgb, turned = yunet_faces["0010.jpg"]
    with pytest.raises(FacePose):
        assess(rgb, [turned], SETTINGS)
    rgb, frontal = yunet_faces["0001.jpg"]
    report = assess(rgb, [frontal], SETTINGS)
    assert report.yaw is not None and report.yaw < SETTINGS.max_yaw
    assert report.detection_score == frontal.score
