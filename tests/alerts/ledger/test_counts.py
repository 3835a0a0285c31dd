"""The ledger's running counts follow every change of a row, fold without losing a count,
and are back-filled from an existing ledger by their migration (both backends)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from alerts.db import make_engine, make_session_factory, upgrade
from alerts.ledger.counts import fold, ledger_counts, state_counts, unsettled_sends
from alerts.ledger.relay_names import relay_id
from alerts.models import Delivery, DeliveryCount, DeliveryStatus, Edition, Issue
from subscribers.models import Subscriber
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.builders import reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def plan(session: Session, issue: Issue, count: int, *, created: datetime = NOW) -> None:
    for number in range(count):
        subscriber = reader(session, f"count{issue.id}-{number}@example.com")
        session.flush()
        session.add(Delivery(
            edition="daily-brief", issue_id=issue.id, subscriber_id=subscriber.id,
            local_date=issue.local_date, article_ids=[], created_at=created,
        ))  # fmt: skip
    session.flush()


def an_issue(session: Session, day: int = 25) -> Issue:
    edition = session.scalar(select(Edition)) or Edition(
        slug="daily-brief", name="Daily briefing", created_at=NOW, updated_at=NOW
    )
    session.add(edition)
    session.flush()
    issue = Issue(edition_id=edition.id, local_date=date(2026, 11, day), pinned_ids=[],
                  dropped_ids=[], created_at=NOW, updated_at=NOW)  # fmt: skip
    session.add(issue)
    session.flush()
    return issue


def move(session: Session, issue: Issue, count: int, to: DeliveryStatus, **values: object) -> None:
    ids = session.scalars(
        select(Delivery.id).where(Delivery.issue_id == issue.id, Delivery.status != to).limit(count)
    ).all()
    session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(status=to, **values))


def grouped(session: Session, issue: Issue) -> dict[DeliveryStatus, int]:
    """What grouping the ledger itself says: the counts must agree with it."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue.id)
        .group_by(Delivery.status)
    )
    return {**dict.fromkeys(DeliveryStatus, 0), **dict(rows.all())}


def test_counts_follow_every_change_and_survive_folding(session: Session) -> None:
    issue = an_issue(session)
    plan(session, issue, 6)
    session.commit()
    assert unsettled_sends(session) == ([issue.id], [])
    move(session, issue, 4, DeliveryStatus.CLAIMED)
    move(session, issue, 3, DeliveryStatus.SENT, sent_at=NOW + timedelta(seconds=20),
         smtp_reply="250 ok", relay_id=relay_id(session, "smtp:relay.test:25"))  # fmt: skip
    move(session, issue, 1, DeliveryStatus.FAILED, smtp_reply="550 no")
    session.commit()
    assert state_counts(session, issue_id=issue.id) == grouped(session, issue)

    assert fold(session, now=NOW) > 0
    session.commit()
    assert fold(session, now=NOW) == 0  # nothing left to fold
    assert state_counts(session, issue_id=issue.id) == grouped(session, issue)
    folded = session.scalar(select(func.count()).select_from(DeliveryCount))
    assert folded is not None and folded <= 6  # one row per key

    # Retried: the failure stays counted as it happened, the later success is added.
    move(session, issue, 1, DeliveryStatus.SENT, sent_at=NOW + timedelta(minutes=5),
         smtp_reply="250 ok", relay_id=relay_id(session, "smtp:relay.test:25"))  # fmt: skip
    session.commit()
    counts = ledger_counts(session, recent_from=NOW - timedelta(hours=24))
    entered = {
        status: sum(c.entered for c in counts if c.status == status) for status in DeliveryStatus
    }
    assert entered[DeliveryStatus.SENT] == 4 and entered[DeliveryStatus.FAILED] == 1
    assert state_counts(session, issue_id=issue.id) == grouped(session, issue)
    latency = [c for c in counts if c.status == DeliveryStatus.SENT]
    assert sum(c.seconds for c in latency) == pytest.approx(3 * 20 + 300, abs=0.01)


