"""Keyword alerts as it happens: an email soon after stories mention a reader's words.

For readers who turn it on (`Subscriber.keyword_alerts`), besides the digest's "Your
alerts" section. A tick (every minute, alerts.tasks) plans them:

- It reads `keyword_matches` by `matched_at` from its mark (`KeywordAlertMark`) on, less
  a margin for ingestion transactions that commit a little after the time they stamped:
  a tick with nothing new matched reads the index and no reader at all. Readers held back
  earlier come back by `keyword_alert_due_at` (an index too).
- A reader gets at most one keyword alert per `minutes` (KEYWORD_ALERT_MINUTES), counted
  from the last one planned, and at most `per_day` alerts a local day, breaking and
  keyword alerts together (ALERTS_PER_DAY). One held back by either is looked at again
  when the window opens or their next local day starts, and then gets every story
  matched meanwhile in one email.
- An alert carries each story matched since the reader's last one (`keyword_alerted_through`)
  and after they followed the keyword, newest first, at most MAX_STORIES; a story that
  had matched one of the reader's keywords before that point was in an earlier alert (or
  predates it) and is never repeated, even when it matches another keyword later.

Exactly once: the readers are claimed by one conditional update of `keyword_alerted_at`
(their window must still be open: a second planner racing for a reader updates nothing),
and the ledger row's key is (`kw-<slot>`, reader, local date), `slot` being the number of
`minutes` windows since the epoch: a double tick, a redelivered task or a crash never
writes a second row, and the row is sent once like every other (alerts.delivery).
Paused, unsubscribed and bounced readers get nothing; a paused reader's matches are
passed over, not saved for later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from alerts.digests.breaking import alerts_today
from alerts.ledger.rows import add_selections, insert_ignoring_conflicts
from alerts.models import (
    Article,
    DeliveryStatus,
    KeywordAlertMark,
    KeywordMatch,
    keyword_alert_edition,
)
from subscribers.database import UTCDateTime
from subscribers.models import ReaderKeyword, Subscriber, SubscriberStatus

# Stories in one keyword alert at most (the newest); the digest's "Your alerts" has them all.
MAX_STORIES = 20
# Matches stamped this long before the mark are read again: an ingestion transaction
# stamps `matched_at` before it commits, and may commit after a tick has moved the mark.
COMMIT_MARGIN = timedelta(minutes=2)
_MARK = "keyword-alerts"
# Readers asked about in one query.
_READERS_PER_QUERY = 500


@dataclass
class KeywordAlertPlan:
    """What one tick found: readers looked at, alerts planned, readers held back."""

    readers: int = 0
    planned: int = 0
    held_window: int = 0
    over_cap: int = 0
    paused: int = 0


def alert_slot(now: datetime, minutes: int) -> int:
    """The number of `minutes` windows since the epoch at `now`: two alerts of one reader
    are at least `minutes` apart, so they never share a slot (nor a ledger key)."""
    return int(now.timestamp()) // 60 // minutes


def plan_keyword_alerts(
    session: Session, *, now: datetime, minutes: int, per_day: int, queued_until: datetime
) -> tuple[KeywordAlertPlan, list[int]]:
    """Write a ledger row for each reader whose keyword alert is due; the plan and the
    ids of the new rows (stamped as queued until `queued_until`: the caller hands them
    over after committing, and the tick queues them again if that message is lost).
    Does not commit."""
    plan = KeywordAlertPlan()
    if per_day <= 0:  # ALERTS_PER_DAY=0: no alerts of any kind
        return plan, []
    reader_ids = _readers_to_look_at(session, now=now)
    if not reader_ids:
        return plan, []
    rows: list[dict[str, object]] = []
    for offset in range(0, len(reader_ids), _READERS_PER_QUERY):
        chunk = reader_ids[offset : offset + _READERS_PER_QUERY]
        rows.extend(_plan_chunk(session, chunk, plan, now=now, minutes=minutes, per_day=per_day,
                                queued_until=queued_until))  # fmt: skip
    inserted = insert_ignoring_conflicts(session, rows)
    plan.planned = len(inserted)
    return plan, sorted(delivery_id for delivery_id, _ in inserted)


def _readers_to_look_at(session: Session, *, now: datetime) -> list[int]:
    """Readers following a keyword with a match since the mark, and readers whose
    held-back alert is due; moves the mark to `now`."""
    mark = session.get(KeywordAlertMark, _MARK)
    since = (mark.through if mark is not None else now - timedelta(days=1)) - COMMIT_MARGIN
    if mark is None:
        session.add(KeywordAlertMark(name=_MARK, through=now))
    elif mark.through < now:
        mark.through = now
    session.flush()
    # The index on matched_at alone: no reader is read unless something new matched.
    keyword_ids = sorted(
        set(session.scalars(select(KeywordMatch.keyword_id).where(KeywordMatch.matched_at > since)))
    )
    matched: set[int] = set()
    for offset in range(0, len(keyword_ids), _READERS_PER_QUERY):
        matched.update(
            session.scalars(
                select(ReaderKeyword.subscriber_id)
                .join(Subscriber, Subscriber.id == ReaderKeyword.subscriber_id)
                .where(
                    ReaderKeyword.keyword_id.in_(keyword_ids[offset : offset + _READERS_PER_QUERY]),
                    Subscriber.keyword_alerts.is_(True),
                    Subscriber.status == SubscriberStatus.ACTIVE,
                )
                .distinct()
            )
        )
    due = session.scalars(select(Subscriber.id).where(Subscriber.keyword_alert_due_at <= now))
    return sorted(matched | set(due))


def _plan_chunk(
    session: Session,
    reader_ids: list[int],
    plan: KeywordAlertPlan,
    *,
    now: datetime,
    minutes: int,
    per_day: int,
    queued_until: datetime,
) -> list[dict[str, object]]:
    found = session.execute(
        select(
            Subscriber.id,
            Subscriber.timezone,
            Subscriber.status,
            Subscriber.keyword_alerts,
            Subscriber.paused_until,
            Subscriber.keyword_alerted_at,
            Subscriber.keyword_alerted_through,
            Subscriber.keyword_alert_due_at,
        ).where(Subscriber.id.in_(reader_ids))
    ).all()
    window = timedelta(minutes=minutes)
    willing = []
    for row in found:
        if row.status is not SubscriberStatus.ACTIVE or not row.keyword_alerts:
            if row.keyword_alert_due_at is not None:
                _hold(session, row.id, None)  # held back, then turned alerts off or left
            continue
        plan.readers += 1
        if row.paused_until is not None and row.paused_until > now:
            plan.paused += 1
            _pass_over(session, row.id, now)
            continue
        if row.keyword_alerted_at is not None and row.keyword_alerted_at + window > now:
            plan.held_window += 1
            _hold(session, row.id, row.keyword_alerted_at + window)
            continue
        willing.append(row)
    if not willing:
        return []
    dates, counts = alerts_today(session, [(row.id, row.timezone) for row in willing], now=now)
    stories = _new_stories(session, [row.id for row in willing], now=now, window=window)
    due: list[tuple[int, date, list[tuple[int, datetime]]]] = []
    for row in willing:
        found_stories = stories.get(row.id)
        if not found_stories:
            if row.keyword_alert_due_at is not None:
                _hold(session, row.id, None)
            continue
        day = dates[row.id]
        if counts.get((row.id, day), 0) >= per_day:
            plan.over_cap += 1
            _hold(session, row.id, _next_local_midnight(day, row.timezone))
            continue
        due.append((row.id, day, found_stories))
    claimed = _claim(session, [reader_id for reader_id, _, _ in due], now=now, window=window)
    rows: list[dict[str, object]] = []
    throughs: list[dict[str, object]] = []
    selections: dict[tuple[date, tuple[int, ...]], int] = {}
    edition = keyword_alert_edition(alert_slot(now, minutes))
    for reader_id, day, found_stories in due:
        if reader_id not in claimed:
            continue  # another planner took this reader a moment ago
        throughs.append(
            {"id": reader_id, "keyword_alerted_through": max(at for _, at in found_stories)}
        )
        article_ids = tuple(article_id for article_id, _ in found_stories[:MAX_STORIES])
        key = (day, article_ids)
        if key not in selections:
            [selections[key]] = add_selections(session, [key])
        rows.append(
            {
                "edition": edition,
                "subscriber_id": reader_id,
                "local_date": day,
                "status": DeliveryStatus.PENDING,
                "selection_id": selections[key],
                "attempts": 0,
                "next_attempt_at": queued_until,
                "created_at": now,
            }
        )
    if throughs:  # one executemany by primary key
        session.execute(update(Subscriber), throughs)
    return rows


def _new_stories(
    session: Session, reader_ids: list[int], *, now: datetime, window: timedelta
) -> dict[int, list[tuple[int, datetime]]]:
    """Each reader's stories matched since their last alert (or, for a first one, in the
    last window) and after they followed the keyword, newest first, with the time of
    their first match; none that had matched one of the reader's keywords before."""
    start = func.coalesce(Subscriber.keyword_alerted_through, literal(now - window, UTCDateTime()))
    earlier_match = aliased(KeywordMatch)
    earlier_follow = aliased(ReaderKeyword)
    seen_before = exists().where(
        earlier_match.article_id == KeywordMatch.article_id,
        earlier_follow.keyword_id == earlier_match.keyword_id,
        earlier_follow.subscriber_id == ReaderKeyword.subscriber_id,
        earlier_match.matched_at <= start,
    )
    query = (
        select(
            ReaderKeyword.subscriber_id,
            KeywordMatch.article_id,
            func.min(KeywordMatch.matched_at),
            Article.published_at,
        )
        .join(KeywordMatch, KeywordMatch.keyword_id == ReaderKeyword.keyword_id)
        .join(Subscriber, Subscriber.id == ReaderKeyword.subscriber_id)
        .join(Article, Article.id == KeywordMatch.article_id)
        .where(
            ReaderKeyword.subscriber_id.in_(reader_ids),
            KeywordMatch.matched_at > start,
            KeywordMatch.matched_at <= now,
            or_(
                ReaderKeyword.added_at.is_(None),
                KeywordMatch.matched_at >= ReaderKeyword.added_at,
            ),
            ~seen_before,
        )
        .group_by(ReaderKeyword.subscriber_id, KeywordMatch.article_id, Article.published_at)
        .order_by(
            ReaderKeyword.subscriber_id, Article.published_at.desc(), KeywordMatch.article_id.desc()
        )
    )
    stories: dict[int, list[tuple[int, datetime]]] = {}
    for reader_id, article_id, matched_at, _published in session.execute(query):
        stories.setdefault(reader_id, []).append((article_id, matched_at))
    return stories


