"""The face side of the service: the pipeline in a worker pool, and calibrated thresholds.

Encoding is CPU-bound (0.05-0.3 s a photo; dlib holds the GIL while it encodes), so it runs
in a pool of worker processes (matching.worker), never on the event loop nor in a thread
that would stall it. The pool's size bounds the photos in flight per server process: a burst
queues instead of thrashing. One service per face model (`AUTHD_FACE_MODEL`, thresholds from
that model's calibration); during a migration between models (authd.faces.models) the old
model's service and gallery are loaded too, and a photo is encoded by both (a `Probe`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from authd.faces.gallery import Gallery
from authd.faces.models import dimension, model_id
from authd.settings import Settings
from matching import worker
from matching.calibration import Calibration, Threshold, load_calibration
from matching.errors import ImageTooLarge, ImageUnreadable
from matching.image import ImageLimits
from matching.pipeline import PipelineSettings
from matching.quality import QualitySettings
from matching.templates import Template
from matching.templates import distance as template_distance

log = logging.getLogger("authd.faces.service")


@dataclass(frozen=True)
class FaceMatch:
    distance: float
    threshold: float
    matched: bool


class FaceService:
    """One face model's encoder, in a pool of worker processes, and its calibration."""

    def __init__(self, settings: Settings, pipeline_settings: PipelineSettings,
                 name: str, calibration: Calibration) -> None:
        self.settings, self.name, self.calibration = settings, name, calibration
        self.model_id = calibration.model_id
        # spawn, not fork: the server process has threads and open sockets.
        self.pool = ProcessPoolExecutor(settings.face_workers, mp_context=get_context("spawn"),
                                        initializer=worker.init, initargs=(pipeline_settings,))
        self.verify_threshold: Threshold = calibration.threshold_for(settings.face_fmr_target)
        if self.verify_threshold.extrapolated:
            log.warning("face_fmr_target is below what the calibration data measured",
                        extra={"fmr_measured": self.verify_threshold.fmr, "model": name})

    @classmethod
    def start(cls, settings: Settings, name: str | None = None) -> FaceService:
        """Start the worker processes of model `name` (default: the configured one) and
        wait until each has loaded its models."""
        name = name or settings.face_model
        model = model_id(name)
        calibration = (load_calibration(model, settings.face_calibration_file)
                       if settings.face_calibration_file else load_calibration(model))
        service = cls(settings, pipeline_settings(settings, name), name, calibration)
        for ready in [service.pool.submit(worker.ping) for _ in range(settings.face_workers)]:
            ready.result(timeout=120)
        return service

    def healthy(self, timeout: float = 5.0) -> bool:
        """A worker answers a no-op task (a crashed pool or hung workers do not)."""
        try:
            return self.pool.submit(worker.ping).result(timeout=timeout) == "ok"
        except Exception:  # BrokenProcessPool, RuntimeError after shutdown, TimeoutError
            return False

    async def extract(self, data: bytes) -> Template:
        """The photo's template, computed in the pool; a MatchingError for a bad photo."""
        return await asyncio.wrap_future(self.submit(data))

    def submit(self, data: bytes) -> Future[Template]:
        """The photo's template as a future (for callers off the event loop)."""
        return self.pool.submit(worker.extract, data)

    @property
    def dimension(self) -> int:
        return dimension(self.name)

    def compare(self, probe: Template, enrolled: Template) -> FaceMatch:
        distance = template_distance(probe, enrolled)  # refuses templates of other models
        threshold = self.verify_threshold.value
        return FaceMatch(distance, threshold, distance < threshold)

    def dedup_threshold(self, gallery_size: int) -> Threshold:
        if self.settings.dedup_threshold is not None:
            return Threshold(self.settings.dedup_threshold, float("nan"), extrapolated=False)
        return self.calibration.dedup_threshold(self.settings.dedup_fpir_target, gallery_size)

    def close(self) -> None:
        # Wait for the workers to exit: uvicorn re-raises SIGTERM after shutdown, so the
        # interpreter's exit hooks (which would join them) never run.
        self.pool.shutdown(wait=True, cancel_futures=True)


def pipeline_settings(settings: Settings, name: str | None = None) -> PipelineSettings:
    """The pipeline of model `name` (default: the configured one) under these settings."""
    quality = QualitySettings(
        min_face_px=settings.face_min_face_px,
        multiple_face_ratio=settings.face_multiple_face_ratio,
        min_brightness=settings.face_min_brightness,
        max_brightness=settings.face_max_brightness,
        min_sharpness=settings.face_min_sharpness,
        detect_max_side=settings.face_detect_max_side,
        min_detection_score=settings.face_min_detection_score,
        max_yaw=settings.face_max_yaw,
    )
    limits = ImageLimits(max_bytes=settings.face_max_image_bytes,
                         max_pixels=settings.face_max_image_pixels,
                         max_side=settings.face_decode_max_side)
    return PipelineSettings(limits=limits, quality=quality, model=name or settings.face_model)


def decode_b64_image(text: str, limit: int) -> bytes:
    """Base64 photo from JSON; the size is checked before decoding."""
    if len(text) > limit * 4 // 3 + 4:
        raise ImageTooLarge()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageUnreadable("The photo is not valid base64.") from exc


@dataclass(frozen=True)
class ModelFaces:
    """An older model's encoder and gallery, loaded while a migration away from it is under
    way (`authd faces migrate`)."""

    service: FaceService
    gallery: Gallery
    owned: bool  # started here (closed here), not shared by the caller


@dataclass(frozen=True, eq=False)
class Probe:
    """A photo's template under the configured model, and under each older model still
    loaded (a migration under way): a template, or the code that model refused it with."""

    template: Template
    others: Mapping[str, Template | str] = field(default_factory=dict)

    def for_model(self, model: str | None) -> Template | str | None:
        if model is None or model == self.template.model_id:
            return self.template
        return self.others.get(model)

    def __repr__(self) -> str:
        return f"Probe({self.template!r}, others={sorted(self.others)})"
