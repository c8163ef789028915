"""Token-bucket rate limits: per presented ID, per relying party, and the OTP resend cool-down.

A bucket holds at most `burst` tokens and refills at `rate` tokens a second; a call takes one
token or is refused with the seconds until one is back (HTTP 429 + Retry-After). Two backends
with the same semantics, both atomic under concurrency:

- `DatabaseLimiter` (embedded default): one upsert statement per call on `rate_buckets`;
  the refill, the check and the take happen in that one statement (SQLite and PostgreSQL);
- `RedisLimiter` (when `AUTHD_REDIS_URL` is set): one Lua script per call.

Time is a parameter (`now`, epoch seconds), so tests move the clock instead of sleeping.
Bucket keys never hold an ID in clear: IDs are keyed hashes.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from authd.errors import RateLimited
from authd.settings import Settings
from keys import hash_secret

PRUNE_ONE_IN = 1000
PRUNE_AFTER_SECONDS = 86400  # far longer than any bucket takes to refill


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second
    burst: int

    @classmethod
    def once_every(cls, seconds: int) -> Limit:
        return cls(rate=1 / seconds, burst=1)


class Limiter(Protocol):
    def take(self, key: str, limit: Limit, now: float) -> float:
        """Take one token; 0 when taken, else the seconds until one is available."""
        ...

    def take_all(self, buckets: list[tuple[str, Limit]], now: float,
                 session: Session | None = None) -> float:
        """Take one token from each bucket in order, stopping at the first that has none;
        0 when all were taken, else that bucket's wait (one round trip or transaction).
        `session`: the caller's open transaction, which a backend may join."""
        ...

    def close(self) -> None:
        """Release what it holds (a Redis connection pool)."""
        ...


def hit(limiter: Limiter, key: str, limit: Limit, now: float) -> None:
    """Take a token or raise RateLimited with the Retry-After a client should honour."""
    hit_all(limiter, [(key, limit)], now)


def hit_all(limiter: Limiter, buckets: list[tuple[str, Limit]], now: float,
            session: Session | None = None) -> None:
    """Take a token from each bucket or raise RateLimited (the first empty bucket's wait)."""
    wait = limiter.take_all(buckets, now, session)
    if wait > 0:
        raise RateLimited(math.ceil(round(wait, 6)))  # 20.000000004 s is 20 s


def id_key(secret: bytes, id_type: str, individual_id: str) -> str:
    """The bucket name of a presented ID (a keyed hash: no UIN or VID in clear)."""
    return hash_secret(secret, f"ratelimit:{id_type}:{individual_id}")[:32]


def id_limit(settings: Settings) -> Limit:
    return Limit(settings.rate_id_per_minute / 60, settings.rate_id_burst)


def rp_limit(settings: Settings) -> Limit:
    return Limit(settings.rate_rp_per_second, settings.rate_rp_burst)


# One statement per bucket, written once as text: the refill, the check and the take in one
# upsert (SQLite >= 3.35 and PostgreSQL share the syntax). A row comes back only when a token
# was taken. Built from SQLAlchemy expressions this cost more CPU than the rest of a request
# (a fresh cache key for every call); as text it is compiled once.
_ELAPSED = "(CASE WHEN :now > rate_buckets.updated_at THEN :now - rate_buckets.updated_at " \
    "ELSE 0.0 END)"
_AVAILABLE = f"(CASE WHEN rate_buckets.tokens + {_ELAPSED} * :rate > :burst THEN :burst " \
    f"ELSE rate_buckets.tokens + {_ELAPSED} * :rate END)"
_TAKE = text(  # constant text, every value a bound parameter
    "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (:key, :burst - 1.0, :now) "  # noqa: S608
    "ON CONFLICT (key) DO UPDATE SET "
    f"tokens = {_AVAILABLE} - 1.0, "
    "updated_at = CASE WHEN :now > rate_buckets.updated_at THEN :now "
    "ELSE rate_buckets.updated_at END "
    f"WHERE {_AVAILABLE} >= 1.0 "
    "RETURNING tokens")
_READ = text("SELECT tokens, updated_at FROM rate_buckets WHERE key = :key")
_PRUNE = text("DELETE FROM rate_buckets WHERE updated_at < :before")


class DatabaseLimiter:
    """On SQLite the buckets join the caller's transaction when it passes one: every write
    transaction holds the database's one write lock anyway, and joining saves a BEGIN
    IMMEDIATE, a commit and its fsync per call (a refused take rolls back with the call,
    a refused authentication commits its takes with its audit event). On PostgreSQL they
    keep a short transaction of their own: a bucket row locked for a whole authentication
    would serialize a relying party's calls."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.joins_caller = engine.dialect.name == "sqlite"

    def take(self, key: str, limit: Limit, now: float) -> float:
        return self.take_all([(key, limit)], now)

    def take_all(self, buckets: list[tuple[str, Limit]], now: float,
                 session: Session | None = None) -> float:
        if session is not None and self.joins_caller and session.get_bind() is self.engine:
            return self._take_all(session.connection(), buckets, now)
        with self.engine.begin() as conn:  # one transaction for all the call's buckets
            return self._take_all(conn, buckets, now)

    def _take_all(self, conn: Connection, buckets: list[tuple[str, Limit]], now: float) -> float:
        for key, limit in buckets:
            params = {"key": key, "rate": float(limit.rate), "burst": float(limit.burst),
                      "now": float(now)}
            if conn.execute(_TAKE, params).first() is None:
                row = conn.execute(_READ, {"key": key}).one()
                available = min(limit.burst,
                                row.tokens + max(0.0, now - row.updated_at) * limit.rate)
                return (1 - available) / limit.rate
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            conn.execute(_PRUNE, {"before": now - PRUNE_AFTER_SECONDS})
        return 0.0

    def close(self) -> None:
        """Nothing of its own to release: the engine belongs to the state."""


# KEYS[1] bucket; ARGV rate, burst, now. Returns {taken (0|1), wait seconds as a string}
# (a Lua number would be truncated to an integer on its way back). Numbers are written with
# 17 significant digits: Lua's tostring keeps 14, so 1/30 s refills summed back to 0.99999.
_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local taken, wait = 0, 0
if tokens >= 1 then tokens, taken = tokens - 1, 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', math.max(now, ts)))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {taken, string.format('%.17g', wait)}
"""


class RedisLimiter:
    def __init__(self, client, prefix: str = "authd:rl:") -> None:  # type: ignore[no-untyped-def]
        self.client, self.prefix = client, prefix
        self.script = client.register_script(_LUA)

    def take(self, key: str, limit: Limit, now: float) -> float:
        taken, wait = self.script(keys=[self.prefix + key], args=[limit.rate, limit.burst, now])
        return 0.0 if int(taken) else float(wait)

    def take_all(self, buckets: list[tuple[str, Limit]], now: float,
                 session: Session | None = None) -> float:
        for key, limit in buckets:
            wait = self.take(key, limit, now)
            if wait > 0:
                return wait
        return 0.0

    def close(self) -> None:
        self.client.close()


def build_limiter(settings: Settings, engine: Engine) -> Limiter:
    if settings.redis_url:
        import redis

        return RedisLimiter(redis.Redis.from_url(settings.redis_url),
                            prefix=settings.redis_prefix + "rl:")
    return DatabaseLimiter(engine)
