"""Shared fixtures: real SQLite and real PostgreSQL, the real app over httpx, API keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authd.clock import Clock
from authd.http.app import create_app
from authd.http.state import AppState
from authd.settings import Settings
from tests.helpers import MASTER_KEY, FrozenClock, bearer, make_key, scratch_database

# The small set of real photos shipped with the tests (see tests/data/faces/README.md).
FACES = Path(os.environ.get("AUTHD_FACES_DIR", Path(__file__).resolve().parent / "data/faces"))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    assert FACES.is_dir(), f"test photos expected at {FACES} (tests/data/faces, or set AUTHD_FACES_DIR)"
    return FACES


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    with scratch_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> FrozenClock:
    """The app's clock in every test: time moves only when the test moves it (`offset`).
    A test that needs the wall clock says so by overriding this fixture; the real-server
    tests (`authd serve` subprocesses, and the in-process state beside them) run on it."""
    return FrozenClock()


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
