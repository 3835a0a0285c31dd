"""News feeds: fetching them over HTTP, and reading RSS 2.0, Atom and JSON Feed into articles.

How a feed item says what an article has (the same for every format where it can):

- identity: RSS ``<guid>``, Atom ``<id>``, JSON Feed ``id``; without one, the item's link.
- section: a category marked as the section, i.e. RSS ``<category domain="section">Business
  </category>``, Atom ``<category scheme="section" term="Business"/>``, or the JSON Feed
  extension ``"_newsalerts": {"section": "Business"}``. The first one wins; it is not a topic.
- topics: every other RSS/Atom category (its term) and every JSON Feed tag.
- summary: the summary/description, else the first content; sanitised (HTML). JSON Feed's
  ``summary`` is plain text and is escaped.
- image: ``media:content`` (an image, or untyped), ``media:thumbnail``, an ``image/*``
  enclosure, or JSON Feed ``image`` / ``banner_image``. Only http(s) images are kept.
- published: the published date, else the updated date. An item with no date gets None (the
  store then uses the time it first saw it); a date that cannot be read is an error.
- breaking: feeds cannot say it; only the API marks an article as breaking.

A feed is taken whole or not at all: XML that is not well-formed (a truncated download looks
just like that), JSON that is not a JSON Feed, or any item without a link or title raises
FeedError naming the source, and nothing from it is returned.
"""

from __future__ import annotations

import enum
import html
import io
import json
import time
import xml.parsers.expat
import xml.sax
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from alerts.errors import ArticleError, FeedError
from alerts.feeds.articles import ArticleInput, plain_text
from alerts.feeds.network import RefusedAddress, guarded_transport

USER_AGENT = "newsalerts/0.1 (+https://github.com/newsalerts)"
MAX_FEED_BYTES = 10 * 1024 * 1024
SECTION_SCHEME = "section"
JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


def parse_feed(data: bytes, *, source: str, content_type: str | None = None) -> list[ArticleInput]:
    """Read a whole feed document; raise FeedError (naming `source`) if any of it is bad."""
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{" or (start != b"<" and content_type and "json" in content_type.lower()):
        return _parse_json_feed(data, source)
    return _parse_xml_feed(data, source, content_type)


def _parse_xml_feed(data: bytes, source: str, content_type: str | None) -> list[ArticleInput]:
    headers = {"content-type": content_type} if content_type else None
    # A stream, never bytes: feedparser would treat a body like b"/etc/passwd" as a file name.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    problem = parsed.get("bozo_exception")
    where = ""
    if isinstance(problem, xml.sax.SAXParseException):
        where = _xml_error_location(data) or problem.getMessage()
    if not parsed.get("version"):
        raise FeedError(source, "not an RSS, Atom or JSON feed" + (f" ({where})" if where else ""))
    if where:
        raise FeedError(source, where)
    return _articles(source, parsed.entries, _xml_item)


def _xml_error_location(data: bytes) -> str | None:
    """Where the document stops being XML, counted in the caller's bytes.

    feedparser re-encodes the document before parsing, which shifts its line numbers; expat on
    the original bytes points at the line the publisher will see in their own file.
    """
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        return f"line {error.lineno}: {xml.parsers.expat.ErrorString(error.code)}"
    return None  # well-formed as bytes: the problem was an encoding feedparser was told about


def _xml_item(entry: dict[str, Any]) -> dict[str, Any]:
    tags = entry.get("tags") or []
    sections = [t.get("term") for t in tags if (t.get("scheme") or "").lower() == SECTION_SCHEME]
    terms = [t.get("term") for t in tags if (t.get("scheme") or "").lower() != SECTION_SCHEME]
    contents = entry.get("content") or [{}]
    author = (entry.get("author_detail") or {}).get("name") or entry.get("author")
    return {
        "guid": entry.get("id"),
        "url": entry.get("link"),
        "title": entry.get("title"),
        "summary": entry.get("summary") or contents[0].get("value") or "",
        "section": sections[0] if sections else None,
        "topics": [term for term in terms if term],
        "author": author,
        "image_url": _xml_image(entry),
        "published_at": _xml_date(entry),
    }


def _xml_image(entry: Mapping[str, Any]) -> str | None:
    candidates = [
        media.get("url")
        for media in entry.get("media_content") or []
        if _is_image(media.get("medium"), media.get("type"))
    ]
    candidates += [thumbnail.get("url") for thumbnail in entry.get("media_thumbnail") or []]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/")
    ]
    return _first_web_url(candidates)


def _is_image(medium: str | None, media_type: str | None) -> bool:
    # Many feeds give media:content neither attribute; their pictures are still pictures.
    if medium is None and media_type is None:
        return True
    return medium == "image" or (media_type or "").startswith("image/")


