"""The digest email: what an article brings is shown as written, never taken for a place
where a reader's own address, links or tracking token go.

An article is written by others (a feed, an API token): a link such as
`https://evil.example/?t=%%NEWSALERTS_UNSUBSCRIBE_URL%%` once came out of the splice with
every reader's own unsubscribe link in it. The names of our values stay in the message as
the article wrote them; each reader's values appear only where the template put them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.ledger.queue import claim_queue
from alerts.mail.digest import DigestComposer, DigestSpec
from alerts.mail.rendering import ReaderMarkers, ReaderParts, default_renderer
from alerts.mail.tracking import tracking_token
from alerts.models import Article, Delivery
from tests.support.builders import reader
from tests.support.sending import tracked_edition
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
NAMES = (
    ReaderMarkers.email,
    ReaderMarkers.unsubscribe_url,
    ReaderMarkers.preferences_url,
    ReaderMarkers.tracking_token,
)
ALL_NAMES = " ".join(NAMES)
HOSTILE_URL = (
    f"https://evil.example/?e={ReaderMarkers.email}&u={ReaderMarkers.unsubscribe_url}"
    f"&p={ReaderMarkers.preferences_url}&t={ReaderMarkers.tracking_token}"
)
# An article carrying the name of every reader value in its link, title and summary.
HOSTILE = {
    "url": HOSTILE_URL,
    "title": f"Win a prize {ALL_NAMES}",
    "summary": f'<p>Claim it {ALL_NAMES} <a href="{HOSTILE_URL}">here</a>.</p>',
    "section": "News",
    "topics": ["Chip shortage"],
}
READERS = ("ada@example.com", "bram@example.com")


def hostile_article(session: Session) -> None:
    """The HOSTILE article, stored the way the API and the feeds store one."""
    upsert_articles(
        session,
        [
            ArticleInput(
                url=HOSTILE["url"],
                title=HOSTILE["title"],
                summary=HOSTILE["summary"],
                section=HOSTILE["section"],
                topics=("Chip shortage",),
                published_at=NOW - timedelta(hours=1),
            )
        ],
        source=None,
        now=NOW,
    )


def parts_of(data: bytes) -> tuple[str, str]:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def own_links(data: bytes, address: str, settings: Settings) -> ReaderParts:
    """The reader's own links, as the message's List-Unsubscribe header and its footer
    (the line under the rule at its end) give them."""
    message = message_from_bytes(data, policy=policy.default)
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    text, _ = parts_of(data)
    footer = text.rpartition("-" * 60)[2]
    [preferences] = re.findall(r"Manage your preferences: (\S+)", footer)
    assert unsubscribe.startswith(f"{settings.base_url}/unsubscribe/")
    assert f"Unsubscribe: {unsubscribe}\n" in footer
    assert preferences.startswith(f"{settings.base_url}/preferences/")
    return ReaderParts(email=address, unsubscribe_url=unsubscribe, preferences_url=preferences)


def assert_only_where_the_template_put_them(
    text: str, html: str, own: ReaderParts, others: list[ReaderParts], *, kind: str = "digest"
) -> None:
    """The article's words as it wrote them; this reader's values once in each part's
    footer (the address in its "why you get this"), nobody else's anywhere."""
    words = " ".join(text.split())  # the summary is wrapped
    assert HOSTILE_URL in text and f"Win a prize {ALL_NAMES}" in text
    assert f"Claim it {ALL_NAMES} here." in words
    assert f"Win a prize {ALL_NAMES}" in html and f"Claim it {ALL_NAMES}" in html
    for value in (own.unsubscribe_url, own.preferences_url, own.email):
        assert text.count(value) == 1, value
        assert html.count(value) == 1, value
    assert f"Unsubscribe: {own.unsubscribe_url}\n" in text
    assert f"Manage your preferences: {own.preferences_url}\n" in text
    assert f'href="{own.unsubscribe_url}"' in html
    assert f'href="{own.preferences_url}"' in html
    assert f"{kind} because {own.email}" in words
    for other in others:
        for value in (other.unsubscribe_url, other.preferences_url, other.email):
            assert value not in text and value not in html


