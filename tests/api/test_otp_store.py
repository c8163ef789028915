"""The two OTP stores under concurrency, called directly (database: real SQLite/PostgreSQL;
Redis: real Redis under a key prefix of this test's own): single use, attempts counted
atomically, failure counts that lose no increment, and Redis expiry by TTL."""

from __future__ import annotations

import threading

import pytest
import redis

from authd.errors import Refused
from authd.otp.transactions import Verifier
from authd.storage.db import transaction
from tests.helpers import REDIS_URL, enroll, identity_id

THREADS = 8


@pytest.fixture
def settings(settings, otp_store):
    return settings.model_copy(update={**otp_store, "otp_max_attempts": 3})


def race(state, call) -> list[str]:
    """Run `call(session)` on THREADS threads at once, each in its own transaction that
    commits on a refusal too (as authd.authentication.service.audited does); the outcome of each is
    "ok" or the refusal reason."""
    outcomes: list[str] = []
    barrier = threading.Barrier(THREADS)

    def one() -> None:
        barrier.wait()
        with transaction(state.db) as session:
            try:
                call(session)
                outcomes.append("ok")
            except Refused as refused:
                outcomes.append(refused.reason)

    threads = [threading.Thread(target=one) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def issued(state, uin: str):
    ident = identity_id(state, uin)
    with transaction(state.db) as session:
        return ident, state.otps.issue(session, ident, "program-a", "auth",
                                       now=state.clock.now())


def test_a_code_is_used_once_however_many_present_it_at_once(client, state):
    ident, otp = issued(state, enroll(client, state))
    outcomes = race(state, lambda s: state.otps.verify(
        s, otp.txn_id, otp.code, identity_id=ident, rp_id="program-a", purpose="auth",
        now=state.clock.now()))
    assert sorted(outcomes) == ["ok"] + ["otp_used"] * (THREADS - 1)


def test_concurrent_wrong_codes_burn_after_exactly_max_attempts(client, state):
    ident, otp = issued(state, enroll(client, state))
    bad = f"{(int(otp.code) + 1) % 1_000_000:06d}"
    outcomes = race(state, lambda s: state.otps.verify(
        s, otp.txn_id, bad, identity_id=ident, rp_id="program-a", purpose="auth",
        now=state.clock.now()))
    assert sorted(outcomes) == ["otp_burned"] * (THREADS - 3) + ["otp_wrong_code"] * 3
    with transaction(state.db) as session:
        status = state.otps.status(session, otp.txn_id)
    assert status.attempts == 3 and status.burned and not status.used


def test_concurrent_failures_all_count(client, state):
    verifier = Verifier(identity_id(state, enroll(client, state)), "program-a", "auth")
    now = state.clock.now()
    assert race(state, lambda s: state.otps.fail(s, verifier, now)) == ["ok"] * THREADS
    with transaction(state.db) as session:
        assert state.otps.failures(session, verifier, now) == THREADS


def test_redis_expires_transactions_and_counters_by_ttl(client, state, otp_store):
    if not otp_store:
        pytest.skip("Redis only: the database store's rows are purged by housekeeping")
    ident, otp = issued(state, enroll(client, state))
    with transaction(state.db) as session:
        state.otps.fail(session, Verifier(ident, "program-a", "auth"), state.clock.now())
    r = redis.Redis.from_url(REDIS_URL)
    try:
        prefix = otp_store["redis_prefix"]
        ttl = state.settings.otp_ttl_seconds
        assert 0 < r.ttl(f"{prefix}otp:{otp.txn_id}") <= ttl + 60
        assert 0 < r.ttl(f"{prefix}otp-live:{ident}:program-a") <= ttl + 60
        assert 0 < r.ttl(f"{prefix}fail:{ident}:program-a:auth") <= \
            state.settings.failure_lock_seconds
        assert otp.code.encode() not in b"".join(
            v for k in r.scan_iter(prefix + "*") if r.type(k) == b"hash"
            for v in r.hgetall(k).values())  # only the keyed hash of the code is stored
    finally:
        r.close()
