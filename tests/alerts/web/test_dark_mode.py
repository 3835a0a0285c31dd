"""The reader pages in a real headless Chromium emulating a light and a dark system: every
piece of text meets WCAG AA on the background behind it, the dark scheme is really dark, and
the header carries the brand colour (with dark text on a light one) and the logo.

Screenshots go to the test's temporary folder (NEWSALERTS_SCREENSHOTS to keep them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from alerts.config import Settings
from alerts.mail.branding import DARK_INK, parse_hex_colour, relative_luminance
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import SECRET, app_session, link_token
from tests.alerts.web.browser import DESKTOP, PHONE, low_contrast, screenshot_folder

BRANDS = {
    "default": {},
    "yellow": {"brand_color": "#f5d90a", "site_logo_url": "https://news.example.com/logo.png"},
}


@pytest.fixture(params=sorted(BRANDS))
def brand(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web_settings(live_settings: Settings, brand: str) -> Settings:
    return live_settings.model_copy(update=BRANDS[brand])


@pytest.fixture(params=["light", "dark"])
def scheme_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", color_scheme=request.param)
    context.set_default_timeout(15_000)
    page = context.new_page()
    # The logo's host is not on loopback: refuse it, as a browser offline would fail it.
    page.route("https://**/*", lambda route: route.abort())
    yield page
    context.close()


def _rgb(page: Page, selector: str, prop: str) -> tuple[float, float, float]:
    value = page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", value)[:3])
    return red, green, blue


def _reader(app: Flask) -> int:
    with app_session(app) as session:
        ensure_topics(session, ["Harbour City election", "Chip shortage"], public=True)
        subscriber = add_subscriber(
            session,
            email="ada@example.com",
            origin=Origin("test"),
            hash_key=SECRET,
            topics=["Harbour City election"],
            confirmed=True,
        )
        session.commit()
        return subscriber.id


def test_reader_pages_meet_aa_in_light_and_dark(
    app: Flask, live_server: str, scheme_page: Page, brand: str, tmp_path: Path
) -> None:
    page = scheme_page
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    active = _reader(app)
    pages = {
        "subscribe": f"{live_server}/subscribe",
        "preferences": f"{live_server}/preferences/" + link_token(app, Purpose.PREFERENCES, active),
        "unsubscribe": f"{live_server}/unsubscribe/" + link_token(app, Purpose.UNSUBSCRIBE, active),
        "link-invalid": f"{live_server}/preferences/not-a-token",
        "archive": f"{live_server}/archive",
    }
    folder = screenshot_folder(tmp_path)
    scheme = "dark" if dark else "light"
    for name, url in pages.items():
        answer = page.goto(url)
        assert answer is not None and answer.status < 500, url
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(
                path=str(folder / f"{name}-{brand}-{scheme}-{label}.png"), full_page=True
            )
            assert low_contrast(page) == [], f"{name}, {brand} brand, {scheme}, {label}"
        main = relative_luminance(_rgb(page, "main", "backgroundColor"))
        heading = relative_luminance(_rgb(page, "h1", "color"))
        if dark:
            assert main < 0.05 and heading > 0.5, name
        else:
            assert main > 0.9 and heading < 0.05, name
        header = _rgb(page, "header", "backgroundColor")
        colour = parse_hex_colour(str(BRANDS[brand].get("brand_color", "#14213d")))
        assert header == tuple(float(channel) for channel in colour), name
        if brand == "yellow":
            ink = tuple(float(channel) for channel in parse_hex_colour(DARK_INK))
            assert _rgb(page, "header a", "color") == ink
            assert page.get_attribute("header img", "alt") == "Example News"
            assert page.get_attribute("header img", "width") == "180"


def test_the_logos_origin_may_serve_images_and_no_other(app: Flask, brand: str) -> None:
    policy = app.test_client().get("/subscribe").headers["Content-Security-Policy"]
    images = next(part.strip() for part in policy.split(";") if "img-src" in part)
    if brand == "yellow":
        assert images == "img-src 'self' data: https://news.example.com"
    else:
        assert images == "img-src 'self' data:"
