"""The operators' console in a real headless Chromium.

The live test: PostgreSQL, a real `celery worker` process and a real SMTP server on loopback,
slowed so that a send of a few thousand messages takes half a minute or more. While it runs
an operator signs in to /ops and watches the send's progress bar, rate and failures move
(and the same figures in GET /metrics), pauses it and sees the relay receive no more than
the group each batch had in flight, resumes it and sees it finish: every reader gets
exactly one message, and the ledger agrees.

The still test: a morning stuck with no worker (the unhealthy banner), and the failures page.

Screenshots go to a temporary folder; set NEWSALERTS_SCREENSHOTS=docs/screenshots to keep
`ops-console.png` (the live send) and `ops-failures.png`.
"""

from __future__ import annotations

import random
import re
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from alerts.config import Settings, load_settings
from alerts.editions.schedules import ensure_default_editions
from alerts.jobs import send_now
from alerts.models import Article, BreakingAlert, Delivery, DeliveryStatus, Edition, Issue, Role
from alerts.tasks.app import QUEUES, create_celery
from alerts.tasks.handlers import SEND_BATCH
from alerts.tasks.queues import PUBLISHED_AT, read_broker
from alerts.web import ops as ops_views
from subscribers.database import utcnow
from tests.alerts.web.browser import DESKTOP, low_contrast, screenshot_folder
from tests.support.builders import reader
from tests.support.ledger import ledger_rows, reader_address, seed_readers_in_bulk
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.sending import app_runtime
from tests.support.smtp_server import RecordingSMTPServer
from tests.support.staff import PASSWORD, make_staff

OPERATOR = "night-shift@newsroom.example.com"
# The live send: batches of BATCH readers, GROUP messages marked "sending" per commit, two
# pool processes, and a relay that takes RELAY_SECONDS over each message, so at most about
# 100 messages a second arrive however fast the machine is.
LIVE_READERS = 3000
BATCH = 100
GROUP = 10
CONCURRENCY = 2
RELAY_SECONDS = 0.02
# After a pause, at most the group each running batch has in flight still reaches the relay.
IN_FLIGHT = GROUP * CONCURRENCY
# Readers the relay refuses at RCPT: three in the first batch (so failures show early), two
# later. Permanent failures, never retried.
REFUSED = (3, 40, 77, 1500, 2999)
# The still test's ledger.
READERS = 420


@pytest.fixture
def web_settings(database_url: str, broker_url: str, smtp_server: RecordingSMTPServer) -> Settings:
    """Plain http, so the browser keeps the session cookie on the loopback server, and a
    real Redis broker: what the console publishes goes to Celery."""
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="web-test-secret-key-0123456789abcdef",
        base_url="http://127.0.0.1",
        password_hash_cost="fast",
        redis_url=broker_url,
        batch_size=BATCH,
        _env_file=None,
    )


