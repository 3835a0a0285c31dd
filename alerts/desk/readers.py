"""The readers as the desk sees them: a filtered list a page at a time, one reader's record,
and what an editor may do to a reader (unsubscribe, erase, lift a suppression).

The list is read by keyset: newest reader first, a page ends at an id and the next page
starts below it, so page 20,000 of a million readers costs what page 1 does (no OFFSET,
no count of the whole table). A search matches the start of the address, which an index
can answer; a match anywhere inside it would read every address.

Every action records a consent event where the reader's consent changes and an audit event
always; functions take a Session and leave the commit to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from alerts.audit import masked, record
from alerts.errors import BadInput, NotFound
from alerts.ledger.history import DeliveryRecord, deliveries_of, last_sent
from alerts.models import FeedbackEvent, FeedbackKind
from subscribers.addresses import normalise_email
from subscribers.editions import editions_off
from subscribers.lifecycle import erase, unsubscribe
from subscribers.models import (
    ConsentEvent,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
)
from subscribers.services import Origin, is_suppressed, lift_suppression

PAGE_SIZE = 50
MAX_SEARCH_LENGTH = 254
MAX_REASON_LENGTH = 500
DESK_SOURCE = "desk"
# A reader in these states was stopped by their own mail (a bounce, a complaint); lifting
# the suppression leaves them unsubscribed, so that only signing up again (and confirming)
# brings mail back.
_STOPPED_BY_FEEDBACK = (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


@dataclass(frozen=True)
class ReaderFilter:
    """Which readers a list shows: by status, by a topic's slug, by the start of the address."""

    status: SubscriberStatus | None = None
    topic: str | None = None
    search: str = ""


@dataclass(frozen=True, slots=True)
class ReaderRow:
    id: int
    email: str
    status: SubscriberStatus
    topics: list[str]
    frequency: Frequency
    timezone: str
    send_hour: int
    created_at: datetime
    last_sent: datetime | None
    bounces: int
    complaints: int


@dataclass(frozen=True)
class ReaderPage:
    """One page of the list; `older` and `newer` are the cursors of the pages around it."""

    rows: list[ReaderRow]
    older: int | None
    newer: int | None


def readers_query(session: Session, wanted: ReaderFilter) -> Select[Subscriber]:
    """The readers a filter keeps, unordered: the list pages it, the export streams it.
    Raises NotFound for a topic that does not exist."""
    query = select(Subscriber)
    if wanted.status is not None:
        query = query.where(Subscriber.status == wanted.status)
    if wanted.topic:
        topic_id = session.scalar(select(Topic.id).where(Topic.slug == wanted.topic))
        if topic_id is None:
            raise NotFound(f"there is no topic {wanted.topic!r}")
        following = select(subscriber_topics.c.subscriber_id).where(
            subscriber_topics.c.topic_id == topic_id,
            subscriber_topics.c.subscriber_id == Subscriber.id,
        )
        query = query.where(following.exists())
    search = wanted.search.strip().lower()
    if search:
        query = query.where(Subscriber.email.startswith(search, autoescape=True))
    return query


