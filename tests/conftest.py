"""Shared fixtures: real databases (SQLite and PostgreSQL), a real Redis, a real SMTP server.

Every test that takes `session` runs once per backend. PostgreSQL and Redis must be running
(see README, "Running the tests"); a missing service fails the run with a message that says
how to start it, rather than silently skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlalchemy.orm import Session

from alerts.config import Settings, load_settings
from alerts.db import make_engine, make_session_factory, upgrade
from tests.support.smtp_server import RecordingSMTPServer

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# CI runs the property tests on fixed seeds, so a fresh clone's run is repeatable; what a
# local run finds is kept as an explicit @example beside the test it broke.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

_HELP = {
    "postgresql": (
        "PostgreSQL is not reachable at {url}. Start it (Debian: "
        "pg_ctlcluster $(ls /etc/postgresql) main start) or set TEST_POSTGRES_URL."
    ),
    "redis": (
        "Redis is not reachable at {url}. Start it (redis-server --daemonize yes) "
        "or set TEST_REDIS_URL."
    ),
}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Create one fresh database for this test run; drop it afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"newsalerts_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.exit(_HELP["postgresql"].format(url=POSTGRES_ADMIN_URL) + f"\n{error}", 3)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> str:
    upgrade(postgres_server)
    return postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        yield url
        return
    yield request.getfixturevalue("postgres_database")


@pytest.fixture
def postgres_database(migrated_postgres: str) -> Iterator[str]:
    """The run's PostgreSQL database, emptied after the test."""
    yield migrated_postgres
    engine = sa.create_engine(migrated_postgres)
    with engine.begin() as connection:
        tables = ", ".join(
            name for name in sa.inspect(connection).get_table_names() if name != "alembic_version"
        )
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        smtp_url=f"file://{tmp_path / 'outbox'}",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        base_url="https://news.example.com",
        redis_url=None,
        password_hash_cost="fast",
        _env_file=None,
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    factory = make_session_factory(engine)
    with factory() as session:
        yield session


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.exit(_HELP["redis"].format(url=TEST_REDIS_URL) + f"\n{error}", 3)
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def broker_url(redis_url: str) -> str:
    """A Redis database for Celery, apart from the one rate-limit tests flush (database 14
    of the test Redis; TEST_BROKER_URL gives another, so two runs can share one server)."""
    import redis

    url = os.environ.get("TEST_BROKER_URL") or redis_url.rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """A real SMTP server on a free loopback port that records every message it accepts."""
    server = RecordingSMTPServer()
    server.start()
    yield server
    server.stop()
