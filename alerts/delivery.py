"""Sending a batch of ledger rows: claim, check the reader, send, record — one row at a time.

Row states: `pending` → `claimed` (the batch's worker owns it) → `sending` (its SMTP
exchange may have started) → `sent` | `failed` | `suppressed`, or back to `pending` with a
retry time. Rows are marked `sending` a small group at a time, in the same commit as the
previous group's outcomes, so a group costs one commit and one status query, and a worker
killed outright leaves at most one group in `sending`: the messages whose fate is unknown.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alerts.digests import DigestComposer
from alerts.errors import DeliveryError
from alerts.messages import Envelope
from alerts.models import Delivery, DeliveryStatus
from alerts.transports import MailConnection, Transport
from subscribers.database import utcnow
from subscribers.services import mailable_subscribers

MAX_ATTEMPTS = 5
DEFAULT_LEASE = timedelta(minutes=10)
DEFAULT_GROUP_SIZE = 20
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


@dataclass(frozen=True)
class RetryPolicy:
    """Temporary failures are retried after base, 2 x base, 4 x base ... (±20 % jitter, so a
    relay's outage does not bring every retry back in the same second), at most `cap`,
    until `max_attempts`; then the row is failed with the last reason."""

    max_attempts: int = MAX_ATTEMPTS
    base: timedelta = timedelta(minutes=2)
    cap: timedelta = timedelta(hours=6)

    def delay(self, attempts: int) -> timedelta:
        plain: timedelta = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        return plain * random.uniform(0.8, 1.2)


def retry_delay(attempts: int) -> timedelta:
    """The default policy's delay after `attempts` attempts."""
    return RetryPolicy().delay(attempts)


def claim(
    session: Session, ids: Sequence[int], *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[int]:
    """Take rows that are pending (or claimed by a worker whose lease ran out).

    One UPDATE ... RETURNING: two workers given the same ids split them, never share them.
    """
    if not ids:
        return []
    claimable = or_(
        Delivery.status == DeliveryStatus.PENDING,
        (Delivery.status == DeliveryStatus.CLAIMED) & (Delivery.claimed_at < now - lease),
    )
    claimed = session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(ids), claimable)
        .values(status=DeliveryStatus.CLAIMED, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed)


def _record_failure(
    delivery: Delivery, error: DeliveryError, now: datetime, retry: RetryPolicy
) -> str:
    delivery.last_error = error.reason[:2000]
    delivery.smtp_reply = error.reply or None
    if error.permanent or delivery.attempts >= retry.max_attempts:
        delivery.status = DeliveryStatus.FAILED
        return "failed"
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now + retry.delay(delivery.attempts)
    return "retrying"


def _count(result: BatchResult, outcome: str) -> None:
    setattr(result, outcome, getattr(result, outcome) + 1)


def send_batch(
    session: Session,
    ids: Sequence[int],
    *,
    composer: DigestComposer,
    transport: Transport,
    clock: Clock = utcnow,
    lease: timedelta = DEFAULT_LEASE,
    group_size: int = DEFAULT_GROUP_SIZE,
    retry: RetryPolicy = RetryPolicy(),
    on_message: Callable[[], None] | None = None,
) -> BatchResult:
    """Send the ledger rows `ids` that are still to send. Commits as it goes.

    Rows go in groups of `group_size`: one query checks that the group's readers are
    still subscribed, one commit marks the group `sending` (with the previous group's
    outcomes), then its messages go out. A process killed mid-group leaves at most
    `group_size` rows whose fate is unknown; any other error releases the rows not yet
    attempted.
    """
    result = BatchResult()
    owned = claim(session, ids, now=clock(), lease=lease)
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
    in_flight: list[Delivery] = []
    try:
        with transport.connect() as connection:
            for offset in range(0, len(deliveries), group_size):
                group = _start_group(session, deliveries[offset : offset + group_size], composer,
                                     clock, result)  # fmt: skip
                in_flight = [delivery for delivery, _ in group]
                for delivery, envelope in group:
                    _send_one(delivery, envelope, connection, clock, result, retry)
                    in_flight.remove(delivery)
                    if on_message is not None:
                        on_message()
        session.commit()
    except DeliveryError as error:
        # The connection itself failed: every row not yet attempted is retried later.
        for delivery in deliveries:
            if delivery.status is DeliveryStatus.CLAIMED:
                _count(result, _record_failure(delivery, error, clock(), retry))
        session.commit()
    except BaseException:
        _keep_outcomes(session, in_flight[1:])
        _release(session, owned)
        raise
    return result


def _start_group(
    session: Session,
    group: Sequence[Delivery],
    composer: DigestComposer,
    clock: Clock,
    result: BatchResult,
) -> list[tuple[Delivery, Envelope]]:
    """Check the readers, compose, and commit the `sending` marks of one group."""
    mailable = mailable_subscribers(session, [delivery.subscriber_id for delivery in group])
    ready = []
    for delivery in group:
        if delivery.subscriber_id not in mailable:
            delivery.status = DeliveryStatus.SUPPRESSED
            delivery.last_error = "reader is no longer active"
            result.not_mailable += 1
            continue
        envelope = composer.compose(delivery)
        delivery.message_id = envelope.message_id
        delivery.status = DeliveryStatus.SENDING
        delivery.claimed_at = clock()
        ready.append((delivery, envelope))
    session.commit()  # carries the previous group's outcomes too
    return ready


def _send_one(
    delivery: Delivery,
    envelope: Envelope,
    connection: MailConnection,
    clock: Clock,
    result: BatchResult,
    retry: RetryPolicy,
) -> None:
    try:
        reply = connection.send(envelope)
    except DeliveryError as error:
        _count(result, _record_failure(delivery, error, clock(), retry))
        return
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = clock()
    delivery.smtp_reply = str(reply)[:500]
    delivery.last_error = None
    result.sent += 1


def _keep_outcomes(session: Session, never_attempted: Sequence[Delivery]) -> None:
    """After an error in this process, save what is known: the outcomes recorded so far,
    and that the rows after the one in flight were never attempted."""
    for delivery in never_attempted:
        delivery.status = DeliveryStatus.CLAIMED
    try:
        session.commit()
    except Exception:
        session.rollback()


def _release(session: Session, ids: Sequence[int]) -> None:
    """After an unexpected error, give rows not yet attempted back to the queue."""
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.CLAIMED)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


@dataclass
class SweepResult:
    requeued: int = 0
    abandoned: int = 0


UNKNOWN_OUTCOME = (
    "the worker stopped during the SMTP exchange; the reader may have received the message, "
    "so it is not sent again"
)


def sweep_stuck(
    session: Session, *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> SweepResult:
    """Recover rows whose worker vanished (killed, or its broker message lost).

    Claimed but never attempted: back to pending, to be queued again. In the SMTP
    exchange when the worker died: marked failed with the reason, never re-sent — a
    possible duplicate is worse for a reader than one missing digest, and the ledger
    says which readers those are. Does not commit.
    """
    expired = Delivery.claimed_at < now - lease
    requeued = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED, expired)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=None,
            last_error="its worker stopped before sending; queued again",
        )
        .execution_options(synchronize_session=False)
    )
    abandoned = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, expired)
        .values(status=DeliveryStatus.FAILED, last_error=UNKNOWN_OUTCOME)
        .execution_options(synchronize_session=False)
    )
    return SweepResult(requeued.rowcount or 0, abandoned.rowcount or 0)  # type: ignore[attr-defined]
