"""Fixtures for keys/ tests: real keys, real files under tmp_path, no mocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keys import KeyRing, generate_master_key

_NOW = 1_700_000_000
ClaimsFactory = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def now() -> int:
    return _NOW


@pytest.fixture(scope="session")
def issuer() -> str:
    return "https://authd.example"


@pytest.fixture(scope="session")
def audience() -> str:
    return "rp-cash-transfer"


@pytest.fixture(scope="session")
def lifetime() -> int:
    return 600  # tokens live minutes, not hours


@pytest.fixture
def master_key() -> bytes:
    return generate_master_key()


@pytest.fixture
def ring_dir(tmp_path: Path) -> Path:
    return tmp_path / "signing"


@pytest.fixture
def ring(ring_dir: Path, master_key: bytes, now: int) -> KeyRing:
    return KeyRing.load_or_create(ring_dir, master_key, now=now)


@pytest.fixture(scope="module")
def shared_ring(tmp_path_factory: pytest.TempPathFactory, now: int) -> KeyRing:
    """A ring for hypothesis tests, which must not use function-scoped fixtures."""
    return KeyRing.load_or_create(tmp_path_factory.mktemp("ring"), generate_master_key(), now)


@pytest.fixture(scope="session")
def make_claims(now: int, issuer: str, audience: str, lifetime: int) -> ClaimsFactory:
    """Build a valid claim set at ``now``; keyword overrides, a None value drops a member."""

    def build(**overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": "pairwise-subject",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": "jti-1",
            "amr": ["otp"],
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    return build