def test_old_hours_fold_into_their_day_and_keep_their_counts(session: Session) -> None:
    issue = an_issue(session)
    plan(session, issue, 3, created=NOW - timedelta(days=5, hours=3))
    plan(session, an_issue(session, 24), 2, created=NOW - timedelta(days=5, hours=7))
    session.commit()
    fold(session, now=NOW)
    session.commit()
    hours = session.scalars(select(DeliveryCount.planned_hour)).all()
    assert hours and all(hour % 24 == 0 for hour in hours)
    recent = ledger_counts(session, recent_from=NOW - timedelta(hours=24))
    assert sum(c.rows for c in recent) == 5 and sum(c.recent_rows for c in recent) == 0


def test_erasing_readers_subtracts_only_what_still_waited(session: Session) -> None:
    issue = an_issue(session)
    plan(session, issue, 4)
    move(session, issue, 2, DeliveryStatus.SENT, sent_at=NOW, smtp_reply="250 ok")
    session.commit()
    session.execute(delete(Subscriber))  # the ledger rows go with them (ON DELETE CASCADE)
    session.commit()
    counts = state_counts(session, issue_id=issue.id)
    assert (counts[DeliveryStatus.PENDING], counts[DeliveryStatus.SENT]) == (0, 2)
    assert unsettled_sends(session) == ([], [])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0014(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend migrated to 0014, the revision before the counts."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url, "0014")
        yield url
        return
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"newsalerts_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "0014")
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_back_fills_the_counts_from_the_ledger(database_at_0014: str) -> None:
    engine = make_engine(database_at_0014)
    deliveries = sa.table(
        "deliveries", *(sa.column(name) for name in (
            "edition", "subscriber_id", "local_date", "status", "window_start", "window_end",
            "article_ids", "attempts", "created_at", "sent_at", "smtp_reply", "relay",
        )),
    )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO subscribers (email, status, frequency, timezone, send_hour, "
            "created_at, status_changed_at) VALUES ('old@example.com', 'active', 'daily', "
            "'UTC', 7, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"
        ))  # fmt: skip
        subscriber = connection.scalar(sa.text("SELECT id FROM subscribers"))
        for day, status, sent in ((1, "sent", True), (2, "sent", True), (3, "failed", False),
                                  (4, "pending", False)):  # fmt: skip
            connection.execute(deliveries.insert().values(
                edition="daily", subscriber_id=subscriber, local_date=date(2026, 11, day),
                status=status, window_start=NOW, window_end=NOW, article_ids="[]", attempts=0,
                created_at=NOW - timedelta(days=1), relay="smtp:relay.test:25",
                sent_at=NOW - timedelta(days=1) + timedelta(seconds=3) if sent else None,
                smtp_reply="250 ok" if sent else None,
            ))  # fmt: skip
    engine.dispose()
    upgrade(database_at_0014)
    engine = make_engine(database_at_0014)
    with make_session_factory(engine)() as session:
        counts = ledger_counts(session, recent_from=NOW)
        rows = {c.status: c.rows for c in counts}
        assert rows == {
            DeliveryStatus.SENT: 2, DeliveryStatus.FAILED: 1, DeliveryStatus.PENDING: 1
        }  # fmt: skip
        sent = [c for c in counts if c.status == DeliveryStatus.SENT]
        assert [(c.relay, c.reply_class, c.latency_le, c.entered) for c in sent] == [
            ("smtp:relay.test:25", "2xx", 1, 2)
        ]
        assert sent[0].seconds == pytest.approx(6, abs=0.01)
        # And the triggers count from here on.
        session.execute(update(Delivery).where(Delivery.status == "pending").values(
            status=DeliveryStatus.CANCELLED))  # fmt: skip
        session.commit()
        assert {c.status: c.rows for c in ledger_counts(session, recent_from=NOW)} == {
            DeliveryStatus.SENT: 2, DeliveryStatus.FAILED: 1, DeliveryStatus.PENDING: 0,
            DeliveryStatus.CANCELLED: 1,
        }  # fmt: skip
    engine.dispose()
