"""Preview an edition as a reader, or a mix of topics, would get it now — writing nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.digests.planning import selection_for, selection_for_topics, why_not_in_audience
from alerts.digests.selection import local_today
from alerts.editions.issues import NO_CURATION, curation_of, find_issue
from alerts.editions.schedules import get_edition, list_editions
from alerts.errors import AlertsError, OutsideAudience
from alerts.mail.digest import DigestSpec
from alerts.mail.rendering import RenderedEmail
from alerts.models import Edition, Issue
from alerts.runtime import Runtime
from subscribers.addresses import normalise_email
from subscribers.database import utcnow
from subscribers.models import Frequency, Subscriber, SubscriberStatus, Topic


@dataclass(frozen=True)
class Preview:
    recipient: str
    edition: str
    local_date: date
    article_ids: list[int]
    email: RenderedEmail


def _edition_for(session: Session, key: str | None, subscriber: Subscriber | None,
                 now: datetime) -> Edition:  # fmt: skip
    if key is not None:
        return get_edition(session, key)
    editions = list_editions(session, now=now, active_only=True)
    wanted = subscriber.frequency if subscriber is not None else Frequency.DAILY
    for edition in editions:
        if edition.cadence.value == wanted.value and not edition.topics:
            return edition
    if not editions:
        raise AlertsError("there is no active edition")
    return editions[0]


def _untracked(edition: Edition) -> Edition:
    """The edition as a preview renders it: a copy, never stored, that counts no clicks or
    opens. A preview has no ledger row to count them against, so its tracked links would
    carry no token and lead nowhere (`/c//1`); its stories link straight to the site, as
    the archive's do."""
    columns = {column.key: getattr(edition, column.key) for column in Edition.__table__.columns}
    return Edition(**{**columns, "click_tracking": False, "open_tracking": False})


def preview_digest(
    session: Session,
    *,
    runtime: Runtime,
    email: str | None,
    edition: str | None = None,
    issue: Issue | None = None,
    now: datetime | None = None,
) -> Preview | None:
    """The edition `email` (or the first active reader) would get now, with the issue's
    curation; None if it would be empty. Raises AlertsError when the reader or the
    edition does not exist, OutsideAudience when the edition does not go to the reader."""
    query = select(Subscriber)
    if email is not None:
        query = query.where(Subscriber.email == normalise_email(email))
    else:
        query = query.where(Subscriber.status == SubscriberStatus.ACTIVE).order_by(Subscriber.id)
    subscriber = session.scalars(query.limit(1)).first()
    if subscriber is None:
        raise AlertsError(f"no reader {email}" if email else "there is no active reader yet")
    now = now or utcnow()
    chosen = _edition_for(session, edition, subscriber, now)
    reason = why_not_in_audience(chosen, subscriber, now=now)
    if reason is not None:  # "send now" sends them nothing: the preview must not show a copy
        raise OutsideAudience(subscriber.email, chosen.name, reason)
    local_date = issue.local_date if issue else local_today(now, subscriber.timezone)
    issue = issue or find_issue(session, chosen.id, local_date)
    curation = curation_of(issue) if issue else NO_CURATION
    ids = selection_for(session, subscriber.id, edition=chosen, now=now, curation=curation)
    if not ids:
        return None
    composer = runtime.composer(session)
    spec = DigestSpec(_untracked(chosen), issue, local_date)
    rendered = composer.render_for(subscriber, ids, spec)
    return Preview(subscriber.email, chosen.slug, local_date, ids, rendered)


def preview_topic_mix(
    session: Session,
    *,
    runtime: Runtime,
    edition: str,
    topic_slugs: Sequence[str],
    timezone: str = "UTC",
    issue: Issue | None = None,
    now: datetime | None = None,
) -> Preview | None:
    """What a first-time reader following `topic_slugs` (none: everything) would get."""
    now = now or utcnow()
    chosen = get_edition(session, edition)
    topics = list(session.scalars(select(Topic).where(Topic.slug.in_(set(topic_slugs)))))
    unknown = set(topic_slugs) - {topic.slug for topic in topics}
    if unknown:
        raise AlertsError(f"no such topic: {', '.join(sorted(unknown))}")
    local_date = issue.local_date if issue else local_today(now, timezone)
    issue = issue or find_issue(session, chosen.id, local_date)
    curation = curation_of(issue) if issue else NO_CURATION
    ids = selection_for_topics(
        session, frozenset(topic.id for topic in topics), edition=chosen, now=now,
        curation=curation,
    )  # fmt: skip
    if not ids:
        return None
    # A reader who does not exist: the links in the preview lead nowhere.
    reader = Subscriber(id=0, email="reader@example.com", timezone=timezone, topics=topics)
    composer = runtime.composer(session)
    rendered = composer.render_for(reader, ids, DigestSpec(_untracked(chosen), issue, local_date))
    return Preview("a reader of " + (", ".join(t.name for t in topics) or "every topic"),
                   chosen.slug, local_date, ids, rendered)  # fmt: skip


__all__ = ["Preview", "preview_digest", "preview_topic_mix"]
