"""The face pipeline in a worker process.

Each worker loads the encoder its PipelineSettings name (`model`). OpenCV (SFace) starts a
thread pool of its own as large as the machine: with one worker process per core that
oversubscribes the cores, so each worker runs OpenCV with `opencv_threads` (default 1).
dlib's encoder holds the GIL while it runs (measured: 12.1 encodings/s with one thread,
12.0/s with two), so a thread pool neither uses a second core nor keeps the caller's event
loop free. The service runs `extract` in a process pool instead: each worker process loads
its own models once (`init`), receives photo bytes and returns a Template (a few hundred
bytes pickled); MatchingErrors cross the process boundary as themselves.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from matching import sface_encoder
from matching.encoder import load_encoder
from matching.pipeline import FacePipeline, PipelineSettings
from matching.templates import Template

_pipeline: FacePipeline | None = None


def init(settings: PipelineSettings) -> None:
    global _pipeline
    # Ctrl-C reaches the whole process group; the parent shuts the pool down, so a worker
    # ignores it (else each prints a KeyboardInterrupt traceback from its task loop).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    if settings.model == "sface":
        sface_encoder.limit_threads(settings.opencv_threads)
    _pipeline = FacePipeline(load_encoder(settings.model), settings)


def _exit_with_parent(poll_seconds: float = 1.0) -> None:
    """A worker whose server died (SIGKILL, OOM) exits too instead of lingering: the pool
    only tells its workers to stop when the server shuts down cleanly."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def extract(data: bytes) -> Template:
    if _pipeline is None:  # only reachable if the pool was built without `init`
        raise RuntimeError("matching.worker.init was not run in this process")
    return _pipeline.extract(data)


def ping() -> str:
    """A no-op task: waiting for it proves a worker started and loaded its models."""
    return "ok" if _pipeline is not None else "not loaded"
