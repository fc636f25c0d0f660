"""The case store's schema: Alembic migrations in ``store/migrations/``.

    python -m store.migrate upgrade      # apply pending migrations (make migrate)
    python -m store.migrate current      # the revision the database is at

``make run`` applies migrations itself; in production run ``make migrate`` with
``FNO_DATABASE_URL`` set, once per release, before the workers start. A worker
refuses to start on a database behind the code, with a message saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from runtime.config import Settings
from store.engine import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration in store/migrations/versions: the schema this code needs. Checked
# against Alembic's own head by tests/test_simulator_and_store.py, so a new migration
# comes with this bumped. The processes compare the database with it without importing
# Alembic (with Mako and Pygments, ~10 MB in each process): Alembic is imported only to
# migrate.
HEAD_REVISION = "0008"
VERSION_TABLE = "alembic_version"  # Alembic's default (store/migrations/env.py keeps it)


class SchemaOutOfDateError(RuntimeError):
    pass


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (safe to repeat)."""
    from alembic import command

    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def upgrade_if_behind(engine: Engine) -> None:
    """``upgrade`` unless the database is at ``HEAD_REVISION`` already (no Alembic then)."""
    if current_revision(engine) != HEAD_REVISION:
        upgrade(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision in the database's ``alembic_version`` (None: never migrated)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        found = [row[0] for row in versions]
    if len(found) > 1:  # branches merged nowhere: not a schema this code made
        raise SchemaOutOfDateError(f"the case store has several schema heads: {found}")
    return found[0] if found else None


def head_revision() -> str | None:
    """The newest revision as Alembic's scripts say (tests, the CLI)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def require_current(engine: Engine) -> None:
    """Fail loudly when the database is not at the schema this code needs."""
    have, need = current_revision(engine), HEAD_REVISION
    if have != need:
        raise SchemaOutOfDateError(
            f"the case store ({engine.url.render_as_string(hide_password=True)}) is at schema "
            f"revision {have or 'none'}, this code needs {need}: run `make migrate` "
            "(python -m store.migrate upgrade) with the same FNO_DATABASE_URL"
        )


def main(argv: list[str]) -> int:
    if argv not in (["upgrade"], ["current"]):
        print(__doc__, file=sys.stderr)
        return 2
    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    if argv == ["upgrade"]:
        upgrade(engine)
    print(f"case store schema: {current_revision(engine)} (code needs {head_revision()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
