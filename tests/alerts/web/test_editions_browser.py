"""A reader turns one edition off on their preferences page, in a real headless Chromium, and
keeps the other; the page fits at 1280 and at 390 px without scrolling sideways, and the
unsubscribe page behind an edition's link does too."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from alerts.editions.schedules import EditionInput, create_edition, ensure_default_editions
from alerts.mail.notices import reader_links
from subscribers.database import utcnow
from subscribers.editions import editions_off
from subscribers.models import Subscriber, SubscriberStatus
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from tests.alerts.web.app_support import BASE_URL, SECRET, app_session, link_key, link_token
from tests.alerts.web.browser import DESKTOP, PHONE, low_contrast


def _overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(width, 0)


def _reader_with_two_editions(app: Flask) -> int:
    with app_session(app) as session:
        now = utcnow()
        ensure_default_editions(session, now=now)
        reader = add_subscriber(
            session, email="ada@example.com", origin=Origin("test"), hash_key=SECRET,
            topics=["Harbour City election"], timezone="Europe/Paris", confirmed=True,
        )  # fmt: skip
        create_edition(
            session, slug="election", now=now,
            data=EditionInput(
                name="Election night: every count, every seat, every result as it comes in",
                topic_slugs=["harbour-city-election"],
            ),
        )  # fmt: skip
        session.commit()
        return reader.id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_a_reader_turns_one_edition_off_and_keeps_the_other(
    app: Flask, live_server: str, page: Page, viewport: dict[str, int]
) -> None:
    reader = _reader_with_two_editions(app)
    page.set_viewport_size({"width": viewport["width"], "height": viewport["height"]})
    page.goto(f"{live_server}/preferences/{link_token(app, Purpose.PREFERENCES, reader)}")

    editions = page.locator("#editions")
    daily = editions.get_by_role("checkbox", name="Daily briefing")
    election = editions.get_by_role("checkbox", name="Election night")
    expect(daily).to_be_checked()
    expect(election).to_be_checked()
    assert editions.get_by_role("checkbox").count() == 2  # not the weekly round-up
    assert _overflow(page) == 0
    assert low_contrast(page) == []

    election.uncheck()
    page.get_by_role("button", name="Save my choices").click()

    expect(page.get_by_role("status")).to_contain_text("Your changes are saved.")
    expect(
        page.locator("#editions").get_by_role("checkbox", name="Election night")
    ).not_to_be_checked()
    expect(page.locator("#editions").get_by_role("checkbox", name="Daily briefing")).to_be_checked()
    assert _overflow(page) == 0
    with app_session(app) as session:
        assert editions_off(session, reader) == ["election"]

    # The daily briefing's own unsubscribe link: every way out, and still no sideways scroll.
    settings = app.extensions["newsalerts"].runtime.settings
    links = reader_links(
        settings, reader, "ada@example.com", link_key=link_key(app, reader), edition="daily"
    )
    page.goto(live_server + links.unsubscribe_url.removeprefix(BASE_URL))
    for button in ("Stop this edition", "Send me a weekly email", "Pause", "Unsubscribe from"):
        expect(page.get_by_role("button", name=button)).to_be_visible()
    assert _overflow(page) == 0
    assert low_contrast(page) == []
    page.get_by_role("button", name="Stop this edition").click()
    expect(page.get_by_role("status")).to_contain_text("You will no longer get this edition.")
    with app_session(app) as session:
        assert editions_off(session, reader) == ["daily", "election"]
        subscriber = session.get(Subscriber, reader)
        assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE
