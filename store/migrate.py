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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from runtime.config import Settings
from store.engine import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaOutOfDateError(RuntimeError):
    pass


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (safe to repeat)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def require_current(engine: Engine) -> None:
    """Fail loudly when the database is not at the schema this code needs."""
    have, need = current_revision(engine), head_revision()
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
