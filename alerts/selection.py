"""Digest selection rules as pure functions: who is due, over which window, with which articles.

Rules (the public promise of a digest):
- a reader is due once their local send hour has come on a local date (daily), or in a
  local week starting Monday (weekly); `force` ignores the hour;
- the window runs from the end of the reader's previous digest, or the last 24 hours
  (7 days for weekly) for a first digest, up to now;
- only articles on topics the reader follows; a reader following none gets everything;
- newest first, at most 25; an empty selection means no email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from alerts.models import Cadence
from subscribers.models import Frequency

MAX_ARTICLES = 25
FIRST_WINDOW = {Cadence.DAILY: timedelta(hours=24), Cadence.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class DueSlot:
    """The ledger key a digest is sent under: one per edition, reader and local date."""

    edition: Cadence
    local_date: date


@dataclass(frozen=True)
class CandidateArticle:
    id: int
    published_at: datetime
    topic_ids: frozenset[int]


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def due_slot(
    now: datetime, *, timezone: str, send_hour: int, frequency: Frequency, force: bool = False
) -> DueSlot | None:
    """The slot a reader is due for at `now`, or None if their hour has not come yet.

    On a spring-forward day an hour that does not exist locally is reached by the next
    one; on a fall-back day the hour happens twice, and the ledger key keeps it to once.
    """
    local = now.astimezone(_zone(timezone))
    if not force and local.hour < send_hour:
        return None
    if frequency is Frequency.WEEKLY:
        return DueSlot(Cadence.WEEKLY, local.date() - timedelta(days=local.weekday()))
    return DueSlot(Cadence.DAILY, local.date())


def window_start(edition: Cadence, *, now: datetime, previous_end: datetime | None) -> datetime:
    if previous_end is None:
        return now - FIRST_WINDOW[edition]
    return min(previous_end, now)


def select_articles(
    newest_first: Sequence[CandidateArticle],
    *,
    topic_ids: frozenset[int],
    start: datetime,
    end: datetime,
    limit: int = MAX_ARTICLES,
) -> list[int]:
    """Ids of the articles in (start, end] on the reader's topics, newest first."""
    chosen: list[int] = []
    for article in newest_first:
        if article.published_at > end:
            continue
        if article.published_at <= start:
            break
        if topic_ids and not (article.topic_ids & topic_ids):
            continue
        chosen.append(article.id)
        if len(chosen) == limit:
            break
    return chosen
