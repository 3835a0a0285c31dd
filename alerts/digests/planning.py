"""Planning a digest run: write one ledger row per due reader before anything is sent.

Due readers are found by bucket: the buckets of an edition's cadence (time zone, hour)
come from subscribers.buckets, a few thousand figures kept by the database's triggers,
Python decides which are due (selection.due_date), and the database returns only those
buckets' readers who have no ledger row for the date yet, ordered for planning (by
bucket, topic mix, window) and streamed a chunk at a time, so the first chunk is planned
and handed over before the rest is read. A bucket planned in full is marked
(models.PlannedBucket) with its count of changes and skipped while that holds and no pause
in it has ended since: a tick where nobody new is due reads no reader rows, and costs the
buckets rather than the list.

Per chunk: one query for candidate articles, selection once per distinct (topics,
window), and a bulk insert that ignores rows another planner wrote first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Row,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

from alerts.digests.selection import (
    FIRST_WINDOW,
    CandidateArticle,
    curated_selection,
    due_date,
    window_start,
)
from alerts.editions.issues import NO_CURATION, Curation, curation_of, issue_for
from alerts.editions.schedules import list_editions
from alerts.feeds.keywords import ReaderMatches, matches_for_readers
from alerts.ledger.rows import add_selections, insert_ignoring_conflicts
from alerts.models import (
    Article,
    Cadence,
    Delivery,
    DeliveryStatus,
    Edition,
    IssueStatus,
    PlannedBucket,
    article_topics,
)
from subscribers.buckets import buckets_of
from subscribers.editions import editions_off
from subscribers.models import (
    EditionOptOut,
    Frequency,
    Subscriber,
    SubscriberStatus,
    subscriber_topics,
)

CHUNK = 1000
# Stories matched by a reader's keywords that lead their digest ("Your alerts"), at most.
MAX_KEYWORD_ALERTS = 10
# Readers planned per transaction: the first batches can leave while the rest is planned.
READERS_PER_CHUNK = 5000
# How long a bucket's mark spares it a look at its readers: a change the bucket's version
# cannot see (a ledger row removed by hand) is found once the mark runs out.
MARK_LIFETIME = timedelta(hours=1)
# Ledger rows whose window counts as "the previous digest" for the next one.
_COUNTED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.SKIPPED,
)

Bucket = tuple[str, int]  # (time zone, hour)


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
    topics: frozenset[int]
    start: datetime


@dataclass(frozen=True)
class _Mark:
    """A bucket planned in full for a local date, at its version of then."""

    local_date: date
    version: int
    planned_at: datetime


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def why_not_in_audience(edition: Edition, subscriber: Subscriber, *, now: datetime) -> str | None:
    """Why the reader is not in the edition's audience (the rule `_audience` writes as
    SQL), in words for an editor; None when they are."""
    if subscriber.status is not SubscriberStatus.ACTIVE:
        return f"their subscription is {subscriber.status.value}"
    if subscriber.frequency.value != edition.cadence.value:
        chose, cadence = subscriber.frequency.value, edition.cadence.value
        return f"they chose {chose} digests; this edition is {cadence}"
    if subscriber.paused_until is not None and subscriber.paused_until > now:
        return f"they paused their alerts until {subscriber.paused_until:%d %B %Y}"
    session = object_session(subscriber)
    if session is not None and edition.slug in editions_off(session, subscriber.id):
        return "they turned this edition off on their preferences page"
    own = {topic.id for topic in edition.topics}
    if own and not own & {topic.id for topic in subscriber.topics}:
        names = ", ".join(topic.name for topic in edition.topics)
        return f"they follow none of its topics ({names})"
    return None


def issue_audience(
    session: Session, edition: Edition, *, issue_id: int | None, now: datetime
) -> int:
    """How many readers "send now" would plan the issue for at `now`, writing nothing: the
    edition's audience as planning selects it, less those with a row of this issue
    already. Readers with nothing new on their topics are counted (their row is skipped)."""
    conditions = _audience(edition, now)
    if issue_id is not None:
        conditions.append(
            ~exists().where(Delivery.issue_id == issue_id, Delivery.subscriber_id == Subscriber.id)
        )
    return session.scalar(select(func.count()).select_from(Subscriber).where(*conditions)) or 0


def _audience(edition: Edition, now: datetime) -> list[ColumnElement[bool]]:
    """Active, unpaused readers of the edition's cadence who have not turned it off; for
    a topic edition, those following at least one of its topics.

    The opt-out is a NOT EXISTS on its primary key (reader, edition): one index probe per
    reader of a bucket. Turning an edition off or on adds no change to the reader's bucket
    (subscribers.buckets), so a reader who turns one back on after their bucket was planned
    gets it once the mark runs out (MARK_LIFETIME)."""
    conditions = [
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.frequency == Frequency(edition.cadence.value),
        or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
        ~exists().where(
            EditionOptOut.subscriber_id == Subscriber.id, EditionOptOut.edition == edition.slug
        ),
    ]
    if edition.topics:
        conditions.append(
            exists().where(
                subscriber_topics.c.subscriber_id == Subscriber.id,
                subscriber_topics.c.topic_id.in_([topic.id for topic in edition.topics]),
            )
        )
    return conditions


def _buckets(session: Session, edition: Edition) -> dict[Bucket, int]:
    """The (time zone, hour) buckets with active readers of the edition's cadence, and
    their counts of changes (the version a mark keeps): a few thousand rows at most,
    whatever the list's size."""
    figures = buckets_of(session, Frequency(edition.cadence.value).value)
    return {bucket: found.changes for bucket, found in figures.items()}


