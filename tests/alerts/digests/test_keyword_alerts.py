"""Keyword alerts in the digest: the matched stories lead it in "Your alerts", whatever
their topic, the words highlighted in both parts; a keyword match alone makes a digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.ledger.queue import claim_queue
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import default_renderer
from alerts.models import DeliveryStatus
from subscribers.keywords import parse_keywords, set_keywords
from tests.factories import ledger
from tests.support.builders import reader
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _story(slug: str, title: str, topic: str, hours: int, summary: str = "") -> ArticleInput:
    return ArticleInput(
        url=f"https://news.example.com/{slug}", title=title, summary=summary,
        topics=(topic,), published_at=NOW - timedelta(hours=hours),
    )  # fmt: skip


def _parts(message: EmailMessage) -> tuple[str, str]:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_matched_stories_lead_the_digest_outside_the_readers_topics(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    ada = reader(session, "ada@example.com", topics=("Sport",))
    set_keywords(session, ada, parse_keywords(['"Central Bank"', "reservoir"]))
    bram = reader(session, "bram@example.com", topics=("Sport",))
    cleo = reader(session, "cleo@example.com", topics=("Sport",))
    set_keywords(session, cleo, parse_keywords(["lighthouse"]))
    stored = upsert_articles(
        session,
        [
            _story("cb", "Central Bank raises rates", "Business", 3),
            _story("water", "Dry summer", "Environment", 2, "<p>The reservoir is low.</p>"),
            _story("final", "Cup final tonight", "Sport", 1),
            _story("bank", "A bank in the central square", "Business", 4),
        ],
        source=None,
        now=NOW,
    ).articles
    cb, water, final, _ = (article.id for article in stored)
    session.commit()

    plan_digests(session, now=NOW, force=True)
    session.commit()
    rows = {row.subscriber_id: row for row in ledger(session)}
    assert rows[ada.id].article_ids == [water, cb, final]
    assert rows[bram.id].article_ids == [final]
    assert rows[cleo.id].article_ids == [final]

    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    for batch in claim_queue(session, now=NOW, batch_size=50):
        session.commit()
        send_batch(
            session, batch, composer=composer, transport=transport_from_url(smtp_server.url),
            clock=lambda: NOW,
        )  # fmt: skip
    messages = {m.recipients[0]: m.message for m in smtp_server.messages}
    text, html = _parts(messages["ada@example.com"])
    alerts = html.index("Your alerts")  # after the preheader, which names the first stories
    assert alerts < html.index("Dry summer", alerts) < html.index("Cup final", alerts)
    assert ">Central Bank</mark> raises rates" in html
    assert ">reservoir</mark>" in html  # matched in the summary: named in the label
    assert "*Central Bank* raises rates" in text
    assert text.index("YOUR ALERTS") < text.index("MORE NEWS") < text.index("Cup final")
    other_text, other_html = _parts(messages["bram@example.com"])
    assert "Your alerts" not in other_html and "<mark" not in other_html
    assert "YOUR ALERTS" not in other_text


def test_a_keyword_match_alone_makes_a_digest(session: Session) -> None:
    ada = reader(session, "ada@example.com", topics=("Sport",))
    set_keywords(session, ada, parse_keywords(["Kestrel Valley"]))
    bram = reader(session, "bram@example.com", topics=("Sport",))
    [story] = upsert_articles(
        session, [_story("kv", "Kestrel Valley votes", "Politics", 2)], source=None, now=NOW
    ).articles
    session.commit()
    plan_digests(session, now=NOW, force=True)
    rows = {row.subscriber_id: row for row in ledger(session)}
    assert (rows[ada.id].status, rows[ada.id].article_ids) == (DeliveryStatus.PENDING, [story.id])
    assert rows[bram.id].status is DeliveryStatus.SKIPPED
