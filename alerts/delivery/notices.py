"""Sending notices — the sign-up confirmation, "manage your alerts" — from their outbox rows.

A notice is a row of the `notices` outbox (alerts.ledger.notices), written with whatever
asked for it. `send_notice` sends one row by id, at most once: it takes the row (committed
before the SMTP exchange), sends, and records what became of it. A temporary refusal puts
the row back with a retry time, as the digests' backoff does (alerts.delivery.sending's
`RetryPolicy`); a permanent one, or the last attempt, fails it; a connection that broke
while the relay had the message fails it as unknown (it may have arrived: not sent again).
`send_waiting_notices` is the tick's part: the rows whose message was lost, or whose retry
is due, sent right there. Its bytes are alerts.mail.notices'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.sending import RetryPolicy
from alerts.delivery.transports import Transport
from alerts.errors import DeliveryError
from alerts.ledger.notices import (
    TakenNotice,
    add_notice,
    due_notices,
    record_notice,
    sweep_notices,
    take_notice,
)
from alerts.ledger.unknowns import UNKNOWN_REPLY
from alerts.logs import first_line
from alerts.mail.dkim import DkimSigner
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import EmailRenderer
from alerts.models import NoticeStatus
from subscribers.database import utcnow
from subscribers.models import Subscriber

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
READER_GONE = "the reader is no longer in the store"


@dataclass(frozen=True)
class NoticeSender:
    """What sending a notice needs: the process's settings, renderer, transport, signer."""

    settings: Settings
    renderer: EmailRenderer
    transport: Transport
    signer: DkimSigner | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = utcnow


@dataclass
class NoticeRun:
    """What the tick did with the outbox."""

    swept: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def queue_notice(session: Session, notice: Notice, subscriber_id: int, *, settings: Settings,
                 now: datetime) -> int:  # fmt: skip
    """Write a notice to the outbox, in the caller's transaction; its id, to hand to a
    worker after the commit (the tick sends it if that message is lost). Does not commit."""
    return add_notice(
        session, kind=notice.value, subscriber_id=subscriber_id, now=now,
        requeue_after=timedelta(seconds=settings.notice_requeue_seconds),
    )  # fmt: skip


def send_notice(session: Session, notice_id: int, *, sender: NoticeSender) -> NoticeStatus | None:
    """Send the notice `notice_id` if it is still to send, and record the outcome. Returns
    its new state, or None when it was not pending (sent already, or another worker has
    it). Commits as it goes; raises only what the database raises."""
    taken = take_notice(session, notice_id, now=sender.clock())
    session.commit()
    if taken is None:
        return None
    status = _attempt(session, taken, sender)
    session.commit()
    return status


def send_waiting_notices(session: Session, *, sender: NoticeSender) -> NoticeRun:
    """The tick's part: fail the notices whose worker died mid-exchange, then send the ones
    whose message was lost or whose retry is due. Commits as it goes."""
    settings, now = sender.settings, sender.clock()
    run = NoticeRun()
    run.swept = sweep_notices(
        session, now=now, lease=timedelta(seconds=settings.claim_lease_seconds)
    )
    waiting = due_notices(
        session, now=now, requeue_after=timedelta(seconds=settings.notice_requeue_seconds)
    )
    session.commit()
    for notice_id in waiting:
        status = send_notice(session, notice_id, sender=sender)
        if status is NoticeStatus.SENT:
            run.sent += 1
        elif status is NoticeStatus.PENDING:
            run.retrying += 1
        elif status is NoticeStatus.FAILED:
            run.failed += 1
    if waiting or run.swept:
        log.info(
            "notices: %d sent by the tick, %d to retry, %d failed; %d left sending by a "
            "stopped worker failed (they may have arrived)",
            run.sent, run.retrying, run.failed, run.swept,
        )  # fmt: skip
    return run


def _attempt(session: Session, taken: TakenNotice, sender: NoticeSender) -> NoticeStatus:
    """Compose and send a taken notice, and record the outcome (the caller commits)."""
    subscriber = session.get(Subscriber, taken.subscriber_id)
    if subscriber is None:
        return _record(session, taken, sender, NoticeStatus.FAILED, error=READER_GONE)
    try:
        envelope = compose_notice(
            Notice(taken.kind), subscriber, settings=sender.settings,
            renderer=sender.renderer, signer=sender.signer,
        )  # fmt: skip
    except Exception as error:
        # A message that cannot be built (an address the mail code cannot encode) will
        # not build next time either: failed, and logged for the operator.
        log.exception("could not compose %s notice %s", taken.kind, taken.id)
        return _record(session, taken, sender, NoticeStatus.FAILED, error=first_line(error))
    try:
        with sender.transport.connect() as connection:
            reply = connection.send(envelope)
    except DeliveryError as error:
        return _failure(session, taken, sender, error, envelope.message_id)
    log.info("sent %s notice %s to subscriber %s", taken.kind, taken.id, taken.subscriber_id)
    return _record(session, taken, sender, NoticeStatus.SENT, message_id=envelope.message_id,
                   smtp_reply=reply[:2000])  # fmt: skip


def _failure(
    session: Session,
    taken: TakenNotice,
    sender: NoticeSender,
    error: DeliveryError,
    message_id: str,
) -> NoticeStatus:
    log.warning("%s notice %s not sent: %s", taken.kind, taken.id, error.reason)
    reply = error.reply or None
    if error.unknown_outcome:
        return _record(session, taken, sender, NoticeStatus.FAILED, message_id=message_id,
                       smtp_reply=reply, error=f"{UNKNOWN_REPLY}: {error.reason}")  # fmt: skip
    retry_at = sender.clock() + sender.retry.delay(taken.attempts)
    if error.permanent or retry_at > taken.created_at + sender.retry.window:
        return _record(session, taken, sender, NoticeStatus.FAILED, message_id=message_id,
                       smtp_reply=reply, error=error.reason)  # fmt: skip
    return _record(session, taken, sender, NoticeStatus.PENDING, message_id=message_id,
                   smtp_reply=reply, error=error.reason, retry_at=retry_at)  # fmt: skip


def _record(
    session: Session,
    taken: TakenNotice,
    sender: NoticeSender,
    status: NoticeStatus,
    *,
    error: str | None = None,
    message_id: str | None = None,
    smtp_reply: str | None = None,
    retry_at: datetime | None = None,
) -> NoticeStatus:
    record_notice(session, taken, status=status, now=sender.clock(), message_id=message_id,
                  smtp_reply=smtp_reply, error=error, retry_at=retry_at)  # fmt: skip
    return status


__all__ = [
    "READER_GONE",
    "NoticeRun",
    "NoticeSender",
    "queue_notice",
    "send_notice",
    "send_waiting_notices",
]
