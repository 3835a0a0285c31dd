"""The engine's guards against a network that stops answering: libpq's timeouts, and the
server ending a sending process's transaction left idle (PostgreSQL only)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from alerts.db import make_engine, make_session_factory, short_idle_transactions


def test_postgres_connections_give_up_on_an_unanswering_peer(postgres_database: str) -> None:
    engine = make_engine(postgres_database)
    with engine.connect() as connection:
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    engine.dispose()
    assert parameters["tcp_user_timeout"] == "10000"
    assert parameters["keepalives_idle"] == "10"


def test_a_transaction_left_idle_is_ended_by_the_server_and_the_setting_undone(
    postgres_database: str,
) -> None:
    engine = make_engine(postgres_database)
    sessions = make_session_factory(engine)
    with sessions() as session:
        with short_idle_transactions(session, 1):
            session.execute(sa.text("SELECT 1"))  # a transaction is open, holding its locks
            time.sleep(1.5)  # the process is cut off, or paused
            with pytest.raises(DBAPIError):  # the server ended it
                session.execute(sa.text("SELECT 1"))
            session.rollback()
        assert session.scalar(sa.text("SHOW idle_in_transaction_session_timeout")) == "0"
    engine.dispose()
