"""The operators' console in a real headless Chromium, during a send.

The ledger holds yesterday's issue (sent in a burst, a few failures) and today's, a third of
the way through with hundreds of readers waiting, plus a paused breaking alert. An operator
signs in, reads the console, watches a figure move as rows are sent behind its back, and
pauses the send. The console is photographed (set NEWSALERTS_SCREENSHOTS=docs/screenshots to
keep `ops-console.png` and `ops-failures.png`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from sqlalchemy import select, update

from alerts.celery_app import create_celery
from alerts.config import Settings, load_settings
from alerts.models import Article, BreakingAlert, Delivery, DeliveryStatus, Edition, Issue, Role
from alerts.queues import PUBLISHED_AT
from alerts.tasks import SEND_BATCH
from subscribers.database import utcnow
from tests.support.builders import reader
from tests.support.smtp_server import RecordingSMTPServer
from tests.support.staff import PASSWORD, make_staff
from tests.web.browser import CHROMIUM, DESKTOP, launch_chromium, low_contrast

READERS = 420
OPERATOR = "night-shift@newsroom.example.com"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    playwright: Playwright
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def web_settings(database_url: str, broker_url: str, smtp_server: RecordingSMTPServer) -> Settings:
    """Plain http, so the browser keeps the session cookie on the loopback server; a real
    Redis broker, with no worker consuming from it."""
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="web-test-secret-key-0123456789abcdef",
        base_url="http://127.0.0.1",
        password_hash_cost="fast",
        redis_url=broker_url,
        _env_file=None,
    )


def seed_a_morning(app: Flask) -> int:
    """Yesterday's issue sent, today's a third sent; returns today's issue id."""
    now, rng = utcnow(), random.Random(7)
    today = date.today()
    with app.extensions["newsalerts"].runtime.session() as session:
        edition = Edition(slug="morning", name="Morning briefing", created_at=now, updated_at=now)
        article = Article(identity_hash="b" * 64, url="https://news.example.com/dam",
                          title="Dam breaks upstream of Riverton", published_at=now)  # fmt: skip
        session.add_all([edition, article])
        session.flush()
        day_before = today - timedelta(days=1)
        yesterday = Issue(edition_id=edition.id, local_date=day_before, pinned_ids=[],
                          dropped_ids=[], created_at=now, updated_at=now)  # fmt: skip
        issue = Issue(edition_id=edition.id, local_date=today, pinned_ids=[], dropped_ids=[],
                      created_at=now, updated_at=now)  # fmt: skip
        alert = BreakingAlert(article_id=article.id, created_by="cli", created_at=now,
                              status="paused")  # fmt: skip
        session.add_all([yesterday, issue, alert])
        session.flush()
        readers = []
        for number in range(READERS):
            domain = ("gmail.example", "yahoo.example", "example.com")[number % 3]
            readers.append(reader(session, f"reader{number}@{domain}").id)
        session.flush()

        def row(subscriber: int, local: date, status: DeliveryStatus, **fields: Any) -> Delivery:
            planned = fields.pop("planned", now - timedelta(minutes=25))
            return Delivery(edition="morning", subscriber_id=subscriber, local_date=local,
                            status=status, window_start=planned - timedelta(days=1),
                            window_end=planned, article_ids=[], created_at=planned,
                            **fields)  # fmt: skip

        rows = []
        for index, subscriber in enumerate(readers):  # yesterday: a 40-minute burst
            at = now - timedelta(hours=23, minutes=rng.uniform(0, 40))
            if index % 97 == 5:
                rows.append(row(subscriber, yesterday.local_date, DeliveryStatus.FAILED,
                                issue_id=yesterday.id, planned=at, claimed_at=at,
                                smtp_reply="550 5.1.1 user unknown",
                                last_error="550 5.1.1 user unknown"))  # fmt: skip
            else:
                rows.append(row(subscriber, yesterday.local_date, DeliveryStatus.SENT,
                                issue_id=yesterday.id, planned=at, sent_at=at,
                                smtp_reply="250 ok"))  # fmt: skip
        for index, subscriber in enumerate(readers):  # today: a third through
            if index < 130:
                at = now - timedelta(minutes=rng.uniform(0, 20))
                rows.append(row(subscriber, today, DeliveryStatus.SENT, issue_id=issue.id,
                                sent_at=at, smtp_reply="250 ok"))  # fmt: skip
            elif index < 136:
                rows.append(row(subscriber, today, DeliveryStatus.FAILED, issue_id=issue.id,
                                claimed_at=now - timedelta(minutes=3),
                                smtp_reply="421 4.7.28 rate limited, try again later",
                                last_error="421 4.7.28 rate limited, try again later",
                                attempts=5))  # fmt: skip
            elif index < 140:
                rows.append(row(subscriber, today, DeliveryStatus.SUPPRESSED, issue_id=issue.id))
            else:
                rows.append(row(subscriber, today, DeliveryStatus.PENDING, issue_id=issue.id))
        for subscriber in readers[:40]:
            rows.append(row(subscriber, today, DeliveryStatus.PENDING, alert_id=alert.id,
                            planned=now - timedelta(minutes=4)))  # fmt: skip
        for extra in rows[-40:]:
            extra.edition = f"alert-{alert.id}"  # an alert's rows carry its own key
        session.add_all(rows)
        session.commit()
        return issue.id


