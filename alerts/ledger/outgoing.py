"""Ledger rows on their way out, as plain values.

A worker sends hundreds of messages a second; ORM objects for its rows cost more than
composing the messages (identity map, attribute events, a unit-of-work flush of every
outcome). A batch's rows are read once, with their readers, into these small records,
before its claim (alerts.ledger.claims.claim_rows keeps those the batch takes): they name
the batch in the logs and are what it sends. Everything the send path writes back goes
through Core statements (alerts.delivery.sending).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.logs import log_context
from alerts.models import Cadence, Delivery, DeliveryStatus, Edition, Selection
from subscribers.models import Subscriber, Topic, subscriber_topics


@dataclass(frozen=True, slots=True)
class TopicName:
    name: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """What composing a message needs to know of its reader."""

    id: int
    email: str
    timezone: str
    topics: tuple[TopicName, ...]
    link_key: str | None  # signs the reader's links (subscribers.tokens)
    language: str | None = None  # None: the site's DEFAULT_LANGUAGE


@dataclass(slots=True)
class Outgoing:
    """One ledger row of a batch: what it is for, and what became of it.

    The outcome fields start as the database had them at the claim and change as the
    send goes; alerts.delivery.sending writes them back.
    """

    id: int
    edition: str
    issue_id: int | None
    alert_id: int | None
    subscriber_id: int
    local_date: date
    article_ids: list[int]
    attempts: int
    subscriber: Recipient
    status: DeliveryStatus = DeliveryStatus.CLAIMED
    sent_at: datetime | None = None
    smtp_reply: str | None = None
    relay: str | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    # The claim time the row carries in the database: proof that this batch owns it.
    claimed_at: datetime | None = field(default=None)
    # When the row was planned, and for a digest its edition's cadence
    # and the hour its reader gets it: how long a temporary failure may be retried
    # (alerts.delivery.sending.RetryPolicy). A breaking alert has no cadence.
    planned_at: datetime | None = None
    cadence: Cadence | None = None
    send_hour: int | None = None


# What composing accepts: a row loaded for sending, or an ORM row (previews, tests).
LedgerRow = Delivery | Outgoing
Reader = Subscriber | Recipient


def load_outgoing(session: Session, ids: Sequence[int]) -> list[Outgoing]:
    """The rows `ids` with their readers, in id order: two queries whatever their number."""
    if not ids:
        return []
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition,
            Delivery.issue_id,
            Delivery.alert_id,
            Delivery.subscriber_id,
            Delivery.local_date,
            Selection.article_ids,
            Delivery.attempts,
            Delivery.status,
            Delivery.claimed_at,
            Subscriber.email,
            Subscriber.timezone,
            Subscriber.link_key,
            Subscriber.language,
            Delivery.created_at,
            Edition.cadence,
            func.coalesce(Edition.send_hour, Subscriber.send_hour).label("send_hour"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Selection, Selection.id == Delivery.selection_id)
        .outerjoin(Edition, Edition.slug == Delivery.edition)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()
    topics = _topic_names(session, sorted({row.subscriber_id for row in rows}))
    return [
        Outgoing(
            id=row.id,
            edition=row.edition,
            issue_id=row.issue_id,
            alert_id=row.alert_id,
            subscriber_id=row.subscriber_id,
            local_date=row.local_date,
            article_ids=list(row.article_ids or ()),
            attempts=row.attempts,
            subscriber=Recipient(
                row.subscriber_id,
                row.email,
                row.timezone,
                topics.get(row.subscriber_id, ()),
                row.link_key,
                row.language,
            ),
            status=row.status,
            claimed_at=row.claimed_at,
            planned_at=row.created_at,
            cadence=row.cadence,
            send_hour=row.send_hour,
        )
        for row in rows
    ]


def _topic_names(session: Session, subscriber_ids: list[int]) -> dict[int, tuple[TopicName, ...]]:
    """Each reader's topics in the order the ORM gives them (by slug), shared by readers
    with the same mix so a batch holds each mix once."""
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(subscriber_ids), 1000):
        chunk = subscriber_ids[start : start + 1000]
        for subscriber_id, name in session.execute(
            select(subscriber_topics.c.subscriber_id, Topic.name)
            .join(Topic, Topic.id == subscriber_topics.c.topic_id)
            .where(subscriber_topics.c.subscriber_id.in_(chunk))
            .order_by(subscriber_topics.c.subscriber_id, Topic.slug)
        ):
            found[subscriber_id].append(name)
    mixes: dict[tuple[str, ...], tuple[TopicName, ...]] = {}
    result = {}
    for subscriber_id, names in found.items():
        key = tuple(names)
        if key not in mixes:
            mixes[key] = tuple(TopicName(name) for name in key)
        result[subscriber_id] = mixes[key]
    return result


@contextmanager
def batch_log_context(ids: Sequence[int], rows: Sequence[Outgoing]) -> Iterator[None]:
    """Name the batch in every line logged inside the block: its send (edition slug, issue
    or alert id) and its first and last delivery id and size.

    `rows` are the rows of `ids` as `load_outgoing` read them: a batch's rows are read
    once, for its name and for its send.

    A batch normally holds rows of one send; for one that does not (queued by an older
    version), the edition lists each slug and the issue and alert ids are left out.
    """
    if not ids:
        yield
        return
    sends = {(row.edition, row.issue_id, row.alert_id) for row in rows}
    editions = sorted({edition for edition, _, _ in sends})
    issues = {issue_id for _, issue_id, _ in sends}
    alerts = {alert_id for _, _, alert_id in sends}
    with log_context(
        edition=",".join(editions) or None,
        issue_id=issues.pop() if len(issues) == 1 else None,
        alert_id=alerts.pop() if len(alerts) == 1 else None,
        first_delivery_id=min(ids),
        last_delivery_id=max(ids),
        batch_size=len(ids),
    ):
        yield
