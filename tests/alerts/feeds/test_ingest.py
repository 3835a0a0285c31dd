"""Ingesting a source end to end: local files, and a real HTTP server on loopback."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.demo.run import SAMPLE_FEED
from alerts.errors import FeedError
from alerts.feeds import network
from alerts.feeds.ingest import SourceResult, SourceStatus, ingest_source, record_failure
from alerts.models import Article, FeedSource
from subscribers.models import Topic
from tests.support.feed_server import FeedServer, Route, running_feed_server
from tests.support.rows import count_rows

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>{title}</title><link>https://news.example.com/politics/debate</link>
<guid>news.example.com/article/1</guid><category domain="section">Politics</category>
<category>Harbour City election</category><pubDate>Wed, 25 Nov 2026 08:00:00 +0000</pubDate></item>
<item><title>Reservoirs at record low</title><link>https://news.example.com/science/reservoirs</link>
<category>Drought emergency</category></item>
</channel></rss>
"""


def test_ingest_bundled_sample_feed_from_a_path(session: Session) -> None:
    result = ingest_source(session, str(SAMPLE_FEED), now=NOW)
    assert result == SourceResult(str(SAMPLE_FEED), SourceStatus.INGESTED, created=40)
    assert count_rows(session, Article) == 40
    assert count_rows(session, Topic) == 8
    sections = set(session.scalars(select(Article.section)))
    assert sections == {"Business", "Politics", "Tech", "Science", "Sport", "World"}
    again = ingest_source(session, str(SAMPLE_FEED), now=NOW + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 40)
    assert count_rows(session, Article) == 40
    assert again.describe().endswith(": 0 new, 0 updated, 40 unchanged, 0 skipped")


