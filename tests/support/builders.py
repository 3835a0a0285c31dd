"""Small builders for tests that need a reader with articles waiting, through public functions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerts.feeds.articles import ArticleInput, upsert_articles
from subscribers.models import Frequency, Subscriber
from subscribers.services import Origin, add_subscriber

HASH_KEY = "test-hash-key"


def reader(
    session: Session,
    email: str,
    *,
    topics: tuple[str, ...] = (),
    timezone: str = "UTC",
    hour: int = 7,
    frequency: Frequency = Frequency.DAILY,
    confirmed: bool = True,
    now: datetime | None = None,
) -> Subscriber:
    return add_subscriber(
        session,
        email=email,
        origin=Origin("test"),
        hash_key=HASH_KEY,
        topics=topics,
        timezone=timezone,
        send_hour=hour,
        frequency=frequency,
        confirmed=confirmed,
        now=now,
    )


def articles(
    session: Session, now: datetime, *specs: tuple[str, tuple[str, ...], timedelta]
) -> None:
    """specs: (slug, topics, age) -> an article published `age` before `now`."""
    upsert_articles(
        session,
        [
            ArticleInput(
                url=f"https://news.example.com/story/{slug}",
                title=f"Story {slug}",
                summary=f"<p>About {slug}.</p>",
                section="News",
                topics=topics,
                published_at=now - age,
            )
            for slug, topics, age in specs
        ],
        source=None,
        now=now,
    )
