"""Engine and session factory, and migrations applied through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import alerts.models  # noqa: F401  (registers the alerts tables on the shared metadata)
import subscribers.models  # noqa: F401
from alerts.errors import DatabaseNotReady

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# libpq's connection settings for PostgreSQL: a peer that stops acknowledging what was
# sent (a cut network) fails the call after 10 s, and an idle connection is probed, so a
# process cut off from the database finds out in seconds, not TCP's quarter of an hour.
POSTGRES_CONNECT_ARGS = {
    "tcp_user_timeout": 10_000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


def make_engine(database_url: str) -> Engine:
    options: dict[str, Any] = {"future": True}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}
    else:
        options["pool_pre_ping"] = True
        if database_url.startswith("postgres"):
            options["connect_args"] = dict(POSTGRES_CONNECT_ARGS)
    engine = create_engine(database_url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def short_idle_transactions(session: Session, seconds: int) -> Iterator[None]:
    """On PostgreSQL, inside the block, the server ends this session's transaction when it
    sits idle longer than `seconds`: the row locks of a process cut off mid-transaction
    are released instead of holding up the sweeper for as long as the cut lasts."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    session.execute(text(f"SET idle_in_transaction_session_timeout = '{int(seconds)}s'"))
    try:
        yield
    finally:
        try:
            session.rollback()
            session.execute(text("RESET idle_in_transaction_session_timeout"))
            session.commit()
        except Exception:  # the connection is gone: so is the setting
            session.rollback()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (Alembic)."""
    command.upgrade(alembic_config(database_url), revision)


@cache
def shipped_head() -> str | None:
    """The newest migration this version ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def check_schema(engine: Engine) -> None:
    """Refuse a database this version cannot use, with what to do about it: one that
    cannot be reached, one never set up, or one at another migration than the newest
    shipped. Without this, the first query of a command would end in a traceback
    ("no such table") — or, worse, half of it would run against an older schema.

    Raises DatabaseNotReady.
    """
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseNotReady(f"cannot reach the database at {where}: {reason}") from None
    shipped = shipped_head()
    if current is None:
        raise DatabaseNotReady(
            f"the database at {where} is not set up: run `newsalerts db upgrade`"
        )
    if current != shipped:
        raise DatabaseNotReady(
            f"the database at {where} is at migration {current}, this version needs"
            f" {shipped}: run `newsalerts db upgrade`"
        )
