"""The case store's database engine (SQLite by default, PostgreSQL by setting
``FNO_DATABASE_URL``), made in one place for the store and its migrations.

A SQLite database holds personal data: its file, and the ``-wal`` and ``-shm`` files
beside it, are 0600 (made so before SQLite opens it, tightened if they exist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from runtime.private import PRIVATE_FILE_MODE, ensure_private_file, tighten

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_engine(url: str) -> Engine:
    """The store's engine. ``hide_parameters``: a failed statement's error names no
    values — they are personal data and offence text, and the error reaches the
    worker's log and Temporal's activity failure."""
    if url.startswith("sqlite"):
        database = sqlite_file(url)
        if database is not None:
            private_sqlite_files(database, create=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            if database is not None:  # -wal and -shm exist from here
                private_sqlite_files(database, create=False)

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory or URI-form database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def private_sqlite_files(database: Path, *, create: bool) -> None:
    """The database file 0600 (created empty, a valid SQLite database, when ``create``
    and its folder exists: SQLite gives its -wal and -shm files the database's mode),
    and its companion files tightened to 0600."""
    if create and database.parent.is_dir():
        ensure_private_file(database)
    for path in [database, *(database.with_name(database.name + s) for s in SQLITE_COMPANIONS)]:
        tighten(path, PRIVATE_FILE_MODE)
