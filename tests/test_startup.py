"""Real `authd serve` processes starting the way compose starts them: replicas at once on a
fresh database, a database not reachable yet, "listening" only once ready, and Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from authd.storage.db import normalize_url
from tests.helpers import AUTHD, free_port, server_env, wait_ready

pytestmark = pytest.mark.slow
KEY = re.compile(r"authd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+")


def serve(data_dir: Path, port: int, **env: str) -> subprocess.Popen:
    base = server_env(AUTHD_DATA_DIR=str(data_dir), AUTHD_PORT=str(port), **env)
    # A session of its own: SIGINT to its process group is what Ctrl-C in a terminal sends.
    return subprocess.Popen([str(AUTHD), "serve"], env=base, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[str, str]:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def test_two_replicas_starting_at_once_on_a_fresh_database_both_come_up(tmp_path, database_url):
    data = tmp_path / "shared-data"  # one volume for both, as in docker/compose.yaml
    ports = [free_port(), free_port()]
    env = {"AUTHD_DATABASE_URL": database_url, "AUTHD_FACES_ENABLED": "false"}
    procs = [serve(data, port, **env) for port in ports]
    outputs = []
    try:
        for proc, port in zip(procs, ports, strict=True):
            wait_ready(f"http://127.0.0.1:{port}", proc, timeout=120)
    finally:
        outputs = [stop(proc) for proc in procs]
    for _, err in outputs:
        assert "Traceback" not in err and "UniqueViolation" not in err, err[-3000:]
    keys = [k for out, _ in outputs for k in KEY.findall(out)]
    assert len(keys) == 1, "exactly one replica creates the first relying party"
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_unreachable_database_waits_then_says_so_in_one_line(tmp_path):
    closed = free_port()  # nothing listens here
    proc = serve(tmp_path / "data", free_port(), AUTHD_FACES_ENABLED="false",
                 AUTHD_DATABASE_URL=f"postgresql://authd:hunter2@127.0.0.1:{closed}/authd",
                 AUTHD_DATABASE_WAIT_SECONDS="1.5")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err and "listening" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"authd: waiting up to 2 s for the database at 127.0.0.1:{closed}")
    assert re.match(rf"error: database 127\.0\.0\.1:{closed}/authd not reachable after \d+ "
                    r"tries in 2 s \(.*\)$", lines[1]), lines[1]
    tries = int(re.search(r"after (\d+) tries", lines[1]).group(1))
    assert tries >= 2  # it retried, with pauses, within the budget
    assert "hunter2" not in err


def test_listening_only_when_ready_and_ctrl_c_is_quiet(tmp_path):
    """With the face workers running: "authd listening" is printed once /readyz answers
    200; SIGINT to the process group (Ctrl-C) stops everything without a traceback; faiss
    prints no "Could not load library" lines."""
    port = free_port()
    proc = serve(tmp_path / "data", port, AUTHD_FACE_WORKERS="1")
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            if "authd listening" in line:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
                assert status == 200, "announced before ready"
                break
            assert time.monotonic() < deadline
        else:
            raise AssertionError("the server never said it was listening")
        assert "faces" in httpx.get(f"http://127.0.0.1:{port}/readyz").text
    finally:
        _, err = stop(proc, signal.SIGINT)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert "Could not load library" not in err
    assert proc.returncode in (0, -signal.SIGINT, 130), (proc.returncode, err[-2000:])
