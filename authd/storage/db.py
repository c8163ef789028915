"""Engine and sessions for SQLite (embedded default, WAL) and PostgreSQL (scale-out)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _sqlite_pragmas(engine, writer_lock(engine.url.database))
    return engine


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


def _sqlite_pragmas(engine: Engine, writer: WriterLock) -> None:
    # pysqlite's own transaction handling is turned off so that every transaction starts
    # with BEGIN IMMEDIATE: a writer takes the write lock before it reads, so two writers
    # never deadlock on a lock upgrade (SQLITE_BUSY) and the audit chain stays linear.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
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

    def _release(conn):  # type: ignore[no-untyped-def]
        if conn.info.pop("authd_writer", False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


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
    """Bring the schema to the newest revision (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


def schema_ready(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
