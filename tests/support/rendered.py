"""A digest as a reader receives it, made through the public path: stories stored as the
feeds store them (one with an image), a reader following their topic, the ledger planned,
the row composed into bytes; the HTML part is what the browser and caniemail tests read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.planning import plan_digests
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import default_renderer
from alerts.models import Delivery
from tests.support.builders import reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
STORIES = (
    (
        "Harbour bridge reopens after a year of repairs",
        '<p>The crossing carries <a href="https://news.example.com/traffic">traffic</a> again '
        "from Monday, the council said.</p>",
        "https://news.example.com/images/bridge.jpg",
    ),
    ("Council approves the new budget", "<p>Spending on schools rises by a tenth.</p>", None),
    ("Storm warning for the coast tonight", "<p>Gusts of 90 km/h are expected.</p>", None),
)


def digest_html(session: Session, settings: Settings, *, language: str = "en") -> str:
    """The HTML part of one reader's digest of STORIES (the first carries `image_url`)."""
    subscriber = reader(session, "ada@example.com", topics=("City",))
    subscriber.language = language
    upsert_articles(
        session,
        [
            ArticleInput(
                url=f"https://news.example.com/story/{number}",
                title=title,
                summary=summary,
                section="City",
                topics=("City",),
                image_url=image_url,
                published_at=NOW - timedelta(minutes=20 * (number + 1)),
            )
            for number, (title, summary, image_url) in enumerate(STORIES)
        ],
        source=None,
        now=NOW,
    )
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    envelope = composer.compose(session.scalars(select(Delivery)).one())
    message = message_from_bytes(envelope.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("html",))
    assert part is not None, "the digest has no HTML part"
    html = part.get_content()
    assert isinstance(html, str)
    return html
