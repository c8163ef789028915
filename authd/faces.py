"""The face side of the service: the pipeline in a worker pool, and calibrated thresholds.

Encoding is CPU-bound (0.1-0.3 s a photo) and dlib holds the GIL while it encodes, so it
runs in a pool of worker processes (matching.worker), never on the event loop nor in a
thread that would stall it. The pool's size bounds the photos in flight per server process:
a burst queues instead of thrashing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from authd.gallery import Gallery
from authd.settings import Settings
from authd.state import AppState
from matching import worker
from matching.calibration import Calibration, Threshold, load_calibration
from matching.encoder import DlibEncoder
from matching.errors import ImageTooLarge, ImageUnreadable
from matching.image import ImageLimits
from matching.index import IndexSettings
from matching.pipeline import PipelineSettings
from matching.quality import QualitySettings
from matching.templates import Template
from matching.templates import distance as template_distance

log = logging.getLogger("authd.faces")


@dataclass(frozen=True)
class FaceMatch:
    distance: float
    threshold: float
    matched: bool


class FaceService:
    def __init__(self, settings: Settings, pipeline_settings: PipelineSettings,
                 model_id: str, calibration: Calibration) -> None:
        self.settings, self.model_id, self.calibration = settings, model_id, calibration
        # spawn, not fork: the server process has threads and open sockets.
        self.pool = ProcessPoolExecutor(settings.face_workers, mp_context=get_context("spawn"),
                                        initializer=worker.init, initargs=(pipeline_settings,))
        self.verify_threshold: Threshold = calibration.threshold_for(settings.face_fmr_target)
        if self.verify_threshold.extrapolated:
            log.warning("face_fmr_target is below what the calibration data measured",
                        extra={"fmr_measured": self.verify_threshold.fmr})

    @classmethod
    def start(cls, settings: Settings) -> FaceService:
        """Start the worker processes and wait until each has loaded its models."""
        model_id = DlibEncoder.model_id
        calibration = (load_calibration(model_id, settings.face_calibration_file)
                       if settings.face_calibration_file else load_calibration(model_id))
        service = cls(settings, pipeline_settings(settings), model_id, calibration)
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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, worker.extract, data)

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


def pipeline_settings(settings: Settings) -> PipelineSettings:
    quality = QualitySettings(
        min_face_px=settings.face_min_face_px,
        multiple_face_ratio=settings.face_multiple_face_ratio,
        min_brightness=settings.face_min_brightness,
        max_brightness=settings.face_max_brightness,
        min_sharpness=settings.face_min_sharpness,
        detect_max_side=settings.face_detect_max_side,
    )
    limits = ImageLimits(max_bytes=settings.face_max_image_bytes,
                         max_pixels=settings.face_max_image_pixels,
                         max_side=settings.face_decode_max_side)
    return PipelineSettings(limits=limits, quality=quality)


def decode_b64_image(text: str, limit: int) -> bytes:
    """Base64 photo from JSON; the size is checked before decoding."""
    if len(text) > limit * 4 // 3 + 4:
        raise ImageTooLarge()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageUnreadable("The photo is not valid base64.") from exc


def attach_faces(state: AppState, faces: FaceService | None = None) -> Gallery:
    """Load the face service (unless given) and open the gallery, checked against the database."""
    settings = state.settings
    state.faces = faces or FaceService.start(settings)
    gallery = Gallery(state.db_read, state.sealer, IndexSettings(kind=settings.index_kind),
                      settings.index_file or settings.data_dir / "faces.index")
    status = gallery.open()
    log.info("face gallery open", extra={"count": status.count, "rebuilt": status.rebuilt})
    state.gallery = gallery
    faces = state.faces
    state.extras.setdefault("readiness", {}).update(
        index=lambda: "ok" if state.gallery is gallery else "failing",
        faces=lambda: "ok" if faces.healthy() else "failing")
    return gallery


async def open_faces(state: AppState, faces: FaceService | None) -> list[asyncio.Task]:
    """In the lifespan: attach faces off the event loop; the periodic index save is returned."""
    if not state.settings.faces_enabled:
        return []
    gallery = await asyncio.to_thread(attach_faces, state, faces)
    return [asyncio.create_task(_save_periodically(gallery, state.settings.index_save_seconds))]


async def _save_periodically(gallery: Gallery, seconds: int) -> None:
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(gallery.catch_up)
        await asyncio.to_thread(gallery.save)


def close_faces(state: AppState, *, owned: bool) -> None:
    if state.gallery is not None:
        state.gallery.catch_up()
        state.gallery.save()
    if owned and state.faces is not None:
        state.faces.close()
