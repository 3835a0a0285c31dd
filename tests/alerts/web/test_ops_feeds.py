"""/ops/feeds: the feed sources, their last fetch, and what it skipped or why it failed,
filled by real fetches from a feed server on loopback (both database backends)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.config import Settings
from alerts.errors import FeedError
from alerts.feeds.ingest import ingest_source, record_failure
from alerts.feeds.polling import set_polling
from alerts.models import Article, AuditEvent, FeedSource, Role
from subscribers.database import utcnow
from tests.support.feed_server import FeedServer, Route
from tests.support.staff import csrf_token, signed_in_client

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Harbour bridge reopens</title><link>https://news.example.com/bridge</link></item>
<item><title>A headline with no link &amp; <b>markup</b></title></item>
</channel></rss>
"""


def test_only_operators_see_the_feeds(app: Flask, client: FlaskClient) -> None:
    assert client.get("/ops/feeds").status_code == 303  # to the login page
    assert signed_in_client(app, Role.EDITOR).get("/ops/feeds").status_code == 403
    empty = signed_in_client(app, Role.OPERATOR).get("/ops/feeds")
    assert empty.status_code == 200 and "No feed sources yet" in empty.get_data(as_text=True)


def test_the_feeds_page_shows_the_last_skips_and_the_last_error(
    app: Flask, feed_server: FeedServer
) -> None:
    good = feed_server.serve("/good.xml", Route(FEED))
    bad = feed_server.serve("/bad.xml", Route(b"", status=503))
    with app.extensions["newsalerts"].runtime.session() as session:
        set_polling(session, url=good, minutes=15, now=utcnow())
        ingest_source(session, good, now=utcnow(), allow_private=True)
        set_polling(session, url=bad, minutes=30, now=utcnow())
        session.commit()
        try:
            ingest_source(session, bad, now=utcnow(), allow_private=True)
        except FeedError as error:
            session.rollback()
            record_failure(session, bad, error.reason, now=utcnow())
            session.commit()
    page = signed_in_client(app, Role.OPERATOR).get("/ops/feeds").get_data(as_text=True)
    good_row = page[page.index(good) :]
    assert "15 min" in good_row and "fetched" in good_row
    assert "no link ×1" in good_row[: good_row.index("</tr>")]
    bad_row = page[page.index(bad) :]
    assert "HTTP 503 Service Unavailable" in bad_row[: bad_row.index("</tr>")]


def test_every_console_page_leads_to_the_feeds(app: Flask) -> None:
    client = signed_in_client(app, Role.ADMIN)
    for path in ("/ops", "/ops/failures", "/ops/audit"):
        assert 'href="/ops/feeds"' in client.get(path).get_data(as_text=True), path
    assert 'href="/ops/audit"' in client.get("/ops/feeds").get_data(as_text=True)


def _audited(app: Flask) -> list[tuple[str, str | None]]:
    with app.extensions["newsalerts"].runtime.session() as session:
        return [
            (event.action, event.target)
            for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if event.action.startswith("feed.")
        ]


def test_a_feed_is_added_only_once_it_was_read_and_can_be_changed_and_removed(
    app: Flask, feed_server: FeedServer
) -> None:
    settings: Settings = app.extensions["newsalerts"].runtime.settings
    object.__setattr__(settings, "feeds_allow_private", True)  # the server is on loopback
    good = feed_server.serve("/good.xml", Route(FEED))
    missing = feed_server.serve("/missing.xml", Route(b"not here", status=404))
    html = feed_server.serve(
        "/page.html", Route(b"<!DOCTYPE html><html><body>A page</body></html>")
    )
    client = signed_in_client(app, Role.OPERATOR, "ops@newsroom.example.com")
    token = csrf_token(client)
    for url, reason in ((missing, "404"), (html, "")):
        refused = client.post("/ops/feeds", data={"csrf_token": token, "url": url, "every": "10"})
        assert refused.status_code == 422
        text = refused.get_data(as_text=True)
        assert "Not added: " in text and reason in text
        assert f'value="{url}"' in text  # what was typed is kept
        assert f'<td class="url">{url}</td>' not in text
    added = client.post("/ops/feeds", data={"csrf_token": token, "url": good, "every": "10"})
    assert (added.status_code, added.headers["Location"]) == (303, "/ops/feeds?done=added")
    page = client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Added: its articles are stored" in page and "10 min" in page
    with app.extensions["newsalerts"].runtime.session() as session:
        [source] = session.scalars(select(FeedSource)).all()
        assert session.scalar(select(Article.title)) == "Harbour bridge reopens"
    changed = client.post(
        f"/ops/feeds/{source.id}/interval", data={"csrf_token": token, "every": "60"}
    )
    assert changed.status_code == 303
    assert "60 min" in client.get("/ops/feeds").get_data(as_text=True)
    bad = client.post(f"/ops/feeds/{source.id}/interval", data={"csrf_token": token, "every": "x"})
    assert bad.status_code == 422 and "Not changed: " in bad.get_data(as_text=True)
    removed = client.post(f"/ops/feeds/{source.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert good not in client.get("/ops/feeds").get_data(as_text=True)  # it leaves the list
    assert client.post("/ops/feeds/999999/remove", data={"csrf_token": token}).status_code == 404
    assert _audited(app) == [
        ("feed.added", good),
        ("feed.interval", good),
        ("feed.removed", good),
    ]
