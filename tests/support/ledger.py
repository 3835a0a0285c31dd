"""Reading and seeding the ledger from tests that drive real worker processes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from alerts.db import make_engine, make_session_factory
from alerts.ledger.unknowns import unknown_outcome
from alerts.models import Delivery, DeliveryStatus
from subscribers.database import utcnow
from subscribers.models import Frequency, Subscriber, SubscriberStatus
from tests.support.builders import articles, reader

# A row in one of these states is not settled yet: a send is over when none is left.
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class Row:
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    smtp_reply: str | None
    sent_at: datetime | None = None
    # Failed because the relay may have the message (alerts.ledger.unknowns).
    unknown: bool = False


def reader_address(number: int) -> str:
    return f"reader{number}@example.com"


def seed_readers(database_url: str, count: int) -> None:
    """`count` readers of everything and one fresh article, so everyone is due a digest."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        for number in range(count):  # ids in this order: batches are cut in id order
            reader(session, reader_address(number))
        articles(session, utcnow(), ("flood", (), timedelta(minutes=5)))
        session.commit()
    engine.dispose()


def seed_readers_in_bulk(database_url: str, count: int, *, now: datetime) -> None:
    """What `seed_readers` makes, with one INSERT for the readers: thousands in a moment.

    Confirmed readers of everything, `reader_address(n)` in id order, and one fresh article;
    no consent events (nothing that sends reads them)."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        rows = [
            {"email": reader_address(number), "status": SubscriberStatus.ACTIVE,
             "frequency": Frequency.DAILY, "timezone": "UTC", "send_hour": 7,
             "created_at": now - timedelta(days=2), "confirmed_at": now - timedelta(days=2),
             "status_changed_at": now - timedelta(days=2)}
            for number in range(count)
        ]  # fmt: skip
        session.execute(insert(Subscriber), rows)
        articles(session, now, ("flood", (), timedelta(minutes=5)))
        session.commit()
    engine.dispose()


def ledger_statuses(database_url: str) -> dict[str, tuple[DeliveryStatus, str | None]]:
    """Every ledger row's status and last error, by the reader's address."""
    return {email: (row.status, row.last_error) for email, row in ledger_rows(database_url).items()}


def ledger_rows(database_url: str) -> dict[str, Row]:
    """Every ledger row, by the reader's address."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(
                Subscriber.email,
                Delivery.status,
                Delivery.attempts,
                Delivery.last_error,
                Delivery.smtp_reply,
                Delivery.sent_at,
                unknown_outcome(),
            ).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all()
    engine.dispose()
    return {
        email: Row(status, attempts, last_error, smtp_reply, sent_at, bool(unknown))
        for email, status, attempts, last_error, smtp_reply, sent_at, unknown in rows
    }


def wait_until_settled(database_url: str, *, timeout: float) -> dict[str, Row]:
    """The ledger once no row is left unfinished, or as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger_rows(database_url)
        if time.monotonic() > deadline or not any(r.status in UNFINISHED for r in rows.values()):
            return rows
        time.sleep(1)


def settled_within(rows: dict[str, Row], since: datetime) -> float:
    """Seconds from `since` to the last message the ledger records as sent."""
    last = max((row.sent_at for row in rows.values() if row.sent_at is not None), default=since)
    return (last.replace(tzinfo=since.tzinfo) - since).total_seconds()
