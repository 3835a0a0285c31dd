"""/ops/feeds: the feed sources, their last fetch, and what it skipped or why it failed,
filled by real fetches from a feed server on loopback (both database backends)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from alerts.errors import FeedError
from alerts.feeds.ingest import ingest_source, record_failure
from alerts.feeds.polling import set_polling
from alerts.models import Role
from subscribers.database import utcnow
from tests.support.feed_server import FeedServer, Route
from tests.support.staff import signed_in_client

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
