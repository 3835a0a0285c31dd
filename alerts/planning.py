"""Planning a digest run: write one ledger row per due reader before anything is sent.

Set-based: one pass over active readers, chunked look-ups of their previous digest and
topics, one query for candidate articles, selection once per distinct (topics, window),
and a bulk insert that ignores rows another planner wrote first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import Article, Cadence, Delivery, DeliveryStatus, article_topics
from alerts.selection import (
    FIRST_WINDOW,
    MAX_ARTICLES,
    CandidateArticle,
    DueSlot,
    due_slot,
    select_articles,
    window_start,
)
from subscribers.models import Subscriber, SubscriberStatus, subscriber_topics

CHUNK = 1000
# Readers planned per transaction: the first batches can leave while the rest is planned.
READERS_PER_CHUNK = 5000
# A queued batch that has not been claimed after this long is queued again (lost message).
REQUEUE_AFTER = timedelta(minutes=10)
# Ledger rows whose window counts as "the previous digest" for the next one.
_COUNTED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.SKIPPED,
)


@dataclass
class PlanResult:
    due: int = 0
    planned: int = 0
    skipped_empty: int = 0
    already_planned: int = 0

    def add(self, other: PlanResult) -> None:
        self.due += other.due
        self.planned += other.planned
        self.skipped_empty += other.skipped_empty
        self.already_planned += other.already_planned


@dataclass(frozen=True)
class _DueReader:
    id: int
    slot: DueSlot


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def _due_readers(session: Session, now: datetime, force: bool) -> list[_DueReader]:
    rows = session.execute(
        select(Subscriber.id, Subscriber.timezone, Subscriber.send_hour, Subscriber.frequency)
        .where(
            Subscriber.status == SubscriberStatus.ACTIVE,
            or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
        )
        .order_by(Subscriber.id)
    )
    due = []
    for subscriber_id, zone, hour, frequency in rows:
        slot = due_slot(now, timezone=zone, send_hour=hour, frequency=frequency, force=force)
        if slot is not None:
            due.append(_DueReader(subscriber_id, slot))
    if not due:
        return due
    earliest = min(reader.slot.local_date for reader in due)
    taken = {
        (subscriber_id, edition, local_date)
        for subscriber_id, edition, local_date in session.execute(
            select(Delivery.subscriber_id, Delivery.edition, Delivery.local_date).where(
                Delivery.local_date >= earliest
            )
        )
    }
    return [r for r in due if (r.id, r.slot.edition, r.slot.local_date) not in taken]


def _previous_ends(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    ends: dict[int, datetime] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Delivery.subscriber_id, func.max(Delivery.window_end))
            .where(Delivery.subscriber_id.in_(chunk), Delivery.status.in_(_COUNTED))
            .group_by(Delivery.subscriber_id)
        )
        ends.update({subscriber_id: end for subscriber_id, end in rows})
    return ends


def _topics_of(session: Session, ids: Sequence[int]) -> dict[int, frozenset[int]]:
    topics: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(ids):
        rows = session.execute(
            select(subscriber_topics.c.subscriber_id, subscriber_topics.c.topic_id).where(
                subscriber_topics.c.subscriber_id.in_(chunk)
            )
        )
        for subscriber_id, topic_id in rows:
            topics[subscriber_id].add(topic_id)
    return {subscriber_id: frozenset(found) for subscriber_id, found in topics.items()}


def _candidates(session: Session, since: datetime, until: datetime) -> list[CandidateArticle]:
    rows = session.execute(
        select(Article.id, Article.published_at)
        .where(Article.published_at > since, Article.published_at <= until)
        .order_by(Article.published_at.desc(), Article.id.desc())
    ).all()
    topics: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks([article_id for article_id, _ in rows]):
        for article_id, topic_id in session.execute(
            select(article_topics.c.article_id, article_topics.c.topic_id).where(
                article_topics.c.article_id.in_(chunk)
            )
        ):
            topics[article_id].add(topic_id)
    return [CandidateArticle(i, published, frozenset(topics[i])) for i, published in rows]


def _insert_ignoring_conflicts(
    session: Session, rows: list[dict[str, Any]]
) -> list[tuple[int, DeliveryStatus]]:
    """Insert ledger rows, skipping keys another planner wrote first; return what went in."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted: list[tuple[int, DeliveryStatus]] = []
    for offset in range(0, len(rows), CHUNK):
        statement = (
            insert(Delivery)
            .on_conflict_do_nothing(index_elements=["edition", "subscriber_id", "local_date"])
            .returning(Delivery.id, Delivery.status)
        )
        inserted.extend(
            (delivery_id, status)
            for delivery_id, status in session.execute(statement, rows[offset : offset + CHUNK])
        )
    return inserted


