"""Digest selection rules as pure functions: who is due, over which window, with which articles.

Rules (the public promise of a digest):
- a reader is due once their local send hour has come on a local date (daily), or in a
  local week starting Monday (weekly); `force` ignores the hour;
- the window runs from the end of the reader's previous digest, or the last 24 hours
  (7 days for weekly) for a first digest, up to now;
- only articles on topics the reader follows; a reader following none gets everything;
  a topic edition narrows that to its own topics;
- newest first, at most the edition's maximum (25 by default); an empty selection means
  no email;
- an editor's curation of the issue comes first: pinned articles lead, in the editor's
  order, for every reader of the issue; dropped articles never appear; a locked issue
  takes nothing that was not in the selection when it was locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from alerts.editions.issues import NO_CURATION, Curation
from alerts.models import Cadence

MAX_ARTICLES = 25
FIRST_WINDOW = {Cadence.DAILY: timedelta(hours=24), Cadence.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class CandidateArticle:
    id: int
    published_at: datetime
    topic_ids: frozenset[int]


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(_zone(timezone)).date()


def due_date(
    now: datetime,
    *,
    timezone: str,
    send_hour: int,
    cadence: Cadence,
    weekday: int | None = None,
    force: bool = False,
) -> date | None:
    """The local date (the ledger key) a reader is due for at `now`, or None if not due.

    Daily: once the local hour has come. Weekly on a weekday: that day only, from the
    hour on (a send missed through downtime goes out late the same day, never the next).
    Weekly on no set day: any day of the local week, once, keyed by its Monday. On a
    spring-forward day an hour that does not exist locally is reached by the next one;
    on a fall-back day the hour happens twice, and the ledger key keeps it to once.
    `force` ignores the hour and the weekday (an editor's "send now"); a weekly edition's
    forced send is keyed by its day of the reader's week, so that day's scheduled send
    finds it done.
    """
    local = now.astimezone(_zone(timezone))
    if cadence is Cadence.WEEKLY and weekday is None:
        if not force and local.hour < send_hour:
            return None
        return local.date() - timedelta(days=local.weekday())
    if force:
        if cadence is Cadence.WEEKLY:  # the week's issue, as its scheduled send keys it
            return local.date() + timedelta(days=(weekday or 0) - local.weekday())
        return local.date()
    if local.hour < send_hour:
        return None
    if cadence is Cadence.WEEKLY and local.weekday() != weekday:
        return None
    return local.date()


def first_due(
    now: datetime, *, timezone: str, send_hour: int, cadence: Cadence, weekday: int | None = None
) -> datetime:
    """The first moment from `now` on at which a reader is due (by `due_date`): `now`
    itself when they are due already, as a reader who confirms after their hour is (the
    scheduler's next tick sends them today's digest), else their hour on the first local
    day that is due. An hour that does not exist locally is reached by the next one."""
    if (
        due_date(now, timezone=timezone, send_hour=send_hour, cadence=cadence, weekday=weekday)
        is not None
    ):
        return now
    local = now.astimezone(_zone(timezone))
    for days in range(1, 9):
        moment = datetime.combine(local.date(), time(send_hour), _zone(timezone))
        moment = (moment + timedelta(days=days - 1)).astimezone(UTC)
        due = due_date(
            moment, timezone=timezone, send_hour=send_hour, cadence=cadence, weekday=weekday
        )
        if moment > now and due is not None:
            return moment
    raise AssertionError("a reader is due within eight days")  # pragma: no cover


def next_due(local_date: date, *, timezone: str, send_hour: int, cadence: Cadence) -> datetime:
    """The first moment the reader can be due for the edition's next issue after the one
    keyed `local_date` (by `due_date`): the reader's hour on the next local date (daily),
    or a week on (weekly). A retry of this issue must not reach it, or the two digests
    would arrive together. An hour that does not exist locally (spring forward) is
    reached by the next one, as in `due_date`.
    """
    days = 7 if cadence is Cadence.WEEKLY else 1
    moment = datetime.combine(local_date + timedelta(days=days), time(send_hour), _zone(timezone))
    return moment.astimezone(UTC)


def window_start(cadence: Cadence, *, now: datetime, previous_end: datetime | None) -> datetime:
    if previous_end is None:
        return now - FIRST_WINDOW[cadence]
    return min(previous_end, now)


def select_articles(
    newest_first: Sequence[CandidateArticle],
    *,
    topic_ids: frozenset[int],
    start: datetime,
    end: datetime,
    limit: int = MAX_ARTICLES,
    excluded: frozenset[int] = frozenset(),
    allowed: frozenset[int] | None = None,
) -> list[int]:
    """Ids of the articles in (start, end] on the reader's topics, newest first.

    `excluded` never appear; when `allowed` is given, nothing outside it does.
    """
    chosen: list[int] = []
    if limit <= 0:
        return chosen
    for article in newest_first:
        if article.published_at > end:
            continue
        if article.published_at <= start:
            break
        if article.id in excluded or (allowed is not None and article.id not in allowed):
            continue
        if topic_ids and not (article.topic_ids & topic_ids):
            continue
        chosen.append(article.id)
        if len(chosen) == limit:
            break
    return chosen


def curated_selection(
    newest_first: Sequence[CandidateArticle],
    *,
    topic_ids: frozenset[int],
    start: datetime,
    end: datetime,
    limit: int = MAX_ARTICLES,
    curation: Curation = NO_CURATION,
) -> list[int]:
    """A reader's articles for an issue: the pinned ones first, then the rule's choice."""
    pinned = [i for i in curation.pinned if i not in curation.dropped][:limit]
    rest = select_articles(
        newest_first,
        topic_ids=topic_ids,
        start=start,
        end=end,
        limit=limit - len(pinned),
        excluded=curation.dropped | frozenset(pinned),
        allowed=curation.locked,
    )
    return pinned + rest
