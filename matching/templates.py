"""Face templates: a vector plus the model that made it, and a compact binary form.

Binary layout (version 1), all little-endian, meant to be sealed (AES-GCM) as one blob:

    magic "FTPL" | u8 version | u8 len + model_id | u8 len + model_version
    | u16 dimension | dimension x float32 | u16 len + quality (UTF-8 JSON)

The quality report is metadata about the photo (box, brightness), kept with the vector so
that an opened template is whole; it holds no biometric values.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from matching.errors import TemplateInvalid
from matching.quality import QualityReport

MAGIC = b"FTPL"
FORMAT_VERSION = 1
_QUALITY_FIELDS = {f.name for f in fields(QualityReport)}
# Fields added later (with a default): a template written before them still parses whole.
_OPTIONAL_QUALITY_FIELDS = {"detection_score", "yaw"}


@dataclass(frozen=True, eq=False)
class Template:
    vector: np.ndarray
    model_id: str
    model_version: str
    quality: QualityReport | dict[str, Any]

    def __post_init__(self) -> None:
        vector = np.array(self.vector, dtype=np.float32).reshape(-1)  # a private copy
        if vector.size == 0 or not np.all(np.isfinite(vector)):
            raise ValueError("a template vector must be non-empty and finite")
        vector.flags.writeable = False
        object.__setattr__(self, "vector", vector)

    @property
    def dimension(self) -> int:
        return int(self.vector.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Template):
            return NotImplemented
        return (
            self.model_id == other.model_id
            and self.model_version == other.model_version
            and self.quality == other.quality
            and np.array_equal(self.vector, other.vector)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Never the vector: a template is biometric data.
        return (
            f"Template(model_id={self.model_id!r}, model_version={self.model_version!r}, "
            f"dimension={self.dimension}, vector=<redacted>)"
        )

    def to_bytes(self) -> bytes:
        return b"".join(
            [
                MAGIC,
                struct.pack("<B", FORMAT_VERSION),
                _short_text(self.model_id),
                _short_text(self.model_version),
                struct.pack("<H", self.dimension),
                self.vector.astype("<f4").tobytes(),
                _quality_bytes(self.quality),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Parse ``to_bytes`` output; TemplateInvalid on any corruption."""
        try:
            return _parse(memoryview(data))
        except TemplateInvalid:
            raise
        except (struct.error, ValueError, UnicodeDecodeError, TypeError, KeyError) as exc:
            raise TemplateInvalid() from exc


def distance(a: Template, b: Template) -> float:
    """Euclidean distance, as face_recognition's face_distance; same model required."""
    if (a.model_id, a.model_version, a.dimension) != (b.model_id, b.model_version, b.dimension):
        raise TemplateInvalid("Face templates from different models cannot be compared.")
    diff = a.vector.astype(np.float64) - b.vector.astype(np.float64)
    return math.sqrt(float(np.dot(diff, diff)))


def _short_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError("model id and version must be at most 255 bytes")
    return struct.pack("<B", len(raw)) + raw


def _quality_bytes(quality: QualityReport | dict[str, Any]) -> bytes:
    body = asdict(quality) if isinstance(quality, QualityReport) else dict(quality)
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("quality metadata too long")
    return struct.pack("<H", len(raw)) + raw


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TemplateInvalid()
        chunk = self.data[self.pos : self.pos + n].tobytes()
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)

    def text(self, size_fmt: str) -> str:
        return self.take(self.unpack(size_fmt)).decode("utf-8")


def _parse(data: memoryview) -> Template:
    reader = _Reader(data)
    if reader.take(4) != MAGIC or reader.unpack("<B") != FORMAT_VERSION:
        raise TemplateInvalid()
    model_id, model_version = reader.text("<B"), reader.text("<B")
    dimension = reader.unpack("<H")
    vector = np.frombuffer(reader.take(4 * dimension), dtype="<f4")
    quality = _parse_quality(json.loads(reader.text("<H")))
    if reader.pos != len(data):
        raise TemplateInvalid()
    return Template(vector, model_id, model_version, quality)


def _parse_quality(body: Any) -> QualityReport | dict[str, Any]:
    if not isinstance(body, dict):
        raise TemplateInvalid()
    if not _QUALITY_FIELDS - _OPTIONAL_QUALITY_FIELDS <= set(body) <= _QUALITY_FIELDS:
        return body
    return QualityReport(
        face_box=tuple(int(v) for v in body["face_box"]),  # type: ignore[arg-type]
        face_height_px=int(body["face_height_px"]),
        brightness=float(body["brightness"]),
        sharpness=float(body["sharpness"]),
        faces_found=int(body["faces_found"]),
        detection_score=_optional_float(body.get("detection_score")),
        yaw=_optional_float(body.get("yaw")),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