def _pauses_ended(session: Session, edition: Edition, now: datetime) -> dict[Bucket, datetime]:
    """Buckets where a reader's pause ended within a mark's lifetime, with the latest end:
    that reader is due without any change to their row. Reads the few paused readers."""
    rows = session.execute(
        select(Subscriber.timezone, Subscriber.send_hour, func.max(Subscriber.paused_until))
        .where(
            Subscriber.paused_until > now - MARK_LIFETIME,
            Subscriber.paused_until <= now,
            Subscriber.status == SubscriberStatus.ACTIVE,
            Subscriber.frequency == Frequency(edition.cadence.value),
        )
        .group_by(Subscriber.timezone, Subscriber.send_hour)
    )
    return {(zone, hour): ended for zone, hour, ended in rows if ended is not None}


def _due_buckets(
    edition: Edition,
    buckets: Iterable[Bucket],
    *,
    now: datetime,
    force: bool,
    local_date: date | None,
) -> dict[date, list[Bucket]]:
    """The buckets due at `now`, by the local date they are due for."""
    due: dict[date, list[Bucket]] = defaultdict(list)
    for zone, hour in sorted(buckets):
        when = local_date or due_date(
            now,
            timezone=zone,
            send_hour=hour if edition.send_hour is None else edition.send_hour,
            cadence=edition.cadence,
            weekday=edition.weekday,
            force=force,
        )
        if when is not None:
            due[when].append((zone, hour))
    return dict(sorted(due.items()))


def _marks(session: Session, edition: Edition, now: datetime) -> dict[Bucket, _Mark]:
    """The edition's buckets marked as planned in the last MARK_LIFETIME."""
    rows = session.execute(
        select(
            PlannedBucket.timezone,
            PlannedBucket.send_hour,
            PlannedBucket.local_date,
            PlannedBucket.version,
            PlannedBucket.planned_at,
        ).where(
            PlannedBucket.edition == edition.slug,
            PlannedBucket.planned_at > now - MARK_LIFETIME,
            PlannedBucket.planned_at <= now,
        )
    )
    return {
        (zone, hour): _Mark(day, int(version), planned_at)
        for zone, hour, day, version, planned_at in rows
    }


def _still_planned(
    mark: _Mark | None, day: date, version: int, pause_ended: datetime | None
) -> bool:
    """Whether a bucket's mark still covers it: the same date and version, and no pause in
    it ended after the mark was made."""
    return (
        mark is not None
        and mark.local_date == day
        and mark.version == version
        and (pause_ended is None or pause_ended <= mark.planned_at)
    )