def test_ingest_from_a_file_url(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "my feed.xml"
    path.write_text(FEED.format(title="Final debate"), encoding="utf-8")
    result = ingest_source(session, path.as_uri(), now=NOW)
    assert result.created == 2
    article = session.scalars(select(Article).where(Article.section == "Politics")).one()
    assert article.source == path.as_uri()
    assert [topic.slug for topic in article.topics] == ["harbour-city-election"]


def test_missing_file_is_a_feed_error(session: Session, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.xml")
    with pytest.raises(FeedError, match="no such file") as caught:
        ingest_source(session, missing, now=NOW)
    assert caught.value.source == missing


def test_unsupported_scheme_is_a_feed_error(session: Session) -> None:
    with pytest.raises(FeedError, match="unsupported scheme 'ftp'"):
        ingest_source(session, "ftp://news.example.com/feed.xml", now=NOW)


def test_a_bad_item_is_skipped_and_counted(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    broken = FEED.format(title="Final debate").replace(
        "<link>https://news.example.com/science/reservoirs</link>", ""
    )
    path.write_text(broken, encoding="utf-8")
    result = ingest_source(session, str(path), now=NOW)
    assert (result.created, result.skipped) == (1, ("no link",))
    assert result.describe() == f"{path}: 1 new, 0 updated, 0 unchanged, 1 skipped: no link ×1"
    assert list(session.scalars(select(Article.title))) == ["Final debate"]


def test_ingest_over_http_with_conditional_get(session: Session, feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed.xml", Route(FEED.format(title="Debate").encode(), etag='"v1"'))
    first = ingest_source(session, url, now=NOW, allow_private=True)
    assert (first.status, first.created) == (SourceStatus.INGESTED, 2)
    source = session.scalars(select(FeedSource)).one()
    assert (source.url, source.etag, source.last_status) == (url, '"v1"', "fetched")

    later = NOW + timedelta(minutes=15)
    second = ingest_source(session, url, now=later, allow_private=True)
    assert second.status is SourceStatus.NOT_MODIFIED
    assert second.describe() == f"{url}: not modified"
    first_headers, second_headers = feed_server.headers_of("/feed.xml")
    assert "If-None-Match" not in first_headers
    assert second_headers["If-None-Match"] == '"v1"'
    assert second_headers["User-Agent"].startswith("newsalerts/0.1")
    session.refresh(source)
    assert (source.last_fetched_at, source.last_status) == (later, "not_modified")

    feed_server.serve(
        "/feed.xml", Route(FEED.format(title="Debate, updated").encode(), etag='"v2"')
    )
    third = ingest_source(session, url, now=later, allow_private=True)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert count_rows(session, Article) == 2
    titles = set(session.scalars(select(Article.title)))
    assert titles == {"Debate, updated", "Reservoirs at record low"}
    assert session.scalars(select(FeedSource)).one().etag == '"v2"'


def test_http_404_is_a_feed_error_and_writes_nothing(
    session: Session, feed_server: FeedServer
) -> None:
    url = feed_server.base_url + "/missing.xml"
    with pytest.raises(FeedError, match="HTTP 404") as caught:
        ingest_source(session, url, now=NOW, allow_private=True)
    assert caught.value.source == url
    assert count_rows(session, FeedSource) == 0


def test_a_slow_server_times_out(session: Session, feed_server: FeedServer) -> None:
    url = feed_server.serve("/slow.xml", Route(FEED.format(title="x").encode(), delay=10))
    with pytest.raises(FeedError, match=r"timed out after 0.3 s"):
        ingest_source(session, url, now=NOW, timeout=0.3, allow_private=True)
    assert count_rows(session, Article) == 0


def test_malformed_feed_over_http_keeps_the_old_validators(
    session: Session, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed.xml", Route(FEED.format(title="Debate").encode(), etag='"v1"'))
    ingest_source(session, url, now=NOW, allow_private=True)
    feed_server.serve("/feed.xml", Route(b"<rss><channel><item>", etag='"broken"'))
    with pytest.raises(FeedError, match=re.escape(f"{url}: line 1: no element found")):
        ingest_source(session, url, now=NOW, allow_private=True)
    assert session.scalars(select(FeedSource)).one().etag == '"v1"'
    assert count_rows(session, Article) == 2


# --- where a fetch may go, and for how long ---------------------------------------------------


def test_a_feed_on_loopback_is_refused_unless_private_addresses_are_allowed(
    session: Session, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/admin/feed.xml", Route(FEED.format(title="Internal").encode()))
    with pytest.raises(FeedError, match=r"127\.0\.0\.1 is not a public address") as caught:
        ingest_source(session, url, now=NOW)
    assert "FEEDS_ALLOW_PRIVATE=true" in caught.value.reason
    assert feed_server.requests == []
    assert count_rows(session, Article) == 0
    assert ingest_source(session, url, now=NOW, allow_private=True).created == 2


def test_a_redirect_to_loopback_is_refused(
    session: Session, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    internal = feed_server.serve("/admin/feed.xml", Route(FEED.format(title="Internal").encode()))
    with running_feed_server("127.0.0.2") as publisher:
        # The publisher stands for a server on the Internet: only its address counts as public.
        monkeypatch.setattr(network, "is_public", lambda address: address == "127.0.0.2")
        url = publisher.serve("/feed.xml", Route(b"", status=302, location=internal))
        with pytest.raises(FeedError, match=r"127\.0\.0\.1 is not a public address") as caught:
            ingest_source(session, url, now=NOW)
    assert caught.value.source == url
    assert [path for path, _ in publisher.requests] == ["/feed.xml"]
    assert feed_server.requests == []
    assert count_rows(session, Article) == 0


def test_a_trickling_server_is_cut_off_at_the_deadline(
    session: Session, feed_server: FeedServer
) -> None:
    # A byte every 0.2 s: no single read ever waits long, the whole would take minutes.
    url = feed_server.serve("/trickle.xml", Route(FEED.format(title="x").encode(), trickle=0.2))
    started = time.monotonic()
    with pytest.raises(FeedError, match=r"timed out after 1 s"):
        ingest_source(session, url, now=NOW, timeout=1.0, allow_private=True)
    assert time.monotonic() - started < 2.5
    assert count_rows(session, Article) == 0


RELATIVE = b"""
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Harbour bridge reopens</title><link>bridge</link><guid>b1</guid></item>
<item><title>Tram line&nbsp;extended</title><link>/news/tram</link><guid>b2</guid></item>
<item><title>Tram line extended (again)</title><link>/news/tram-2</link><guid>b2</guid></item>
</channel></rss>
"""


def test_relative_links_resolve_against_where_the_feed_came_from_after_redirects(
    session: Session, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss/all.xml", Route(RELATIVE))
    moved = feed_server.serve("/old.xml", Route(b"", status=301, location="/rss/all.xml"))
    result = ingest_source(session, moved, now=NOW, allow_private=True)
    assert (result.created, result.skipped, result.notes) == (
        2,
        ("duplicate guid",),
        ("HTML entities read as characters",),
    )
    stored = list(session.execute(select(Article.title, Article.url).order_by(Article.id)))
    assert stored == [
        ("Harbour bridge reopens", feed_server.base_url + "/rss/bridge"),
        ("Tram line extended", feed_server.base_url + "/news/tram"),
    ]
    source = session.scalars(select(FeedSource)).one()
    assert source.last_skips == "duplicate guid ×1 (HTML entities read as characters ×1)"
    assert source.last_error is None


def test_a_failed_fetch_keeps_its_reason_and_the_last_skips(
    session: Session, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed.xml", Route(RELATIVE))
    ingest_source(session, url, now=NOW, allow_private=True)
    session.commit()  # as the CLI and the poller do, once per source
    feed_server.serve("/feed.xml", Route(b"", status=503))
    with pytest.raises(FeedError) as caught:
        ingest_source(session, url, now=NOW, allow_private=True)
    session.rollback()
    record_failure(session, url, caught.value.reason, now=NOW)
    source = session.scalars(select(FeedSource)).one()
    assert (source.last_status, source.last_error) == ("error", "HTTP 503 Service Unavailable")
    assert source.last_skips is not None and source.last_skips.startswith("duplicate guid ×1")
    feed_server.serve("/feed.xml", Route(RELATIVE.replace(b"(again)", b"(third)")))
    ingest_source(session, url, now=NOW, allow_private=True)
    assert (source.last_status, source.last_error) == ("fetched", None)
