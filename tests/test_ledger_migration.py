"""Revisions 0015 (compact rows), 0019 (weekly partitions) and 0028 (derived Message-IDs)
convert an existing ledger without losing a row, a click, a report or a count, on both
backends."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from alerts.db import alembic_config, make_engine, upgrade
from alerts.ledger.message_ids import delivery_named_by
from alerts.ledger.size import ledger_size
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.ledger_fill import fill_0014


@pytest.fixture
def new_postgres() -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"newsalerts_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0014(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("new_postgres")
    )
    upgrade(url, "0014")
    return url


# What a row says, whichever schema holds it: the articles as a list.
_SAMPLE = (
    "id, edition, issue_id, subscriber_id, local_date, status, attempts, sent_at, {message_id}, "
    "{relay}, smtp_reply, last_error, "
    # A sent row's claim says nothing once it is sent, and goes at revision 0028.
    "CASE WHEN status = 'sent' THEN NULL ELSE claimed_at END, "
    "CASE WHEN status = 'sent' THEN NULL ELSE claimed_by END, next_attempt_at, created_at"
)
# The Message-ID a row went out with, and its relay's name: stored in the row before
# revision 0028; since, the first in legacy_message_ids (rows planned from then on derive
# theirs), the second through the relay's number.
_STORED = {"message_id": "message_id", "relay": "relay"}
_SINCE_0028 = {
    "message_id": "(SELECT l.message_id FROM legacy_message_ids AS l "
    "WHERE l.delivery_id = deliveries.id)",
    "relay": "(SELECT r.name FROM relays AS r WHERE r.id = deliveries.relay_id)",
}


def _picture(engine: sa.Engine, *, articles: str, columns: dict[str, str]) -> dict[str, Any]:
    """Counts per status and per issue, every 97th row in full, and on PostgreSQL a
    digest of every row (its articles as jsonb, which writes any JSON one way; a skipped
    row's none as an empty list, as in the sample)."""
    every = (
        f"SELECT md5(string_agg(CAST(ROW({_SAMPLE.format(**columns)}, "
        f"coalesce(CAST({articles} AS jsonb), '[]')) AS text), ',' ORDER BY id)) FROM deliveries"
    )
    with engine.connect() as connection:
        return {
            "every": connection.scalar(sa.text(every))
            if engine.dialect.name == "postgresql"
            else None,
            "statuses": dict(
                connection.execute(
                    sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")
                ).all()
            ),
            "issues": dict(
                connection.execute(
                    sa.text("SELECT issue_id, count(*) FROM deliveries GROUP BY issue_id")
                ).all()
            ),
            "sample": [
                (*row[:-1], json.loads(row[-1]) if row[-1] else [])
                for row in connection.execute(
                    sa.text(
                        f"SELECT {_SAMPLE.format(**columns)}, {articles} "
                        "FROM deliveries WHERE id % 97 = 1 "
                        "ORDER BY id"
                    )
                )
            ],
            "next_id": connection.execute(sa.text("SELECT max(id) FROM deliveries")).scalar(),
        }


_BEFORE = "CAST(article_ids AS TEXT)"
_AFTER = (
    "(SELECT CAST(s.article_ids AS TEXT) FROM selections AS s WHERE s.id = deliveries.selection_id)"
)


def _fill_sqlite(engine: sa.Engine, rows: int, readers: int) -> None:
    """The SQLite twin of fill_0014: the same kinds of rows, written from Python."""
    stamp = datetime(2026, 1, 5, 6, tzinfo=UTC)
    with engine.begin() as connection:
        for reader in range(1, readers + 1):
            connection.execute(
                sa.text("INSERT INTO subscribers (id, email, status, frequency, timezone, "
                        "send_hour, created_at, status_changed_at, breaking_alerts) VALUES "
                        "(:id, :email, 'active', 'daily', 'UTC', 7, :at, :at, 0)"),
                {"id": reader, "email": f"reader{reader}@example.com", "at": stamp},
            )  # fmt: skip
        for number in range(1, rows + 1):
            day, reader = divmod(number - 1, readers)
            status = {0: "failed", 1: "skipped", 2: "pending"}.get(number % 7, "sent")
            listed = [] if status == "skipped" else [day * 1000 + reader % 5 + k for k in (1, 2)]
            connection.execute(
                sa.text("INSERT INTO deliveries (id, edition, subscriber_id, local_date, status, "
                        "window_start, window_end, article_ids, attempts, created_at, sent_at, "
                        "message_id, smtp_reply) VALUES (:id, 'daily', :reader, :day, :status, "
                        ":at, :at, :articles, 1, :at, :sent, :message, :reply)"),
                {"id": number, "reader": reader + 1, "day": date(2026, 1, 5 + day),
                 "status": status, "at": stamp, "articles": json.dumps(listed),
                 "sent": stamp if status == "sent" else None,
                 "message": f"<digest.{number}.0123456789abcdef@example.com>",
                 "reply": "250 ok" if status == "sent" else None},
            )  # fmt: skip


def test_the_upgrade_keeps_every_row_and_what_it_says(database_at_0014: str) -> None:
    engine = make_engine(database_at_0014)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            fill_0014(connection, rows=400, readers=120)
    else:
        _fill_sqlite(engine, rows=400, readers=120)
    before = _picture(engine, articles=_BEFORE, columns=_STORED)
    engine.dispose()

    upgrade(database_at_0014, "head")

    engine = make_engine(database_at_0014)
    after = _picture(engine, articles=_AFTER, columns=_SINCE_0028)
    assert after == before
    # A report naming a Message-ID a row stored before the upgrade still finds the row.
    stored = next(row for row in before["sample"] if row[8] is not None)
    with Session(engine) as session:
        found = delivery_named_by(session, stored[8], secret="any-secret")
        assert found is not None and found.id == stored[0]
    with engine.connect() as connection:
        # Readers with the same list share it: far fewer selections than rows.
        selections = connection.execute(sa.text("SELECT count(*) FROM selections")).scalar()
        assert selections is not None and 0 < selections <= 400 // 2
        # A new row takes the next id.
        [next_id] = connection.execute(
            sa.text(
                "INSERT INTO deliveries (edition, subscriber_id, local_date, status, "
                "attempts, created_at) VALUES ('daily', 1, '2027-01-01', 'pending', 0, "
                "'2027-01-01 06:00:00+00:00') RETURNING id"
            )
        ).one()
        assert next_id == before["next_id"] + 1
    engine.dispose()


def test_the_downgrade_refuses_with_a_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url, "head")
    with pytest.raises(RuntimeError, match="cannot be undone"):
        command.downgrade(alembic_config(url), "0014")