def _mark(
    session: Session,
    edition: Edition,
    day: date,
    buckets: dict[Bucket, int],
    *,
    now: datetime,
) -> None:
    """Mark buckets as planned in full for `day`, with the version they had before the
    tick read their readers (a reader who joined since makes the next tick look again)."""
    if not buckets:
        return
    rows = [
        {
            "edition": edition.slug,
            "timezone": zone,
            "send_hour": hour,
            "local_date": day,
            "version": version,
            "planned_at": now,
        }
        for (zone, hour), version in buckets.items()
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PlannedBucket)
    for offset in range(0, len(rows), CHUNK):
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["edition", "timezone", "send_hour"],
                set_={
                    name: statement.excluded[name]
                    for name in ("local_date", "version", "planned_at")
                },
            ),
            rows[offset : offset + CHUNK],
        )


def _in_buckets(buckets: Sequence[Bucket], edition: Edition) -> ColumnElement[bool]:
    """Readers of these buckets: one condition per time zone (just the zone when the
    edition sets the hour for everyone)."""
    hours: dict[str, list[int]] = defaultdict(list)
    for zone, hour in buckets:
        hours[zone].append(hour)
    if edition.send_hour is not None:
        return Subscriber.timezone.in_(sorted(hours))
    return or_(
        *(
            and_(Subscriber.timezone == zone, Subscriber.send_hour.in_(zone_hours))
            for zone, zone_hours in hours.items()
        )
    )


def _topic_mix(session: Session, edition: Edition) -> Any:
    """A reader's topics (only the edition's, for a topic edition) as one sortable string:
    readers with the same mix come out of the database side by side."""
    conditions = [subscriber_topics.c.subscriber_id == Subscriber.id]
    if edition.topics:
        conditions.append(subscriber_topics.c.topic_id.in_([topic.id for topic in edition.topics]))
    topic = subscriber_topics.c.topic_id
    if session.get_bind().dialect.name == "postgresql":
        joined = func.string_agg(
            cast(topic, String), postgresql.aggregate_order_by(literal(","), topic)
        )
    else:  # SQLite reads a reader's topics in key order, so the string is the same
        joined = func.group_concat(topic, ",")
    return func.coalesce(select(joined).where(*conditions).scalar_subquery(), "")


def _previous_end(slug: str) -> Any:
    """Where a reader's last digest of the edition ended (correlated: a few index entries
    per reader on the ledger's key, which starts with the reader): a digest's window ends
    when its row is planned."""
    return (
        select(func.max(Delivery.created_at))
        .where(
            Delivery.subscriber_id == Subscriber.id,
            Delivery.edition == slug,
            Delivery.status.in_(_COUNTED),
        )
        .scalar_subquery()
    )


def _new_readers(
    session: Session, edition: Edition, day: date, buckets: Sequence[Bucket] | None, now: datetime
) -> Select[tuple[int, str, datetime | None]]:
    """The readers of `buckets` (of all the audience when None) with no ledger row for
    `day` yet, ordered for planning: by bucket, topic mix, then where their window starts."""
    mix = _topic_mix(session, edition).label("mix")
    previous_end = _previous_end(edition.slug).label("previous_end")
    planned = exists().where(
        Delivery.edition == edition.slug,
        Delivery.subscriber_id == Subscriber.id,
        Delivery.local_date == day,
    )
    query = select(Subscriber.id, mix, previous_end).where(*_audience(edition, now), ~planned)
    if buckets is not None:
        query = query.where(_in_buckets(buckets, edition))
    # Bucket first: the index hands the readers over in that order, so PostgreSQL sorts
    # one bucket at a time (an incremental sort) and the first rows come out before the
    # last bucket is read. A digest's render is per time zone anyway (alerts.mail.digest).
    return query.order_by(
        Subscriber.timezone, Subscriber.send_hour, mix, previous_end, Subscriber.id
    )


def _stream(
    session: Session, query: Select[Any], *, size: int, own_connection: bool
) -> Iterator[Sequence[Row[Any]]]:
    """The query's rows `size` at a time. With `own_connection` (the caller commits between
    chunks, which would close a cursor of the session's), PostgreSQL streams them from a
    server-side cursor on a connection of their own: the first rows come before the last
    are read, and this process holds one chunk of them at a time."""
    bind = session.get_bind()
    if own_connection and bind.dialect.name == "postgresql" and isinstance(bind, Engine):
        with bind.connect() as connection:
            result = connection.execution_options(stream_results=True, max_row_buffer=size).execute(
                query
            )
            yield from result.partitions(size)
        return
    rows = session.execute(query).all()
    for offset in range(0, len(rows), size):
        yield rows[offset : offset + size]


