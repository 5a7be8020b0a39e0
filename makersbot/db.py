"""Database engine, sessions and migrations (SQLite by default, PostgreSQL for scale)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from makersbot.store import cleaning

if TYPE_CHECKING:
    from alembic.config import Config


# A PostgreSQL connection that sat unused this long is pinged before it is used again: a
# restarted server, a failover or a firewall drops idle connections. A busy one is not:
# SQLAlchemy's pool_pre_ping pings at every checkout, a round trip more for every session
# (bench/ack.py). A connection that breaks while busy fails the one operation using it,
# and SQLAlchemy then replaces every connection in the pool.
PING_AFTER_IDLE = 2.0


def make_engine(url: str) -> Engine:
    """An engine tuned for the bot: WAL and a busy timeout on SQLite; on PostgreSQL, idle
    connections are pinged before use (PING_AFTER_IDLE).

    Every text it writes is cleaned first (`makersbot/store/cleaning.py`).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
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
        url, pool_size=10, max_overflow=10, json_serializer=cleaning.json_serializer
    )
    cleaning.install(engine)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection at checkout when it has been idle PING_AFTER_IDLE seconds;
    a failed ping makes the pool connect afresh (up to three times) instead."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get("checked_in")
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the database connection was lost while idle") from exc

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()


class Database:
    """The engine plus a session factory; one per process, built by the composition root."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(read_only=True), class_=Session, expire_on_commit=False
        )
        # PostgreSQL only: each statement commits on its own (see `single_statement`).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite has one writer at a time. Queueing this process's writers on a lock hands
        # the database over as soon as a transaction ends, where SQLite's own busy handler
        # would sleep in growing steps (bench/mirror.py saw 0.5 s stalls under load).
        self._write_lock: threading.RLock | None = (
            threading.RLock() if url.startswith("sqlite") else None
        )
        # Write sessions this process has committed: caches of this process compare it to
        # see their own changes at once (services/catalogue.py).
        self.writes = 0

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
            if not read_only:
                self.writes += 1
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if lock is not None:
                lock.release()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The Core connection of a `session()`: one transaction, committed at the end."""
        with self.session() as session:
            yield session.connection()

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """A Core connection for work whose only write is one statement, atomic on its own.

        On PostgreSQL each statement commits by itself, and no ORM session is made: the
        webhook intake's batch costs one round trip instead of four (BEGIN, a read, the
        INSERT, COMMIT), and round trips and session bookkeeping were most of what storing
        a delivery cost there (bench/mirror.py, Procfile topology). Reads in it see what was
        committed when each ran, as in a transaction at PostgreSQL's default READ COMMITTED.
        On SQLite, the connection of a `session()`: its transaction is local and cheap, and
        takes the write lock up front.
        """
        if not self.is_postgres:
            with self.transaction() as connection:
                yield connection
            return
        with self._autocommit.connect() as connection:
            yield connection
        self.writes += 1

    @contextmanager
    def single_read(self) -> Iterator[Connection]:
        """A Core connection for one read that needs no transaction around it.

        On PostgreSQL it is in autocommit, so the read is one round trip (no BEGIN, no
        ROLLBACK) and no ORM session is made; on SQLite a plain pooled connection. The
        catalogue version, read several times a second by every web process, cost 0.7 ms
        of CPU on PostgreSQL through a session, and was the tail of `/makers` acks there
        (bench/ack.py).
        """
        with (self._autocommit if self.is_postgres else self.engine).connect() as connection:
            yield connection

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
