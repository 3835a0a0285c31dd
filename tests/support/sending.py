"""A real send for tests of what happens after it: an edition, readers, articles, the ledger
planned by `send_now` and sent by `send_queued_batch` into a real SMTP server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.editions.schedules import EditionInput, create_edition
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.jobs import StartedSend, send_now, send_queued_batch, start_alert
from alerts.models import Click, Delivery, Edition
from alerts.runtime import Runtime
from subscribers.models import Frequency, Subscriber
from subscribers.services import Origin, add_subscriber
from tests.support.publishing import Published

# Three stories in three sections, each on its own topic.
STORIES = (
    ("markets-rally", "Business", "Markets"),
    ("storm-warning", "Weather", "Storms"),
    ("cup-final", "Sport", "Football"),
)


def tracked_edition(
    session: Session, slug: str = "morning", *, clicks: bool = True, opens: bool = False,
    now: datetime,
) -> Edition:  # fmt: skip
    edition = create_edition(
        session,
        slug=slug,
        data=EditionInput(name="Morning briefing", click_tracking=clicks, open_tracking=opens),
        now=now,
    )
    session.commit()
    return edition


def add_stories(
    session: Session, *, now: datetime, breaking: bool = False,
    stories: tuple[tuple[str, str, str], ...] = STORIES,
) -> list[int]:  # fmt: skip
    """`stories` (slug, section, topic), published an hour (and a minute more each)
    before `now`, newest first; their ids."""
    result = upsert_articles(
        session,
        [
            ArticleInput(
                url=f"https://news.example.com/{slug}",
                title=slug.replace("-", " ").capitalize(),
                summary=f"<p>All about <em>{slug}</em>.</p>",
                section=section,
                topics=(topic,),
                published_at=now - timedelta(hours=1, minutes=index),
                breaking=breaking,
            )
            for index, (slug, section, topic) in enumerate(stories)
        ],
        source=None,
        now=now,
    )
    session.commit()
    return [article.id for article in result.articles]


def add_reader(
    session: Session, name: str, *, topics: tuple[str, ...] = (), now: datetime,
    alerts: bool = False,
) -> int:  # fmt: skip
    reader = add_subscriber(
        session,
        email=f"{name}@example.org",
        origin=Origin("test"),
        hash_key="test-hash-key",
        topics=topics,
        timezone="UTC",
        send_hour=7,
        frequency=Frequency.DAILY,
        confirmed=True,
        now=now - timedelta(days=2),
    )
    if alerts:
        reader.breaking_alerts = True
    session.commit()
    return reader.id


def send_issue(runtime: Runtime, edition: str, *, now: datetime) -> StartedSend:
    """Send today's issue of `edition` to all its readers through the runtime's transport."""
    batches = Published()
    started = send_now(
        runtime, edition=edition, local_date=None, now=now, actor="cli", publish=batches
    )
    for batch in batches:
        send_queued_batch(runtime, batch)
    return started


def send_alert(runtime: Runtime, article_id: int, *, now: datetime) -> StartedSend:
    batches = Published()
    started = start_alert(runtime, article_id=article_id, now=now, actor="cli", publish=batches)
    for batch in batches:
        send_queued_batch(runtime, batch)
    return started


def backdate_sends(session: Session, by: timedelta) -> None:
    """Pretend every message left `by` earlier (clicks right after a send look like scanners)."""
    for delivery in session.scalars(select(Delivery).where(Delivery.sent_at.is_not(None))):
        assert delivery.sent_at is not None
        session.execute(
            update(Delivery).where(Delivery.id == delivery.id).values(sent_at=delivery.sent_at - by)
        )
    session.commit()


def delivery_of(session: Session, email: str) -> Delivery:
    session.expire_all()
    delivery = session.scalar(select(Delivery).join(Subscriber).where(Subscriber.email == email))
    assert delivery is not None, f"no delivery for {email}"
    return delivery


def recorded_clicks(session: Session) -> list[Click]:
    """Every click recorded so far, oldest first (fresh from the database)."""
    session.expire_all()
    return list(session.scalars(select(Click).order_by(Click.id)))


_HREF = re.compile(r'href="([^"]+)"')
_SRC = re.compile(r'src="([^"]+)"')


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def links_in(message: EmailMessage) -> list[str]:
    return _HREF.findall(html_of(message))


def images_in(message: EmailMessage) -> list[str]:
    return _SRC.findall(html_of(message))


def relative(url: str, base_url: str) -> str:
    """A link of an email, as a path the test client can follow."""
    assert url.startswith(base_url + "/"), url
    return url[len(base_url) :]


def app_runtime(app: Flask) -> Runtime:
    """The runtime a test app was built with (its database, transport and settings)."""
    runtime = app.extensions["newsalerts"].runtime
    assert isinstance(runtime, Runtime)
    return runtime
