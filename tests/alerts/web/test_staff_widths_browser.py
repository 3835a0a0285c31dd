"""Every staff page fits a phone: an admin signs in and visits each page of the desk and the
console at 390 px, and none scrolls sideways; the console fits at 1280 px too. The pages
carry a morning's ledger (sent, failed, suppressed and pending deliveries), a feed with a
long error, an API token, readers with long addresses and the audit these leave, so that
their tables are not empty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from alerts.access.tokens import create_token
from alerts.models import FeedSource, Role
from subscribers.database import utcnow
from tests.alerts.web.app_support import app_session
from tests.alerts.web.browser import DESKTOP, PHONE
from tests.alerts.web.test_ops_browser import seed_a_morning
from tests.support.builders import reader
from tests.support.staff import PASSWORD, make_staff

ADMIN = "admin@newsroom.example.com"


def seed(app: Flask) -> None:
    seed_a_morning(app)
    now = utcnow()
    with app_session(app) as session:
        reader(
            session,
            "a.reader.with.an.exceptionally.long.address.that.never.ends@subdomain.example.com",
            topics=("Climate and the environment in the wider region", "Business"),
        )
        session.add(
            FeedSource(
                url="https://news.example.com/feeds/" + "very-long-section-name/" * 6 + "rss.xml",
                last_fetched_at=now,
                last_status="error",
                last_error="HTTP 404 Not Found: " + "the publisher moved this feed " * 5,
                poll_minutes=15,
                created_at=now,
            )
        )
        create_token(session, name="cms-with-a-long-descriptive-name-for-the-newsroom", now=now)
        session.commit()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(width, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_staff_page_fits_a_phone(app: Flask, live_server: str, page: Page) -> None:
    seed(app)
    make_staff(app, ADMIN, Role.ADMIN)
    today, yesterday = date.today(), date.today() - timedelta(days=1)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/**")
    pages = [
        "/desk",
        f"/desk/editions/morning/issues/{today.isoformat()}",
        f"/desk/editions/morning/issues/{yesterday.isoformat()}",
        "/desk/editions/morning",
        "/desk/results",
        "/desk/results/morning",
        f"/desk/results/morning/{yesterday.isoformat()}",
        "/desk/readers",
        "/desk/readers/import",
        "/desk/topics",
        "/ops",
        "/ops/failures",
        "/ops/feeds",
        "/ops/tokens",
        "/ops/audit",
        "/ops/staff",
        "/account/password",
    ]
    too_wide: dict[str, int] = {}
    for path in pages:
        answer = page.goto(f"{live_server}{path}")
        assert answer is not None and answer.status == 200, path
        if overflow(page):
            too_wide[path] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{live_server}/desk/readers")
    page.locator("main table a[href*='/desk/readers/']").first.click()
    if overflow(page):
        too_wide["a reader's page"] = page.evaluate("document.documentElement.scrollWidth")
    assert too_wide == {}, f"wider than {PHONE['width']} px: {too_wide}"

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server}/ops")
    assert overflow(page) == 0, "the console scrolls sideways at 1280 px"
