"""The audit sequencer: one per deployment links committed audit events into the hash chain
shortly after commit and signs checkpoints of its head.

Every server runs `run` as a background task; the one that wins the election does the work.
The election goes through the database: a PostgreSQL session advisory lock (keyed by the
schema, held on a connection of its own), or on SQLite an flock of a file beside the
database. Both are released by the operating system or the server when the holder dies, so
after a SIGKILL another replica (or the restarted one) takes over and links what was left.
`authd audit link` runs one round from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from anyio import to_thread
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from authd.audit import checkpoints, events
from authd.clock import Clock
from authd.storage.db import transaction
from authd.tokens.rotation import SigningKeys

log = logging.getLogger("authd.audit.sequencer")
LOCK_NAME = "authd-audit-sequencer"
# one sequencer per schema
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext(:name || current_schema()))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext(:name || current_schema()))")


class Election:
    """Leadership for this process: `try_lead()` is non-blocking and idempotent."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._fd = -1

    @property
    def leading(self) -> bool:
        return self._conn is not None or self._fd >= 0

    def try_lead(self) -> bool:
        if self._engine.dialect.name == "postgresql":
            return self._try_advisory()
        return self._try_flock()

    def release(self) -> None:
        if self._conn is not None:
            # Unlock first: the server frees a closed session's locks only when its backend
            # exits, a moment after the socket closes, and the next leader must not see the
            # lock still held. Then close the DBAPI connection rather than pool it.
            with contextlib.suppress(Exception):  # a dead session holds no lock
                self._conn.execute(_UNLOCK, {"name": LOCK_NAME})
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _try_advisory(self) -> bool:
        if self._conn is not None:
            try:  # still our session? (the server may have restarted or dropped us)
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # noqa: BLE001 - any failure means the lock is gone
                self.release()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        won = conn.execute(_TRY_LOCK, {"name": LOCK_NAME}).scalar()
        if won:
            self._conn = conn
        else:
            conn.close()
        return bool(won)

    def _try_flock(self) -> bool:
        if self._fd >= 0:
            return True
        database = self._engine.url.database
        if not database or database == ":memory:":
            self._fd = os.open(os.devnull, os.O_RDONLY)  # one process, one database
            return True
        fd = os.open(f"{Path(database).resolve()}.sequencer-lock", os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


@dataclass(frozen=True)
class Chain:
    """What the sequencer works with: the database, the signing keys that sign checkpoints
    (named `origin`), the clock and its two periods."""

    engine: Engine
    db: sessionmaker[Session]
    db_read: sessionmaker[Session]
    signing: SigningKeys
    origin: str  # "<issuer>/audit"
    clock: Clock
    link_seconds: float
    checkpoint_seconds: float


@dataclass(frozen=True)
class Round:
    linked: int
    head: events.Head
    checkpoint: checkpoints.Checkpoint | None


def link_all(chain: Chain, batch: int = 1000) -> tuple[int, events.Head]:
    """Link every committed, unlinked event (in batches, one transaction each)."""
    with transaction(chain.db_read) as session:  # idle rounds cost a read, not the write lock
        if not events.has_pending(session):
            head = events.read_head(session)
            return 0, head or events.Head(0, events.GENESIS)
    linked = 0
    while True:
        with transaction(chain.db) as session:
            before = events.read_head(session)
            head = events.link_pending(session, batch)
        done = head.size - (before.size if before else 0)
        linked += done
        if done < batch:
            return linked, head


def checkpoint(chain: Chain, now: int) -> checkpoints.Checkpoint | None:
    chain.signing.refresh()  # the ring may have rotated in another process
    with transaction(chain.db) as session:
        return checkpoints.sign_head(session, chain.signing.keyring, chain.origin, now)


def one_round(chain: Chain, sign: bool) -> Round:
    linked, head = link_all(chain)
    signed = checkpoint(chain, chain.clock.now()) if sign else None
    return Round(linked, head, signed)


async def run(chain: Chain, election: Election) -> None:
    """The lifespan's task: try to lead; while leading, link every `audit_link_seconds` and
    sign a checkpoint every `audit_checkpoint_seconds` (when the head moved)."""
    loop = asyncio.get_running_loop()
    next_sign = loop.time() + chain.checkpoint_seconds
    while True:
        try:
            if await to_thread.run_sync(election.try_lead):
                sign = loop.time() >= next_sign
                await to_thread.run_sync(one_round, chain, sign)
                if sign:
                    next_sign = loop.time() + chain.checkpoint_seconds
        except Exception:  # the next round retries; serving is unaffected
            log.exception("audit sequencer round failed")
        await asyncio.sleep(chain.link_seconds)


def start(chain: Chain) -> tuple[asyncio.Task[None], Election]:
    election = Election(chain.engine)
    task = asyncio.get_running_loop().create_task(run(chain, election), name="audit-sequencer")
    return task, election


def finish(chain: Chain, election: Election) -> None:
    """On a clean stop: the leader links what is left and signs the head, then steps down."""
    try:
        if election.leading:
            one_round(chain, sign=True)
    except Exception:  # noqa: BLE001 - the next leader links it
        log.exception("final audit sequencer round failed")
    finally:
        election.release()