def list_readers(
    session: Session,
    wanted: ReaderFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> ReaderPage:
    """A page of readers, newest first. `after` reads the page below that id (older
    readers), `before` the page above it (newer ones); neither reads the first page.
    Raises NotFound for an unknown topic."""
    query = readers_query(session, wanted)
    if before is not None:
        query = query.where(Subscriber.id > before).order_by(Subscriber.id.asc())
    else:
        if after is not None:
            query = query.where(Subscriber.id < after)
        query = query.order_by(Subscriber.id.desc())
    found = list(session.scalars(query.limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    if before is not None:
        found.reverse()
        older = found[-1].id if found else None
        newer = found[0].id if found and more else None
    else:
        older = found[-1].id if found and more else None
        newer = found[0].id if found and after is not None else None
    return ReaderPage(_rows(session, found), older, newer)


def _rows(session: Session, readers: Sequence[Subscriber]) -> list[ReaderRow]:
    ids = [reader.id for reader in readers]
    sent = last_sent(session, ids)
    feedback: dict[tuple[int, FeedbackKind], int] = {}
    if ids:
        counts = (
            select(FeedbackEvent.subscriber_id, FeedbackEvent.kind, func.count())
            .where(FeedbackEvent.subscriber_id.in_(ids))
            .group_by(FeedbackEvent.subscriber_id, FeedbackEvent.kind)
        )
        feedback = {(reader, kind): count for reader, kind, count in session.execute(counts)}
    return [
        ReaderRow(
            id=reader.id,
            email=reader.email,
            status=reader.status,
            topics=[topic.name for topic in reader.topics],
            frequency=reader.frequency,
            timezone=reader.timezone,
            send_hour=reader.send_hour,
            created_at=reader.created_at,
            last_sent=sent.get(reader.id),
            bounces=feedback.get((reader.id, FeedbackKind.HARD_BOUNCE), 0)
            + feedback.get((reader.id, FeedbackKind.SOFT_BOUNCE), 0),
            complaints=feedback.get((reader.id, FeedbackKind.COMPLAINT), 0),
        )
        for reader in readers
    ]


# --- one reader ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderRecord:
    """Everything the reader's page shows: consent, deliveries, bounces and complaints."""

    reader: Subscriber
    consents: list[ConsentEvent]
    deliveries: list[DeliveryRecord]
    feedback: list[FeedbackEvent]
    suppressed: bool
    editions_off: list[str] = field(default_factory=list)  # slugs the reader turned off


def find_reader(session: Session, reader_id: int) -> Subscriber:
    """Raises NotFound when no reader has this id (never had, or was erased)."""
    reader = session.get(Subscriber, reader_id)
    if reader is None:
        raise NotFound(f"there is no reader {reader_id}; an erased reader leaves no record")
    return reader


def reader_record(
    session: Session, reader_id: int, *, hash_key: str, deliveries_before: int | None = None
) -> ReaderRecord:
    """Raises NotFound for an unknown id."""
    reader = find_reader(session, reader_id)
    consents = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == reader.id)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
    )
    feedback = session.scalars(
        select(FeedbackEvent)
        .where(FeedbackEvent.subscriber_id == reader.id)
        .order_by(FeedbackEvent.occurred_at.desc(), FeedbackEvent.id.desc())
    )
    return ReaderRecord(
        reader=reader,
        consents=list(consents),
        deliveries=deliveries_of(session, reader.id, before=deliveries_before),
        feedback=list(feedback),
        suppressed=is_suppressed(session, reader.email, hash_key=hash_key),
        editions_off=editions_off(session, reader.id),
    )


# --- what an editor does ---------------------------------------------------------------


def _origin(actor: str) -> Origin:
    return Origin(source=DESK_SOURCE, details={"staff": actor})


def unsubscribe_reader(session: Session, reader: Subscriber, *, actor: str, now: datetime) -> bool:
    """Stop all mail to the reader, as their own unsubscribe would; False if they had left."""
    changed = unsubscribe(session, reader, origin=_origin(actor), now=now)
    if changed:
        record(session, actor=actor, action="reader.unsubscribe", target=f"reader/{reader.id}",
               now=now)  # fmt: skip
    return changed


def erase_reader(
    session: Session, reader: Subscriber, *, actor: str, hash_key: str, now: datetime
) -> None:
    """Remove the reader's personal data (subscribers.lifecycle.erase); the audit keeps the id
    and the address masked, never the address."""
    target, shown = f"reader/{reader.id}", masked(reader.email)
    erase(session, reader, hash_key=hash_key, origin=_origin(actor))
    record(session, actor=actor, action="reader.erase", target=target,
           details={"email": shown}, now=now)  # fmt: skip


def lift_reader_suppression(
    session: Session, email: str, *, reason: str, actor: str, hash_key: str, now: datetime
) -> bool:
    """Take an address off the suppression list, so that it may sign up again; True if it
    was on it. A reader stopped by a bounce or complaint becomes unsubscribed: nothing is
    sent until they sign up again and confirm. Raises BadInput without a reason."""
    reason = " ".join(reason.split())
    if not reason:
        raise BadInput("say why the suppression is lifted")
    if len(reason) > MAX_REASON_LENGTH:
        raise BadInput(f"keep the reason under {MAX_REASON_LENGTH} characters")
    address = normalise_email(email)
    lifted = lift_suppression(session, address, hash_key=hash_key)
    reader = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if reader is not None and reader.status in _STOPPED_BY_FEEDBACK:
        reader.status = SubscriberStatus.UNSUBSCRIBED
        reader.status_changed_at = now
    if lifted:
        record(
            session,
            actor=actor,
            action="suppression.lift",
            target=f"reader/{reader.id}" if reader is not None else None,
            details={"email": masked(address), "reason": reason},
            now=now,
        )
    return lifted


__all__ = [
    "MAX_SEARCH_LENGTH",
    "PAGE_SIZE",
    "ReaderFilter",
    "ReaderPage",
    "ReaderRecord",
    "ReaderRow",
    "erase_reader",
    "find_reader",
    "lift_reader_suppression",
    "list_readers",
    "reader_record",
    "readers_query",
    "unsubscribe_reader",
]
