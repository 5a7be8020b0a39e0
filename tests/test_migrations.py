"""Migrations upgrade an empty database to the models, with no drift left for autogenerate."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from makersbot.db import Database, alembic_config

# Whether the server can compress with lz4: the migration's own query.
LZ4_AVAILABLE = import_module("makersbot.migrations.versions.0014_delivery_body_lz4").LZ4_AVAILABLE


def test_upgrade_from_empty_has_no_drift(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    db.upgrade()  # a second upgrade is a no-op
    db.dispose()


def test_sqlite_uses_wal(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


def test_webhook_bodies_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    # pglz cost 0.21 ms of server CPU to store a 10 KB body, lz4 0.15 (migration 0014);
    # a server built without lz4 keeps its default.
    db = Database(postgres_url)
    compression = (
        "SELECT attcompression FROM pg_attribute"
        " WHERE attrelid = 'delivery'::regclass AND attname = 'body'"
    )
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            lz4 = conn.exec_driver_sql(LZ4_AVAILABLE).first() is not None
            assert conn.exec_driver_sql(compression).scalar() == ("l" if lz4 else "")
        command.downgrade(alembic_config(postgres_url), "0013")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql(compression).scalar() == ("p" if lz4 else "")
    finally:
        db.dispose()


def test_db_upgrade_command_works_from_any_directory(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    result = subprocess.run(
        [sys.executable, "-m", "makersbot.cli", "db", "upgrade"],
        cwd="/",
        env={"DATABASE_URL": f"sqlite:///{target}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Database is up to date" in result.stdout
    assert "project" in inspect(Database(f"sqlite:///{target}").engine).get_table_names()
