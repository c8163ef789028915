"""dlib HOG detection + ResNet v1 encoding, the baseline model (``AUTHD_FACE_MODEL=dlib``).

DlibEncoder runs the same dlib models and calls as face_recognition 1.3.0's
``face_locations(model="hog")`` and ``face_encodings(model="small")`` (5-point landmarks, the
alignment of dlib's dnn_face_recognition_ex, whose ResNet scores 99.38% on LFW). It calls dlib
directly rather than importing face_recognition because face_recognition's ``api.py``, on
import, loads four models into shared globals (including the unused CNN detector) and turns
on Pillow's LOAD_TRUNCATED_IMAGES for the whole process.

Thread safety: dlib's object_detector and DNN keep per-call scratch state, so one instance
must not be used by two threads at once; each thread gets its own models (threading.local,
about 30 MB per thread), loaded on that thread's first call. dlib holds the GIL while it
encodes (measured: 12.1 encodings/s on one thread, 12.0/s on two), so the service runs the
pipeline in worker processes (matching.worker), not threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import numpy as np

from matching.detection import Face, clipped
from matching.image import Box

_LANDMARK_FILES = {
    "small": "shape_predictor_5_face_landmarks.dat",
    "large": "shape_predictor_68_face_landmarks.dat",
}
_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class _DlibModels:
    detector: Any
    landmarks: Any
    resnet: Any


def models_dir() -> Path:
    """face_recognition_models' data folder, found without importing the package
    (its __init__ imports the deprecated, slow pkg_resources)."""
    spec = find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face_recognition_models is not installed")
    return Path(spec.origin).parent / "models"


class DlibEncoder:
    """dlib HOG detector + landmark predictor + ResNet v1 (128-d), one set per thread."""

    model_id = "dlib_resnet_v1"
    dimension = 128
    detect_max_side = 800  # HOG's cost grows with the pixels; faces stay >= 80 px there
    aligns_on_detection_copy = False  # the chip is cut from the full photo

    def __init__(
        self,
        num_jitters: int = 1,
        landmarks: Literal["small", "large"] = "small",
        upsample: int = 1,
    ) -> None:
        if landmarks not in _LANDMARK_FILES:
            raise ValueError("landmarks must be 'small' or 'large'")
        self.num_jitters = num_jitters
        self.landmarks = landmarks
        self.upsample = upsample
        # Vectors are comparable only with the same weights and the same alignment.
        self.model_version = "1.0+5pt" if landmarks == "small" else "1.0+68pt"
        self._local = threading.local()

    def load(self) -> None:
        """Load the models for the calling thread (start-up warm-up and file check)."""
        self._models()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Face boxes (top, right, bottom, left), clipped to the image, as face_locations
        (HOG gives no score and no landmarks: the 5 points are found in ``encode``)."""
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        rects = self._models().detector(image, self.upsample)
        return [Face(box, cut=cut) for box, cut in
                (clipped(_rect_to_box(r), image.shape) for r in rects)]

    def encode(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The 128-d float32 descriptor of the face in ``face.box``, as face_encodings."""
        import dlib

        models = self._models()
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        top, right, bottom, left = face.box
        shape = models.landmarks(image, dlib.rectangle(left, top, right, bottom))
        vector = models.resnet.compute_face_descriptor(image, shape, self.num_jitters)
        return np.asarray(vector, dtype=np.float32)

    def _models(self) -> _DlibModels:
        models = getattr(self._local, "models", None)
        if models is None:
            models = self._local.models = self._load_models()
        return models

    def _load_models(self) -> _DlibModels:
        import dlib

        folder = models_dir()
        return _DlibModels(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(str(folder / _LANDMARK_FILES[self.landmarks])),
            resnet=dlib.face_recognition_model_v1(str(folder / _RESNET_FILE)),
        )

    def __repr__(self) -> str:
        return (
            f"DlibEncoder(model_version={self.model_version!r}, "
            f"num_jitters={self.num_jitters}, upsample={self.upsample})"
        )


def _rect_to_box(rect: Any) -> Box:
    return int(rect.top()), int(rect.right()), int(rect.bottom()), int(rect.left())
