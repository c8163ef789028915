"""The two `authd.otp.transactions.OtpStore`s, chosen once at start by `build_store`:

- `DatabaseOtpStore` (embedded default): rows of `otp_transactions` and `auth_failures`,
  written in the caller's transaction (so they commit with its audit event);
- `RedisOtpStore` (when `AUTHD_REDIS_URL` is set): one hash per transaction that Redis
  expires (TTL), single use and attempts decided atomically by one Lua script per call, and
  a failure counter per verifier that expires `failure_lock_seconds` after its last failure.

Both give the same answers to the same calls (tests run the OTP suite on both).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from authd.errors import Refused
from authd.otp.transactions import (
    IssuedOtp,
    OtpPolicy,
    OtpStatus,
    OtpStore,
    Purpose,
    Verifier,
    matches,
    mint,
    unusable,
)
from authd.settings import Settings
from authd.storage.models import AuthFailure, Identity, OtpTransaction, table_of

REDIS_LEEWAY_SECONDS = 60  # an expired txn stays readable this long, so audit says otp_expired


def policy_of(settings: Settings, key: bytes) -> OtpPolicy:
    return OtpPolicy(key, settings.otp_ttl_seconds, settings.otp_max_attempts,
                     settings.failure_lock_seconds)


class DatabaseOtpStore:
    def __init__(self, policy: OtpPolicy) -> None:
        self.policy = policy

    def issue(self, session: Session, identity_id: int, rp_id: str, purpose: Purpose, *,
              now: int) -> IssuedOtp:
        # Lock the identity row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes) so
        # two concurrent requests cannot both leave a live OTP.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_IDENTITY, {"id": identity_id})
        session.execute(_SUPERSEDE, {"b_identity": identity_id, "b_rp": rp_id, "now": now})
        issued, hashed = mint(self.policy.key, now, self.policy.ttl)
        session.execute(_INSERT, {
            "txn_id": issued.txn_id, "identity_id": identity_id, "rp_id": rp_id,
            "purpose": purpose, "code_hash": hashed, "created_at": now,
            "expires_at": issued.expires_at, "attempts": 0, "burned": False})
        return issued

    def verify(self, session: Session, txn_id: str, code: str, *, identity_id: int,
               rp_id: str, purpose: Purpose, now: int) -> None:
        txn = self._load(session, txn_id)
        matched = matches(self.policy.key, txn.code_hash if txn else None, txn_id, code)
        reason = unusable(_status(txn), identity_id, rp_id, purpose, now)
        if reason is not None:
            raise Refused(reason)
        assert txn is not None
        if not matched:
            txn.attempts += 1
            txn.burned = txn.attempts >= self.policy.max_attempts
            raise Refused("otp_wrong_code")
        txn.used_at = now

    def equalize(self, session: Session, txn_id: str, code: str) -> None:
        txn = self._load(session, txn_id)
        matches(self.policy.key, txn.code_hash if txn else None, txn_id, code)

    def status(self, session: Session, txn_id: str) -> OtpStatus | None:
        return _status(session.get(OtpTransaction, txn_id))

    def failures(self, session: Session, verifier: Verifier, now: int) -> int:
        row = session.execute(_FAILURES, {"identity_id": verifier.identity_id,
                                          "rp_id": verifier.rp_id,
                                          "purpose": verifier.purpose}).first()
        if row is None or now - row.last_at >= self.policy.lock_seconds:
            return 0
        return int(row.failures)

    def fail(self, session: Session, verifier: Verifier, now: int) -> None:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
            else sqlite.insert
        table = AuthFailure.__table__.c
        stale = table.last_at <= now - self.policy.lock_seconds
        stmt = insert(AuthFailure).values(
            identity_id=verifier.identity_id, rp_id=verifier.rp_id, purpose=verifier.purpose,
            count=1, last_at=now)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[table.identity_id, table.rp_id, table.purpose],
            set_={"count": case((stale, 1), else_=table.count + 1), "last_at": now}))

    def succeed(self, session: Session, verifier: Verifier) -> None:
        session.execute(_SUCCEED, {"identity_id": verifier.identity_id,
                                   "rp_id": verifier.rp_id, "purpose": verifier.purpose})

    def reset(self, session: Session, identity_id: int, rp_id: str | None) -> int:
        stmt = delete(AuthFailure).where(AuthFailure.identity_id == identity_id)
        if rp_id is not None:
            stmt = stmt.where(AuthFailure.rp_id == rp_id)
        return cast("CursorResult[Any]", session.execute(stmt)).rowcount or 0

    def close(self) -> None:
        pass

    @staticmethod
    def _load(session: Session, txn_id: str) -> OtpTransaction | None:
        return session.execute(_LOAD, {"txn_id": txn_id}).scalar_one_or_none()


# Core statements on the tables, built once: the hot path (an OTP request, a success) skips
# the ORM's unit of work and its in-session evaluation of UPDATE/DELETE criteria.
_OTP, _FAILURES_C = table_of(OtpTransaction).c, table_of(AuthFailure).c
_LOCK_IDENTITY = select(table_of(Identity).c.id).where(
    table_of(Identity).c.id == bindparam("id")).with_for_update()
_SUPERSEDE = (
    update(table_of(OtpTransaction))
    .where(_OTP.identity_id == bindparam("b_identity"), _OTP.rp_id == bindparam("b_rp"),
           _OTP.used_at.is_(None), _OTP.superseded_at.is_(None), _OTP.burned.is_(False),
           _OTP.expires_at > bindparam("now"))
    .values(superseded_at=bindparam("now")))
_INSERT = insert(table_of(OtpTransaction))
_LOAD = select(OtpTransaction).where(OtpTransaction.txn_id == bindparam("txn_id")) \
    .with_for_update()
_FAILURES = select(_FAILURES_C.count.label("failures"), _FAILURES_C.last_at).where(
    _FAILURES_C.identity_id == bindparam("identity_id"), _FAILURES_C.rp_id == bindparam("rp_id"),
    _FAILURES_C.purpose == bindparam("purpose"))
_SUCCEED = delete(table_of(AuthFailure)).where(
    _FAILURES_C.identity_id == bindparam("identity_id"), _FAILURES_C.rp_id == bindparam("rp_id"),
    _FAILURES_C.purpose == bindparam("purpose"))


def _status(txn: OtpTransaction | None) -> OtpStatus | None:
    if txn is None:
        return None
    return OtpStatus(txn.identity_id, txn.rp_id, txn.purpose, txn.expires_at, txn.attempts,
                     txn.used_at is not None, txn.burned, txn.superseded_at is not None)


# KEYS[1] the new txn, KEYS[2] the live pointer of (identity, rp), KEYS[3] its prefix for the
# old txn; ARGV identity, rp, purpose, code_hash, expires_at, ttl (seconds).
_ISSUE = """
local old = redis.call('GET', KEYS[2])
if old then
  local k = KEYS[3] .. old
  if redis.call('HGET', k, 'state') == 'live' then redis.call('HSET', k, 'state', 'superseded') end
