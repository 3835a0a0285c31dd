"""A reader's history in the ledger, as the desk shows it: their deliveries, newest first,
and when each of a page of readers was last sent something.

The one place outside the send path that reads the ledger's columns for a reader: the
ledger's layout may change (smaller rows, partitions, replies kept only for failures), and
only these functions then need to follow it. They return small plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.models import Click, Delivery, DeliveryStatus

HISTORY_PAGE = 50


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery of one reader: what went (an edition's slug, or `alert-<id>`), for which
    local date, how it ended, what the relay said, and how many links were clicked."""

    id: int
    edition: str
    local_date: date
    status: DeliveryStatus
    attempts: int
    sent_at: datetime | None
    reply: str | None
    clicks: int


def deliveries_of(
    session: Session, subscriber_id: int, *, before: int | None = None, limit: int = HISTORY_PAGE
) -> list[DeliveryRecord]:
    """The reader's deliveries, newest first, `limit` at a time; `before` is the id of the
    last one shown, to read the next page."""
    clicks = select(func.count(Click.id)).where(Click.delivery_id == Delivery.id).scalar_subquery()
    query = (
        select(
            Delivery.id,
            Delivery.edition,
            Delivery.local_date,
            Delivery.status,
            Delivery.attempts,
            Delivery.sent_at,
            Delivery.last_error,
            Delivery.smtp_reply,
            clicks.label("clicks"),
        )
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Delivery.id < before)
    records = []
    for row in session.execute(query):
        failed = row.status is not DeliveryStatus.SENT
        records.append(
            DeliveryRecord(
                id=row.id,
                edition=row.edition,
                local_date=row.local_date,
                status=row.status,
                attempts=row.attempts,
                sent_at=row.sent_at,
                # An attempt that failed is told best by its error, not the relay's last line.
                reply=(row.last_error or row.smtp_reply) if failed else row.smtp_reply,
                clicks=int(row.clicks or 0),
            )
        )
    return records


def last_sent(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these readers was last sent a delivery; readers never sent one are left
    out. For a page of readers (tens, not thousands)."""
    if not subscriber_ids:
        return {}
    query = (
        select(Delivery.subscriber_id, func.max(Delivery.sent_at))
        .where(
            Delivery.subscriber_id.in_(list(subscriber_ids)),
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED)),
        )
        .group_by(Delivery.subscriber_id)
    )
    return {reader: moment for reader, moment in session.execute(query) if moment is not None}


__all__ = ["HISTORY_PAGE", "DeliveryRecord", "deliveries_of", "last_sent"]
