"""The reader's journey in a real headless Chromium (Debian's `chromium`, driven by Playwright).

A publisher's article page, served from its own site on loopback, carries the snippet from
`GET /embed`; the reader signs up through it (a real cross-site form POST), the confirmation
email is caught by a real SMTP server, and the reader confirms, changes preferences,
downloads their data and unsubscribes, all by clicking in the browser. Every page is
photographed at phone and desktop width (set NEWSALERTS_SCREENSHOTS=docs/screenshots to keep
them; by default they go to the test's temporary folder).

Runs on both database backends: the pages write through the same code on each.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from alerts.config import Settings, load_settings
from subscribers.models import Subscriber
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import PUBLISHER
from tests.alerts.web.browser import (
    PHONE,
    ArticleSite,
    Screenshots,
    article_page,
    link_in,
    low_contrast,
    message_texts,
    multipart,
    post,
    screenshot_folder,
)
from tests.support.smtp_server import RecordingSMTPServer

TOPICS = ["Business", "Climate", "Elections", "Science"]
# Text a visitor (or a bot) can slip into the form; none of it may reach an email.
HOSTILE = "Mallory<script>alert('pwned')</script> WIN-A-PRIZE at https://evil.example/claim"
HOSTILE_FRAGMENTS = ["Mallory", "<script", "pwned", "WIN-A-PRIZE", "evil.example"]
Reader = dict[str, Any]


# --- the browser -------------------------------------------------------------------------


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """A fresh browser context (no cookies, phone width unless told) per call."""
    contexts: list[BrowserContext] = []

    def open_page(**options: Any) -> Page:
        context = browser.new_context(**{"viewport": PHONE, "locale": "en-GB", **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Screenshots:
    return Screenshots(screenshot_folder(tmp_path))


# --- the service and the publisher's site ------------------------------------------------


@pytest.fixture
def article_site() -> Iterator[ArticleSite]:
    site = ArticleSite()
    site.start()
    yield site
    site.stop()


@pytest.fixture
def web_settings(
    database_url: str,
    redis_url: str,
    smtp_server: RecordingSMTPServer,
    article_site: ArticleSite,
    app_port: int,
) -> Settings:
    """As the shared fixture, but the public URL is the live server's (so links in emails
    and pages work in the browser) and the article site is an allowed publisher origin."""
    redis.Redis.from_url(redis_url).flushdb()
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="web-test-secret-key-0123456789abcdef",
        base_url=f"http://127.0.0.1:{app_port}",
        allowed_origins=f"{PUBLISHER},{article_site.origin}",
        form_min_seconds=0,
        redis_url=None,
        _env_file=None,
    )


@pytest.fixture
def topics(app: Flask) -> list[str]:
    with app.extensions["newsalerts"].runtime.session() as session:
        ensure_topics(session, TOPICS, public=True)
        session.commit()
    return TOPICS


def reader(app: Flask, email: str) -> Reader | None:
    """What the store holds about a reader right now, read in a fresh session."""
    with app.extensions["newsalerts"].runtime.session() as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).first()
        if subscriber is None:
            return None
        return {
            "status": subscriber.status.value,
            "topics": subscriber.topic_slugs,
            "frequency": subscriber.frequency.value,
            "hour": subscriber.send_hour,
            "timezone": subscriber.timezone,
            "name": subscriber.name,
            "paused_until": subscriber.paused_until,
            "keywords": subscriber.keyword_texts,
        }


def status_of(app: Flask, email: str) -> str | None:
    stored = reader(app, email)
    return None if stored is None else str(stored["status"])


def embed_snippet(live_server: str) -> str:
    with urllib.request.urlopen(live_server + "/embed", timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def publish_article(site: ArticleSite, live_server: str, path: str = "/politics/polls.html") -> str:
    return site.publish(path, article_page(embed_snippet(live_server)))


def look(shots: Screenshots, page: Page, name: str) -> None:
    """Photograph the page at both widths and check that all its text is readable."""
    shots.capture(page, name)
    assert low_contrast(page) == [], f"text below 4.5:1 contrast on {name}"


def focused(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement;
                 return {tag: e.tagName.toLowerCase(), id: e.id || '', name: e.name || '',
                         type: e.type || '', text: (e.textContent || '').trim()}; }"""
        )
    )


