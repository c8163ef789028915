"""The face index file is a cache of the database: missing, corrupt, stale or wrong, the
gallery opens in step with the database."""

from __future__ import annotations

import numpy as np
import pytest

from authd.faces.gallery import Gallery
from authd.faces.models import index_path
from matching.index import IndexSettings
from tests.helpers import bearer, make_key, photo_b64

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


def test_keys_reseal_reseals_the_index_file(face_state, enroll, settings):
    """`authd keys reseal` (another process) moves the saved index to the new sealing key;
    the file still opens as is (no rebuild) and the server's next save uses the new key."""
    from authd.faces.reseal import reseal_all
    from authd.http.state import open_state
    from keys import SealingKeyStore, file_needs_reseal
    from matching import index_file as sealed_index

    enroll(PHOTOS[0])
    enroll(PHOTOS[1])
    face_state.gallery.save()
    path = index_file(face_state)
    other = open_state(settings)
    try:
        SealingKeyStore(settings.data_dir / "sealing-keys",
                        bytes.fromhex(settings.master_key.get_secret_value())).rotate()
        assert file_needs_reseal(other.sealer, sealed_index.read_label(path)[1])
        report = reseal_all(other)
        assert report.index_files == 1 and report.templates == 2
        assert not file_needs_reseal(other.sealer, sealed_index.read_label(path)[1])
        assert reseal_all(other).index_files == 0  # already under the active key
    finally:
        other.close()
    status = fresh(face_state).open()
    assert not status.rebuilt and status.count == 2
    face_state.gallery.save()  # the running server follows the ring
    assert not file_needs_reseal(face_state.sealer, sealed_index.read_label(path)[1])
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_unsealed_index_of_an_earlier_version_is_erased_at_open(face_state, enroll):
    """Earlier builds wrote the index with its vectors in the clear (magic AUTHDFX1): the
    first open rebuilds from the sealed rows and removes that file at once."""
    enroll(PHOTOS[0])
    path = index_file(face_state)
    clear = face_state.gallery.index.search(np.zeros((1, 128), np.float32), 1)  # any row
    assert clear
    vector = face_state.gallery.index._backend.index.reconstruct(clear[0][0].id)
    path.write_bytes(b"AUTHDFX1" + vector.astype("<f4").tobytes())
    status = fresh(face_state).open()
    assert status.rebuilt and status.count == 1 and not path.exists()
