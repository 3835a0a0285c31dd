"""Feed sources the scheduler polls on their own interval, with conditional GETs.

Each source is fetched in its own transaction, so a failing feed neither blocks the
others nor loses their articles. A failed fetch is recorded (time, status and reason) so the
source waits a full interval before the next try, instead of being hammered every
minute; its last good ETag and Last-Modified are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import AlertsError, FeedError
from alerts.feeds.ingest import SourceResult, ingest_source, record_failure
from alerts.models import FeedSource

log = logging.getLogger(__name__)
MIN_MINUTES, MAX_MINUTES = 1, 7 * 24 * 60


@dataclass(frozen=True)
class PollOutcome:
    url: str
    result: SourceResult | None = None
    error: str | None = None


def _checked(url: str, minutes: int | None) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
        raise AlertsError("give the feed's http(s) URL")
    if minutes is not None and not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise AlertsError(f"poll every {MIN_MINUTES} to {MAX_MINUTES} minutes")
    return url


def add_source(
    session: Session,
    *,
    url: str,
    minutes: int,
    now: datetime,
    timeout: float = 10.0,
    allow_private: bool = False,
) -> SourceResult:
    """Fetch and read a feed once, store its articles, then poll it every `minutes`: a
    source that is not a feed (a 404, an HTML page) is refused before it is saved. Raises
    AlertsError (a bad URL or interval) or FeedError with the reason; nothing is written
    then. Does not commit."""
    url = _checked(url, minutes)
    result = ingest_source(session, url, now=now, timeout=timeout, allow_private=allow_private)
    set_polling(session, url=url, minutes=minutes, now=now)
    return result


def remove_source(session: Session, *, url: str) -> bool:
    """Stop polling a feed and forget it (its articles stay); False if it was not known."""
    source = session.scalar(select(FeedSource).where(FeedSource.url == url.strip()))
    if source is None:
        return False
    session.delete(source)
    session.flush()
    return True


def set_polling(session: Session, *, url: str, minutes: int | None, now: datetime) -> FeedSource:
    """Poll an http(s) feed every `minutes` (None: stop polling it). Flushes."""
    url = _checked(url, minutes)
    source = session.scalar(select(FeedSource).where(FeedSource.url == url))
    if source is None:
        source = FeedSource(url=url, created_at=now)
        session.add(source)
    source.poll_minutes = minutes
    session.flush()
    return source


def feed_sources(session: Session) -> list[FeedSource]:
    """Every known feed source, polled or not, in the order they were first seen."""
    return list(session.scalars(select(FeedSource).order_by(FeedSource.id)))


def due_sources(session: Session, *, now: datetime) -> list[str]:
    """URLs whose interval has passed since their last fetch (or never fetched)."""
    due = []
    for url, minutes, fetched in session.execute(
        select(FeedSource.url, FeedSource.poll_minutes, FeedSource.last_fetched_at)
        .where(FeedSource.poll_minutes.is_not(None))
        .order_by(FeedSource.id)
    ):
        if fetched is None or fetched + timedelta(minutes=minutes or 0) <= now:
            due.append(url)
    return due


def poll_due_sources(
    open_session: Callable[[], AbstractContextManager[Session]],
    *,
    now: datetime,
    timeout: float = 10.0,
    allow_private: bool = False,
    language: str = "en",
) -> list[PollOutcome]:
    """Fetch every due source, each in a session of its own from `open_session`, within
    `timeout` seconds each; private addresses only with `allow_private`
    (`FEEDS_ALLOW_PRIVATE`)."""
    with open_session() as session:
        urls = due_sources(session, now=now)
    outcomes = []
    for url in urls:
        with open_session() as session:
            try:
                result = ingest_source(
                    session, url, now=now, timeout=timeout, allow_private=allow_private,
                    language=language,
                )  # fmt: skip
                session.commit()
                outcomes.append(PollOutcome(url, result=result))
            except FeedError as error:
                session.rollback()
                record_failure(session, url, error.reason, now=now)
                session.commit()
                log.warning("polling %s failed: %s", url, error.reason)
                outcomes.append(PollOutcome(url, error=error.reason))
                continue
            if result.skipped:
                log.info("polling %s skipped %s", url, result.problems())
    return outcomes
