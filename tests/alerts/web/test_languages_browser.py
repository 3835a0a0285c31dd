"""Every reader page in each shipped language, in a real headless Chromium at 1280 and
390 px: in the language asked for, Arabic right to left, and nothing scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from alerts.config import Settings
from subscribers.languages import SHIPPED_LANGUAGES
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import SECRET, app_session, link_token
from tests.alerts.web.browser import DESKTOP, PHONE

# A word each page shows in each language (the English one must not appear elsewhere).
SIGN_UP = {"en": "Sign up", "de": "Anmelden", "fr": "Je m\u2019inscris", "es": "Suscribirme",
           "ar": "اشترك"}  # fmt: skip
BROWSER_LOCALES = {"en": "en-GB", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "ar": "ar-EG"}


@pytest.fixture
def web_settings(live_settings: Settings) -> Settings:
    return live_settings


@pytest.fixture
def browser_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale=BROWSER_LOCALES[request.param])
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _readers(app: Flask, language: str) -> tuple[int, int]:
    """A pending and an active reader in `language`, with long topic names to wrap."""
    with app_session(app) as session:
        ensure_topics(session, ["Harbour City election", "Climate talks in Reykjavík"],
                      public=True)  # fmt: skip
        made = []
        for email, confirmed in ((f"new.{language}", False), (f"known.{language}", True)):
            reader = add_subscriber(
                session,
                email=f"{email}.reader.with.a.long.address@example.com",
                origin=Origin("test"),
                hash_key=SECRET,
                topics=["Harbour City election"],
                confirmed=confirmed,
            )
            reader.language = language
            made.append(reader.id)
        session.commit()
    return made[0], made[1]


def _check(page: Page, url: str, language: str, *, expect_text: str | None = None) -> None:
    page.set_viewport_size(DESKTOP)
    answer = page.goto(url)
    assert answer is not None and answer.status < 500, url
    root = page.evaluate("[document.documentElement.lang, document.documentElement.dir]")
    assert root == [language, "rtl" if language == "ar" else "ltr"], url
    if expect_text is not None:
        assert expect_text in page.inner_text("body"), url
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{url} is {width} px wide at {size['width']} px"


@pytest.mark.parametrize("browser_page", SHIPPED_LANGUAGES, indirect=True)
def test_every_reader_page_in_each_language_fits_a_phone_and_a_desktop(
    app: Flask, live_server: str, browser_page: Page, request: pytest.FixtureRequest
) -> None:
    language = request.node.callspec.params["browser_page"]
    pending, active = _readers(app, language)
    page = browser_page
    # Pages anyone sees: in the browser's language.
    _check(page, f"{live_server}/subscribe", language, expect_text=SIGN_UP[language])
    _check(page, f"{live_server}/archive", language)
    _check(page, f"{live_server}/no/such/page", language)
    _check(page, f"{live_server}/preferences/not-a-token", language)
    # The embed's iframe: in the language the publisher's page asks for.
    _check(page, f"{live_server}/embed/frame?lang={language}", language,
           expect_text=SIGN_UP[language])  # fmt: skip
    # A reader's own pages: in the reader's language.
    confirm = f"{live_server}/confirm/{link_token(app, Purpose.CONFIRM, pending)}"
    _check(page, confirm, language)
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()
    _check(page, page.url, language)  # the "you are subscribed" page
    preferences = link_token(app, Purpose.PREFERENCES, active)
    _check(page, f"{live_server}/preferences/{preferences}", language)
    unsubscribe = f"{live_server}/unsubscribe/{link_token(app, Purpose.UNSUBSCRIBE, active)}"
    _check(page, unsubscribe, language)
    page.locator("#leave-all").click()  # the page offers fewer emails and a pause first
    page.wait_for_load_state()
    _check(page, page.url, language)  # "you are unsubscribed"
    if language != "en":
        assert "Unsubscribe" not in page.inner_text("body")
