"""Errors of the face pipeline.

Each class carries a stable ``code`` (a word, never a number), the HTTP ``status_code`` the
service answers with, and a default ``message`` a counter clerk can act on. Messages are
fixed text: they never contain image bytes, pixel values or template values.

The attributes are those of authd's error contract (``authd.errors.ErrorContract``: code,
status_code, message, public_details, headers, audit_details), written here again because
``matching`` never imports ``authd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

NOTHING: Mapping[str, Any] = MappingProxyType({})


class MatchingError(Exception):
    """Base of every error raised by ``matching``."""

    code: str = "matching_error"
    status_code: int = 422
    message: str = "The photo could not be processed. Retake the photo and try again."
    public_details: Mapping[str, Any] = NOTHING
    headers: Mapping[str, str] = NOTHING
    audit_details: Mapping[str, Any] = NOTHING

    def __init__(self, message: str | None = None) -> None:
        self.message = message or type(self).message
        super().__init__(self.message)


class ImageTooLarge(MatchingError):
    code = "image_too_large"
    status_code = 413
    message = "The photo file is too large. Send a smaller photo (lower resolution or size)."


class ImageUnreadable(MatchingError):
    code = "image_unreadable"
    message = "The photo could not be read. Send a complete JPEG, PNG, WebP or GIF photo."


class FaceNotFound(MatchingError):
    code = "face_not_found"
    message = "No face was found. Retake the photo facing the camera with the whole face visible."


class MultipleFaces(MatchingError):
    code = "multiple_faces"
    message = "More than one face is in the photo. Retake it with only one person in the frame."


class FaceTooSmall(MatchingError):
    code = "face_too_small"
    message = "The face is too small. Move the camera closer so the face fills more of the photo."


class ImageTooDark(MatchingError):
    code = "image_too_dark"
    message = "The face is too dark. Retake the photo with more light on the face."


class ImageOverexposed(MatchingError):
    code = "image_overexposed"
    message = "The face is overexposed. Retake the photo away from direct light or glare."


class ImageBlurry(MatchingError):
    code = "image_blurry"
    message = "The photo is blurry. Hold the camera still and retake the photo in focus."


class FacePose(MatchingError):
    code = "face_pose"
    message = "The face is turned away. Retake the photo with the person looking at the camera."


class TemplateInvalid(MatchingError):
    """A stored template is corrupt or was made by another model: a server-side problem."""

    code = "template_invalid"
    status_code = 500
    message = "The stored face template cannot be used. The face must be enrolled again."


class ModelFileInvalid(MatchingError):
    """A face model file is missing or is not the file this code was measured with: the
    server must not start (raised at load, never per request)."""

    code = "face_model_invalid"
    status_code = 503
    message = "A face model file is missing or does not match its expected SHA-256."


class FaceIndexError(MatchingError):
    """Base of the face index's errors (ours, not builtins.IndexError): server-side, so 500.

    ``message`` is fixed text for clients; ``detail`` (paths, shapes) is for the log only.
    """

    code = "index_error"
    status_code = 500
    message = "The face index is unavailable. Try again later."

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} [{self.detail}]" if self.detail else self.message


class IndexCorrupt(FaceIndexError):
    """An index file is truncated, altered, or not an index file at all."""

    code = "index_corrupt"


class IndexMismatch(IndexCorrupt):
    """An index file is intact but was built with other settings (kind, dimension, ...)."""

    code = "index_mismatch"


class DimensionMismatch(FaceIndexError, ValueError):
    """Vectors whose width is not the index's dimension."""

    code = "dimension_mismatch"