def _previous_ends(session: Session, slug: str, ids: Sequence[int]) -> dict[int, datetime]:
    """Where each reader's last digest of this edition ended.

    One correlated lookup per reader on the ledger's key (reader first), rather than a GROUP BY
    over the matching rows: PostgreSQL reads a few index entries per reader even when its
    statistics predate the rows a send just wrote (a GROUP BY then hashed the whole ledger
    for every chunk of readers).
    """
    last_end = _previous_end(slug)
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
    committed: bool = False,
) -> Iterator[PlannedChunk]:
    """Plan the readers due at `now` (of every active edition, or of `editions`) a chunk
    at a time, so the caller can commit and start sending the first chunk while the next
    is planned.

    `local_date` plans everyone for that date's issue whatever their own date (an
    editor's "send now"); `queued_until` marks the new pending rows as queued by the
    caller (see alerts.ledger.queue.claim_queue). `committed` says that the caller
    commits after each chunk and that the readers are committed: on PostgreSQL they are
    then streamed over a connection of their own. Does not commit.
    """
    if editions is None:
        editions = list_editions(session, now=now, active_only=True)
    statistics = _LedgerStatistics(session)
    for edition in editions:
        for chunk in _plan_edition(
            session, edition, now=now, force=force, chunk_size=chunk_size,
            queued_until=queued_until, local_date=local_date, committed=committed,
        ):  # fmt: skip
            yield chunk
            statistics.written(chunk.result.planned)


def _plan_edition(
    session: Session,
    edition: Edition,
    *,
    now: datetime,
    force: bool,
    chunk_size: int,
    queued_until: datetime | None,
    local_date: date | None,
    committed: bool,
) -> Iterator[PlannedChunk]:
    """One edition: its due buckets by local date, skipping those marked as planned for
    that date with the same audience; each date's new readers streamed and planned a
    chunk at a time. The date's buckets are marked with its last chunk (an empty one
    when nobody in them was new), so the caller's commit covers the mark."""
    buckets = _buckets(session, edition)
    marks = _marks(session, edition, now)
    pauses = _pauses_ended(session, edition, now)
    for day, due in _due_buckets(
        edition, buckets, now=now, force=force, local_date=local_date
    ).items():
        fresh = [
            bucket
            for bucket in due
            if not _still_planned(marks.get(bucket), day, buckets[bucket], pauses.get(bucket))
        ]
        if not fresh:
            continue
        whole = local_date is not None and len(fresh) == len(buckets)
        query = _new_readers(session, edition, day, None if whole else fresh, now)
        held = False
        ahead: list[_DueReader] | None = None
        for rows in _stream(session, query, size=chunk_size, own_connection=committed):
            readers = _due_readers(edition, day, rows, now=now)
            if ahead is not None:
                chunk = _plan_chunk(session, edition, ahead, now=now, queued_until=queued_until)
                held = held or chunk.result.cancelled > 0
                yield chunk
            ahead = readers
        last = PlannedChunk(PlanResult(), [])
        if ahead is not None:
            last = _plan_chunk(session, edition, ahead, now=now, queued_until=queued_until)
            held = held or last.result.cancelled > 0
        if not held:  # a cancelled issue's readers are looked at again (it may resume)
            _mark(session, edition, day, {bucket: buckets[bucket] for bucket in fresh}, now=now)
        yield last