def _readers_and_digests(session: Session) -> list[Delivery]:
    for address in READERS:
        reader(session, address, topics=("Chip shortage",))
    hostile_article(session)
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_names_of_reader_values_in_an_article_are_never_filled_in(
    session: Session, settings: Settings
) -> None:
    deliveries = _readers_and_digests(session)
    assert len(deliveries) == 2
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    messages = {delivery.id: composer.compose(delivery).data for delivery in deliveries}
    links = {
        delivery.id: own_links(messages[delivery.id], delivery.subscriber.email, settings)
        for delivery in deliveries
    }
    assert len({parts.unsubscribe_url for parts in links.values()}) == 2

    for delivery in deliveries:
        text, html = parts_of(messages[delivery.id])
        own = links[delivery.id]
        others = [parts for key, parts in links.items() if key != delivery.id]
        assert_only_where_the_template_put_them(text, html, own, others)
        # The same through the personalised render a desk preview shows (and a proof copies).
        rendered = composer.render_for(
            delivery.subscriber, delivery.article_ids, composer.spec_for(delivery)
        )
        assert_only_where_the_template_put_them(rendered.text, rendered.html, own, others)


@pytest.mark.parametrize("tracking", ["click", "open"])
def test_an_article_cannot_copy_a_readers_tracking_token(
    session: Session, settings: Settings, tracking: str
) -> None:
    tracked_edition(session, clicks=tracking == "click", opens=tracking == "open", now=NOW)
    deliveries = [row for row in _readers_and_digests(session) if row.edition == "morning"]
    assert len(deliveries) == 2
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    base = settings.base_url

    for delivery in deliveries:
        token = tracking_token(settings.secret_key, delivery.id)
        text, html = parts_of(composer.compose(delivery).data)
        assert ReaderMarkers.tracking_token in text and ReaderMarkers.tracking_token in html
        if tracking == "click":
            assert f"{base}/c/{token}/1" in text and f"{base}/c/{token}/1" in html
            assert HOSTILE_URL not in text  # the link is ours: it leads to the article
        else:
            assert f"{base}/o/{token}.gif" in html
        # The token is only in our own links, never where the article asked for it.
        legitimate = html.replace(f"{base}/c/{token}/", "").replace(f"{base}/o/{token}.gif", "")
        assert token not in legitimate
        assert token not in text.replace(f"{base}/c/{token}/", "")


def test_a_digest_sent_to_a_relay_carries_each_readers_links_only_in_its_footer(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    _readers_and_digests(session)
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())

    send_batch(session, batch, composer=composer, transport=transport_from_url(smtp_server.url))

    received = {m.recipients[0]: m.message.as_bytes() for m in smtp_server.messages}
    assert sorted(received) == sorted(READERS)
    links = {address: own_links(data, address, settings) for address, data in received.items()}
    for address, data in received.items():
        text, html = parts_of(data)
        others = [parts for key, parts in links.items() if key != address]
        assert_only_where_the_template_put_them(text, html, links[address], others)


def test_the_article_is_stored_as_the_world_wrote_it(session: Session) -> None:
    hostile_article(session)
    session.commit()
    article = session.scalars(select(Article)).one()
    assert article.url == HOSTILE_URL and ReaderMarkers.email in article.summary_html


def test_a_personalised_render_leaves_none_of_its_own_markers(
    session: Session, settings: Settings
) -> None:
    deliveries = _readers_and_digests(session)
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    delivery = deliveries[0]
    spec: DigestSpec = composer.spec_for(delivery)
    rendered = composer.render_for(delivery.subscriber, delivery.article_ids, spec)
    assert rendered.markers is not None
    assert rendered.markers.nonce not in rendered.text + rendered.html
