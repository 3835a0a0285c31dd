"""A digest built from a feed of huge and hostile items is still an email a reader can use:
under Gmail's 102 KB clipping with its unsubscribe footer, 375 px wide on a phone, quick
to build, and its subject free of bidi tricks.

The feed is the kind that broke real digests: a 20 MB live-blog description, summaries of
5 KB of links, long unbroken URLs in the text, a headline of a paragraph, a right-to-left
override in a headline, and a link of 5,000 characters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.planning import plan_digests
from alerts.feeds.articles import upsert_articles
from alerts.feeds.reading import parse_feed
from alerts.mail.digest import DigestComposer
from alerts.mail.excerpts import MAX_TITLE_CHARS
from alerts.mail.rendering import default_renderer
from alerts.models import Delivery, Edition, EditionImages
from tests.alerts.web.browser import CHROMIUM, launch_chromium
from tests.support.builders import reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
GMAIL_CLIPS_AT = 102_000  # bytes of HTML; Gmail hides what follows, the footer included
PHONE_WIDTH = 375
LONG_URL_TEXT = (
    "https://news.example.com/live/2026/nov/25/budget?session=" + "QnVkZ2V0RGF5TGl2ZQ" * 60
)
RIGHT_TO_LEFT_OVERRIDE = "\u202e"


def hostile_feed() -> bytes:
    """A JSON Feed of 25 items written to hurt an email."""
    day = NOW - timedelta(minutes=30)
    items: list[dict[str, object]] = [
        {
            "id": "live-blog",
            "url": "https://news.example.com/live/budget",
            "title": "Budget day live: every update",
            "content_html": "<p>" + "Minister speaks, markets move. " * 700_000 + "</p>",
        },
        {
            "id": "long-url-text",
            "url": "https://news.example.com/story/url-text",
            "title": "A link pasted as text",
            "content_html": f"<p>Read it at {LONG_URL_TEXT} and {LONG_URL_TEXT}</p>",
        },
        {
            "id": "long-url-link",
            "url": "https://news.example.com/story/url-link",
            "title": "A link whose text is its address",
            "content_html": f'<p><a href="{LONG_URL_TEXT}">{LONG_URL_TEXT}</a></p>',
        },
        {
            "id": "bidi",
            "url": "https://news.example.com/story/bidi",
            "title": f"Invoice attached {RIGHT_TO_LEFT_OVERRIDE}fdp.exe{RIGHT_TO_LEFT_OVERRIDE}",
            "content_html": "<p>A headline that reads backwards.</p>",
        },
        {
            "id": "paragraph-title",
            "url": "https://news.example.com/story/paragraph",
            "title": "A headline that goes on " + "and on " * 600,
            "content_html": "<p>Short.</p>",
        },
        {
            "id": "huge-link",
            "url": "https://news.example.com/story/huge?" + "q=1&" * 1_250,
            "title": "A story behind a link of 5,000 characters",
            "content_html": "<p>Its link alone would be most of an email.</p>",
        },
    ]
    for number in range(len(items), 25):
        links = "".join(
            f'<a href="https://news.example.com/related/{number}/{link}/'
            + "x" * 60
            + f'">related {link}</a> '
            for link in range(40)
        )
        items.append(
            {
                "id": f"links-{number}",
                "url": f"https://news.example.com/story/{number}",
                "title": f"Story {number} with many related links",
                "content_html": f"<p>{links}</p>",
            }
        )
    for number, item in enumerate(items):
        item["date_published"] = (day - timedelta(minutes=number)).isoformat()
        # Every story's picture behind a long address: they count against the budget too.
        item["image"] = f"https://img.example.com/{number}/" + "picture-" * 120 + ".jpg"
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()


def html_and_text(data: bytes) -> tuple[EmailMessage, str, str, bytes]:
    """The parsed message, its HTML and text parts, and the HTML part as encoded."""
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    encoded = html.get_payload(decode=False)
    assert isinstance(encoded, str)
    return message, html.get_content(), text.get_content(), encoded.encode()


@pytest.fixture
def hostile_digest(session: Session, settings: Settings) -> tuple[bytes, float]:
    """The hostile feed ingested, one reader's digest composed: its bytes, and how long
    composing took."""
    parsed = parse_feed(hostile_feed(), source="hostile.json")
    assert not parsed.skipped  # hostile, but every item is a story
    upsert_articles(session, parsed.articles, source="hostile.json", now=NOW)
    reader(session, "ada@example.com")
    session.commit()
    plan_digests(session, now=NOW, force=True)
    for edition in session.scalars(select(Edition)):
        edition.images = EditionImages.LEAD_AND_THUMBNAILS  # the most bytes an edition shows
    session.commit()
    delivery = session.scalars(select(Delivery)).one()
    assert len(delivery.article_ids) == 25
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    started = time.perf_counter()
    data = composer.compose(delivery).data
    return data, time.perf_counter() - started


def test_a_hostile_feeds_digest_stays_under_gmails_clipping_with_its_footer(
    hostile_digest: tuple[bytes, float],
) -> None:
    data, seconds = hostile_digest
    message, html, text, encoded = html_and_text(data)

    assert len(html.encode()) < GMAIL_CLIPS_AT
    assert len(encoded) < GMAIL_CLIPS_AT  # as sent, quoted-printable and all
    assert len(data) < 2 * GMAIL_CLIPS_AT
    assert seconds < 5, f"composing took {seconds:.1f} s"
    # The footer is there, at the end: the reader's own unsubscribe link and the address.
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    tail = html[-3000:]
    assert f'href="{unsubscribe}"' in tail and ">Unsubscribe</a>" in tail
    assert "Example Street" in tail
    assert f"Unsubscribe: {unsubscribe}" in text
    # The stories left out are counted, with the way to them.
    assert "more stories on" in html and "more stories on the site: " in text
    # The live blog is a standfirst; the headline of a paragraph is a headline.
    assert html.count("Minister speaks") < 20
    assert all(len(line) <= MAX_TITLE_CHARS + 10 for line in text.splitlines() if "and on" in line)
    # The link of 5,000 characters never made it into the email.
    assert "q=1&q=1&q=1" not in text and "q=1&amp;q=1&amp;q=1" not in html


def test_no_bidi_control_reaches_the_subject_or_a_headline(
    hostile_digest: tuple[bytes, float],
) -> None:
    data, _ = hostile_digest
    message, html, text, _ = html_and_text(data)
    assert RIGHT_TO_LEFT_OVERRIDE not in str(message["Subject"])
    assert "Invoice attached fdp.exe" in text
    assert RIGHT_TO_LEFT_OVERRIDE not in text and RIGHT_TO_LEFT_OVERRIDE not in html


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: this test needs Debian's Chromium "
            "(apt-get install chromium; .ci/run does this in CI).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def test_a_hostile_feeds_digest_fits_a_phone(
    hostile_digest: tuple[bytes, float], browser: Browser
) -> None:
    data, _ = hostile_digest
    _, html, _, _ = html_and_text(data)
    page = browser.new_page(viewport={"width": PHONE_WIDTH, "height": 800})
    page.route("https://img.example.com/**", lambda route: route.abort())  # images blocked
    try:
        page.set_content(html, wait_until="domcontentloaded")
        width = page.evaluate("document.documentElement.scrollWidth")
        # The long URL is there, wrapped, not cut.
        assert page.get_by_text("QnVkZ2V0RGF5TGl2ZQQnVkZ2V0RGF5TGl2ZQ", exact=False).count() >= 1
    finally:
        page.close()
    assert width <= PHONE_WIDTH, f"the digest is {width} px wide at {PHONE_WIDTH} px"
