"""Database engine, sessions and migrations (SQLite by default, PostgreSQL for scale)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from makersbot.store import cleaning

if TYPE_CHECKING:
    from alembic.config import Config


def make_engine(url: str) -> Engine:
    """An engine tuned for the bot: WAL and a busy timeout on SQLite, pre-ping on PostgreSQL.

    Every text it writes is cleaned first (`makersbot/store/cleaning.py`).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
            json_serializer=cleaning.json_serializer,
        )
        cleaning.install(engine)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let pysqlite's own transaction handling stay out of the way, so that
            # "BEGIN IMMEDIATE" below takes the write lock at the start of a transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets readers (the web app) and the writer (the sender) work at once.
            if ":memory:" not in url and url != "sqlite://":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers queue for the lock up front instead of failing to upgrade a read lock
            # half-way through (SQLITE_BUSY that busy_timeout cannot help with); readers
            # take no lock at all under WAL.
            if conn.get_execution_options().get("read_only"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        json_serializer=cleaning.json_serializer,
    )
    cleaning.install(engine)
    return engine


class Database:
    """The engine plus a session factory; one per process, built by the composition root."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(read_only=True), class_=Session, expire_on_commit=False
        )
        # SQLite has one writer at a time. Queueing this process's writers on a lock hands
        # the database over as soon as a transaction ends, where SQLite's own busy handler
        # would sleep in growing steps (bench/mirror.py saw 0.5 s stalls under load).
        self._write_lock: threading.RLock | None = (
            threading.RLock() if url.startswith("sqlite") else None
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise.

        `read_only=True` only lightens SQLite locking; it does not forbid writes.
        """
        lock = None if read_only else self._write_lock
        if lock is not None:
            lock.acquire()
        session = (self._read_sessions if read_only else self._sessions)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if lock is not None:
                lock.release()

    def upgrade(self) -> None:
        """Apply every migration (`makersbot db upgrade`)."""
        # Imported here: alembic and mako are heavy, and web workers never need them.
        from alembic import command

        command.upgrade(alembic_config(self.url), "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic's configuration, found through the package so any working directory works."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("makersbot") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