def _due_readers(
    edition: Edition, day: date, rows: Iterable[Any], *, now: datetime
) -> list[_DueReader]:
    own = frozenset(topic.id for topic in edition.topics)
    readers = []
    for subscriber_id, mix, previous_end in rows:
        topics = frozenset(int(topic) for topic in mix.split(",")) if mix else frozenset()
        start = window_start(edition.cadence, now=now, previous_end=previous_end)
        readers.append(_DueReader(subscriber_id, day, topics or own, start))
    return readers


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
    *,
    now: datetime,
    queued_until: datetime | None,
) -> PlannedChunk:
    issues = {day: issue_for(session, edition, day, now=now) for day in {r.local_date for r in due}}
    held = [r for r in due if issues[r.local_date].status is IssueStatus.CANCELLED]
    due = [r for r in due if issues[r.local_date].status is not IssueStatus.CANCELLED]
    if not due:
        return PlannedChunk(PlanResult(due=len(held), cancelled=len(held)), [])
    earliest = min(reader.start for reader in due)
    candidates = _candidates(session, earliest, now)
    curations = {day: curation_of(issue) for day, issue in issues.items()}
    # The chunk's keyword matches in one query per thousand readers; a topic edition
    # leaves them to the reader's main digest, so a story is not alerted twice.
    matched = (
        {} if edition.topics
        else matches_for_readers(session, [r.id for r in due], since=earliest, until=now)
    )  # fmt: skip
    published = {article.id: article.published_at for article in candidates}
    selections: dict[tuple[frozenset[int], datetime, date], list[int]] = {}
    chosen_lists: list[list[int]] = []  # each due reader's, in the order of `due`
    for reader in due:
        key = (reader.topics, reader.start, reader.local_date)
        if key not in selections:
            selections[key] = curated_selection(
                candidates, topic_ids=key[0], start=key[1], end=now,
                limit=edition.max_articles, curation=curations[reader.local_date],
            )  # fmt: skip
        chosen = selections[key]
        if reader.id in matched:
            chosen = _with_alerts(
                chosen, matched[reader.id], published, start=reader.start,
                curation=curations[reader.local_date],
            )  # fmt: skip
        chosen_lists.append(chosen)
    # Readers with the same list share one selection row.
    lists = {
        (reader.local_date, tuple(chosen))
        for reader, chosen in zip(due, chosen_lists, strict=True)
        if chosen
    }
    selection_ids = dict(zip(lists, add_selections(session, list(lists)), strict=True))
    rows: list[dict[str, Any]] = []
    for reader, chosen in zip(due, chosen_lists, strict=True):
        rows.append(
            {
                "edition": edition.slug,
                "issue_id": issues[reader.local_date].id,
                "subscriber_id": reader.id,
                "local_date": reader.local_date,
                "status": DeliveryStatus.PENDING if chosen else DeliveryStatus.SKIPPED,
                "selection_id": selection_ids.get((reader.local_date, tuple(chosen))),
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


def _with_alerts(
    chosen: list[int],
    matches: ReaderMatches,
    published: dict[int, datetime],
    *,
    start: datetime,
    curation: Curation,
) -> list[int]:
    """The reader's keyword matches in their window (newest first, never a dropped story,
    at most MAX_KEYWORD_ALERTS), then the rule's selection without them."""
    alerts = sorted(
        (
            article_id for article_id in matches
            if article_id in published and published[article_id] > start
            and article_id not in curation.dropped
        ),
        key=lambda article_id: (published[article_id], article_id),
        reverse=True,
    )[:MAX_KEYWORD_ALERTS]  # fmt: skip
    if not alerts:
        return chosen
    leading = set(alerts)
    return alerts + [article_id for article_id in chosen if article_id not in leading]


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
    candidates = _candidates(session, start, now)
    chosen = curated_selection(
        candidates, topic_ids=topic_ids, start=start, end=now,
        limit=edition.max_articles, curation=curation,
    )  # fmt: skip
    if edition.topics:
        return chosen
    matched = matches_for_readers(session, [subscriber_id], since=start, until=now)
    if subscriber_id not in matched:
        return chosen
    published = {article.id: article.published_at for article in candidates}
    return _with_alerts(chosen, matched[subscriber_id], published, start=start, curation=curation)


def digest_window(session: Session, delivery: Delivery) -> tuple[datetime, datetime]:
    """The window of articles a digest's row was planned with: from where the reader's
    previous digest of the edition ended (or a first window back) to when the row was
    planned. Derived from the ledger rather than stored in every row; a row settled later
    as failed stops counting as the previous one, as it does for planning."""
    end = delivery.created_at
    previous = session.scalar(
        select(func.max(Delivery.created_at)).where(
            Delivery.subscriber_id == delivery.subscriber_id,
            Delivery.edition == delivery.edition,
            Delivery.status.in_(_COUNTED),
            Delivery.local_date < delivery.local_date,
        )
    )
    edition = session.scalar(select(Edition).where(Edition.slug == delivery.edition))
    cadence = edition.cadence if edition is not None else Cadence.DAILY
    return window_start(cadence, now=end, previous_end=previous), end


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
    "digest_window",
    "plan_digests",
    "plan_in_chunks",
    "selection_for",
]