end
redis.call('HSET', KEYS[1], 'identity', ARGV[1], 'rp', ARGV[2], 'purpose', ARGV[3],
           'hash', ARGV[4], 'expires_at', ARGV[5], 'attempts', 0, 'state', 'live')
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[6])
return 1
"""

# KEYS[1] the txn; ARGV identity, rp, purpose, now, matched (0|1), max_attempts.
# Returns "ok" or the refusal reason; the checks, the take and the attempt count are one step.
_VERIFY = """
local t = redis.call('HMGET', KEYS[1], 'identity', 'rp', 'purpose', 'state', 'expires_at')
if not t[1] then return 'otp_unknown_txn' end
if t[1] ~= ARGV[1] then return 'otp_other_identity' end
if t[2] ~= ARGV[2] then return 'otp_other_relying_party' end
if t[3] ~= ARGV[3] then return 'otp_wrong_purpose' end
if t[4] ~= 'live' then return 'otp_' .. t[4] end
if tonumber(ARGV[4]) >= tonumber(t[5]) then return 'otp_expired' end
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'state', 'used') return 'ok' end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n >= tonumber(ARGV[6]) then redis.call('HSET', KEYS[1], 'state', 'burned') end
return 'otp_wrong_code'
"""

# KEYS[1] the verifier's counter; ARGV lock seconds, now. A count older than the lock starts
# over (as in the database); the TTL only drops what nobody will read again.
_FAIL = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[2]) - last >= tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'n', 0) end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n
"""