# --- the journey ---------------------------------------------------------------------------


def test_journey_from_article_page_to_unsubscribe(
    new_page: Callable[..., Page],
    article_site: ArticleSite,
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "reader.journey@example.org"
    article_url = publish_article(article_site, live_server)
    page = new_page()

    # 1. The publisher's article page, with the pasted snippet at the end.
    page.goto(article_url)
    expect(page.get_by_text("Sign up to our daily news alerts")).to_be_visible()
    look(shots, page, "01-article-with-embed")
    form = page.locator(f"form[action='{live_server}/subscribe']")
    expect(form).to_have_count(1)

    page.get_by_label("Your email address").fill(address)
    page.get_by_role("checkbox", name="Elections").check()
    page.get_by_role("checkbox", name="Climate").check()
    # Anything else a visitor adds to the form must never reach the email.
    form.evaluate(
        """(form, text) => {
             for (const name of ['name', 'message', 'subject']) {
               const field = document.createElement('input');
               field.type = 'hidden'; field.name = name; field.value = text; form.append(field);
             } }""",
        HOSTILE,
    )
    page.get_by_role("button", name="Sign up").click()

    # 2. The answer comes from the service, across sites.
    expect(page).to_have_url(f"{live_server}/subscribe")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    look(shots, page, "02-check-inbox")

    # 3. Exactly one confirmation email, to the typed address, with nothing else typed.
    [received] = smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1
    assert received.recipients == [address]
    message = received.message
    assert message["To"] == address
    everything = message_texts(message)
    for fragment in HOSTILE_FRAGMENTS:
        assert fragment not in everything, fragment
    confirm_url = link_in(message, live_server, "confirm")
    unsubscribe_url = link_in(message, live_server, "unsubscribe")
    assert reader(app, address) == {
        "status": "pending",
        "topics": ["climate", "elections"],
        "frequency": "daily",
        "hour": 7,
        "timezone": "UTC",  # the snippet sends no zone: the server's default
        "name": None,
        "paused_until": None,
        "keywords": [],
    }

    # 4. Opening the link (as a mail scanner would) changes nothing: it shows a button.
    page.goto(confirm_url)
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    expect(page.get_by_text(address)).to_be_visible()
    button = page.get_by_role("button", name="Yes, confirm my subscription")
    expect(button).to_be_visible()
    look(shots, page, "03-confirm")
    assert status_of(app, address) == "pending"

    button.click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    look(shots, page, "04-subscribed")
    assert status_of(app, address) == "active"

    # 5. Preferences, from the link on the "subscribed" page.
    page.get_by_role("link", name="Change your topics, frequency or time").click()
    expect(page.get_by_role("heading", name="Your news alerts")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Elections")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Climate")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Business")).not_to_be_checked()
    look(shots, page, "05-preferences")

    page.get_by_role("checkbox", name="Climate").uncheck()
    page.get_by_role("checkbox", name="Business").check()
    page.get_by_role("radio", name="Once a week (Mondays)").check()
    page.get_by_label("Send it at").select_option("18")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_have_text("Your changes are saved.")
    assert page.url.endswith("?saved=1")
    expect(page.get_by_label("Send it at")).to_have_value("18")
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    look(shots, page, "06-preferences-saved")
    assert reader(app, address) == {
        "status": "active",
        "topics": ["business", "elections"],
        "frequency": "weekly",
        "hour": 18,
        "timezone": "America/New_York",
        "name": None,
        "paused_until": None,
        "keywords": [],
    }

    # 6. Download my data: a JSON file with what the store holds.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == "my-news-alerts-data.json"
    data = json.loads(Path(download.path()).read_text())
    assert data["email"] == address
    assert data["topics"] == ["business", "elections"]
    assert (data["frequency"], data["hour"], data["timezone"]) == (
        "weekly",
        18,
        "America/New_York",
    )
    kinds = [event["kind"] for event in data["consent_events"]]
    assert len(kinds) >= 3, kinds  # subscribe, confirm, preference change
    assert not any(fragment in json.dumps(data) for fragment in HOSTILE_FRAGMENTS)

    # 7. Unsubscribe: a page with one button, then done.
    page.get_by_role("link", name="Unsubscribe from all news alerts").click()
    expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    look(shots, page, "07-unsubscribe")
    assert status_of(app, address) == "active"
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    look(shots, page, "08-unsubscribed")
    assert status_of(app, address) == "unsubscribed"

    # The link in the email still works and says so, with nothing left to click.
    page.goto(unsubscribe_url)
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("encoding", ["form-urlencoded", "multipart"])
def test_one_click_unsubscribe_from_a_mailbox_provider(
    encoding: str, live_server: str, app: Flask, smtp_server: RecordingSMTPServer
) -> None:
    """RFC 8058: the provider POSTs `List-Unsubscribe=One-Click` with no cookies and no
    CSRF token; the answer is 200 itself, never a redirect."""
    address = f"one-click-{encoding}@example.org"
    signed_up = post(
        live_server + "/subscribe", json.dumps({"email": address}).encode(), "application/json"
    )
    assert signed_up.status == 202, signed_up.body
    [received] = smtp_server.wait_for(1)
    confirm_url = link_in(received.message, live_server, "confirm")
    unsubscribe_url = link_in(received.message, live_server, "unsubscribe")
    with urllib.request.urlopen(confirm_url, timeout=10) as response:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode())
    assert csrf
    body = urllib.parse.urlencode({"csrf_token": csrf.group(1)}).encode()
    assert post(confirm_url, body, "application/x-www-form-urlencoded").status == 200
    assert status_of(app, address) == "active"

    if encoding == "multipart":
        body, content_type = multipart({"List-Unsubscribe": "One-Click"})
    else:
        body, content_type = b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"
    answer = post(unsubscribe_url, body, content_type)

    assert answer.status == 200, answer.body
    assert "Location" not in answer.headers
    assert "Set-Cookie" not in answer.headers
    assert status_of(app, address) == "unsubscribed"
    # Providers may repeat the POST; it stays a quiet 200.
    assert post(unsubscribe_url, body, content_type).status == 200


