"""Two replicas on one PostgreSQL database: each keeps its own FAISS index in step with the
database, so an enrollment or deactivation through one is seen by the other's 1:N search."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from authd.http.app import create_app
from tests.conftest import bearer, make_key, photo_b64

# Replicas share a PostgreSQL database (an SQLite file belongs to one host).
pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


@pytest.fixture
def replicas(settings, clock, face_service):
    with ExitStack() as stack:
        apps = []
        for name in ("a", "b"):
            own = settings.model_copy(update={
                "faces_enabled": True, "index_file": settings.data_dir / f"faces-{name}.index"})
            apps.append(stack.enter_context(TestClient(create_app(own, clock=clock,
                                                                  faces=face_service))))
        yield apps


def test_enrollment_on_one_replica_is_found_by_the_other(replicas, faces_dir):
    a, b = replicas
    headers = bearer(make_key(a.app.state.authd, ["enroll", "admin"]))
    uin = a.post("/v1/identities", json={"face": photo_b64(faces_dir / "samples/obama/obama.jpg")},
                 headers=headers).json()["uin"]
    probe = photo_b64(faces_dir / "samples/obama/obama2.jpg")
    found = b.post("/v1/dedup/search", json=probe, headers=headers).json()["candidates"]
    assert [c["uin"] for c in found] == [uin]
    # The same face enrolled through B is caught as a duplicate of A's enrollment.
    again = b.post("/v1/identities", json={"face": probe}, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["candidates"][0]["uin"] == uin
    # Deactivated through B: A's index drops it.
    assert b.post(f"/v1/identities/{uin}/deactivate", headers=headers).status_code == 200
    for replica in (a, b):  # each catches up from the change log before it searches
        assert replica.post("/v1/dedup/search", json=probe,
                            headers=headers).json()["candidates"] == []
        assert len(replica.app.state.authd.gallery.index) == 0
