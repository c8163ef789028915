"""Faces and vectors: image decoding, quality gate, encoder, templates (and index, dedup).

Importing this package is cheap: dlib, OpenCV and the models load on first use or in
``load_encoder(name)`` ("sface", the default, or "dlib").
"""

from matching.detection import Face
from matching.encoder import DlibEncoder, Encoder, SFaceEncoder, load_encoder
from matching.errors import (
    FaceNotFound,
    FacePose,
    FaceTooSmall,
    ImageBlurry,
    ImageOverexposed,
    ImageTooDark,
    ImageTooLarge,
    ImageUnreadable,
    MatchingError,
    ModelFileInvalid,
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
    "Face",
    "FaceNotFound",
    "FacePipeline",
    "FacePose",
    "FaceTooSmall",
    "ImageBlurry",
    "ImageLimits",
    "ImageOverexposed",
    "ImageTooDark",
    "ImageTooLarge",
    "ImageUnreadable",
    "MatchingError",
    "ModelFileInvalid",
    "MultipleFaces",
    "PipelineSettings",
    "QualityReport",
    "QualitySettings",
    "SFaceEncoder",
    "Template",
    "TemplateInvalid",
    "assess",
    "decode_image",
    "distance",
    "load_encoder",
]