@dataclass
class PlannedChunk:
    result: PlanResult
    pending_ids: list[int]


def plan_in_chunks(
    session: Session,
    *,
    now: datetime,
    force: bool = False,
    limit: int = MAX_ARTICLES,
    chunk_size: int = READERS_PER_CHUNK,
    queued_until: datetime | None = None,
) -> Iterator[PlannedChunk]:
    """Plan the readers due at `now` a chunk at a time, so the caller can commit and
    start sending the first chunk while the next is planned.

    `queued_until` marks the new pending rows as queued by the caller (see claim_queue).
    Does not commit.
    """
    due = _due_readers(session, now, force)
    for offset in range(0, len(due), chunk_size):
        yield _plan_chunk(
            session, due[offset : offset + chunk_size], now=now, limit=limit,
            queued_until=queued_until,
        )  # fmt: skip


def plan_digests(
    session: Session, *, now: datetime, force: bool = False, limit: int = MAX_ARTICLES
) -> PlanResult:
    """Write a ledger row for every reader due at `now`: pending with its articles, or
    skipped when nothing is new. Does not commit."""
    total = PlanResult()
    for chunk in plan_in_chunks(session, now=now, force=force, limit=limit):
        total.add(chunk.result)
    return total


def _plan_chunk(
    session: Session,
    due: Sequence[_DueReader],
    *,
    now: datetime,
    limit: int,
    queued_until: datetime | None,
) -> PlannedChunk:
    ids = [reader.id for reader in due]
    previous = _previous_ends(session, ids)
    topics = _topics_of(session, ids)
    starts = {
        reader.id: window_start(reader.slot.edition, now=now, previous_end=previous.get(reader.id))
        for reader in due
    }
    candidates = _candidates(session, min(starts.values()), now)
    selections: dict[tuple[frozenset[int], datetime], list[int]] = {}
    rows: list[dict[str, Any]] = []
    for reader in due:
        key = (topics.get(reader.id, frozenset()), starts[reader.id])
        if key not in selections:
            selections[key] = select_articles(
                candidates, topic_ids=key[0], start=key[1], end=now, limit=limit
            )
        chosen = selections[key]
        rows.append(
            {
                "edition": reader.slot.edition,
                "subscriber_id": reader.id,
                "local_date": reader.slot.local_date,
                "status": DeliveryStatus.PENDING if chosen else DeliveryStatus.SKIPPED,
                "window_start": starts[reader.id],
                "window_end": now,
                "article_ids": chosen,
                "attempts": 0,
                "next_attempt_at": queued_until if chosen else None,
                "created_at": now,
            }
        )
    inserted = _insert_ignoring_conflicts(session, rows)
    pending = sorted(i for i, status in inserted if status is DeliveryStatus.PENDING)
    result = PlanResult(
        due=len(due),
        planned=len(pending),
        skipped_empty=len(inserted) - len(pending),
        already_planned=len(rows) - len(inserted),
    )
    return PlannedChunk(result, pending)


def selection_for(
    session: Session, subscriber_id: int, *, edition: Cadence, now: datetime
) -> list[int]:
    """The article ids a reader's digest would hold at `now`, writing nothing (previews)."""
    start = window_start(
        edition, now=now, previous_end=_previous_ends(session, [subscriber_id]).get(subscriber_id)
    )
    topic_ids = _topics_of(session, [subscriber_id]).get(subscriber_id, frozenset())
    return select_articles(
        _candidates(session, start, now), topic_ids=topic_ids, start=start, end=now
    )


def claim_queue(
    session: Session,
    *,
    now: datetime,
    batch_size: int,
    requeue_after: timedelta = REQUEUE_AFTER,
) -> list[list[int]]:
    """Ids of pending rows ready to go, in batches, stamped so they are not queued twice.

    A batch whose message is lost (broker restart, killed worker) is queued again after
    `requeue_after`; claiming in `send_batch` makes a duplicate queue entry harmless.
    Does not commit.
    """
    ready = session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.id)
    ).all()
    for chunk in _chunks(ready):
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk))
            .values(next_attempt_at=now + requeue_after)
            .execution_options(synchronize_session=False)
        )
    return [list(ready[i : i + batch_size]) for i in range(0, len(ready), batch_size)]


__all__ = [
    "FIRST_WINDOW",
    "PlanResult",
    "PlannedChunk",
    "claim_queue",
    "plan_digests",
    "plan_in_chunks",
    "selection_for",
]
