"""Fixtures of the API tests: the OTP store each OTP test runs on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.helpers import REDIS_URL


@pytest.fixture(params=["db_store", "redis_store"])
def otp_store(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings that pick the OTP store: the database's, or real Redis under a key prefix
    of this test's own (deleted after; never FLUSHDB on the shared server)."""
    if request.param == "db_store":
        yield {}
        return
    prefix = f"authd-test:{uuid.uuid4().hex}:"
    yield {"redis_url": REDIS_URL, "redis_prefix": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
