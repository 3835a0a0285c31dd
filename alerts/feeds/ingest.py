"""Ingesting one source (a feed URL or a local file) into the article store.

A source is taken whole or not at all: it is fetched (or read) and parsed completely before
anything is written, so a failure raises FeedError with the session untouched. For URLs the
ETag and Last-Modified of the last good fetch are kept in `feed_sources` and sent back, so an
unchanged feed costs one 304 and no parsing. Nothing here commits; the caller commits once
per source, which is what makes a source all-or-nothing in the database too.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import FeedError
from alerts.feeds.articles import IngestResult, upsert_articles
from alerts.feeds.reading import FetchStatus, fetch_feed, parse_feed
from alerts.models import FeedSource

_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class SourceStatus(enum.StrEnum):
    INGESTED = "ingested"
    NOT_MODIFIED = "not_modified"


@dataclass(frozen=True)
class SourceResult:
    """What ingesting one source did."""

    source: str
    status: SourceStatus
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def describe(self) -> str:
        if self.status is SourceStatus.NOT_MODIFIED:
            return f"{self.source}: not modified"
        return (
            f"{self.source}: {self.created} new, {self.updated} updated, {self.unchanged} unchanged"
        )


def ingest_source(
    session: Session,
    source: str,
    *,
    now: datetime,
    timeout: float = 10.0,
    allow_private: bool = False,
) -> SourceResult:
    """Fetch or read `source`, parse it and upsert its articles. Does not commit.

    `source` is an http(s) URL, a file:// URL or a local path. A URL is fetched within
    `timeout` seconds in all, from public addresses only unless `allow_private`
    (`FEEDS_ALLOW_PRIVATE`). Raises FeedError (naming the source) when it cannot be
    fetched, read or parsed; nothing is written in that case.
    """
    source = source.strip()
    match = _URL_SCHEME.match(source)
    scheme = match.group(1).lower() if match else None
    if scheme in ("http", "https"):
        return _ingest_url(session, source, now=now, timeout=timeout, allow_private=allow_private)
    if scheme not in (None, "file"):
        raise FeedError(source, f"unsupported scheme {scheme!r}; use http(s), file:// or a path")
    data = _read_file(source, _local_path(source) if scheme == "file" else Path(source))
    items = parse_feed(data, source=source)
    return _result(source, upsert_articles(session, items, source=source, now=now))


def _ingest_url(
    session: Session, url: str, *, now: datetime, timeout: float, allow_private: bool
) -> SourceResult:
    feed = session.scalar(select(FeedSource).where(FeedSource.url == url))
    fetched = fetch_feed(
        url,
        timeout=timeout,
        etag=feed.etag if feed else None,
        last_modified=feed.last_modified if feed else None,
        allow_private=allow_private,
    )
    if fetched.status is FetchStatus.NOT_MODIFIED:
        result = SourceResult(url, SourceStatus.NOT_MODIFIED)
    else:
        items = parse_feed(fetched.body, source=url, content_type=fetched.content_type)
        result = _result(url, upsert_articles(session, items, source=url, now=now))
    if feed is None:
        feed = FeedSource(url=url, created_at=now)
        session.add(feed)
    feed.etag = fetched.etag
    feed.last_modified = fetched.last_modified
    feed.last_fetched_at = now
    feed.last_status = fetched.status.value
    session.flush()
    return result


def _local_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FeedError(url, f"file:// URLs must be local, not on host {parts.netloc!r}")
    return Path(url2pathname(parts.path))


def _read_file(source: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FeedError(source, "no such file") from None
    except IsADirectoryError:
        raise FeedError(source, "is a directory, not a feed file") from None
    except PermissionError:
        raise FeedError(source, "permission denied") from None
    except OSError as error:
        raise FeedError(source, f"cannot read: {error.strerror or error}") from None


def _result(source: str, ingest: IngestResult) -> SourceResult:
    return SourceResult(
        source,
        SourceStatus.INGESTED,
        created=ingest.created,
        updated=ingest.updated,
        unchanged=ingest.unchanged,
    )
