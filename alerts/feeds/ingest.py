"""Ingesting one source (a feed URL or a local file) into the article store.

A source is fetched (or read) and parsed completely before anything is written, so a source
that cannot be fetched or is not a feed raises FeedError with the session untouched. Items
that cannot be articles are skipped and counted by reason ("no link ×2"); for a URL that
count, or the reason of the last error, is kept on its `feed_sources` row for `feeds list`.
For URLs the ETag and Last-Modified of the last good fetch are kept there too and sent back,
so an unchanged feed costs one 304 and no parsing. Nothing here commits; the caller commits once
per source, which is what makes a source all-or-nothing in the database too.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import FeedError
from alerts.feeds.articles import IngestResult, upsert_articles
from alerts.feeds.reading import FetchStatus, ParsedFeed, fetch_feed, parse_feed
from alerts.models import FeedSource

MAX_ERROR_LENGTH = 500  # the width of feed_sources.last_error
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
    skipped: tuple[str, ...] = ()  # the reason of each item skipped
    notes: tuple[str, ...] = ()  # what was repaired to read it, once per occurrence

    def describe(self) -> str:
        """One line: "SOURCE: 3 new, 0 updated, 0 unchanged, 2 skipped: no link ×2"."""
        if self.status is SourceStatus.NOT_MODIFIED:
            return f"{self.source}: not modified"
        line = (
            f"{self.source}: {self.created} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped"
        )
        if self.skipped:
            return f"{line}: {self.problems()}"
        return f"{line} {self.problems()}".rstrip()

    def problems(self) -> str:
        """The skips counted by reason, then the notes: "no link ×2 (unreadable date ×1)"."""
        notes = f"({tally(self.notes)})" if self.notes else ""
        return f"{tally(self.skipped)} {notes}".strip()


def tally(reasons: Iterable[str]) -> str:
    """Reasons counted, most frequent first: "no link ×2, duplicate guid ×1"."""
    return ", ".join(f"{reason} ×{count}" for reason, count in Counter(reasons).most_common())


def ingest_source(
    session: Session,
    source: str,
    *,
    now: datetime,
    timeout: float = 10.0,
    allow_private: bool = False,
    base: str | None = None,
    language: str = "en",
) -> SourceResult:
    """Fetch or read `source`, parse it and upsert its articles. Does not commit.

    `source` is an http(s) URL, a file:// URL or a local path. A URL is fetched within
    `timeout` seconds in all, from public addresses only unless `allow_private`
    (`FEEDS_ALLOW_PRIVATE`), and its relative links are resolved against where it came
    from; a file's against `base` (an http(s) URL), if given. Raises FeedError (naming the
    source) when it cannot be fetched, read or parsed as a feed; nothing is written then.
    Articles are matched against the readers' keywords in `language` (DEFAULT_LANGUAGE).
    """
    source = source.strip()
    match = _URL_SCHEME.match(source)
    scheme = match.group(1).lower() if match else None
    if scheme in ("http", "https"):
        return _ingest_url(
            session, source, now=now, timeout=timeout, allow_private=allow_private,
            language=language,
        )  # fmt: skip
    if scheme not in (None, "file"):
        raise FeedError(source, f"unsupported scheme {scheme!r}; use http(s), file:// or a path")
    if base is not None and not base.lower().startswith(("http://", "https://")):
        raise FeedError(source, f"the base must be an http(s) URL, not {base!r}")
    data = _read_file(source, _local_path(source) if scheme == "file" else Path(source))
    return _store(session, source, parse_feed(data, source=source, base=base), now, language)


def _ingest_url(
    session: Session, url: str, *, now: datetime, timeout: float, allow_private: bool,
    language: str,
) -> SourceResult:  # fmt: skip
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
        parsed = parse_feed(
            fetched.body, source=url, content_type=fetched.content_type, base=fetched.url or url
        )
        result = _store(session, url, parsed, now, language)
    if feed is None:
        feed = FeedSource(url=url, created_at=now)
        session.add(feed)
    feed.etag = fetched.etag
    feed.last_modified = fetched.last_modified
    feed.last_fetched_at = now
    feed.last_status = fetched.status.value
    feed.last_error = None
    if result.status is SourceStatus.INGESTED:  # a 304 leaves the last fetch's skips shown
        feed.last_skips = result.problems() or None
    session.flush()
    return result


def record_failure(session: Session, url: str, reason: str, *, now: datetime) -> None:
    """Note a failed fetch of a known source: when, and why. Keeps its validators and its
    last skips (they were the last good fetch's). Flushes."""
    feed = session.scalar(select(FeedSource).where(FeedSource.url == url))
    if feed is not None:
        feed.last_fetched_at = now
        feed.last_status = "error"
        feed.last_error = reason[:MAX_ERROR_LENGTH]
        session.flush()


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


def _store(
    session: Session, source: str, parsed: ParsedFeed, now: datetime, language: str
) -> SourceResult:
    ingest: IngestResult = upsert_articles(
        session, parsed.articles, source=source, now=now, language=language,
        new_topics_public=True,
    )  # fmt: skip
    return SourceResult(
        source,
        SourceStatus.INGESTED,
        created=ingest.created,
        updated=ingest.updated,
        unchanged=ingest.unchanged,
        skipped=tuple(skip.reason for skip in parsed.skipped),
        notes=tuple(parsed.notes),
    )
