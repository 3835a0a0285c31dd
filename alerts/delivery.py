"""Sending a batch of ledger rows: claim, check the reader, send, record — one row at a time.

A row is claimed (`pending` -> `sending`) with one UPDATE ... RETURNING, so a batch queued
twice or run by two workers sends each row once. Each outcome is committed right after
its message, so a crash loses at most the record of the message in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.digests import DigestComposer
from alerts.errors import DeliveryError
from alerts.models import Delivery, DeliveryStatus
from alerts.transports import MailConnection, Transport
from subscribers.database import utcnow
from subscribers.services import subscriber_is_mailable

MAX_ATTEMPTS = 5
Clock = Callable[[], datetime]


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    not_mailable: int = 0

    def add(self, other: BatchResult) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.not_mailable += other.not_mailable


def retry_delay(attempts: int) -> timedelta:
    """2, 4, 8, 16 ... minutes, at most six hours."""
    return min(timedelta(minutes=2**attempts), timedelta(hours=6))


def claim(session: Session, ids: Sequence[int], *, now: datetime) -> list[int]:
    """Move rows from pending to sending; return the ids this caller now owns."""
    if not ids:
        return []
    claimed = session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed)


def _record_failure(delivery: Delivery, error: DeliveryError, now: datetime) -> str:
    delivery.last_error = error.reason[:2000]
    delivery.smtp_reply = error.reply or None
    if error.permanent or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        return "failed"
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    return "retrying"


def send_batch(
    session: Session,
    ids: Sequence[int],
    *,
    composer: DigestComposer,
    transport: Transport,
    clock: Clock = utcnow,
    on_message: Callable[[], None] | None = None,
) -> BatchResult:
    """Send the ledger rows `ids` that are still pending. Commits as it goes."""
    result = BatchResult()
    owned = claim(session, ids, now=clock())
    session.commit()
    if not owned:
        return result
    deliveries = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.id.in_(owned))
            .order_by(Delivery.id)
            # The claim changed these rows behind the identity map's back: reload them.
            .execution_options(populate_existing=True)
        )
    )
    composer.preload(i for delivery in deliveries for i in delivery.article_ids)
    remaining = list(deliveries)
    try:
        with transport.connect() as connection:
            while remaining:
                delivery = remaining[0]
                _send_one(session, delivery, composer, connection, clock, result)
                session.commit()
                remaining.pop(0)
                if on_message is not None:
                    on_message()
    except DeliveryError as error:
        # The connection itself failed: everything not yet sent is retried later.
        for delivery in remaining:
            outcome = _record_failure(delivery, error, clock())
            setattr(result, outcome, getattr(result, outcome) + 1)
        session.commit()
    except BaseException:
        session.rollback()
        _release(session, [delivery.id for delivery in remaining])
        raise
    return result


def _send_one(
    session: Session,
    delivery: Delivery,
    composer: DigestComposer,
    connection: MailConnection,
    clock: Clock,
    result: BatchResult,
) -> None:
    if not subscriber_is_mailable(session, delivery.subscriber_id):
        delivery.status = DeliveryStatus.SUPPRESSED
        delivery.last_error = "reader is no longer active"
        result.not_mailable += 1
        return
    envelope = composer.compose(delivery)
    delivery.message_id = envelope.message_id
    try:
        reply = connection.send(envelope)
    except DeliveryError as error:
        outcome = _record_failure(delivery, error, clock())
        setattr(result, outcome, getattr(result, outcome) + 1)
        return
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = clock()
    delivery.smtp_reply = str(reply)[:500]
    delivery.last_error = None
    result.sent += 1


def _release(session: Session, ids: Sequence[int]) -> None:
    """Give rows claimed but not attempted back to the queue after an unexpected error."""
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, attempts=Delivery.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
