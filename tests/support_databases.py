"""The case-store databases the tests run on: SQLite always, and PostgreSQL when
``FNO_TEST_DATABASE_URL`` names a server (CI's ``.ci/run`` sets it when one answers).

- ``DATABASES``: the kinds to parametrise a store fixture with (``"sqlite"``,
  ``"postgresql"``).
- ``postgres_database()``: a database of its own on that server, created empty and
  dropped afterwards (the server outlives test runs; each run starts from nothing).
  ``tests/conftest.py``'s module-scoped ``postgres_url`` fixture is one per module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DATABASES: list[str] = ["sqlite"] + (
    ["postgresql"] if os.environ.get("FNO_TEST_DATABASE_URL") else []
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty database on ``FNO_TEST_DATABASE_URL``'s server, dropped
    (its connections ended) when the block ends."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(os.environ["FNO_TEST_DATABASE_URL"])
    name = f"fno_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
