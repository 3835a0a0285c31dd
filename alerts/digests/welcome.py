"""What a new reader is told when they confirm: when their first digest goes out.

The promise must be what the scheduler will do, not what the reader expects: a reader who
confirms after their hour is due at once and gets today's digest within a minute, and an
edition that names its own hour or weekday sends then, whatever the reader chose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alerts.digests.selection import first_due
from alerts.editions.schedules import list_editions
from alerts.models import Cadence
from subscribers.models import Subscriber


def first_digest_at(session: Session, subscriber: Subscriber, *, now: datetime) -> datetime | None:
    """The first moment one of the reader's editions has them due: `now` when one has
    already, None when no active edition of their frequency and topics has them.
    Flushes (a fresh store makes its default editions)."""
    followed = {topic.id for topic in subscriber.topics}
    moments = [
        first_due(
            now,
            timezone=subscriber.timezone,
            send_hour=edition.send_hour if edition.send_hour is not None else subscriber.send_hour,
            cadence=edition.cadence,
            weekday=edition.weekday,
        )
        for edition in list_editions(session, now=now, active_only=True)
        if edition.cadence is Cadence(subscriber.frequency.value)
        and (not edition.topics or followed & {topic.id for topic in edition.topics})
    ]
    return min(moments, default=None)