def _claim(
    session: Session, reader_ids: list[int], *, now: datetime, window: timedelta
) -> set[int]:
    """Take these readers' next alert: those whose window is still open when the update
    reaches their row. A planner racing for the same reader finds it just closed (on
    PostgreSQL the second update waits for the first to commit, then sees its time)."""
    if not reader_ids:
        return set()
    last = Subscriber.keyword_alerted_at
    return set(
        session.scalars(
            update(Subscriber)
            .where(Subscriber.id.in_(reader_ids), or_(last.is_(None), last <= now - window))
            .values(keyword_alerted_at=now, keyword_alert_due_at=None)
            .returning(Subscriber.id)
            .execution_options(synchronize_session=False)
        )
    )


def _hold(session: Session, reader_id: int, due_at: datetime | None) -> None:
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == reader_id)
        .values(keyword_alert_due_at=due_at)
        .execution_options(synchronize_session=False)
    )


def _pass_over(session: Session, reader_id: int, now: datetime) -> None:
    """A paused reader's matches so far are not kept for after the pause."""
    session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == reader_id,
            or_(
                Subscriber.keyword_alerted_through.is_(None),
                Subscriber.keyword_alerted_through < now,
            ),
        )
        .values(keyword_alerted_through=now, keyword_alert_due_at=None)
        .execution_options(synchronize_session=False)
    )


def _next_local_midnight(day: date, zone: str) -> datetime:
    tomorrow = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    return tomorrow.astimezone(ZoneInfo("UTC"))


__all__ = [
    "COMMIT_MARGIN",
    "MAX_STORIES",
    "KeywordAlertPlan",
    "alert_slot",
    "plan_keyword_alerts",
]
