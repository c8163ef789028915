"""SIGKILL a real server in the middle of a stream of enrollments; after restart the index and
the database agree and every acknowledged enrollment is there."""

from __future__ import annotations

import base64
import re
import signal
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from authd.faces.gallery import Gallery
from authd.faces.models import model_id
from authd.http.state import open_state
from authd.settings import Settings
from matching.index import IndexSettings, fingerprint_ids
from tests.helpers import free_port, start_server, wait_ready

pytestmark = pytest.mark.slow


def processes_serving(data_dir: Path) -> list[int]:
    """Pids of live processes started for this data dir (the server and its face workers)."""
    marker = f"AUTHD_DATA_DIR={data_dir}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().split(")")[-1].split()[0]
                if state != "Z":
                    pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def people(faces_dir: Path, n: int) -> list[Path]:
    lfw = sorted((faces_dir / "lfw/images").iterdir())
    return [sorted(d.iterdir())[0] for d in lfw[:: max(len(lfw) // n, 1)]][:n]


def test_sigkill_mid_stream_loses_no_acknowledged_enrollment(tmp_path, faces_dir):
    port, data = free_port(), tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data, port)
    try:
        wait_ready(base, proc)
    except AssertionError:
        proc.kill()
        raise
    key = None
    acked: list[tuple[str, Path, int]] = []
    stop = threading.Event()
    photos = people(faces_dir, 40)

    def enroll(chunk: list[Path]) -> None:
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            for path in chunk:
                if stop.is_set():
                    return
                try:
                    uin = http.post("/v1/identities", json={}).json()["uin"]
                    body = {"image_b64": base64.b64encode(path.read_bytes()).decode()}
                    r = http.put(f"/v1/identities/{uin}/face", json=body)
                except (httpx.TransportError, KeyError):
                    return  # the server died under us: this one was never acknowledged
                acked.append((uin, path, r.status_code))

    # The first start printed the default key on stdout; read it without blocking the pipe.
    line = ""
    while "authd_" not in line:
        line = proc.stdout.readline()
    key = re.search(r"authd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+", line).group(0)
    threads = [threading.Thread(target=enroll, args=(photos[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    while len(acked) < 12 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.05)
    proc.send_signal(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    proc.wait(timeout=10)
    assert len(acked) >= 12
    # The face workers of the killed server notice and exit (no orphans holding memory).
    for _ in range(100):
        if not processes_serving(data):
            break
        threading.Event().wait(0.1)
    assert processes_serving(data) == []

    proc = start_server(data, port)
    try:
        wait_ready(base, proc)
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            for uin, path, status in acked:
                shown = http.get(f"/v1/identities/{uin}").json()
                if status == 200:
                    assert shown["has_face"] is True, uin
                    body = {"image_b64": base64.b64encode(path.read_bytes()).decode()}
                    found = http.post("/v1/dedup/search", json=body).json()["candidates"]
                    assert found and found[0]["uin"] == uin  # the default key has admin
                else:
                    assert status == 409 and shown["has_face"] is False
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)

    # After a clean stop the saved index file equals the database's set of templates.
    state = open_state(Settings(data_dir=data, faces_enabled=False))
    try:
        name = state.settings.face_model
        gallery = Gallery(state.db_read, state.sealer, IndexSettings(), data / f"faces-{name}.index",
                          model_id(name))
        assert gallery._load(), "a clean stop saves the index"
        from sqlalchemy import select

        from authd.storage.models import Identity

        with state.db_read() as s:
            ids = s.scalars(select(Identity.id).where(Identity.template.is_not(None),
                                                       Identity.status == "active")).all()
        assert gallery.index.fingerprint() == fingerprint_ids(np.array(ids, dtype=np.int64))
        # A request the server completed but whose answer the kill cut off may be there too.
        assert len(ids) >= sum(1 for *_, st in acked if st == 200)
    finally:
        state.close()
