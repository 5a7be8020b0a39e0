"""Migrations upgrade an empty database to the models, with no drift left for autogenerate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from makersbot.db import Database


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
