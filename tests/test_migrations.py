"""Migrations and models agree, on both backends, and upgrade from empty works."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alerts.db import make_engine, make_session_factory, upgrade
from subscribers.database import Base, UTCDateTime
from subscribers.errors import InvalidToken
from subscribers.models import Subscriber, subscriber_topics
from subscribers.services import Origin, add_subscriber, reader_of_link
from subscribers.tokens import Purpose, TokenSigner
from subscribers.topics import ensure_topics
from tests.conftest import POSTGRES_ADMIN_URL

# SQLite's full-text tables (and their shadow tables) for keyword matching are made by the
# migration alone: FTS5 virtual tables have no place among the models.
_SEARCH_TABLES = ("keyword_search", "article_search")


# The ledger's partitions on PostgreSQL (migration 0019) are made at run time, not modelled.
_PARTITION = re.compile(r"^deliveries_(w\d{8}|default)$")


def _modelled(name: str | None, kind: str, _parent: object) -> bool:
    if kind != "table" or name is None:
        return True
    return not (name.startswith(_SEARCH_TABLES) or _PARTITION.match(name))


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": _modelled})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend migrated to 0007, the head before link keys."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url, "0007")
        yield url
        return
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"newsalerts_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "0007")
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_SUBSCRIBERS_0007 = sa.table(
    "subscribers",
    sa.column("id", sa.Integer()),
    sa.column("email", sa.String()),
    sa.column("status", sa.String()),
    sa.column("frequency", sa.String()),
    sa.column("timezone", sa.String()),
    sa.column("send_hour", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("status_changed_at", UTCDateTime()),
)

_TOPICS_0007 = sa.table(
    "topics",
    sa.column("id", sa.Integer()),
    sa.column("slug", sa.String()),
    sa.column("name", sa.String()),
    sa.column("created_at", UTCDateTime()),
)


def test_upgrade_to_link_keys_keeps_readers_and_their_links(database_at_0007: str) -> None:
    """Readers stored before 0008 keep their topics and the links their emails carry; an
    id is never given twice from then on, and a link of a reader deleted before the
    upgrade does not open whoever gets that id."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    engine = make_engine(database_at_0007)
    with engine.begin() as connection:
        ids = [
            connection.execute(
                sa.insert(_SUBSCRIBERS_0007)
                .values(email=email, status="active", frequency="daily", timezone="UTC",
                        send_hour=7, created_at=now, status_changed_at=now)
                .returning(_SUBSCRIBERS_0007.c.id)
            ).scalar_one()
            for email in ("ada@example.com", "bo@example.com", "cy@example.com")
        ]  # fmt: skip
        topic = connection.execute(
            sa.insert(_TOPICS_0007)
            .values(slug="harbour", name="Harbour", created_at=now)
            .returning(_TOPICS_0007.c.id)
        ).scalar_one()
        connection.execute(
            sa.insert(subscriber_topics).values(subscriber_id=ids[0], topic_id=topic)
        )
        connection.execute(sa.delete(_SUBSCRIBERS_0007).where(_SUBSCRIBERS_0007.c.id == ids[2]))
    engine.dispose()
    signer = TokenSigner(["secret"])
    # The links in the emails sent before the upgrade.
    sent = {
        (purpose, subscriber_id): signer.sign(purpose, subscriber_id, link_key=None)
        for purpose in Purpose
        for subscriber_id in ids
    }

    upgrade(database_at_0007)

    engine = make_engine(database_at_0007)
    with make_session_factory(engine)() as session:
        for (purpose, subscriber_id), token in sent.items():
            if subscriber_id == ids[2]:
                continue
            found = reader_of_link(session, signer, purpose, token)
            assert found is not None and found.id == subscriber_id and found.link_key is None
        ada = session.get(Subscriber, ids[0])
        assert ada is not None and ada.topic_slugs == ["harbour"]
        # A topic from before 0018 stays on the sign-up form; a new one waits for an editor.
        assert ada.topics[0].public is True
        assert ensure_topics(session, ["Floods"])[0].public is False
        session.rollback()

        given = set(ids)
        freed_before = {ids[2]}  # no record of it is left: SQLite may give it once more
        for email in ("dee@example.com", "eve@example.com"):
            newcomer = add_subscriber(session, email=email, origin=Origin("t"), hash_key="k")
            session.commit()
            assert newcomer.link_key is not None
            for purpose in Purpose:
                old = sent.get(
                    (purpose, newcomer.id), signer.sign(purpose, newcomer.id, link_key=None)
                )
                with pytest.raises(InvalidToken):
                    reader_of_link(session, signer, purpose, old)
            assert newcomer.id not in given - freed_before
            given.add(newcomer.id)
            freed_before = set()
            session.delete(newcomer)
            session.commit()
    engine.dispose()
