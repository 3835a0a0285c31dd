"""Small builders shared by tests: readers, articles, candidate articles, the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.digests.selection import CandidateArticle
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.models import Delivery
from subscribers.models import Frequency, Subscriber
from subscribers.services import Origin, add_subscriber

# When readers in tests signed up: well before any `now` the tests plan at.
SIGNED_UP = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def make_reader(
    session: Session,
    name: str,
    *,
    topics: Iterable[str] = (),
    timezone: str = "Europe/Paris",
    send_hour: int = 7,
    frequency: Frequency = Frequency.DAILY,
    confirmed: bool = True,
) -> Subscriber:
    """An active (or, with confirmed=False, pending) reader whose address is name@example.com."""
    return add_subscriber(
        session,
        email=f"{name}@example.com",
        origin=Origin("test"),
        hash_key="k",
        topics=list(topics),
        frequency=frequency,
        timezone=timezone,
        send_hour=send_hour,
        confirmed=confirmed,
        now=SIGNED_UP,
    )


def make_article(
    session: Session, slug: str, *, published_at: datetime, topics: Iterable[str] = ()
) -> int:
    """Store one article and return its id."""
    item = ArticleInput(
        url=f"https://news.example.com/{slug}",
        title=slug.replace("-", " ").capitalize(),
        topics=tuple(topics),
        published_at=published_at,
    )
    result = upsert_articles(session, [item], source=None, now=published_at)
    return result.articles[0].id


def candidate(
    article_id: int, published_at: datetime, topic_ids: Iterable[int] = ()
) -> CandidateArticle:
    return CandidateArticle(article_id, published_at, frozenset(topic_ids))


def ledger(session: Session) -> list[Delivery]:
    """Every ledger row as stored now, by reader then local date (fresh from the database)."""
    session.flush()
    session.expire_all()
    return list(
        session.scalars(
            select(Delivery).order_by(Delivery.subscriber_id, Delivery.local_date, Delivery.id)
        )
    )
