"""No face template reaches the disk unsealed, and every file authd writes in its data dir is
0600 (directories 0700): real photos enrolled through the API with the real face model, the
database in the data dir (the embedded default: SQLite with its WAL), the index saved."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from authd.clock import Clock
from authd.faces.gallery import open_template
from authd.http.app import create_app
from authd.http.state import AppState
from authd.settings import Settings
from authd.storage.models import Identity
from tests.helpers import MASTER_KEY, bearer, make_key, photo_b64

PHOTOS = ["samples/obama/obama.jpg", "samples/biden/biden.jpg",
          "samples/kit_harington/john1.jpeg", "samples/rose_leslie/img1.jpg"]
ENCODINGS = ("<f4", ">f4", "<f2", ">f2")


@pytest.fixture
def embedded(tmp_path: Path, clock: Clock, face_service) -> TestClient:
    """authd as `make serve` runs it: everything (SQLite included) in one data dir; the
    test enters and leaves it (the scan runs while it serves and after a clean stop)."""
    settings = Settings(data_dir=tmp_path / "data", master_key=MASTER_KEY, faces_enabled=True,
                        log_level="INFO")
    assert settings.face_model == face_service.name  # the default model, as the fixture loads
    return TestClient(create_app(settings, clock=clock, faces=face_service),
                      raise_server_exceptions=False)


def enroll_all(client: TestClient, state: AppState, faces_dir: Path) -> None:
    headers = bearer(make_key(state, ["enroll", "auth"]))
    for photo in PHOTOS:
        r = client.post("/v1/identities", json={"phone": "+212612345678"}, headers=headers)
        assert r.status_code == 201, r.text
        uin = r.json()["uin"]
        r = client.put(f"/v1/identities/{uin}/face", json=photo_b64(faces_dir / photo),
                       headers=headers)
        assert r.status_code == 200, r.text
    r = client.post("/v1/otp", headers=headers,  # so the outbox file exists too
                    json={"individual_id": uin, "id_type": "uin", "channels": ["sms"]})
    assert r.status_code == 202, r.text


def stored_templates(state: AppState) -> list[np.ndarray]:
    """Every enrolled template, read back through the service's own sealing."""
    with state.db_read() as session:
        rows = session.execute(select(Identity).where(Identity.template.is_not(None))).scalars()
        return [open_template(state.sealer, row).vector for row in rows]


def needles(vectors: list[np.ndarray]) -> set[bytes]:
    """Each template as float32 and float16, little and big endian: whole, and in quarters
    (so a vector split across two database pages is found too)."""
    out = set()
    for v in vectors:
        for encoding in ENCODINGS:
            raw = np.asarray(v).astype(encoding).tobytes()
            quarter = len(raw) // 4
            out |= {raw, *(raw[i : i + quarter] for i in range(0, len(raw), quarter))}
    return out


def files_under(root: Path) -> list[Path]:
    return sorted(Path(d) / f for d, _, names in os.walk(root) for f in names)


def plaintext_hits(root: Path, vectors: list[np.ndarray]) -> list[str]:
    wanted = needles(vectors)
    return [f"{path.relative_to(root)}" for path in files_under(root)
            if any(n in path.read_bytes() for n in wanted)]


def loose_modes(root: Path) -> list[str]:
    loose = [f"{p.relative_to(root)} {stat.S_IMODE(p.stat().st_mode):o}"
             for p in files_under(root) if stat.S_IMODE(p.stat().st_mode) != 0o600]
    dirs = [root, *(Path(d) / s for d, subs, _ in os.walk(root) for s in subs)]
    return loose + [f"{p.relative_to(root)}/ {stat.S_IMODE(p.stat().st_mode):o}"
                    for p in dirs if stat.S_IMODE(p.stat().st_mode) != 0o700]


def test_no_template_on_disk_in_the_clear_and_every_file_0600(embedded, faces_dir,
                                                               tmp_path) -> None:
    with embedded as client:
        state: AppState = client.app.state.authd  # type: ignore[attr-defined]
        root = state.settings.data_dir
        enroll_all(client, state, faces_dir)
        vectors = stored_templates(state)
        assert len(vectors) == len(PHOTOS)
        state.gallery.save()  # the index file, as the periodic save writes it
        names = {p.name for p in files_under(root)}
        assert {"authd.db", "authd.db-wal", "outbox.jsonl"} <= names, names
        assert any(n.startswith("faces-") and n.endswith(".index") for n in names), names
        assert plaintext_hits(root, vectors) == []  # serving: database, WAL, index, ...
        assert (loose := loose_modes(root)) == [], loose
    # After a clean stop (WAL checkpointed, the index saved once more).
    assert plaintext_hits(root, vectors) == []
    assert (loose := loose_modes(root)) == [], loose
    # The scan does find a template where one is in the clear (it can fail).
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "x.bin").write_bytes(b"x" * 99 + vectors[0].astype(">f2").tobytes()[:80] + b"y")
    assert plaintext_hits(probe, vectors) == ["x.bin"]