def _xml_date(entry: dict[str, Any]) -> datetime | None:
    # dict.get, not entry.get: feedparser's own lookup silently (and with a warning) answers
    # "updated" with the published date, which would hide the real fallback order.
    for name in ("published", "updated"):
        parsed = dict.get(entry, f"{name}_parsed")
        if parsed is not None:  # feedparser has already converted it to UTC
            year, month, day, hour, minute, second = parsed[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    for name in ("published", "updated"):
        if dict.get(entry, name):
            raise ArticleError(f"unreadable date {dict.get(entry, name)!r}")
    return None


def _parse_json_feed(data: bytes, source: str) -> list[ArticleInput]:
    try:
        document = json.loads(data)
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise FeedError(source, f"not valid JSON: {error}") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise FeedError(source, "JSON but not a JSON Feed (no jsonfeed.org version)")
    if version not in JSON_FEED_VERSIONS:
        raise FeedError(source, f"unsupported JSON Feed version {version}")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError(source, "JSON Feed has no list of items")
    return _articles(source, items, _json_item)


def _json_item(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ArticleError("is not an object")
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    names = [author.get("name") for author in authors if isinstance(author, dict)]
    extension = item.get("_newsalerts")
    if not isinstance(extension, dict):
        extension = {}
    tags = item.get("tags") or []
    if not isinstance(tags, list):
        raise ArticleError("tags must be a list")
    if item.get("summary"):
        summary = html.escape(str(item["summary"]))
    elif item.get("content_html"):
        summary = str(item["content_html"])
    else:
        summary = html.escape(str(item.get("content_text") or ""))
    return {
        "guid": None if item.get("id") is None else str(item["id"]),
        "url": item.get("url"),
        "title": item.get("title"),
        "summary": summary,
        "section": _optional_string(extension, "section"),
        "topics": [str(tag) for tag in tags],
        "author": next((name for name in names if isinstance(name, str)), None),
        "image_url": _first_web_url([item.get("image"), item.get("banner_image")]),
        "published_at": _json_date(item.get("date_published") or item.get("date_modified")),
    }


def _optional_string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ArticleError(f"{key} must be a string")
    return value


def _json_date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        raise ArticleError(f"unreadable date {value!r}") from None
    if instant.utcoffset() is None:
        raise ArticleError(f"date without a UTC offset {value!r}")
    return instant


def _articles(
    source: str, raw_items: Iterable[Any], read: Callable[[Any], dict[str, Any]]
) -> list[ArticleInput]:
    """Build every item; any problem with one becomes a FeedError for the whole feed."""
    articles = []
    for number, raw in enumerate(raw_items, start=1):
        try:
            fields = read(raw)
            for required, name in (("url", "link"), ("title", "title")):
                if not isinstance(fields.get(required), str) or not fields[required].strip():
                    raise ArticleError(f"has no {name}")
            articles.append(ArticleInput(**fields))
        except (ArticleError, TypeError) as error:
            title = raw.get("title") if isinstance(raw, Mapping) else None
            label = (
                f" ({plain_text(title)[:60]!r})" if isinstance(title, str) and title.strip() else ""
            )
            raise FeedError(source, f"item {number}{label}: {error}") from None
    return articles


def _first_web_url(candidates: Iterable[object]) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip().startswith(("http://", "https://")):
            return candidate.strip()
    return None


class FetchStatus(enum.StrEnum):
    FETCHED = "fetched"
    NOT_MODIFIED = "not_modified"


@dataclass(frozen=True)
class FetchResult:
    """A fetched feed; on NOT_MODIFIED the body is empty and the validators are the ones sent."""

    status: FetchStatus
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


def fetch_feed(
    url: str,
    *,
    timeout: float = 10.0,
    etag: str | None = None,
    last_modified: str | None = None,
    allow_private: bool = False,
    client: httpx.Client | None = None,
) -> FetchResult:
    """GET a feed, conditionally when validators are given, following redirects.

    `timeout` is the whole fetch's: redirects, connecting, and every byte of the body.
    Unless `allow_private` (`FEEDS_ALLOW_PRIVATE`), the feed and every redirect must be on
    public addresses (see alerts.feeds.network). A `client` of the caller's own (tests)
    has neither guard. Bodies over MAX_FEED_BYTES (after decompression) are refused.
    Raises FeedError for network failures, a refused address, and any status other than
    2xx or 304.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    http = client
    if http is None:
        transport = guarded_transport(deadline=deadline, allow_private=allow_private)
        http = httpx.Client(transport=transport, trust_env=False)
    try:
        with http.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=True
        ) as response:
            return _read_response(url, response, etag, last_modified)
    except httpx.TimeoutException:
        raise FeedError(url, f"timed out after {timeout:g} s") from None
    except httpx.TooManyRedirects:
        raise FeedError(url, "too many redirects") from None
    except httpx.ConnectError as error:
        if isinstance(error.__cause__, RefusedAddress):
            raise FeedError(url, f"refused: {error}") from None
        raise FeedError(url, f"cannot connect: {error}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise FeedError(url, f"not a fetchable URL: {error}") from None
    except httpx.HTTPError as error:
        raise FeedError(url, f"request failed: {error}") from None
    finally:
        if client is None:
            http.close()


def _read_response(
    url: str, response: httpx.Response, etag: str | None, last_modified: str | None
) -> FetchResult:
    if response.status_code == 304:
        return FetchResult(
            FetchStatus.NOT_MODIFIED,
            etag=response.headers.get("etag", etag),
            last_modified=response.headers.get("last-modified", last_modified),
        )
    if not response.is_success:
        raise FeedError(url, f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise FeedError(url, f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_FEED_BYTES:
            raise FeedError(url, f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
    return FetchResult(
        FetchStatus.FETCHED,
        body=bytes(body),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_type=response.headers.get("content-type"),
    )
