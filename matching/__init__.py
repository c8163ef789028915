"""Faces and vectors: image decoding, quality gate, encoder, templates (and index, dedup).

Importing this package is cheap: dlib and the models load on first use or in
``DlibEncoder.load()``.
"""

from matching.encoder import DlibEncoder, Encoder
from matching.errors import (
    FaceNotFound,
    FaceTooSmall,
    ImageBlurry,
    ImageOverexposed,
    ImageTooDark,
    ImageTooLarge,
    ImageUnreadable,
    MatchingError,
    MultipleFaces,
    TemplateInvalid,
)
from matching.image import Box, ImageLimits, decode_image
from matching.pipeline import FacePipeline, PipelineSettings
from matching.quality import QualityReport, QualitySettings, assess
from matching.templates import Template, distance

__all__ = [
    "Box",
    "DlibEncoder",
    "Encoder",
    "FaceNotFound",
    "FacePipeline",
    "FaceTooSmall",
    "ImageBlurry",
    "ImageLimits",
    "ImageOverexposed",
    "ImageTooDark",
    "ImageTooLarge",
    "ImageUnreadable",
    "MatchingError",
    "MultipleFaces",
    "PipelineSettings",
    "QualityReport",
    "QualitySettings",
    "Template",
    "TemplateInvalid",
    "assess",
    "decode_image",
    "distance",
]
