"""The face model behind one interface: faces found in pixels, unit-free vectors out.

Two models, chosen by name (``AUTHD_FACE_MODEL``):

| name | encoder | template ``model_id`` | vectors |
|---|---|---|---|
| ``sface`` (default) | YuNet + SFace, OpenCV (sface_encoder) | ``sface`` | 128-d, unit length |
| ``dlib`` | HOG + ResNet v1, dlib (dlib_encoder) | ``dlib_resnet_v1`` | 128-d |

For both, what is compared is a Euclidean distance, smaller = closer; templates record the
model that made them and matching.templates refuses to compare two models' templates.
Only the encoder modules touch a model; importing this module loads none.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from matching.detection import Face
from matching.dlib_encoder import DlibEncoder
from matching.sface_encoder import SFaceEncoder

DEFAULT_MODEL = "sface"
# Setting name -> the encoder class; each class names the model_id its templates carry.
ENCODERS: dict[str, type[DlibEncoder] | type[SFaceEncoder]] = {
    "sface": SFaceEncoder,
    "dlib": DlibEncoder,
}
MODEL_IDS: dict[str, str] = {name: cls.model_id for name, cls in ENCODERS.items()}


@runtime_checkable
class Encoder(Protocol):
    model_id: str
    model_version: str
    dimension: int
    detect_max_side: int  # the long side of the copy it detects on (pipeline default)
    aligns_on_detection_copy: bool  # encode() gets that copy rather than the full photo

    def load(self) -> None: ...

    def detect(self, rgb: np.ndarray) -> list[Face]: ...

    def encode(self, rgb: np.ndarray, face: Face) -> np.ndarray: ...


def load_encoder(name: str = DEFAULT_MODEL, *, load: bool = True) -> Encoder:
    """The encoder for a model name ("sface" or "dlib"), its files checked and loaded for
    the calling thread unless ``load`` is False (ModelFileInvalid names a bad file)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown face model {name!r}: one of {', '.join(ENCODERS)}")
    encoder = ENCODERS[name]()
    if load:
        encoder.load()
    return encoder


__all__ = ["DEFAULT_MODEL", "ENCODERS", "MODEL_IDS", "DlibEncoder", "Encoder", "SFaceEncoder",
           "load_encoder"]