@pytest.fixture
def worker(
    database_url: str, broker_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Iterator[Path]:
    """A `celery worker` process with CONCURRENCY pool processes; yields its log."""
    log = tmp_path / "worker.log"
    environment = process_environment(
        database_url=database_url,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BATCH_SIZE=str(BATCH),
        SEND_GROUP_SIZE=str(GROUP),
    )
    process = start_worker(environment, log, concurrency=CONCURRENCY)
    try:
        yield log
    finally:
        stop_worker(process)


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
                            status=status, article_ids=[], created_at=planned,
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


def sign_in(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/ops")


def open_console(browser: Browser, live_server: str) -> tuple[Page, list[str]]:
    """A signed-in operator's console, and a list that collects script errors and any
    answer the console's requests did not expect."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda answer: errors.append(f"{answer.status} {answer.url}")
            if answer.status >= 400 and "favicon" not in answer.url else None)  # fmt: skip
    sign_in(page, live_server)
    return page, errors


# --- the still test: no worker ------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_console_when_no_worker_takes_the_queued_work(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    issue_id = seed_a_morning(app)
    celery = create_celery(app_runtime(app).settings)
    for number in range(12):  # queued minutes ago, and no worker to take them
        celery.send_task(SEND_BATCH, args=[[number]], headers={PUBLISHED_AT: time.time() - 340})
    celery.close()
    make_staff(app, OPERATOR, Role.OPERATOR)
    folder = screenshot_folder(tmp_path)
    page, errors = open_console(browser, live_server)
    try:
        expect(page.get_by_role("heading", name="Morning briefing")).to_be_visible()
        expect(page.get_by_role("heading", name="Breaking: Dam breaks upstream")).to_be_visible()
        expect(page.locator(f'[data-figure="send.issue-{issue_id}.sent"]')).to_have_text("130")
        expect(page.locator(f'[data-figure="send.issue-{issue_id}.eta"]')).to_have_text("in 23 min")
        assert page.locator("#chart svg").count() == 1
        expect(page.get_by_role("heading", name="Unhealthy")).to_be_visible()
        expect(page.get_by_text("12 tasks are queued and no worker answers")).to_be_visible()
        expect(page.locator('[data-figure="queue.newsalerts.waiting"]').first).to_have_text("12")
        expect(page.get_by_text("No worker answers.")).to_be_visible()
        assert low_contrast(page) == []
        page.screenshot(path=str(tmp_path / "ops-console-no-worker.png"), full_page=True)

        page.goto(f"{live_server}/ops/failures")
        expect(page.get_by_role("button", name="Retry these")).to_have_count(3)  # 421, per domain
        assert low_contrast(page) == []
        page.screenshot(path=str(folder / "ops-failures.png"), full_page=True)
        assert errors == []
    finally:
        page.context.close()


# --- the live test: a worker, a relay, thousands of readers -----------------------------


def count(locator: Locator) -> int:
    """A figure on the page as a number ("1,234" -> 1234)."""
    return int(locator.inner_text().replace(",", ""))


def wait_until_above(page: Page, selector: str, floor: int, timeout: float = 30_000) -> None:
    """Wait until the page's script shows a figure above `floor`."""
    page.wait_for_function(
        "([selector, floor]) => parseInt("
        "document.querySelector(selector).textContent.replace(/,/g, ''), 10) > floor",
        arg=[selector, floor],
        timeout=timeout,
    )


def send_metrics(live_server: str, send: str) -> dict[str, float]:
    """The send's series in GET /metrics: its rows by state, `per_minute` and `paused`."""
    with urllib.request.urlopen(f"{live_server}/metrics", timeout=20) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("send") != send:
                continue
            if sample.name == "newsalerts_send_deliveries":
                found[sample.labels["state"]] = sample.value
            elif sample.name == "newsalerts_send_messages_per_minute":
                found["per_minute"] = sample.value
            elif sample.name == "newsalerts_send_paused":
                found["paused"] = sample.value
    return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout:.0f} s")
        time.sleep(0.2)


def at_rest(app: Flask, broker_url: str, issue_id: int) -> bool:
    """Nothing of the issue can move: no row claimed or in an SMTP exchange, and no task
    queued or taken by a worker (a paused send's queued batches are taken and dropped)."""
    with app_runtime(app).session() as session:
        moving = session.scalar(
            select(func.count()).where(
                Delivery.issue_id == issue_id,
                Delivery.status.in_([DeliveryStatus.CLAIMED, DeliveryStatus.SENDING]),
            )
        )
    with redis.Redis.from_url(broker_url) as client:
        broker = read_broker(client, queues=QUEUES, now=time.time())
    return moving == 0 and broker.waiting == 0 and broker.unacked == 0


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_operator_watches_pauses_and_resumes_a_live_send(
    app: Flask, live_server: str, browser: Browser, database_url: str, broker_url: str,
    smtp_server: RecordingSMTPServer, worker: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(ops_views, "REFRESH_SECONDS", 1)  # the page's script polls every 1 s
    seed_readers_in_bulk(database_url, LIVE_READERS, now=utcnow())
    for number in REFUSED:
        smtp_server.refuse(reader_address(number), "550 5.1.1 no such user here")
    smtp_server.slow_down(RELAY_SECONDS)
    make_staff(app, OPERATOR, Role.OPERATOR)
    runtime, publish = app_runtime(app), app.extensions["newsalerts"].publish
    with runtime.session() as session:
        ensure_default_editions(session, now=utcnow())
        session.commit()
    # An editor sends today's daily briefing now: planned, and queued to the worker.
    started = send_now(runtime, edition="daily", local_date=None, now=utcnow(),
                       actor="user:desk@newsroom.example.com", publish=publish)  # fmt: skip
    assert started.planned == LIVE_READERS and started.issue_id is not None
    issue_id, key = started.issue_id, f"issue-{started.issue_id}"
    delivered = LIVE_READERS - len(REFUSED)
    folder = screenshot_folder(tmp_path)

    page, errors = open_console(browser, live_server)
    try:
        # At 1280 px the workers table shows whole: nothing of it behind a sideways scroll.
        workers = page.locator("#workers-title + .table-scroll")
        expect(workers.locator("tbody tr")).not_to_have_count(0)
        assert workers.evaluate("box => box.scrollWidth <= box.clientWidth"), "workers cut"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # The send moves on the page: sent, its bar, its rate; the first refusals show.
        figure = f'[data-figure="send.{key}.%s"]'
        sent, rate = page.locator(figure % "sent"), page.locator(figure % "rate")
        bar = page.locator(f'[data-bar="{key}"] [data-part="sent"]')
        expect(page.locator(".badge.open")).to_have_text("sending")
        before, bar_before = count(sent), bar.get_attribute("style")
        wait_until_above(page, figure % "sent", before)
        expect(bar).not_to_have_attribute("style", bar_before or "")
        expect(rate).not_to_have_text("0/min")
        rate_before = rate.inner_text()
        expect(rate).not_to_have_text(rate_before)
        wait_until_above(page, figure % "failed", 2)  # the first batch's three refusals ...
        failures = page.locator("section", has=page.get_by_role("heading", name="Failures, last"))
        expect(failures.locator("tbody tr td")).to_have_text(
            ["550", "example.com", "permanent", re.compile(r"^[3-5]$")]
        )  # ... in the failures table, which appeared by itself
        row = page.locator("tbody tr", has=page.get_by_text(f"celery@{socket.gethostname()}"))
        expect(row.locator("td")).to_have_text(
            [f"celery@{socket.gethostname()}", socket.gethostname(),
             "newsalerts.urgent, newsalerts, newsalerts.feeds", re.compile(r"\d+"),
             str(CONCURRENCY), re.compile(r"\d"), re.compile(r"\d"), "now", "answering"]
        )  # fmt: skip

        # The same send in /metrics, moving too.
        scraped = send_metrics(live_server, key)
        assert sum(scraped[state] for state in ("pending", "sending", "sent", "failed")) == (
            LIVE_READERS
        )
        assert scraped["paused"] == 0 and scraped["per_minute"] > 0
        wait_for(lambda: send_metrics(live_server, key)["sent"] > scraped["sent"],
                 "moving in /metrics")  # fmt: skip
        assert low_contrast(page) == []
        page.screenshot(path=str(folder / "ops-console.png"), full_page=True)
        assert count(sent) < delivered  # still under way: the pause below is mid-send

        # Pause. The relay holds every message while the click goes through (a second or two,
        # well inside the client's SMTP timeout), so `at_click` is exact once the messages
        # already past the hold have landed: after it, each
        # running batch may finish only the group it has in flight.
        smtp_server.hold()
        # A message already past the hold is still in the relay's RELAY_SECONDS: let it land,
        # or it is counted after `at_click` and its sender starts one group more.
        time.sleep(RELAY_SECONDS * 10)
        at_click = len(smtp_server.messages)
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("status").filter(has_text="Paused.")).to_be_visible()
        smtp_server.release()
        wait_for(lambda: at_rest(app, broker_url, issue_id), "at rest after the pause")
        stopped_at = len(smtp_server.messages)
        assert at_click <= stopped_at <= at_click + IN_FLIGHT, (at_click, stopped_at)
        assert stopped_at < delivered
        statuses = Counter(row.status for row in ledger_rows(database_url).values())
        assert statuses[DeliveryStatus.SENT] == stopped_at
        # Nothing held by a worker: every row not sent or refused waits for Resume.
        assert set(statuses) == {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.PENDING}

        # The console says so, with the relay's count, and so does /metrics.
        expect(page.locator(".badge.paused")).to_have_text("paused")
        expect(page.locator(figure % "eta")).to_have_text("paused")
        expect(sent).to_have_text(f"{stopped_at:,}")
        scraped = send_metrics(live_server, key)
        assert (scraped["sent"], scraped["paused"]) == (stopped_at, 1)
        updated = page.locator('[data-figure="updated"]')
        for _ in range(2):  # two more readings of the console: paused means paused
            expect(updated).not_to_have_text(updated.inner_text())
        assert len(smtp_server.messages) == stopped_at
        page.screenshot(path=str(tmp_path / "ops-console-paused.png"), full_page=True)

        # Resume: its waiting rows are queued again, and the send finishes.
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_role("status").filter(has_text="Resumed")).to_be_visible()
        wait_until_above(page, figure % "sent", stopped_at)
        smtp_server.wait_for(delivered, timeout=120)
        expect(page.get_by_text("No send in progress")).to_be_visible(timeout=60_000)
        # The page reloaded itself when the send ended, without announcing "Resumed" again.
        expect(page.get_by_role("status").filter(has_text="Resumed")).to_have_count(0)
        assert page.url == f"{live_server}/ops"
        wait_for(lambda: at_rest(app, broker_url, issue_id), "at rest at the end")
        page.screenshot(path=str(tmp_path / "ops-console-done.png"), full_page=True)
        assert errors == []
    finally:
        page.context.close()

    # Every reader the relay accepted got exactly one message; the ledger agrees.
    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    refused = {reader_address(number) for number in REFUSED}
    assert max(copies.values()) == 1
    assert set(copies) == {reader_address(n) for n in range(LIVE_READERS)} - refused
    ledger = ledger_rows(database_url)
    accepted = {email for email, row in ledger.items() if row.status is DeliveryStatus.SENT}
    assert accepted == set(copies)
    for email in refused:
        assert ledger[email].status is DeliveryStatus.FAILED, email
        assert (ledger[email].smtp_reply or "").startswith("550 5.1.1"), email
    assert send_metrics(live_server, key) == {}  # settled: no longer a send in progress
