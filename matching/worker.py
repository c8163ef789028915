"""The face pipeline in a worker process.

dlib's encoder holds the GIL while it runs (measured: 12.1 encodings/s with one thread,
12.0/s with two), so a thread pool neither uses a second core nor keeps the caller's event
loop free. The service runs `extract` in a process pool instead: each worker process loads
its own models once (`init`), receives photo bytes and returns a Template (a few hundred
bytes pickled); MatchingErrors cross the process boundary as themselves.
"""

from __future__ import annotations

from matching.encoder import DlibEncoder
from matching.pipeline import FacePipeline, PipelineSettings
from matching.templates import Template

_pipeline: FacePipeline | None = None


def init(settings: PipelineSettings) -> None:
    global _pipeline
    encoder = DlibEncoder()
    encoder.load()
    _pipeline = FacePipeline(encoder, settings)


def extract(data: bytes) -> Template:
    if _pipeline is None:  # only reachable if the pool was built without `init`
        raise RuntimeError("matching.worker.init was not run in this process")
    return _pipeline.extract(data)


def ping() -> str:
    """A no-op task: waiting for it proves a worker started and loaded its models."""
    return "ok" if _pipeline is not None else "not loaded"
