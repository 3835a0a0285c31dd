"""Feed sources polled on their interval over real HTTP, failing ones without hammering."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.errors import AlertsError
from alerts.feeds.polling import due_sources, poll_due_sources, set_polling
from alerts.models import Article, FeedSource
from alerts.runtime import Runtime
from tests.factories import utc
from tests.support.feed_server import FeedServer, Route

NOW = utc(2026, 11, 25, 9, 0)
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>{title}</title><link>https://news.example.com/{slug}</link>
<pubDate>Wed, 25 Nov 2026 08:00:00 +0000</pubDate></item>
</channel></rss>
"""


def test_sources_are_due_after_their_interval(session: Session) -> None:
    set_polling(session, url="https://feeds.example.com/a.xml", minutes=15, now=NOW)
    set_polling(session, url="https://feeds.example.com/b.xml", minutes=None, now=NOW)
    assert due_sources(session, now=NOW) == ["https://feeds.example.com/a.xml"]
    with pytest.raises(AlertsError):
        set_polling(session, url="ftp://feeds.example.com/a.xml", minutes=15, now=NOW)
    with pytest.raises(AlertsError):
        set_polling(session, url="https://feeds.example.com/a.xml", minutes=0, now=NOW)


def test_polling_ingests_with_conditional_get_and_backs_off_a_failing_feed(
    settings: Settings, feed_server: FeedServer
) -> None:
    good = feed_server.serve("/good.xml", Route(FEED.format(title="Hello", slug="hello").encode(),
                                                etag='"v1"'))  # fmt: skip
    bad = feed_server.serve("/bad.xml", Route(b"not a feed"))
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session() as session:
            set_polling(session, url=good, minutes=10, now=NOW)
            set_polling(session, url=bad, minutes=10, now=NOW)
            session.commit()
        poll = partial(poll_due_sources, runtime.session, allow_private=True)
        outcomes = {o.url: o for o in poll(now=NOW)}
        assert outcomes[good].result is not None and outcomes[good].result.created == 1
        assert outcomes[bad].error is not None
        with runtime.session() as session:
            failed = session.scalars(select(FeedSource).where(FeedSource.url == bad)).one()
            assert (failed.last_status, failed.last_error) == ("error", outcomes[bad].error)
        # Neither is due again before its interval, the failing one included.
        assert poll(now=NOW + timedelta(minutes=5)) == []
        later = poll(now=NOW + timedelta(minutes=10))
        assert {o.url for o in later} == {good, bad}
        assert feed_server.headers_of("/good.xml")[-1].get("If-None-Match") == '"v1"'
        with runtime.session() as session:
            assert session.scalar(select(func.count()).select_from(Article)) == 1
    finally:
        runtime.close()
