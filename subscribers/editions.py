"""A reader's choice of editions: every edition they are eligible for is on until they turn
it off, here, by its slug.

This package knows nothing of editions beyond their slugs (alerts.editions says which exist
and who is eligible). A change writes a consent event like any other preference change; the
caller commits.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers.models import ConsentKind, EditionOptOut, Subscriber
from subscribers.services import Origin, record_consent


def editions_off(session: Session, subscriber_id: int) -> list[str]:
    """The slugs of the editions the reader turned off, in order."""
    return list(
        session.scalars(
            select(EditionOptOut.edition)
            .where(EditionOptOut.subscriber_id == subscriber_id)
            .order_by(EditionOptOut.edition)
        )
    )


def _turn_off(session: Session, subscriber: Subscriber, slugs: Collection[str]) -> list[str]:
    """Add an opt-out for each slug the reader has not turned off yet; those added."""
    already = set(editions_off(session, subscriber.id))
    added = sorted(set(slugs) - already)
    session.add_all(EditionOptOut(subscriber_id=subscriber.id, edition=slug) for slug in added)
    return added


def choose_editions(
    session: Session,
    subscriber: Subscriber,
    *,
    offered: Collection[str],
    chosen: Collection[str],
    origin: Origin,
) -> bool:
    """Save the reader's choice among the editions `offered` to them: those in `chosen` on,
    the others off. Opt-outs of editions not offered (another cadence's, say) are kept.
    True, with a consent event, if anything changed."""
    offered_set = set(offered)
    wanted_off = offered_set - set(chosen)
    current = set(editions_off(session, subscriber.id)) & offered_set
    turn_on = sorted(current - wanted_off)
    turned_off = _turn_off(session, subscriber, wanted_off)
    if turn_on:
        session.execute(
            delete(EditionOptOut).where(
                EditionOptOut.subscriber_id == subscriber.id, EditionOptOut.edition.in_(turn_on)
            )
        )
    if not (turned_off or turn_on):
        return False
    details: dict[str, object] = {"editions_off": sorted(turned_off), "editions_on": turn_on}
    record_consent(session, subscriber, ConsentKind.PREFERENCES, origin.with_details(details))
    return True


def leave_edition(session: Session, subscriber: Subscriber, slug: str, *, origin: Origin) -> bool:
    """Turn one edition off and keep the others (a one-click unsubscribe from that
    edition's email); the reader stays subscribed. True if this call changed anything."""
    if not _turn_off(session, subscriber, [slug]):
        return False
    left = origin.with_details({"left": slug})
    record_consent(session, subscriber, ConsentKind.PREFERENCES, left)
    return True


def forget_editions(session: Session, subscriber_id: int) -> None:
    """Remove a reader's opt-outs (erasure; the foreign key cascades as well)."""
    session.execute(delete(EditionOptOut).where(EditionOptOut.subscriber_id == subscriber_id))


__all__ = ["choose_editions", "editions_off", "forget_editions", "leave_edition"]
