"""The face index file is a cache of the database: missing, corrupt, stale or wrong, the
gallery opens in step with the database."""

from __future__ import annotations

import pytest

from authd.faces.gallery import Gallery
from authd.faces.models import index_path
from matching.index import IndexSettings
from tests.conftest import bearer, make_key, photo_b64

PHOTOS = ["samples/obama/obama.jpg", "samples/biden/biden.jpg", "samples/kit_harington/john1.jpeg"]


@pytest.fixture
def enroll(face_client, face_state, faces_dir):
    headers = bearer(make_key(face_state, ["enroll"]))

    def one(photo: str) -> str:
        uin = face_client.post("/v1/identities", json={}, headers=headers).json()["uin"]
        r = face_client.put(f"/v1/identities/{uin}/face", json=photo_b64(faces_dir / photo),
                            headers=headers)
        assert r.status_code == 200, r.text
        return uin

    return one


def fresh(state) -> Gallery:
    return Gallery(state.db_read, state.sealer, IndexSettings(), index_file(state),
                   state.faces.model_id)


def index_file(state):
    return index_path(state.settings, state.faces.name)


def test_missing_file_is_rebuilt(face_state, enroll):
    enroll(PHOTOS[0])
    enroll(PHOTOS[1])
    status = fresh(face_state).open()
    assert status.rebuilt and status.count == 2


def test_stale_file_is_caught_up_not_rebuilt(face_state, enroll):
    enroll(PHOTOS[0])
    face_state.gallery.save()
    enroll(PHOTOS[1])
    enroll(PHOTOS[2])
    gallery = fresh(face_state)
    status = gallery.open()
    assert not status.rebuilt and status.count == 3
    assert gallery.index.fingerprint() == face_state.gallery.index.fingerprint()


def test_corrupt_file_is_rebuilt(face_state, enroll):
    enroll(PHOTOS[0])
    face_state.gallery.save()
    path = index_file(face_state)
    assert path.name == f"faces-{face_state.settings.face_model}.index"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    status = fresh(face_state).open()
    assert status.rebuilt and status.count == 1


def test_file_that_disagrees_with_the_database_is_rebuilt(face_state, enroll):
    enroll(PHOTOS[0])
    enroll(PHOTOS[1])
    gallery = face_state.gallery
    some_id = int(gallery.index.ids()[0])
    gallery.index.remove([some_id])  # an index that lost a row but claims to be up to date
    gallery.save()
    status = fresh(face_state).open()
    assert status.rebuilt and status.count == 2


def test_readiness_reports_the_face_workers(settings, clock):
    from fastapi.testclient import TestClient

    from authd.http.app import create_app

    app = create_app(settings.model_copy(update={"faces_enabled": True, "face_workers": 1}),
                     clock=clock)
    with TestClient(app) as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ok" and ready["checks"]["faces"] == "ok"
        assert ready["checks"]["index"] == "ok"
        client.app.state.authd.faces.pool.shutdown(wait=True)  # the workers are gone
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["faces"] == "failing"
