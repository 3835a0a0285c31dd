"""Preview a reader's digest as it would be sent now, without writing to the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import AlertsError
from alerts.planning import selection_for
from alerts.rendering import RenderedEmail
from alerts.runtime import Runtime
from alerts.selection import due_slot
from subscribers.addresses import normalise_email
from subscribers.database import utcnow
from subscribers.models import Subscriber, SubscriberStatus


@dataclass(frozen=True)
class Preview:
    recipient: str
    email: RenderedEmail


def preview_digest(session: Session, *, runtime: Runtime, email: str | None) -> Preview | None:
    """The digest `email` (or the first active reader) would get now; None if empty.

    Raises AlertsError when the reader does not exist.
    """
    query = select(Subscriber)
    if email is not None:
        query = query.where(Subscriber.email == normalise_email(email))
    else:
        query = query.where(Subscriber.status == SubscriberStatus.ACTIVE).order_by(Subscriber.id)
    subscriber = session.scalars(query.limit(1)).first()
    if subscriber is None:
        raise AlertsError(f"no reader {email}" if email else "there is no active reader yet")
    now = utcnow()
    slot = due_slot(
        now,
        timezone=subscriber.timezone,
        send_hour=subscriber.send_hour,
        frequency=subscriber.frequency,
        force=True,
    )
    assert slot is not None  # force=True always yields a slot
    ids = selection_for(session, subscriber.id, edition=slot.edition, now=now)
    if not ids:
        return None
    composer = runtime.composer(session)
    rendered = composer.render_for(subscriber, ids, slot.edition, slot.local_date)
    return Preview(subscriber.email, rendered)


__all__ = ["Preview", "preview_digest"]