class RedisOtpStore:
    """`session` is accepted for the common interface and not used: Redis is the truth."""

    def __init__(self, client, policy: OtpPolicy, prefix: str) -> None:  # type: ignore[no-untyped-def]
        self.client, self.policy, self.prefix = client, policy, prefix
        self._issue = client.register_script(_ISSUE)
        self._verify = client.register_script(_VERIFY)
        self._fail = client.register_script(_FAIL)

    def _txn(self, txn_id: str) -> str:
        return f"{self.prefix}otp:{txn_id}"

    def _counter(self, v: Verifier) -> str:
        return f"{self.prefix}fail:{v.identity_id}:{v.rp_id}:{v.purpose}"

    def issue(self, session: Session, identity_id: int, rp_id: str, purpose: Purpose, *,
              now: int) -> IssuedOtp:
        issued, hashed = mint(self.policy.key, now, self.policy.ttl)
        live = f"{self.prefix}otp-live:{identity_id}:{rp_id}"
        self._issue(keys=[self._txn(issued.txn_id), live, f"{self.prefix}otp:"],
                    args=[identity_id, rp_id, purpose, hashed, issued.expires_at,
                          self.policy.ttl + REDIS_LEEWAY_SECONDS, issued.txn_id])
        return issued

    def verify(self, session: Session, txn_id: str, code: str, *, identity_id: int,
               rp_id: str, purpose: Purpose, now: int) -> None:
        matched = self._matches(txn_id, code)
        reason = self._verify(keys=[self._txn(txn_id)], args=[
            identity_id, rp_id, purpose, now, int(matched), self.policy.max_attempts])
        reason = reason.decode() if isinstance(reason, bytes) else reason
        if reason != "ok":
            raise Refused(reason)

    def equalize(self, session: Session, txn_id: str, code: str) -> None:
        self._matches(txn_id, code)

    def _matches(self, txn_id: str, code: str) -> bool:
        stored = self.client.hget(self._txn(txn_id), "hash")
        return matches(self.policy.key, stored.decode() if stored else None, txn_id, code)

    def status(self, session: Session, txn_id: str) -> OtpStatus | None:
        t = {k.decode(): v.decode() for k, v in self.client.hgetall(self._txn(txn_id)).items()}
        if not t:
            return None
        return OtpStatus(int(t["identity"]), t["rp"], t["purpose"], int(t["expires_at"]),
                         int(t["attempts"]), t["state"] == "used", t["state"] == "burned",
                         t["state"] == "superseded")

    def failures(self, session: Session, verifier: Verifier, now: int) -> int:
        n, last = self.client.hmget(self._counter(verifier), "n", "last")
        if n is None or now - int(last) >= self.policy.lock_seconds:
            return 0
        return int(n)

    def fail(self, session: Session, verifier: Verifier, now: int) -> None:
        self._fail(keys=[self._counter(verifier)], args=[self.policy.lock_seconds, now])

    def succeed(self, session: Session, verifier: Verifier) -> None:
        self.client.delete(self._counter(verifier))

    def reset(self, session: Session, identity_id: int, rp_id: str | None) -> int:
        pattern = f"{self.prefix}fail:{identity_id}:{rp_id if rp_id else '*'}:*"
        keys = list(self.client.scan_iter(match=pattern))
        return int(self.client.delete(*keys)) if keys else 0

    def close(self) -> None:
        self.client.close()


def build_store(settings: Settings, key: bytes) -> OtpStore:
    policy = policy_of(settings, key)
    if settings.redis_url:
        import redis

        return RedisOtpStore(redis.Redis.from_url(settings.redis_url), policy,
                             settings.redis_prefix)
    return DatabaseOtpStore(policy)
