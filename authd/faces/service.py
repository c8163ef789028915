"""The face side of the service: the pipeline in a worker pool, and calibrated thresholds.

Encoding is CPU-bound (0.05-0.3 s a photo; dlib holds the GIL while it encodes), so it runs
in a pool of worker processes (matching.worker), never on the event loop nor in a thread
that would stall it. The pool's size bounds the photos being encoded per server process, and
a FaceQueue in front of it bounds the photos each relying party has in flight (waiting or
encoding): past `face_queue_per_rp` the call is a 503 `busy` with Retry-After, not a wait of
tens of seconds; a free worker goes to the relying parties in turn, so one program's burst
never starves another's counter. One service per face model (`AUTHD_FACE_MODEL`, thresholds from
that model's calibration); during a migration between models (authd.faces.models) the old
model's service and gallery are loaded too, and a photo is encoded by both (a `Probe`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context

from authd.errors import AuthdError
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
                         max_side=settings.face_decode_max_side,
                         png_max_pixels=settings.face_png_max_pixels,
                         webp_max_pixels=settings.face_webp_max_pixels,
                         gif_max_pixels=settings.face_gif_max_pixels)
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


class FacesBusy(AuthdError):
    code, status_code = "busy", 503
    message = "Too many photos of this relying party are being processed; retry shortly."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(max(1, retry_after))}


class FaceQueue:
    """Photos in flight per relying party, and a fair turn at the face workers.

    At most `per_rp` photos of one relying party are admitted at once (waiting or being
    encoded); one more is refused with FacesBusy at once. At most `workers` photos are
    encoded at once; when one finishes, the next turn goes to the waiting relying party with
    the fewest photos being encoded (the longest waiting among equals), so a burst of one
    program never holds another's counter behind it. Lives on the event loop: no locks.
    """

    def __init__(self, workers: int, per_rp: int, retry_after: int = 1) -> None:
        self.workers, self.per_rp, self.retry_after = workers, per_rp, retry_after
        self.admitted: Counter[str] = Counter()  # rp -> photos waiting or encoding
        self.encoding: Counter[str] = Counter()  # rp -> photos given a worker
        self.waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self.started = 0  # photos given to the workers since start (a metric)
        self.refused = 0  # photos refused busy since start

    @asynccontextmanager
    async def turn(self, rp_id: str) -> AsyncIterator[None]:
        """Admit one photo of `rp_id` and wait for a worker; FacesBusy past `per_rp`."""
        if self.admitted[rp_id] >= self.per_rp:
            self.refused += 1
            raise FacesBusy(self.retry_after)
        self.admitted[rp_id] += 1
        try:
            await self._acquire(rp_id)
            self.started += 1
            try:
                yield
            finally:
                self._release(rp_id)
        finally:
            _decrement(self.admitted, rp_id)

    async def _acquire(self, rp_id: str) -> None:
        if self.encoding.total() < self.workers and not self.waiting:
            self.encoding[rp_id] += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(rp_id, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:  # the client went away
            if granted.done() and not granted.cancelled():
                self._release(rp_id)  # the turn was handed over: pass it on
            else:
                self._forget(rp_id, granted)
            raise

    def _forget(self, rp_id: str, granted: asyncio.Future[None]) -> None:
        line = self.waiting.get(rp_id)
        if line is not None and granted in line:
            line.remove(granted)
            if not line:
                del self.waiting[rp_id]

    def _release(self, rp_id: str) -> None:
        """`rp_id`'s photo is done: hand its worker to the next relying party in turn."""
        _decrement(self.encoding, rp_id)
        while self.waiting:
            turn = min(self.waiting, key=lambda rp: self.encoding[rp])
            line = self.waiting[turn]
            granted = line.popleft()
            if not line:
                del self.waiting[turn]
            if not granted.done():
                self.encoding[turn] += 1
                granted.set_result(None)
                return


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]

