"""The outbox of notices: a row per email to one reader, from the request to the outcome.

A notice (a sign-up confirmation, "manage your alerts") is written as a `notices` row in
the transaction that asked for it (`add_notice`), so a broker that loses its message loses
no email. Its life:

- `pending`, stamped with `next_attempt_at` = when the tick may take it. A worker sends it
  by id; if no worker has taken it by then (the message was lost), the tick does
  (`due_notices`, which stamps the rows it takes so the next tick does not take them too).
- `sending`: `take_notice` moved it there, in a committed conditional UPDATE, before any
  SMTP exchange. A second task for the same row finds it taken and does nothing: never
  twice. A row left `sending` by a worker that died is an unknown: after the lease,
  `sweep_notices` fails it with `UNKNOWN_OUTCOME` and it is not sent again.
- `sent`, `failed` (refused for good, out of attempts, the reader gone), or `pending`
  again with a retry time: `record_notice`, only on a row the attempt still holds.

Nothing here commits; the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.models import NoticeDelivery, NoticeStatus

# Notices the tick takes at once: a lost message is rare, and the tick must stay short.
NOTICES_PER_TICK = 50


@dataclass(frozen=True)
class TakenNotice:
    """A notice a worker took to send: what composing it needs, and its attempt's stamp."""

    id: int
    kind: str
    subscriber_id: int
    attempts: int
    attempted_at: datetime
    created_at: datetime  # a temporary refusal is retried within a window from here


def add_notice(
    session: Session, *, kind: str, subscriber_id: int, now: datetime, requeue_after: timedelta
) -> int:
    """Write a pending notice for one reader and return its id, to be handed to a worker
    after the caller commits. If no worker takes it within `requeue_after`, the tick will.
    Flushes; does not commit."""
    notice = NoticeDelivery(
        kind=kind,
        subscriber_id=subscriber_id,
        status=NoticeStatus.PENDING,
        attempts=0,
        created_at=now,
        queued_at=now,
        next_attempt_at=now + requeue_after,
    )
    session.add(notice)
    session.flush()
    return notice.id


def take_notice(session: Session, notice_id: int, *, now: datetime) -> TakenNotice | None:
    """Move a pending notice to `sending` and count the attempt; None if it is not pending
    (sent, failed, or another worker has it). The caller commits before sending, so a
    worker that dies mid-exchange leaves the row `sending`: an unknown, never sent again."""
    taken = session.execute(
        update(NoticeDelivery)
        .where(NoticeDelivery.id == notice_id, NoticeDelivery.status == NoticeStatus.PENDING)
        .values(
            status=NoticeStatus.SENDING,
            attempts=NoticeDelivery.attempts + 1,
            attempted_at=now,
            next_attempt_at=None,
        )
        .returning(
            NoticeDelivery.kind,
            NoticeDelivery.subscriber_id,
            NoticeDelivery.attempts,
            NoticeDelivery.created_at,
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if taken is None:
        return None
    kind, subscriber_id, attempts, created_at = taken
    return TakenNotice(notice_id, kind, subscriber_id, attempts, now, created_at)


def record_notice(
    session: Session,
    notice: TakenNotice,
    *,
    status: NoticeStatus,
    now: datetime,
    message_id: str | None = None,
    smtp_reply: str | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Write an attempt's outcome, only where that attempt still holds the row (`sending`,
    stamped with its `attempted_at`); False if it no longer does. `pending` needs
    `retry_at`. Does not commit."""
    if (status is NoticeStatus.PENDING) != (retry_at is not None):
        raise ValueError("a notice goes back to pending with a retry time, and only then")
    values: dict[str, object] = {
        "status": status,
        "sent_at": now if status is NoticeStatus.SENT else None,
        "message_id": message_id,
        "smtp_reply": smtp_reply,
        "last_error": None if error is None else error[:2000],
        "next_attempt_at": retry_at,
    }
    written = session.execute(
        update(NoticeDelivery)
        .where(
            NoticeDelivery.id == notice.id,
            NoticeDelivery.attempted_at == notice.attempted_at,
            or_(
                NoticeDelivery.status == NoticeStatus.SENDING,
                # The sweeper gave up on a slow attempt: its true outcome replaces the guess.
                (NoticeDelivery.status == NoticeStatus.FAILED)
                & (NoticeDelivery.last_error == UNKNOWN_OUTCOME),
            ),
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(written.rowcount)  # type: ignore[attr-defined]


def due_notices(
    session: Session, *, now: datetime, requeue_after: timedelta, limit: int = NOTICES_PER_TICK
) -> list[int]:
    """Ids of pending notices whose time has come (their message was lost, or their retry
    is due), oldest first, stamped so that the next tick does not take them again while
    they are being sent. Does not commit."""
    ids: Sequence[int] = session.scalars(
        select(NoticeDelivery.id)
        .where(
            NoticeDelivery.status == NoticeStatus.PENDING,
            or_(NoticeDelivery.next_attempt_at.is_(None), NoticeDelivery.next_attempt_at <= now),
        )
        .order_by(NoticeDelivery.id)
        .limit(limit)
    ).all()
    if ids:
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id.in_(ids))
            .values(queued_at=now, next_attempt_at=now + requeue_after)
            .execution_options(synchronize_session=False)
        )
    return list(ids)


def sweep_notices(session: Session, *, now: datetime, lease: timedelta) -> int:
    """Fail the notices left `sending` for longer than `lease` (their worker died): the
    reader may have the email, so it is not sent again. Returns how many. Does not commit."""
    swept = session.execute(
        update(NoticeDelivery)
        .where(
            NoticeDelivery.status == NoticeStatus.SENDING, NoticeDelivery.attempted_at < now - lease
        )
        .values(status=NoticeStatus.FAILED, last_error=UNKNOWN_OUTCOME)
        .execution_options(synchronize_session=False)
    )
    return swept.rowcount or 0  # type: ignore[attr-defined]


def notice_counts(session: Session, *, since: datetime) -> dict[str, int]:
    """Notices written since `since`, by state."""
    rows = session.execute(
        select(NoticeDelivery.status, func.count())
        .where(NoticeDelivery.created_at >= since)
        .group_by(NoticeDelivery.status)
    )
    return {status.value: int(count) for status, count in rows}


__all__ = [
    "NOTICES_PER_TICK",
    "TakenNotice",
    "add_notice",
    "due_notices",
    "notice_counts",
    "record_notice",
    "sweep_notices",
    "take_notice",
]
