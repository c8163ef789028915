"""Shared fixtures: real SQLite and real PostgreSQL, the real app over httpx, API keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from authd.clock import Clock
from authd.http.app import create_app
from authd.http.state import AppState
from authd.registry import clients
from authd.settings import Settings
from authd.storage.db import transaction

PG_URL = os.environ.get("AUTHD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The small set of real photos shipped with the tests (see tests/data/faces/README.md).
FACES = Path(os.environ.get("AUTHD_FACES_DIR", Path(__file__).resolve().parent / "data/faces"))
MASTER_KEY = "11" * 32


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    assert FACES.is_dir(), f"test photos expected at {FACES} (tests/data/faces, or set AUTHD_FACES_DIR)"
    return FACES


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'authd.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    master_key=MASTER_KEY, log_level="INFO", faces_enabled=False)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def state(client: TestClient) -> AppState:
    return client.app.state.authd  # type: ignore[attr-defined]


def make_key(state: AppState, scopes: list[str], *, rp_id: str = "program-a",
             factors: tuple[str, ...] = ("otp", "face"), uin_in_token: bool = False,
             min_acr: int = 1) -> str:
    now = state.clock.now()
    with transaction(state.db) as session:
        if session.get(clients.RelyingParty, rp_id) is None:
            clients.add_relying_party(session, rp_id=rp_id, name=f"Program {rp_id}",
                                      factors=list(factors), min_acr=min_acr,
                                      token_ttl_seconds=300, uin_in_token=uin_in_token, now=now)
            session.flush()
        return clients.issue_key(session, rp_id=rp_id, scopes=scopes, ttl_days=30,
                                 now=now).api_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def enroll_headers(state: AppState) -> dict[str, str]:
    return bearer(make_key(state, ["enroll"]))


@pytest.fixture
def admin_headers(state: AppState) -> dict[str, str]:
    return bearer(make_key(state, ["admin", "enroll"], rp_id="registry-admin"))


@pytest.fixture(scope="session")
def face_service():
    """One loaded face service (the default model) shared by every face test in the session."""
    from authd.faces.service import FaceService

    service = FaceService.start(Settings(face_workers=2))
    yield service
    service.close()


@pytest.fixture(scope="session")
def dlib_face_service():
    """The dlib model's face service, for the tests about dlib and model migration only."""
    from authd.faces.service import FaceService

    service = FaceService.start(Settings(face_workers=1), "dlib")
    yield service
    service.close()


@pytest.fixture
def face_client(settings: Settings, clock: Clock, face_service) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"faces_enabled": True}), clock=clock,
                     faces=face_service)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def face_state(face_client: TestClient) -> AppState:
    return face_client.app.state.authd  # type: ignore[attr-defined]


def photo_b64(path: Path) -> dict[str, str]:
    import base64

    return {"image_b64": base64.b64encode(path.read_bytes()).decode()}
