"""A reader's journey: sign up, confirm, change preferences, pause, unsubscribe, export, erase.

Every change writes a consent event. Functions take a Session and leave the commit to the
caller; the caller also sends whatever email an outcome asks for, after the commit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from subscribers.addresses import email_hash, normalise_email
from subscribers.database import utcnow
from subscribers.editions import editions_off, forget_editions
from subscribers.errors import InvalidPreference
from subscribers.keywords import (
    DEFAULT_KEYWORDS_PER_READER,
    TypedKeyword,
    forget_unfollowed,
    parse_keywords,
    set_keywords,
)
from subscribers.languages import parse_language
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Topic,
)
from subscribers.preferences import parse_hour, parse_timezone
from subscribers.services import (
    Origin,
    is_suppressed,
    record_consent,
    rotate_link_key,
    suppress,
)
from subscribers.topics import find_topics

MAX_PAUSE_WEEKS = 52


@dataclass(frozen=True)
class Preferences:
    """What a reader chooses, validated by `parse`."""

    topics: tuple[str, ...]
    frequency: Frequency
    timezone: str
    hour: int
    breaking_alerts: bool = False  # breaking-news alerts on the topics, besides the digest
    # Keyword alerts as it happens (an email soon after a match), besides the digest.
    keyword_alerts: bool = False
    # The reader's own words (subscribers.keywords); None leaves a reader's list as it is.
    keywords: tuple[TypedKeyword, ...] | None = None
    # The language of the reader's pages and emails (subscribers.languages); None leaves
    # a reader's as it is (a new reader: the site's default).
    language: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        topics: Sequence[str],
        frequency: Frequency,
        timezone: str | None,
        hour: int | str | None,
        breaking_alerts: bool = False,
        keywords: Sequence[str] | None = None,
        keyword_limit: int = DEFAULT_KEYWORDS_PER_READER,
        keyword_alerts: bool = False,
        language: str | None = None,
    ) -> Preferences:
        """Raises InvalidPreference for a time zone, hour, keyword or language it cannot
        honour."""
        return cls(
            tuple(topics),
            frequency,
            parse_timezone(timezone),
            parse_hour(hour),
            breaking_alerts,
            keyword_alerts,
            None if keywords is None else parse_keywords(keywords, limit=keyword_limit),
            parse_language(language),
        )


class SignupResult(enum.StrEnum):
    """What a sign-up asks the caller to send. The visitor is told the same in every case."""

    CONFIRM = "confirm"  # a new or still-pending reader: send a confirmation email
    MANAGE = "manage"  # already active: send a "manage your subscription" email
    NOTHING = "nothing"  # suppressed, bounced or complained: send nothing at all


@dataclass(frozen=True)
class Signup:
    result: SignupResult
    subscriber_id: int | None


def _known_topics(session: Session, slugs: Sequence[str]) -> list[Topic]:
    topics, unknown = find_topics(session, slugs)
    if unknown:
        raise InvalidPreference("topics", f"unknown topic {unknown[0]!r}")
    return topics


def request_subscription(
    session: Session,
    *,
    email: str,
    preferences: Preferences,
    origin: Origin,
    hash_key: str,
    now: datetime,
) -> Signup:
    """Record a sign-up request. Raises InvalidEmail / InvalidPreference for bad input.

    A new address becomes a pending reader. A pending one takes the new preferences (it
    has confirmed nothing yet). An active reader's preferences are never changed from the
    public form: whoever typed the address may not be its owner. A reader who had
    unsubscribed starts afresh with a new link key: the links in the emails from before,
    which may have been forwarded or kept by someone else, stop working.
    """
    address = normalise_email(email)
    topics = _known_topics(session, preferences.topics)
    if is_suppressed(session, address, hash_key=hash_key):
        return Signup(SignupResult.NOTHING, None)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(email=address, created_at=now)
        session.add(subscriber)
    elif subscriber.status is SubscriberStatus.ACTIVE:
        record_consent(session, subscriber, ConsentKind.SUBSCRIBE, origin)
        return Signup(SignupResult.MANAGE, subscriber.id)
    elif subscriber.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        return Signup(SignupResult.NOTHING, None)
    elif subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        rotate_link_key(subscriber)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.status_changed_at = now
    _apply(session, subscriber, preferences, topics)
    session.flush()
    record_consent(session, subscriber, ConsentKind.SUBSCRIBE, origin)
    return Signup(SignupResult.CONFIRM, subscriber.id)


def _apply(
    session: Session, subscriber: Subscriber, preferences: Preferences, topics: list[Topic]
) -> None:
    subscriber.topics = topics
    subscriber.frequency = preferences.frequency
    subscriber.timezone = preferences.timezone
    subscriber.send_hour = preferences.hour
    subscriber.breaking_alerts = preferences.breaking_alerts
    set_keyword_alerts(subscriber, preferences.keyword_alerts)
    if preferences.keywords is not None:
        set_keywords(session, subscriber, preferences.keywords)
    if preferences.language is not None:
        subscriber.language = preferences.language


def set_keyword_alerts(subscriber: Subscriber, chosen: bool) -> None:
    """Turn keyword alerts as it happens on or off. Turned on, they start from now: the
    stories matched before are in the digest, not in a first alert."""
    if chosen and not subscriber.keyword_alerts:
        subscriber.keyword_alerted_through = utcnow()
    subscriber.keyword_alerts = chosen
    if not chosen:
        subscriber.keyword_alert_due_at = None


def confirm(session: Session, subscriber: Subscriber, *, origin: Origin, now: datetime) -> bool:
    """Activate a pending reader; True if this call activated them."""
    if subscriber.status is not SubscriberStatus.PENDING:
        return False
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = now
    subscriber.status_changed_at = now
    record_consent(session, subscriber, ConsentKind.CONFIRM, origin)
    return True


def update_preferences(
    session: Session, subscriber: Subscriber, preferences: Preferences, *, origin: Origin
) -> None:
    _apply(session, subscriber, preferences, _known_topics(session, preferences.topics))
    details: dict[str, object] = {
        "topics": list(subscriber.topic_slugs),
        "frequency": preferences.frequency.value,
        "timezone": preferences.timezone,
        "hour": preferences.hour,
        "breaking_alerts": preferences.breaking_alerts,
        "keyword_alerts": preferences.keyword_alerts,
    }
    if preferences.keywords is not None:
        details["keywords"] = subscriber.keyword_texts
    if preferences.language is not None:
        details["language"] = preferences.language
    record_consent(session, subscriber, ConsentKind.PREFERENCES, origin.with_details(details))


def pause(
    session: Session, subscriber: Subscriber, *, weeks: int, origin: Origin, now: datetime
) -> None:
    """Pause digests for `weeks` (0 resumes at once)."""
    if not 0 <= weeks <= MAX_PAUSE_WEEKS:
        raise InvalidPreference("pause", f"choose between 0 and {MAX_PAUSE_WEEKS} weeks")
    subscriber.paused_until = now + timedelta(weeks=weeks) if weeks else None
    record_consent(
        session, subscriber, ConsentKind.PREFERENCES, origin.with_details({"pause_weeks": weeks})
    )


def fewer_emails(session: Session, subscriber: Subscriber, *, origin: Origin) -> bool:
    """Weekly instead of daily: the unsubscribe page's "fewer emails". True if this call
    changed anything (a weekly reader stays as they are)."""
    if subscriber.frequency is Frequency.WEEKLY:
        return False
    subscriber.frequency = Frequency.WEEKLY
    record_consent(
        session, subscriber, ConsentKind.PREFERENCES, origin.with_details({"frequency": "weekly"})
    )
    return True


def unsubscribe(session: Session, subscriber: Subscriber, *, origin: Origin, now: datetime) -> bool:
    """Stop all mail to this reader; True if this call changed anything (idempotent)."""
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.status_changed_at = now
    record_consent(session, subscriber, ConsentKind.UNSUBSCRIBE, origin)
    return True


def export_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about a reader, as JSON-ready data (the right of access)."""
    events = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(ConsentEvent.id)
    )
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status.value,
        "frequency": subscriber.frequency.value,
        "timezone": subscriber.timezone,
        "hour": subscriber.send_hour,
        "topics": subscriber.topic_slugs,
        "keywords": subscriber.keyword_texts,
        "editions_off": editions_off(session, subscriber.id),
        "language": subscriber.language,
        "breaking_alerts": subscriber.breaking_alerts,
        "keyword_alerts": subscriber.keyword_alerts,
        "paused_until": _iso(subscriber.paused_until),
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "consent_events": [
            {
                "kind": event.kind.value,
                "at": _iso(event.occurred_at),
                "source": event.source,
                "ip_address": event.ip_address,
                "user_agent": event.user_agent,
                "wording_version": event.wording_version,
            }
            for event in events
        ],
    }


def erase(session: Session, subscriber: Subscriber, *, hash_key: str, origin: Origin) -> None:
    """Remove a reader's personal data; keep only a keyed hash so they are never mailed again.

    The ledger rows and edition opt-outs go with the reader; consent events lose the reader
    link, IP and user agent, and one erase event records that the erasure happened. The
    reader's link key goes with the row, so no link sent to them opens anything again,
    whoever gets the id.
    """
    digest = email_hash(subscriber.email, hash_key)
    suppress(session, subscriber.email, reason="erased", hash_key=hash_key)
    session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .values(subscriber_id=None, ip_address=None, user_agent=None, details={})
        .execution_options(synchronize_session=False)
    )
    followed = [keyword.keyword_id for keyword in subscriber.keywords]
    forget_editions(session, subscriber.id)
    session.delete(subscriber)
    session.flush()
    forget_unfollowed(session, followed)
    erased = Origin(source=origin.source, details={"email_hash": digest})
    record_consent(session, None, ConsentKind.ERASE, erased)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
