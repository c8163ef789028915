"""SFaceEncoder (YuNet + SFace via OpenCV): files checked at load, unit vectors, faces that
dlib's HOG misses, the factory by model name."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matching.detection import Face
from matching.encoder import MODEL_IDS, DlibEncoder, Encoder, SFaceEncoder, load_encoder
from matching.errors import ModelFileInvalid
from matching.sface_encoder import DETECTOR_FILE, RECOGNIZER_FILE, SHA256, models_dir

Photo = Callable[[str], bytes]


def rgb(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def vector(encoder: SFaceEncoder, data: bytes) -> np.ndarray:
    image = rgb(data)
    faces = encoder.detect(image)
    assert faces, "no face found"
    return encoder.encode(image, faces[0])


def test_is_an_encoder_named_by_the_factory(sface: SFaceEncoder) -> None:
    assert isinstance(sface, Encoder)
    assert (sface.model_id, sface.dimension) == ("sface", 128)
    assert MODEL_IDS == {"sface": "sface", "dlib": "dlib_resnet_v1"}
    assert isinstance(load_encoder("dlib", load=False), DlibEncoder)
    with pytest.raises(ValueError, match="unknown face model"):
        load_encoder("facenet", load=False)


def test_shipped_files_match_the_recorded_digests() -> None:
    folder = models_dir()
    assert sorted(p.name for p in folder.glob("*.onnx")) == sorted(SHA256)


@pytest.mark.parametrize("name", [DETECTOR_FILE, RECOGNIZER_FILE])
def test_a_changed_byte_refuses_to_load_naming_the_file(tmp_path: Path, name: str) -> None:
    for file in SHA256:
        shutil.copyfile(models_dir() / file, tmp_path / file)
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(ModelFileInvalid, match=name) as caught:
        SFaceEncoder(tmp_path).load()
    assert caught.value.status_code == 503


def test_a_missing_file_refuses_to_load_naming_it(tmp_path: Path) -> None:
    shutil.copyfile(models_dir() / DETECTOR_FILE, tmp_path / DETECTOR_FILE)
    with pytest.raises(ModelFileInvalid, match=RECOGNIZER_FILE):
        SFaceEncoder(tmp_path).load()


def test_detect_gives_box_score_and_five_landmarks(sface: SFaceEncoder, photo: Photo) -> None:
    image = rgb(photo("samples/kit_harington/john2.jpeg"))
    (face,) = sface.detect(image)
    top, right, bottom, left = face.box
    assert 0 <= top < bottom <= image.shape[0] and 0 <= left < right <= image.shape[1]
    assert face.score is not None and 0.5 <= face.score <= 1.0
    assert len(face.landmarks) == 5
    for x, y in face.landmarks:  # every landmark lies inside the face box
        assert left <= x <= right and top <= y <= bottom
    (rx, ry), (lx, ly) = face.landmarks[:2]
    assert rx < lx  # the person's right eye is on the left of the photo


def test_vectors_are_unit_length_and_deterministic(sface: SFaceEncoder, photo: Photo) -> None:
    a = vector(sface, photo("samples/obama/obama.jpg"))
    b = vector(sface, photo("samples/obama/obama.jpg"))
    assert a.dtype == np.float32 and a.shape == (128,)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(a, b)


def test_cosine_separates_people(sface: SFaceEncoder, photo: Photo) -> None:
    obama = vector(sface, photo("samples/obama/obama.jpg"))
    obama1 = vector(sface, photo("samples/obama/obama1.jpg"))
    biden = vector(sface, photo("samples/biden/biden.jpg"))
    # OpenCV Zoo's SFace threshold: same person above cosine 0.363.
    assert float(obama @ obama1) > 0.363 > float(obama @ biden)
    d = float(np.linalg.norm(obama - obama1))
    assert 1 - d * d / 2 == pytest.approx(float(obama @ obama1), abs=1e-5)


def test_encode_needs_landmarks(sface: SFaceEncoder, photo: Photo) -> None:
    image = rgb(photo("samples/obama/obama.jpg"))
    with pytest.raises(ValueError, match="landmarks"):
        sface.encode(image, Face(sface.detect(image)[0].box))


def test_no_face_in_a_flat_image(sface: SFaceEncoder) -> None:
    assert sface.detect(np.full((200, 200, 3), 127, dtype=np.uint8)) == []


def test_finds_a_side_lit_face_that_hog_misses(
    sface: SFaceEncoder, encoder: DlibEncoder, photo: Photo
) -> None:
    image = rgb(photo("yale/subject01/rightlight.gif"))
    assert encoder.detect(image) == []
    assert len(sface.detect(image)) == 1
