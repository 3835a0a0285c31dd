"""The editions a reader may choose among on their preferences page.

A reader is eligible for an active edition when their frequency is its cadence and, for a
topic edition, they follow at least one of its topics: the audience planning selects
(alerts.digests.planning), before the reader's own on/off. Each eligible edition is on
unless the reader turned it off (subscribers.editions).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.editions.schedules import list_editions
from alerts.models import Edition
from subscribers.editions import editions_off
from subscribers.models import Subscriber


@dataclass(frozen=True)
class EditionChoice:
    """One edition as the reader sees it: its slug, its name, and whether it is on."""

    slug: str
    name: str
    on: bool


def is_eligible(edition: Edition, subscriber: Subscriber) -> bool:
    """Whether the edition's audience takes in the reader's frequency and topics."""
    if edition.cadence.value != subscriber.frequency.value:
        return False
    own = {topic.id for topic in edition.topics}
    return not own or bool(own & {topic.id for topic in subscriber.topics})


def edition_choices(
    session: Session, subscriber: Subscriber, *, now: datetime
) -> list[EditionChoice]:
    """Every active edition the reader is eligible for, in the desk's order, each on
    unless they turned it off."""
    off = set(editions_off(session, subscriber.id))
    return [
        EditionChoice(edition.slug, edition.name, edition.slug not in off)
        for edition in list_editions(session, now=now, active_only=True)
        if is_eligible(edition, subscriber)
    ]


def edition_name(session: Session, slug: str) -> str | None:
    """The name of the edition with this slug; None when there is none (it was deleted).
    Reads only: the unsubscribe page's GET must change nothing."""
    return session.scalar(select(Edition.name).where(Edition.slug == slug))


def known_slugs(session: Session, slugs: Collection[str]) -> list[str]:
    """Those of `slugs` that are editions' (a form's hidden list is the reader's to
    forge: only real editions' slugs are stored)."""
    wanted = sorted({slug for slug in slugs if len(slug) <= 50})
    if not wanted:
        return []
    return list(session.scalars(select(Edition.slug).where(Edition.slug.in_(wanted))))


__all__ = ["EditionChoice", "edition_choices", "edition_name", "is_eligible", "known_slugs"]
