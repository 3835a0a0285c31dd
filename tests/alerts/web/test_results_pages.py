"""The results pages of the desk: who may see them, what they show after a real send with
clicks, and a photograph of the issue's page in a real Chromium."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Browser
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.models import Article, Click, Issue, Role
from subscribers.database import utcnow
from tests.alerts.web.app_support import BASE_URL
from tests.alerts.web.browser import DESKTOP, low_contrast, screenshot_folder
from tests.support.sending import (
    add_reader,
    add_stories,
    app_runtime,
    backdate_sends,
    images_in,
    links_in,
    relative,
    send_alert,
    send_issue,
    tracked_edition,
)
from tests.support.smtp_server import RecordingSMTPServer
from tests.support.staff import PASSWORD, make_staff, signed_in_client

CHROME = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0"}
STORIES = (
    ("budget-vote-tonight", "Politics", "Budget"),
    ("storm-warning", "Weather", "Storms"),
    ("markets-rally", "Business", "Markets"),
    ("cup-final", "Sport", "Football"),
    ("new-museum-opens", "Culture", "Museums"),
    ("rail-strike-called-off", "Transport", "Rail"),
)
TOPIC_MIXES = [(), ("Budget", "Markets"), ("Storms", "Rail"), ("Football",), ("Museums", "Budget")]
HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def clicked(app: Flask, db: Session, smtp_server: RecordingSMTPServer) -> Issue:
    """Today's issue of a tracked edition sent to 15 readers, who then clicked their
    digests' links through the app (the top stories more than the rest)."""
    now = utcnow()
    tracked_edition(db, clicks=True, opens=True, now=now)
    add_stories(db, now=now, stories=STORIES)
    for number in range(15):
        add_reader(db, f"reader{number}", topics=TOPIC_MIXES[number % len(TOPIC_MIXES)], now=now)
    started = send_issue(app_runtime(app), "morning", now=now)
    received = smtp_server.wait_for(15)
    backdate_sends(db, timedelta(minutes=3))
    client = app.test_client()
    for number, message in enumerate(r.message for r in received):
        tracked = [link for link in links_in(message) if link.startswith(f"{BASE_URL}/c/")]
        for position, link in enumerate(tracked, start=1):
            if (number + position) % (position + 1) == 0:
                assert client.get(relative(link, BASE_URL), headers=CHROME).status_code == 302
        pixels = [src for src in images_in(message) if src.startswith(f"{BASE_URL}/o/")]
        assert len(pixels) == 1
        if number % 3:
            client.get(relative(pixels[0], BASE_URL))
    # Spread the clicks over the last days, as they come in.
    for click_id in db.scalars(select(Click.id)):
        db.execute(
            update(Click)
            .where(Click.id == click_id)
            .values(clicked_at=now - timedelta(days=click_id % 4, minutes=1))
        )
    db.commit()
    issue = db.get(Issue, started.issue_id)
    assert issue is not None
    return issue


def _paths(issue: Issue, alert_id: int = 1) -> list[str]:
    return [
        "/desk/results",
        "/desk/results/morning",
        f"/desk/results/morning/{issue.local_date.isoformat()}",
        f"/desk/results/alert/{alert_id}",
    ]


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, clicked: Issue) -> None:
    client = app.test_client()
    for path in _paths(clicked):
        page = client.get(path)
        assert page.status_code == 303, path
        assert page.headers["Location"].startswith("/login?next=")
        data = client.get(path, headers={"Accept": "application/json"})
        assert data.status_code == 401, path
        assert data.json == {"error": {"field": None, "message": "sign in first"}}


def test_operators_may_not_see_results(app: Flask, clicked: Issue) -> None:
    client = signed_in_client(app, Role.OPERATOR)
    for path in _paths(clicked):
        assert client.get(path).status_code == 403, path


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_editors_and_admins_see_results(
    app: Flask, db: Session, clicked: Issue, role: Role
) -> None:
    alert = send_alert(app_runtime(app), _first_article(db), now=utcnow())
    client = signed_in_client(app, role)
    for path in _paths(clicked, alert_id=alert.alert_id or 0):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "<script" not in answer.get_data(as_text=True)


def _first_article(db: Session) -> int:
    article_id = db.scalar(select(Article.id).order_by(Article.id))
    assert article_id is not None
    return article_id


def test_the_issue_page_shows_counts_articles_and_charts(
    app: Flask, db: Session, clicked: Issue
) -> None:
    client = signed_in_client(app)
    html = client.get(f"/desk/results/morning/{clicked.local_date.isoformat()}").get_data(
        as_text=True
    )
    assert re.search(r'<span class="figure">15</span><span class="what">sent</span>', html)
    assert "readers clicked" in html and "CTR" in html
    assert "unreliable" in html  # the edition tracks opens: labelled as such
    for slug, _section, _topic in STORIES:
        assert f'href="https://news.example.com/{slug}"' in html
    charts = re.findall(r'<svg [^>]*role="img"', html)
    assert len(charts) == 2
    assert "Clicks per position" in html and "Clicks per day" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for external in ("cdn", "<script"):
        assert external not in html.lower()


def test_the_overview_and_the_editions_choices(app: Flask, db: Session, clicked: Issue) -> None:
    client = signed_in_client(app)
    overview = client.get("/desk/results").get_data(as_text=True)
    assert f"/desk/results/morning/{clicked.local_date.isoformat()}" in overview
    assert "Morning briefing" in overview and "Opens" in overview and "unreliable" in overview
    choices = client.get("/desk/results/morning").get_data(as_text=True)
    for heading in ("By position", "By section", "By topic", "Most clicked stories"):
        assert heading in choices
    assert "Politics" in choices and "Football" in choices


@pytest.mark.parametrize(
    "path",
    [
        "/desk/results/nope",
        "/desk/results/nope/2026-11-25",
        "/desk/results/morning/2026-13-01",
        "/desk/results/morning/1999-01-01",
        "/desk/results/alert/999999",
        "/desk/results/alert/99999999999999999999999",
        "/desk/results/alert/2147483648",  # 2**31: once a 500 on PostgreSQL
        "/desk/results/alert/9223372036854775807",
        "/desk/results/alert/0",
    ],
)
def test_unknown_results_are_404(app: Flask, clicked: Issue, path: str) -> None:
    client = signed_in_client(app)
    assert client.get(path).status_code == 404


@HYPOTHESIS
@given(slug=st.text(max_size=60), day=st.text(max_size=20))
def test_garbage_never_breaks_the_results_pages(editor: FlaskClient, slug: str, day: str) -> None:
    for path in (
        f"/desk/results/{quote(slug, safe='')}",
        f"/desk/results/{quote(slug, safe='')}/{quote(day, safe='')}",
    ):
        assert editor.get(path).status_code in (200, 404, 308), path


def test_a_photograph_of_the_issue_results(
    app: Flask, db: Session, clicked: Issue, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    """docs/screenshots/desk-results.png (set NEWSALERTS_SCREENSHOTS=docs/screenshots)."""
    make_staff(app, "editor@newsroom.example.com", Role.EDITOR)
    directory = screenshot_folder(tmp_path)
    page = browser.new_page(viewport=DESKTOP)
    try:
        page.goto(f"{live_server}/desk/results/morning/{clicked.local_date.isoformat()}")
        page.fill("#email", "editor@newsroom.example.com")
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/desk/results/morning/*")
        assert page.locator("svg.chart").count() == 2
        assert low_contrast(page) == []
        page.screenshot(path=str(directory / "desk-results.png"), full_page=True)
    finally:
        page.close()
    assert (directory / "desk-results.png").stat().st_size > 10_000
