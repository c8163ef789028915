"""Engine and sessions for SQLite (embedded default, WAL) and PostgreSQL (scale-out)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_lock key of the schema migration ("authd-mg" as a 64-bit integer): replicas
# starting at once on a fresh database upgrade one after the other, not side by side.
MIGRATION_LOCK_KEY = 0x6175_7468_642D_6D67
Synchronous = Literal["FULL", "NORMAL"]


def normalize_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, synchronous: Synchronous = "FULL") -> Engine:
    """`synchronous` (SQLite only): FULL syncs the WAL at every commit, so an acknowledged
    write survives power loss; NORMAL syncs only at checkpoints (an OS crash or power cut
    can roll back the last commits, though the file is never corrupted)."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _private_database_file(engine.url.database)
    _sqlite_pragmas(engine, writer_lock(engine.url.database), synchronous)
    return engine


def _private_database_file(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use 0644 & ~umask): SQLite
    gives its -wal, -shm and -journal files the database file's mode. Files an older build
    left group- or world-readable are tightened."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for part in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if part.exists() and part.stat().st_mode & 0o077:
            os.chmod(part, 0o600)


class DatabaseUnreachable(Exception):
    """The database did not accept a connection within the wait budget."""

    def __init__(self, where: str, tries: int, seconds: float, reason: str) -> None:
        super().__init__(f"database {where} not reachable after {tries} tries in "
                         f"{seconds:.0f} s ({reason})")


def where(engine: Engine) -> str:
    """host:port/database, never the user or password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def wait_for_database(engine: Engine, budget_seconds: float,
                      say: Callable[[str], None] = print) -> None:
    """Connect, retrying with growing pauses (0.5 s to 5 s) for at most `budget_seconds`;
    one line through `say` when the first try fails, then DatabaseUnreachable."""
    deadline, pause, tries = time.monotonic() + budget_seconds, 0.5, 0
    while True:
        tries += 1
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            reason = _first_line(exc.orig if exc.orig is not None else exc)
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnreachable(where(engine), tries, budget_seconds, reason) from None
            if tries == 1:
                say(f"authd: waiting up to {budget_seconds:.0f} s for the database at "
                    f"{where(engine)} ({reason})")
            time.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


_WRITER_LOCKS: dict[str, WriterLock] = {}
_REGISTRY = threading.Lock()


def writer_lock(database: str | None) -> WriterLock:
    """One lock per database file in this process, shared by every engine opened on it (an
    flock is held per open file, so two engines with their own would exclude each other)."""
    if not database or database == ":memory:":
        return WriterLock(None)
    path = str(Path(database).resolve())
    with _REGISTRY:
        return _WRITER_LOCKS.setdefault(path, WriterLock(Path(f"{path}.writer-lock")))


class WriterLock:
    """Serializes SQLite writers: threads on a lock, processes (uvicorn workers, the CLI) on
    an flock of a file beside the database. Both wake a waiter the moment the writer before
    it is done, where SQLite's busy handler polls with growing sleeps (seen as a p99 of
    seconds under load)."""

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.RLock()
        self._path, self._fd, self._depth = path, -1, 0

    def acquire(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            if self._fd < 0:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


def _sqlite_pragmas(engine: Engine, writer: WriterLock, synchronous: Synchronous) -> None:
    # pysqlite's own transaction handling is turned off so that every transaction starts
    # with BEGIN IMMEDIATE: a writer takes the write lock before it reads, so two writers
    # never deadlock on a lock upgrade (SQLITE_BUSY) and the audit chain stays linear.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # Writers queue on `writer` before they ask SQLite for its write lock.
    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get("authd_readonly", False):
            conn.exec_driver_sql("BEGIN")
            return
        writer.acquire()
        conn.info["authd_writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    # Released once SQLite's COMMIT (and its fsync) or ROLLBACK has returned: SQLAlchemy's
    # commit/rollback events fire before the DBAPI call, and a writer let in then met
    # SQLite's own lock still held, SQLITE_BUSY, and the busy handler's sleeps. Wrapping the
    # dialect also covers the pool's rollback of a connection returned mid-transaction.
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection):  # type: ignore[no-untyped-def]
        try:
            commit(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def do_rollback(dbapi_connection):  # type: ignore[no-untyped-def]
        try:
            rollback(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def _release(connection):  # type: ignore[no-untyped-def]
        # the pool's proxy of the DBAPI connection: its `info` is the one `begin` marked (the
        # ad-hoc proxy of the dialect's first-connect check has none, and never wrote)
        try:
            marked = connection.info.pop("authd_writer", False)
        except NotImplementedError:
            return
        if marked:
            writer.release()

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback  # type: ignore[method-assign]


def session_factory(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions; `readonly` ones start a deferred transaction on SQLite, so reads never wait
    for (or block) a writer."""
    bind = engine.execution_options(authd_readonly=True) if readonly else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent), under a lock that every
    process migrating the same database takes: the first upgrades, the others wait and
    find nothing left to do (two replicas upgrading side by side both try to create
    `alembic_version`, and one dies on the unique violation)."""
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), "head")


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        # A session-level advisory lock, on a connection of its own: it outlives the
        # migration's own transactions and is released on unlock or when the connection drops.
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{Path(database).resolve()}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, or by the process's death
        yield
    finally:
        os.close(fd)


def schema_ready(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
