"""Rate limits: the token bucket on real SQLite/PostgreSQL and real Redis, the per-ID and
per-relying-party limits over HTTP, and the bound on an attacker's guesses."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from sqlalchemy import func, select

from authd.authentication.limiter import DatabaseLimiter, Limit, RedisLimiter
from authd.storage.db import transaction
from authd.storage.models import OtpTransaction
from tests.helpers import (
    REDIS_URL,
    assert_refused,
    authenticate,
    counter,
    enroll,
    outbox,
    request_otp,
    wrong,
)


@pytest.fixture(params=["database", "redis"])
def limiter(request, state):
    if request.param == "database":
        yield DatabaseLimiter(state.engine)  # SQLite or PostgreSQL, per `database_url`
        return
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"authd-test:{uuid.uuid4().hex}:"
    yield RedisLimiter(client, prefix=prefix)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def test_bucket_burst_refusal_and_refill(limiter):
    limit, now = Limit(rate=0.5, burst=3), 1_000_000.0
    assert [limiter.take("k", limit, now) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", limit, now) == pytest.approx(2.0)  # one token every 2 s
    assert limiter.take("k", limit, now + 1) == pytest.approx(1.0)
    assert limiter.take("k", limit, now + 2) == 0.0
    assert limiter.take("other", limit, now) == 0.0  # buckets are independent
    assert limiter.take("k", limit, now + 1000) == 0.0  # refilled, capped at burst
    assert [limiter.take("k", limit, now + 1000) for _ in range(3)][-1] > 0


def test_a_refused_take_keeps_the_refill_exact(limiter):
    """A 1/30 s refill summed over a refused call must reach one token at 30 s (Redis used to
    store 14 digits and answer 1e-13 s wait, i.e. 429 with Retry-After 1)."""
    once = Limit.once_every(30)
    assert limiter.take("resend", once, 1000.0) == 0
    assert limiter.take("resend", once, 1010.0) == pytest.approx(20)
    assert limiter.take("resend", once, 1030.0) == 0


def test_bucket_is_atomic_under_concurrency(limiter):
    limit, now, taken = Limit(rate=0.001, burst=7), 2_000_000.0, []

    def worker() -> None:
        for _ in range(4):
            taken.append(limiter.take("shared", limit, now) == 0.0)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 7 and len(taken) == 24


def test_per_id_limit_over_http(client, state, clock):
    uin, headers = enroll(client, state), counter(state)  # burst 10, 10 a minute
    for _ in range(10):
        assert_refused(authenticate(client, headers, uin, "some-txn-id", "123456"))
    r = authenticate(client, headers, uin, "some-txn-id", "123456")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "6"
    other = enroll(client, state)  # another ID is not held back
    assert_refused(authenticate(client, headers, other, "some-txn-id", "123456"))
    unknown = "234567890124"  # an unknown ID is throttled exactly like a known one
    statuses = [authenticate(client, headers, unknown, "some-txn-id", "1234560"[:6])
                .status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    clock.offset += 6
    assert_refused(authenticate(client, headers, uin, "some-txn-id", "123456"))


@pytest.fixture
def settings(settings, request):
    return settings.model_copy(update=getattr(request, "param", {}))


@pytest.mark.parametrize("settings", [{"rate_rp_burst": 3, "rate_rp_per_second": 1}],
                         indirect=True)
def test_per_relying_party_limit_over_http(client, state, clock):
    headers, ids = counter(state), [enroll(client, state) for _ in range(4)]
    statuses = [authenticate(client, headers, uin, "some-txn-id", "123456").status_code
                for uin in ids]
    assert statuses == [401, 401, 401, 429]
    assert_refused(authenticate(client, counter(state, rp_id="program-b"), ids[3],
                                "some-txn-id", "123456"))


def test_redis_backend_over_http(client, state):
    rclient = redis.Redis.from_url(REDIS_URL)
    prefix = f"authd-test:{uuid.uuid4().hex}:"
    state.limiter = RedisLimiter(rclient, prefix=prefix)
    uin, headers = enroll(client, state), counter(state)
    assert request_otp(client, headers, uin).status_code == 202
    assert request_otp(client, headers, uin).status_code == 429  # resend cool-down
    statuses = [authenticate(client, headers, uin, "some-txn-id", "123456").status_code
                for _ in range(10)]
    assert statuses == [401] * 8 + [429] * 2  # the two OTP requests took 2 of the 10
    assert any(rclient.scan_iter(prefix + "*"))
    for key in rclient.scan_iter(prefix + "*"):
        rclient.delete(key)


@pytest.mark.parametrize("settings", [{"max_consecutive_failures": 30}], indirect=True)
def test_an_attacker_gets_no_more_guesses_than_the_settings_allow(client, state, clock):
    """Guess for 20 simulated minutes with re-issues; count guesses that reached verification."""
    s = state.settings
    uin, headers = enroll(client, state), counter(state)
    start, txn, left, code, samples, per_txn = clock.offset, None, 0, "000000", [], {}

    def guesses() -> int:
        with transaction(state.db) as session:
            return session.scalar(select(func.coalesce(func.sum(OtpTransaction.attempts), 0)))

    while clock.offset - start < 20 * 60:
        if left == 0:
            r = request_otp(client, headers, uin)
            if r.status_code == 429:
                clock.offset += int(r.headers["Retry-After"])
                continue
            txn, left = r.json()["txn_id"], s.otp_max_attempts + 2  # tries more than allowed
            sent = [m for m in outbox(state) if m["txn_id"] == txn]
            code = wrong(sent[0]["text"].split("code to authenticate is ")[1][:6]) \
                if sent else "000000"
        r = authenticate(client, headers, uin, txn, code)
        if r.status_code == 429:
            clock.offset += int(r.headers["Retry-After"])
            continue
        assert_refused(r)
        left -= 1
        samples.append((clock.offset - start, guesses()))

    rate, burst = s.rate_id_per_minute / 60, s.rate_id_burst
    assert all(n <= burst + rate * elapsed for elapsed, n in samples)  # the rate bound
    assert samples[-1][1] == s.max_consecutive_failures  # then the cap: no guess after it
    with transaction(state.db) as session:
        per_txn = session.execute(select(OtpTransaction.attempts)).scalars().all()
    assert max(per_txn) == s.otp_max_attempts  # each OTP burned after 3