# --- the full sign-up page -----------------------------------------------------------------


def test_subscribe_page_takes_the_time_zone_from_the_browser(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "tokyo.reader@example.org"
    page = new_page(timezone_id="Asia/Tokyo")
    page.goto(live_server + "/subscribe")
    expect(page).to_have_title(re.compile("Sign up"))
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("input[name=timezone]")).to_have_value("Asia/Tokyo")
    look(shots, page, "00-subscribe-page")

    page.get_by_label("Your email address").fill(address)
    page.get_by_role("checkbox", name="Science").check()
    page.get_by_label("Send it at").select_option("6")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    smtp_server.wait_for(1)
    stored = reader(app, address)
    assert stored is not None
    assert (stored["timezone"], stored["hour"], stored["topics"]) == ("Asia/Tokyo", 6, ["science"])


def test_subscribe_page_shows_a_bad_address_next_to_the_field(
    new_page: Callable[..., Page],
    live_server: str,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    page = new_page()
    page.goto(live_server + "/subscribe")
    page.get_by_label("Your email address").fill("not an address")
    page.get_by_role("checkbox", name="Climate").check()
    page.get_by_role("button", name="Sign up").click()

    expect(page.get_by_role("alert")).to_contain_text("Please check the address")
    field = page.get_by_label("Your email address")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("not an address")  # kept, to correct rather than retype
    expect(page.get_by_role("checkbox", name="Climate")).to_be_checked()
    look(shots, page, "00-subscribe-error")
    assert smtp_server.messages == []


def test_sign_up_with_the_keyboard_alone(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
) -> None:
    address = "keyboard.reader@example.org"
    page = new_page()
    page.goto(live_server + "/subscribe")

    for _ in range(4):
        page.keyboard.press("Tab")
        if focused(page)["id"] == "email":
            break
    assert focused(page)["id"] == "email", "the email field is not among the first tab stops"
    page.keyboard.type(address)

    page.keyboard.press("Tab")
    assert focused(page) | {"text": ""} == {
        "tag": "input",
        "id": "",
        "name": "topics",
        "type": "checkbox",
        "text": "",
    }
    page.keyboard.press("Space")  # ticks the first topic (Business)

    stops = []
    for _ in range(12):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if stops[-1]["tag"] == "button":
            break
    assert stops[-1]["text"] == "Sign up", stops
    assert all(stop["name"] != "website" for stop in stops), "the honeypot takes keyboard focus"
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline[0] != "none" and outline[1] != "0px", f"no visible focus outline: {outline}"

    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    smtp_server.wait_for(1)
    stored = reader(app, address)
    assert stored is not None and stored["topics"] == ["business"]


# --- the embed, beyond the journey ---------------------------------------------------------


def test_embed_works_without_javascript(
    new_page: Callable[..., Page],
    article_site: ArticleSite,
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
) -> None:
    address = "no.script@example.org"
    article_url = publish_article(article_site, live_server)
    page = new_page(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page.goto(article_url)
    page.get_by_label("Your email address").fill(address)
    page.get_by_role("checkbox", name="Science").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    [received] = smtp_server.wait_for(1)
    assert received.recipients == [address]
    assert reader(app, address) == {
        "status": "pending",
        "topics": ["science"],
        "frequency": "daily",
        "hour": 7,
        "timezone": "UTC",
        "name": None,
        "paused_until": None,
        "keywords": [],
    }


def test_embed_on_a_site_that_is_not_allowed_is_refused(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
) -> None:
    stranger = ArticleSite()  # same snippet, pasted on a site nobody allowed
    stranger.start()
    try:
        page = new_page()
        page.goto(publish_article(stranger, live_server))
        page.get_by_label("Your email address").fill("victim@example.org")
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("alert")).to_contain_text("cannot be posted from that site")
    finally:
        stranger.stop()
    assert smtp_server.messages == []
    assert reader(app, "victim@example.org") is None


def test_embed_iframe_signs_up_and_answers_inside_the_frame(
    new_page: Callable[..., Page],
    article_site: ArticleSite,
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "in.a.frame@example.org"
    snippet = embed_snippet(live_server)
    iframe = re.search(r"<iframe [^>]+></iframe>", snippet)
    assert iframe, "the snippet offers no iframe"
    page = new_page(timezone_id="Europe/Berlin")
    page.goto(article_site.publish("/science/frame.html", article_page(iframe.group(0))))
    frame = page.frame_locator("iframe")
    expect(frame.locator("input[name=timezone]")).to_have_value("Europe/Berlin")
    look(shots, page, "09-article-with-iframe")

    frame.get_by_label("Your email address").fill(address)
    frame.get_by_role("button", name="Sign up").click()
    smtp_server.wait_for(1)
    stored = reader(app, address)
    assert stored is not None and stored["timezone"] == "Europe/Berlin"
    expect(frame.get_by_role("heading", name="Check your inbox")).to_be_visible(timeout=3000)


def signed_up_preferences(
    live_server: str, smtp_server: RecordingSMTPServer, sign_up: dict[str, Any]
) -> str:
    """Sign a reader up through the JSON form; the preferences link of their confirmation."""
    answer = post(live_server + "/subscribe", json.dumps(sign_up).encode(), "application/json")
    assert answer.status == 202, answer.body
    [received] = smtp_server.wait_for(1)
    return link_in(received.message, live_server, "preferences")


def test_delete_my_data_from_the_preferences_page(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "forget.me@example.org"
    preferences_url = signed_up_preferences(
        live_server, smtp_server, {"email": address, "topics": ["climate"]}
    )

    page = new_page()
    page.goto(preferences_url)
    erase = page.get_by_role("button", name="Delete my data")
    erase.click()  # without ticking the box: nothing happens but a clear message
    expect(page.get_by_role("alert")).to_contain_text("Tick the box")
    assert reader(app, address) is not None

    page.get_by_role("checkbox", name="Delete my address, choices and history for good").check()
    page.get_by_role("button", name="Delete my data").click()
    expect(page.get_by_role("heading", name="Your data is deleted")).to_be_visible()
    look(shots, page, "10-data-deleted")
    assert reader(app, address) is None

    # The old link now leads to a clear page, not an error.
    response = page.goto(preferences_url)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We could not use this link")).to_be_visible()
    look(shots, page, "11-link-invalid")


def test_keywords_in_the_preference_centre(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "kestrel.fan@example.org"
    preferences_url = signed_up_preferences(
        live_server, smtp_server, {"email": address, "keywords": ["reservoir"]}
    )

    page = new_page()
    page.goto(preferences_url)
    field = page.get_by_label("Alert me to stories that mention")
    expect(field).to_have_value("reservoir")
    field.fill('"Central Bank" Kestrel')
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(field).to_have_value("Central Bank; Kestrel")
    stored = reader(app, address)
    assert stored is not None and stored["keywords"] == ["Central Bank", "Kestrel"]
    look(shots, page, "12-keywords")

    # Too many: a clear message, what was typed kept in the field, nothing changed.
    typed = "; ".join(f"word{number}" for number in range(11))
    field.fill(typed)
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("alert")).to_contain_text("at most 10 keywords")
    expect(page.get_by_label("Alert me to stories that mention")).to_have_value(typed)
    stored = reader(app, address)
    assert stored is not None and stored["keywords"] == ["Central Bank", "Kestrel"]

    # The keywords are in "download my data".
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["keywords"] == ["Central Bank", "Kestrel"]


def keyword_alerts_of(app: Flask, email: str) -> bool:
    with app.extensions["newsalerts"].runtime.session() as session:
        chosen = session.scalar(select(Subscriber.keyword_alerts).where(Subscriber.email == email))
        return bool(chosen)


def test_keyword_alerts_as_it_happens_in_the_preference_centre(
    new_page: Callable[..., Page],
    live_server: str,
    app: Flask,
    smtp_server: RecordingSMTPServer,
    topics: list[str],
    shots: Screenshots,
) -> None:
    address = "reservoir.watcher@example.org"
    preferences_url = signed_up_preferences(
        live_server, smtp_server, {"email": address, "keywords": ["reservoir"]}
    )

    # Where a keyword alert's "Turn keyword alerts off" link lands.
    page = new_page()
    page.goto(preferences_url + "#keyword-alerts")
    choice = page.get_by_role("checkbox", name="Also email me as it happens")
    expect(choice).to_be_visible()
    expect(choice).not_to_be_checked()  # off unless the reader asks
    expect(page.locator("#keyword-alerts")).to_contain_text("at most one email every 60 minutes")
    choice.check()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.get_by_role("checkbox", name="Also email me as it happens")).to_be_checked()
    assert keyword_alerts_of(app, address)
    look(shots, page, "13-keyword-alerts")

    page.get_by_role("checkbox", name="Also email me as it happens").uncheck()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    assert not keyword_alerts_of(app, address)
    stored = reader(app, address)
    assert stored is not None and stored["keywords"] == ["reservoir"]  # the words stay
