"""Planning a digest run: write one ledger row per due reader before anything is sent.

Set-based: one pass over active readers, chunked look-ups of their previous digest and
topics, one query for candidate articles, selection once per distinct (topics, window),
and a bulk insert that ignores rows another planner wrote first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.orm import Session

from alerts.digests.selection import (
    FIRST_WINDOW,
    CandidateArticle,
    curated_selection,
    due_date,
    window_start,
)
from alerts.editions.issues import NO_CURATION, Curation, curation_of, issue_for
from alerts.editions.schedules import list_editions
from alerts.ledger.rows import insert_ignoring_conflicts
from alerts.models import Article, Delivery, DeliveryStatus, Edition, IssueStatus, article_topics
from subscribers.models import Frequency, Subscriber, SubscriberStatus, subscriber_topics

CHUNK = 1000
# Readers planned per transaction: the first batches can leave while the rest is planned.
READERS_PER_CHUNK = 5000
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
    cancelled: int = 0  # due, but the editors cancelled their issue

    def add(self, other: PlanResult) -> None:
        self.due += other.due
        self.planned += other.planned
        self.skipped_empty += other.skipped_empty
        self.already_planned += other.already_planned
        self.cancelled += other.cancelled


@dataclass(frozen=True)
class _DueReader:
    id: int
    local_date: date


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def _audience(edition: Edition, now: datetime) -> Select[int, str, int]:
    """Active, unpaused readers of the edition's cadence; for a topic edition, those
    following at least one of its topics."""
    query = select(Subscriber.id, Subscriber.timezone, Subscriber.send_hour).where(
        Subscriber.status == SubscriberStatus.ACTIVE,
        or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
        Subscriber.frequency == Frequency(edition.cadence.value),
    )
    if edition.topics:
        followers = select(subscriber_topics.c.subscriber_id).where(
            subscriber_topics.c.topic_id.in_([topic.id for topic in edition.topics])
        )
        query = query.where(Subscriber.id.in_(followers))
    return query.order_by(Subscriber.id)


def _due_readers(
    session: Session, edition: Edition, now: datetime, force: bool, local_date: date | None
) -> list[_DueReader]:
    due = []
    for subscriber_id, zone, hour in session.execute(_audience(edition, now)):
        when = local_date or due_date(
            now,
            timezone=zone,
            send_hour=hour if edition.send_hour is None else edition.send_hour,
            cadence=edition.cadence,
            weekday=edition.weekday,
            force=force,
        )
        if when is not None:
            due.append(_DueReader(subscriber_id, when))
    if not due:
        return due
    earliest = min(reader.local_date for reader in due)
    taken = {
        (subscriber_id, day)
        for subscriber_id, day in session.execute(
            select(Delivery.subscriber_id, Delivery.local_date).where(
                Delivery.edition == edition.slug, Delivery.local_date >= earliest
            )
        )
    }
    return [r for r in due if (r.id, r.local_date) not in taken]


def _previous_ends(session: Session, slug: str, ids: Sequence[int]) -> dict[int, datetime]:
    """Where each reader's last digest of this edition ended.

    One correlated lookup per reader on (subscriber_id, window_end), rather than a GROUP BY
    over the matching rows: PostgreSQL reads a few index entries per reader even when its
    statistics predate the rows a send just wrote (a GROUP BY then hashed the whole ledger
    for every chunk of readers).
    """
    last_end = (
        select(func.max(Delivery.window_end))
        .where(
            Delivery.subscriber_id == Subscriber.id,
            Delivery.edition == slug,
            Delivery.status.in_(_COUNTED),
        )
        .scalar_subquery()
    )
    ends: dict[int, datetime] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(Subscriber.id, last_end).where(Subscriber.id.in_(chunk)))
        ends.update({subscriber_id: end for subscriber_id, end in rows if end is not None})
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


@dataclass
class PlannedChunk:
    result: PlanResult
    pending_ids: list[int]


def plan_in_chunks(
    session: Session,
    *,
    now: datetime,
    force: bool = False,
    chunk_size: int = READERS_PER_CHUNK,
    queued_until: datetime | None = None,
    editions: Sequence[Edition] | None = None,
    local_date: date | None = None,
) -> Iterator[PlannedChunk]:
    """Plan the readers due at `now` (of every active edition, or of `editions`) a chunk
    at a time, so the caller can commit and start sending the first chunk while the next
    is planned.

    `local_date` plans everyone for that date's issue whatever their own date (an
    editor's "send now"); `queued_until` marks the new pending rows as queued by the
    caller (see alerts.ledger.queue.claim_queue). Does not commit.
    """
    if editions is None:
        editions = list_editions(session, now=now, active_only=True)
    statistics = _LedgerStatistics(session)
    for edition in editions:
        due = _due_readers(session, edition, now, force, local_date)
        ids = [reader.id for reader in due]
        topics = _reader_topics(session, edition, ids)
        starts = _window_starts(session, edition, ids, now=now)
        # Readers who get the same digest (date, topics, window) are planned side by side,
        # so their rows fall in the same few batches and one worker renders their digest,
        # once. One sort, before the readers are cut into chunks.
        due.sort(key=lambda r: (r.local_date, sorted(topics.get(r.id, ())), starts[r.id]))
        for offset in range(0, len(due), chunk_size):
            chunk = _plan_chunk(
                session, edition, due[offset : offset + chunk_size], topics, starts, now=now,
                queued_until=queued_until,
            )  # fmt: skip
            yield chunk
            statistics.written(chunk.result.planned)


class _LedgerStatistics:
    """Refreshes PostgreSQL's statistics of the ledger while a big send is planned.

    The morning's rows are all new and pending, where the statistics, gathered when
    yesterday's rows were sent, say hardly any row is: PostgreSQL then claims each batch
    of 500 rows by scanning every pending row (38 ms a batch at 100,000 rows) instead of
    looking up the batch's ids. ANALYZE samples a bounded number of rows (tens of ms);
    it runs after 5,000 rows are written, then after 4 times as many each time, so a
    send of any size pays it a few times. Called once the caller has committed a chunk.
    """

    FIRST = 5_000
    GROWTH = 4

    def __init__(self, session: Session) -> None:
        self._session = session
        self._total = 0
        self._next = self.FIRST
        self._enabled = session.get_bind().dialect.name == "postgresql"

    def written(self, rows: int) -> None:
        self._total += rows
        if not self._enabled or self._total < self._next:
            return
        self._next = self._total * self.GROWTH
        self._session.execute(text("ANALYZE deliveries"))


def plan_digests(
    session: Session,
    *,
    now: datetime,
    force: bool = False,
    editions: Sequence[Edition] | None = None,
    local_date: date | None = None,
) -> PlanResult:
    """Write a ledger row for every reader due at `now`: pending with its articles, or
    skipped when nothing is new. Does not commit."""
    total = PlanResult()
    for chunk in plan_in_chunks(
        session, now=now, force=force, editions=editions, local_date=local_date
    ):
        total.add(chunk.result)
    return total


def _window_starts(
    session: Session, edition: Edition, ids: Sequence[int], *, now: datetime
) -> dict[int, datetime]:
    """Where each reader's next digest of the edition starts: where their previous one
    ended, or a first window back from `now` (selection.window_start)."""
    previous = _previous_ends(session, edition.slug, ids)
    return {
        reader: window_start(edition.cadence, now=now, previous_end=previous.get(reader))
        for reader in ids
    }


def _reader_topics(
    session: Session, edition: Edition, ids: Sequence[int]
) -> dict[int, frozenset[int]]:
    """Each reader's topics; for a topic edition, only those that are the edition's (all
    of them for a reader who follows none, as "no topics" means everything)."""
    topics = _topics_of(session, ids)
    if not edition.topics:
        return topics
    own = frozenset(topic.id for topic in edition.topics)
    return {reader: (topics.get(reader, frozenset()) & own) or own for reader in ids}


def _plan_chunk(
    session: Session,
    edition: Edition,
    due: Sequence[_DueReader],
    topics: dict[int, frozenset[int]],
    starts: dict[int, datetime],
    *,
    now: datetime,
    queued_until: datetime | None,
) -> PlannedChunk:
    issues = {day: issue_for(session, edition, day, now=now) for day in {r.local_date for r in due}}
    held = [r for r in due if issues[r.local_date].status is IssueStatus.CANCELLED]
    due = [r for r in due if issues[r.local_date].status is not IssueStatus.CANCELLED]
    if not due:
        return PlannedChunk(PlanResult(due=len(held), cancelled=len(held)), [])
    candidates = _candidates(session, min(starts[reader.id] for reader in due), now)
    curations = {day: curation_of(issue) for day, issue in issues.items()}
    selections: dict[tuple[frozenset[int], datetime, date], list[int]] = {}
    rows: list[dict[str, Any]] = []
    for reader in due:
        key = (topics.get(reader.id, frozenset()), starts[reader.id], reader.local_date)
        if key not in selections:
            selections[key] = curated_selection(
                candidates, topic_ids=key[0], start=key[1], end=now,
                limit=edition.max_articles, curation=curations[reader.local_date],
            )  # fmt: skip
        chosen = selections[key]
        rows.append(
            {
                "edition": edition.slug,
                "issue_id": issues[reader.local_date].id,
                "subscriber_id": reader.id,
                "local_date": reader.local_date,
                "status": DeliveryStatus.PENDING if chosen else DeliveryStatus.SKIPPED,
                "window_start": starts[reader.id],
                "window_end": now,
                "article_ids": chosen,
                "attempts": 0,
                "next_attempt_at": queued_until if chosen else None,
                "created_at": now,
            }
        )
    inserted = insert_ignoring_conflicts(session, rows)
    paused = {i.id for i in issues.values() if i.status is IssueStatus.PAUSED}
    pending = sorted(i for i, status in inserted if status is DeliveryStatus.PENDING)
    result = PlanResult(
        due=len(due) + len(held),
        planned=len(pending),
        skipped_empty=len(inserted) - len(pending),
        already_planned=len(rows) - len(inserted),
        cancelled=len(held),
    )
    if paused:
        # Rows of a paused issue wait in the ledger; resuming it queues them.
        waiting = set(
            session.scalars(
                select(Delivery.id).where(Delivery.id.in_(pending), Delivery.issue_id.in_(paused))
            )
        )
        session.execute(
            update(Delivery).where(Delivery.id.in_(waiting)).values(next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        pending = [i for i in pending if i not in waiting]
    return PlannedChunk(result, pending)


def selection_for(
    session: Session,
    subscriber_id: int,
    *,
    edition: Edition,
    now: datetime,
    curation: Curation = NO_CURATION,
) -> list[int]:
    """The article ids a reader's copy of an edition would hold at `now`, writing nothing
    (previews)."""
    start = window_start(
        edition.cadence,
        now=now,
        previous_end=_previous_ends(session, edition.slug, [subscriber_id]).get(subscriber_id),
    )
    topic_ids = _reader_topics(session, edition, [subscriber_id]).get(subscriber_id, frozenset())
    return curated_selection(
        _candidates(session, start, now), topic_ids=topic_ids, start=start, end=now,
        limit=edition.max_articles, curation=curation,
    )  # fmt: skip


def selection_for_topics(
    session: Session,
    topic_ids: frozenset[int],
    *,
    edition: Edition,
    now: datetime,
    curation: Curation = NO_CURATION,
) -> list[int]:
    """What a first digest of the edition would hold for a reader of these topics."""
    if edition.topics:
        own = frozenset(topic.id for topic in edition.topics)
        topic_ids = (topic_ids & own) or own
    start = window_start(edition.cadence, now=now, previous_end=None)
    return curated_selection(
        _candidates(session, start, now), topic_ids=topic_ids, start=start, end=now,
        limit=edition.max_articles, curation=curation,
    )  # fmt: skip


__all__ = [
    "FIRST_WINDOW",
    "PlanResult",
    "PlannedChunk",
    "plan_digests",
    "plan_in_chunks",
    "selection_for",
]
