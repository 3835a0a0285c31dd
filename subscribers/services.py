"""Business functions of the subscription store; each takes a Session, the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from subscribers.addresses import email_hash, normalise_email
from subscribers.database import utcnow
from subscribers.errors import SubscribersError
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from subscribers.preferences import parse_hour, parse_timezone
from subscribers.tokens import Purpose, TokenSigner, new_link_key
from subscribers.topics import ensure_topics

# Readers in these states may receive a digest; every other state stops mail at once.
MAILABLE = (SubscriberStatus.ACTIVE,)


class AlreadySubscribed(SubscribersError):
    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__("this address is already subscribed")
        self.subscriber = subscriber


class Suppressed(SubscribersError):
    def __init__(self) -> None:
        super().__init__("this address is on the suppression list and will not be mailed")


@dataclass(frozen=True)
class Origin:
    """Where a change came from, for the consent record."""

    source: str
    ip_address: str | None = None
    user_agent: str | None = None
    wording_version: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    def with_details(self, details: dict[str, object]) -> Origin:
        """The same origin, with `details` added to what it already says."""
        return Origin(
            source=self.source,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
            wording_version=self.wording_version,
            details={**self.details, **details},
        )


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == normalise_email(email)))


def reader_of_link(
    session: Session,
    signer: TokenSigner,
    purpose: Purpose,
    token: str,
    *,
    allow_expired: bool = False,
    scope: str | None = None,
) -> Subscriber | None:
    """The reader a link from an email belongs to; None when no reader has its id (erased).

    The token is checked against the link key of the reader who holds its id now, so the
    link of an erased reader never opens the reader who was given the same id afterwards,
    nor a link from before a reader came back after unsubscribing. Raises InvalidToken
    for a link that is not (or no longer) this reader's, or has expired, or was signed for
    another `scope` (an edition's unsubscribe link names its edition; TokenSigner.sign).
    """
    subscriber = session.get(Subscriber, signer.subscriber_id(purpose, token))
    if subscriber is None:
        return None
    signer.verify(
        purpose, token, link_key=subscriber.link_key, allow_expired=allow_expired, scope=scope
    )
    return subscriber


def rotate_link_key(subscriber: Subscriber) -> None:
    """End every link sent to this reader so far; the next emails carry new ones."""
    subscriber.link_key = new_link_key()


def is_suppressed(session: Session, email: str, *, hash_key: str) -> bool:
    digest = email_hash(normalise_email(email), hash_key)
    return (
        session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)) is not None
    )


def suppress(session: Session, email: str, *, reason: str, hash_key: str) -> None:
    """Put an address on the suppression list (idempotent)."""
    digest = email_hash(normalise_email(email), hash_key)
    if session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)) is None:
        session.add(Suppression(email_hash=digest, reason=reason))
        session.flush()


def lift_suppression(session: Session, email: str, *, hash_key: str) -> bool:
    """Take an address off the suppression list; True if it was on it. The caller decides
    (and records) why: a suppression exists because someone asked never to be mailed."""
    digest = email_hash(normalise_email(email), hash_key)
    found = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    if found is None:
        return False
    session.delete(found)
    session.flush()
    return True


def record_consent(
    session: Session, subscriber: Subscriber | None, kind: ConsentKind, origin: Origin
) -> ConsentEvent:
    event = ConsentEvent(
        subscriber_id=subscriber.id if subscriber else None,
        kind=kind,
        source=origin.source,
        ip_address=origin.ip_address,
        user_agent=(origin.user_agent or "")[:500] or None,
        wording_version=origin.wording_version,
        details=dict(origin.details),
    )
    session.add(event)
    return event


def add_subscriber(
    session: Session,
    *,
    email: str,
    origin: Origin,
    hash_key: str,
    name: str | None = None,
    topics: Sequence[str] = (),
    frequency: Frequency = Frequency.DAILY,
    timezone: str | None = None,
    send_hour: int | str | None = None,
    confirmed: bool = False,
    now: datetime | None = None,
) -> Subscriber:
    """Create a reader, pending confirmation unless `confirmed` (an already-consented import).

    Raises InvalidEmail / InvalidPreference for bad input, Suppressed for an address that
    must not be mailed, AlreadySubscribed when the address is known.
    """
    address = normalise_email(email)
    zone = parse_timezone(timezone)
    hour = parse_hour(send_hour)
    if is_suppressed(session, address, hash_key=hash_key):
        raise Suppressed()
    existing = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if existing is not None:
        raise AlreadySubscribed(existing)
    subscriber = Subscriber(
        email=address,
        name=(name or "").strip()[:200] or None,
        status=SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING,
        frequency=frequency,
        timezone=zone,
        send_hour=hour,
        topics=ensure_topics(session, topics),
    )
    moment = now or utcnow()
    subscriber.created_at = moment
    subscriber.status_changed_at = moment
    subscriber.confirmed_at = moment if confirmed else None
    session.add(subscriber)
    session.flush()
    # Consent given elsewhere (an import of consented readers) vs. asked for now (a form).
    kind = ConsentKind.IMPORT if confirmed else ConsentKind.SUBSCRIBE
    record_consent(session, subscriber, kind, origin)
    return subscriber


def mailable_ids() -> Select[int]:
    """The ids of readers who may be mailed now, as a subquery for statements that must
    check it in the same breath as they act (a reader who left a second ago gets nothing)."""
    return select(Subscriber.id).where(Subscriber.status.in_(MAILABLE))
