"""The public archive: "View in your browser" from a real digest, and the edition's list."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.editions.issues import issue_for, pin
from alerts.jobs import prune
from alerts.models import Delivery, Edition, Issue
from subscribers.database import utcnow
from tests.alerts.web.app_support import BASE_URL
from tests.support.sending import (
    add_reader,
    add_stories,
    app_runtime,
    links_in,
    relative,
    send_issue,
    tracked_edition,
)
from tests.support.smtp_server import RecordingSMTPServer

HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def archive_link(app: Flask, db: Session, smtp_server: RecordingSMTPServer) -> str:
    """Today's issue of a tracked edition sent to two readers, the oldest story pinned;
    the digest's "View in your browser" link."""
    now = utcnow()
    edition = tracked_edition(db, clicks=True, opens=True, now=now)
    stories = add_stories(db, now=now)
    issue = issue_for(db, edition, now.date(), now=now)
    pin(issue, stories[-1], now=now)
    db.commit()
    add_reader(db, "ada", topics=("Markets", "Football"), now=now)
    add_reader(db, "bob", topics=("Storms",), now=now)
    send_issue(app_runtime(app), "morning", now=now)
    received = smtp_server.wait_for(2)
    [link] = {
        link
        for r in received
        for link in links_in(r.message)
        if link.startswith(f"{BASE_URL}/archive/")
    }
    return link


def test_view_in_browser_shows_every_story_of_the_issue_and_nothing_of_the_reader(
    client: FlaskClient, archive_link: str
) -> None:
    answer = client.get(relative(archive_link, BASE_URL))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    html = answer.get_data(as_text=True)
    # ada's two stories and bob's one, the pinned one first, linked straight to the site.
    titles = ["Cup final", "Markets rally", "Storm warning"]
    assert [html.index(t) for t in titles] == sorted(html.index(t) for t in titles)
    for slug in ("cup-final", "markets-rally", "storm-warning"):
        assert f'href="https://news.example.com/{slug}"' in html
    assert "All about <em>markets-rally</em>." in html  # the sanitised summary, as HTML
    assert "Business" in html and "Football" in html
    for private in ("ada@", "bob@", "/c/", "/o/", "unsubscribe", "/preferences/", "<img"):
        assert private not in html.lower()


def test_an_issue_keeps_its_stories_after_the_ledger_rows_are_pruned(
    app: Flask, client: FlaskClient, db: Session, archive_link: str
) -> None:
    before = client.get(relative(archive_link, BASE_URL)).get_data(as_text=True)
    # Long after: the daily prune records what each finished issue carried, then drops
    # the ledger rows that said it.
    later = utcnow() + timedelta(days=100)
    prune(app_runtime(app), now=later, keep_days=90)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    after = client.get(relative(archive_link, BASE_URL))
    assert after.status_code == 200
    html = after.get_data(as_text=True)
    for title in ("Cup final", "Markets rally", "Storm warning"):
        assert title in html and title in before
    [issue] = db.scalars(select(Issue)).all()
    assert issue.article_ids is not None and len(issue.article_ids) == 3


def test_the_edition_lists_its_sent_issues(
    app: Flask, client: FlaskClient, db: Session, archive_link: str
) -> None:
    edition = db.query(Edition).filter_by(slug="morning").one()
    issue_for(db, edition, utcnow().date().replace(year=2020), now=utcnow())  # never sent
    db.commit()
    answer = client.get("/archive/morning")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    html = answer.get_data(as_text=True)
    assert f'href="{relative(archive_link, BASE_URL)}"' in html
    assert "2020" not in html


def test_an_issue_nothing_was_sent_in_is_not_found(
    client: FlaskClient, db: Session, archive_link: str
) -> None:
    issue = db.query(Issue).one()
    yesterday = issue.local_date - timedelta(days=1)
    issue_for(db, issue.edition, yesterday, now=utcnow())
    db.commit()
    assert client.get(f"/archive/morning/{yesterday.isoformat()}").status_code == 404
    assert client.get(relative(archive_link, BASE_URL)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/archive/nope",
        "/archive/nope/2026-11-25",
        "/archive/morning/2026-13-01",
        "/archive/morning/20261125",
        "/archive/morning/2026-W48-3",
        "/archive/morning/yesterday",
        "/archive/morning/1999-01-01",
        "/archive/" + "m" * 300 + "/2026-11-25",
    ],
)
def test_addresses_that_are_not_an_issue_get_a_404_page(
    client: FlaskClient, archive_link: str, path: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "public" not in answer.headers.get("Cache-Control", "")
    assert "<h1>Sorry</h1>" in answer.get_data(as_text=True)


@HYPOTHESIS
@given(slug=st.text(max_size=80), day=st.text(max_size=30))
def test_garbage_never_breaks_the_archive(client: FlaskClient, slug: str, day: str) -> None:
    for path in (
        f"/archive/{quote(slug, safe='')}",
        f"/archive/{quote(slug, safe='')}/{quote(day, safe='')}",
    ):
        assert client.get(path).status_code in (200, 404, 308), path


@pytest.mark.parametrize("path", ["/archive", "/archive/"])
def test_the_archive_index_lists_each_edition_with_its_sent_issues(
    client: FlaskClient, db: Session, archive_link: str, path: str
) -> None:
    edition = db.query(Edition).filter_by(slug="morning").one()
    issue_for(db, edition, utcnow().date().replace(year=2020), now=utcnow())  # never sent
    db.commit()
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    html = answer.get_data(as_text=True)
    assert f'href="{relative(archive_link, BASE_URL)}"' in html
    assert 'href="/archive/morning"' in html
    assert "2020" not in html


def test_the_archive_index_of_a_store_that_sent_nothing_says_so(client: FlaskClient) -> None:
    answer = client.get("/archive")
    assert answer.status_code == 200
    assert "No issue has been sent yet." in answer.get_data(as_text=True)