def send_some(app: Flask, issue_id: int, count: int) -> None:
    """What a worker would do meanwhile: `count` more of the issue's rows sent."""
    with app.extensions["newsalerts"].runtime.session() as session:
        ids = session.scalars(
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.PENDING)
            .limit(count)
        ).all()
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.SENT, sent_at=utcnow(), smtp_reply="250 ok")
        )
        session.commit()


def sign_in(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/ops")


def test_the_console_during_a_send(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    issue_id = seed_a_morning(app)
    celery = create_celery(app.extensions["newsalerts"].runtime.settings)
    for number in range(12):  # queued minutes ago, and no worker to take them
        celery.send_task(SEND_BATCH, args=[[number]], headers={PUBLISHED_AT: time.time() - 340})
    celery.close()
    make_staff(app, OPERATOR, Role.OPERATOR)
    app.extensions["newsalerts"].publish = lambda batches: None  # no worker in this test
    folder = Path(os.environ.get("NEWSALERTS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []  # script errors, and answers the console's requests did not expect
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda answer: errors.append(f"{answer.status} {answer.url}")
            if answer.status >= 400 and "favicon" not in answer.url else None)  # fmt: skip
    try:
        sign_in(page, live_server)
        expect(page.get_by_role("heading", name="Morning briefing")).to_be_visible()
        expect(page.get_by_role("heading", name="Breaking: Dam breaks upstream")).to_be_visible()
        sent = page.locator(f'[data-figure="send.issue-{issue_id}.sent"]')
        expect(sent).to_have_text("130")
        assert page.locator("#chart svg").count() == 1
        expect(page.get_by_role("heading", name="Unhealthy")).to_be_visible()
        expect(page.get_by_text("12 tasks are queued and no worker answers")).to_be_visible()
        expect(page.locator('[data-figure="queue.newsalerts.waiting"]').first).to_have_text("12")
        assert low_contrast(page) == []
        page.screenshot(path=str(folder / "ops-console.png"), full_page=True)

        send_some(app, issue_id, 25)  # the script picks this up within a refresh or two
        expect(sent).to_have_text("155", timeout=15_000)
        assert errors == []

        page.get_by_role("button", name="Pause").first.click()
        expect(page.get_by_role("status").filter(has_text="Paused.")).to_be_visible()
        with app.extensions["newsalerts"].runtime.session() as session:
            issue = session.get(Issue, issue_id)
            assert issue is not None and issue.status.value == "paused"

        page.goto(f"{live_server}/ops/failures")
        expect(page.get_by_role("button", name="Retry these")).to_have_count(3)  # 421, per domain
        assert low_contrast(page) == []
        page.screenshot(path=str(folder / "ops-failures.png"), full_page=True)
    finally:
        context.close()