@pytest.mark.slow
def test_a_million_rows_convert_on_postgresql(new_postgres: str) -> None:
    """A ledger of 1,000,000 rows at 0014, upgraded: the same counts per status and per
    issue, the same sample, and the bytes a row before and after (printed with -s)."""
    upgrade(new_postgres, "0014")
    engine = make_engine(new_postgres)
    with engine.begin() as connection:
        fill_0014(connection, rows=1_000_000, readers=100_000)
    with Session(engine) as session:
        size_before = ledger_size(session)
    before = _picture(engine, articles=_BEFORE, columns=_STORED)
    engine.dispose()

    upgrade(new_postgres, "head")

    engine = make_engine(new_postgres)
    assert _picture(engine, articles=_AFTER, columns=_SINCE_0028) == before
    with Session(engine) as session:
        size_after = ledger_size(session)
    engine.dispose()
    assert size_before is not None and size_after is not None
    assert size_before.rows == size_after.rows == 1_000_000
    print(f"\nledger at 0014: {size_before.bytes_per_row:.0f} B/row; "
          f"at head: {size_after.bytes_per_row:.0f} B/row")  # fmt: skip
    assert size_after.bytes_per_row < size_before.bytes_per_row / 1.5


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0018(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger of 400 rows (sent, failed, skipped, pending) with a click and a bounce
    report on some, at revision 0018, the head before partitions."""
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("new_postgres")
    )
    upgrade(url, "0014")
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            fill_0014(connection, rows=400, readers=120)
    else:
        _fill_sqlite(engine, rows=400, readers=120)
    engine.dispose()
    upgrade(url, "0018")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO clicks (delivery_id, position, clicked_at) "
                    "SELECT id, 1, created_at FROM deliveries WHERE id % 3 = 0")
        )  # fmt: skip
        connection.execute(
            sa.text("INSERT INTO feedback_events (report_key, delivery_id, subscriber_id, kind, "
                    "source, occurred_at) SELECT 'report-' || id, id, subscriber_id, "
                    "'soft_bounce', 'dsn', created_at FROM deliveries WHERE id % 5 = 0")
        )  # fmt: skip
    engine.dispose()
    return url


def _children_and_counts(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {
            "clicks": connection.execute(
                sa.text("SELECT delivery_id FROM clicks ORDER BY delivery_id")
            ).all(),
            "reports": connection.execute(
                sa.text("SELECT delivery_id FROM feedback_events ORDER BY delivery_id")
            ).all(),
            "counts": connection.execute(
                sa.text(
                    "SELECT issue_id, status, relay, sum(rows), sum(entered) "
                    "FROM delivery_counts GROUP BY issue_id, status, relay "
                    "ORDER BY issue_id, status, relay"
                )
            ).all(),
        }


def test_partitioning_keeps_every_row_click_report_and_count(database_at_0018: str) -> None:
    engine = make_engine(database_at_0018)
    with engine.begin() as connection:  # a stray row decades back
        connection.execute(
            sa.text(
                "INSERT INTO deliveries (edition, subscriber_id, local_date, status, "
                "attempts, created_at) VALUES ('daily', 2, '1999-03-03', 'skipped', 0, "
                "'1999-03-03 06:00:00+00:00')"
            )
        )
    before = _picture(engine, articles=_AFTER, columns=_STORED)
    children = _children_and_counts(engine)
    engine.dispose()
    assert len(children["clicks"]) == 133 and len(children["reports"]) == 80

    upgrade(database_at_0018, "0019")

    engine = make_engine(database_at_0018)
    assert _picture(engine, articles=_AFTER, columns=_STORED) == before
    assert _children_and_counts(engine) == children  # the copy counted nothing twice
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            homes = connection.execute(
                sa.text("SELECT DISTINCT tableoid::regclass::text FROM deliveries")
            ).scalars()
            # Four dates of 2026-01-05's week in that week's partition, the stray row in
            # its own week's; no partition for the weeks in between.
            assert set(homes) == {"deliveries_w20260105", "deliveries_w19990301"}
            partitions = connection.scalar(
                sa.text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'deliveries'::regclass")
            )
            assert partitions == 2 + 5 + 1  # and this week, four ahead, and the default one
        # The triggers work on the new table: a new row is counted, a deleted one's click goes.
        connection.execute(
            sa.text(
                "INSERT INTO deliveries (edition, subscriber_id, local_date, status, "
                "attempts, created_at) VALUES ('daily', 1, '2027-01-01', 'pending', 0, "
                "'2027-01-01 06:00:00+00:00')"
            )
        )
        connection.execute(sa.text("DELETE FROM deliveries WHERE id = 3"))
    after = _children_and_counts(engine)
    engine.dispose()
    assert (3,) not in after["clicks"] and len(after["clicks"]) == 132
    assert sum(row[3] for row in after["counts"]) == sum(row[3] for row in children["counts"]) + 1
