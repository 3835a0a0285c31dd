"""News feeds: fetching them over HTTP, and reading RSS 2.0, Atom and JSON Feed into articles.

How a feed item says what an article has (the same for every format where it can):

- identity: RSS ``<guid>``, Atom ``<id>``, JSON Feed ``id`` as written (never resolved against
  the document's URL, so a feed read from a new address keeps its items); without one, the
  item's link.
- section: a category marked as the section, i.e. RSS ``<category domain="section">Business
  </category>``, Atom ``<category scheme="section" term="Business"/>``, or the JSON Feed
  extension ``"_newsalerts": {"section": "Business"}``. The first one wins; it is not a topic.
- topics: every other RSS/Atom category (its term) and every JSON Feed tag.
- summary: the summary/description, else the first content; sanitised (HTML). JSON Feed's
  ``summary`` is plain text and is escaped.
- image: ``media:content`` (an image, or untyped), ``media:thumbnail``, an ``image/*``
  enclosure, or JSON Feed ``image`` / ``banner_image``; a relative one resolved like a link.
  Only https images without credentials are kept (alerts.feeds.articles.is_image_url): an
  item whose only images are not is kept without one, and a note says so. Its alt text is
  the item's ``media:description``, else its ``media:title`` (JSON Feed and Atom have
  none: the headline serves); its size, the ``width`` and ``height`` the media element
  states, when it states both.
- published: the published date, else the updated date. An item with no date, or with one
  that cannot be read (``Seg, 24 Set 2018``), gets None: the store then uses the time it first
  saw it, and a note says so for the unreadable ones.
- title: the title, else the first words of the summary.
- link: resolved against ``xml:base`` and the URL the document came from, when relative; so
  are the links inside the summary (without a base, they are dropped and their text kept).
- breaking: feeds cannot say it; only the API marks an article as breaking.

A document that is not a feed (XML that is not well-formed, as a truncated download is, or
JSON that is not a JSON Feed) raises FeedError naming the source. Inside a feed, one bad item
costs only itself: an item with no link, with neither title nor description, with a relative
link and no base, or repeating an earlier item's GUID is skipped with a short reason, and the
rest are kept. What readers forgive in the XML itself is repaired first (alerts.feeds.documents).
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx

from alerts.errors import ArticleError, FeedError
from alerts.feeds.articles import (
    MAX_IMAGE_SIDE,
    ArticleInput,
    identity_of,
    is_image_url,
    plain_text,
    resolve_links,
)
from alerts.feeds.documents import ReadableXml, readable_xml
from alerts.feeds.network import RefusedAddress, guarded_transport

USER_AGENT = "newsalerts/0.1 (+https://github.com/newsalerts)"
MAX_FEED_BYTES = 10 * 1024 * 1024
SECTION_SCHEME = "section"
TITLE_FROM_SUMMARY = 80  # characters of an untitled item's summary that become its title
UNREADABLE_DATE = "unreadable date, time first seen used"
IMAGE_DROPPED = "image not https, dropped"
MEDIA_RSS = "http://search.yahoo.com/mrss/"
# Where the image's description found in the document waits for its item (_media_alts).
_ALT_KEY = "newsalerts_image_alt"
JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True)
class Skip:
    """An item left out of a feed: its position, a short reason (the same words for the same
    problem, so they can be counted) and the detail for this item."""

    number: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed document holds: the articles kept, the items skipped, and notes on what
    was repaired to read it (one per occurrence, e.g. one per unreadable date)."""

    articles: list[ArticleInput] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_feed(
    data: bytes, *, source: str, content_type: str | None = None, base: str | None = None
) -> ParsedFeed:
    """Read a feed document; raise FeedError (naming `source`) if it is not a feed at all.

    `base` is the URL the document came from (after redirects), which relative links are
    resolved against (after any ``xml:base``). Bad items are skipped and reported.
    """
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{" or (start != b"<" and content_type and "json" in content_type.lower()):
        return _parse_json_feed(data, source, base)
    return _parse_xml_feed(data, source, content_type, base)


def _parse_xml_feed(
    data: bytes, source: str, content_type: str | None, base: str | None
) -> ParsedFeed:
    readable = readable_xml(data, content_type=content_type)
    # A stream, never bytes: feedparser would treat a body like b"/etc/passwd" as a file name.
    # The document's URL is not given to feedparser: it would resolve every GUID against it
    # too, so an item's identity would change with the URL the feed was read from (a move to
    # https, a file read with --base). Links, images and summaries are resolved here instead.
    parsed = feedparser.parse(io.BytesIO(readable.data))
    problem = parsed.get("bozo_exception")
    where = ""
    if isinstance(problem, xml.sax.SAXParseException):
        where = _xml_error_location(readable) or problem.getMessage()
    if not parsed.get("version"):
        raise FeedError(source, "not an RSS, Atom or JSON feed" + (f" ({where})" if where else ""))
    if where:
        raise FeedError(source, where)
    alts = _media_alts(readable.data)
    if len(alts) == len(parsed.entries):
        for entry, alt in zip(parsed.entries, alts, strict=True):
            entry[_ALT_KEY] = alt
    feed = _articles(parsed.entries, partial(_xml_item, base=base), base)
    feed.notes[:0] = readable.notes
    return feed


def _media_alts(data: bytes) -> list[str | None]:
    """Each item's (or entry's) image description, in document order: its first
    ``media:description``, else its first ``media:title``, at any depth in the item.

    feedparser reads both as the item's own summary and title, so they are read here
    from the document itself, which is well-formed by now. Expat, as feedparser's own
    parser, expands no external entity."""
    alts: list[str | None] = []
    found: dict[str, str] = {}
    text: list[str] = []
    depth = 0  # of elements inside the current item; 0: outside any item
    capturing: str | None = None

    def start(name: str, _attributes: dict[str, str]) -> None:
        nonlocal depth, capturing
        namespace, _, local = name.rpartition(" ")
        if depth == 0:
            if local in ("item", "entry"):
                depth = 1
                found.clear()
            return
        depth += 1
        if capturing is None and namespace == MEDIA_RSS and local in ("description", "title"):
            capturing = local
            text.clear()

    def end(name: str) -> None:
        nonlocal depth, capturing
        if depth == 0:
            return
        local = name.rpartition(" ")[2]
        if capturing == local and name.startswith(MEDIA_RSS):
            found.setdefault(local, "".join(text))
            capturing = None
        depth -= 1
        if depth == 0:
            alts.append(found.get("description") or found.get("title") or None)

    def characters(data: str) -> None:
        if capturing is not None:
            text.append(data)

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError:
        return []  # not XML as bytes (an encoding feedparser was told of): no descriptions
    return alts


def _xml_error_location(readable: ReadableXml) -> str | None:
    """Where the document stops being XML, counted in the publisher's own lines.

    feedparser re-encodes the document before parsing, which shifts its line numbers; expat on
    the readable bytes, with the blank lines dropped from the top counted back in, points at
    the line the publisher will see in their own file.
    """
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(readable.data, True)
    except xml.parsers.expat.ExpatError as error:
        line = error.lineno + readable.lines_dropped
        return f"line {line}: {xml.parsers.expat.ErrorString(error.code)}"
    return None  # well-formed as bytes: the problem was an encoding feedparser was told about


def _xml_item(entry: dict[str, Any], notes: list[str], *, base: str | None) -> dict[str, Any]:
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
        **_xml_image(entry, base, notes),
        "published_at": _xml_date(entry, notes),
    }


def _xml_image(entry: Mapping[str, Any], base: str | None, notes: list[str]) -> dict[str, Any]:
    """The item's image fields: the first https image of its media elements and image
    enclosures, the size its element states, and the description found for the item."""
    candidates = [
        media
        for media in entry.get("media_content") or []
        if _is_image(media.get("medium"), media.get("type"))
    ]
    candidates += entry.get("media_thumbnail") or []
    candidates += [
        {"url": link.get("href")}
        for link in entry.get("links") or []
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/")
    ]
    dropped = False
    for candidate in candidates:
        url = _web_url(candidate.get("url"), base)
        if url is None:
            continue
        if not is_image_url(url):
            dropped = True
            continue  # a later candidate may be https
        width, height = _pixels(candidate.get("width")), _pixels(candidate.get("height"))
        if width is None or height is None:
            width = height = None
        alt = entry.get(_ALT_KEY)
        return {"image_url": url, "image_alt": alt, "image_width": width, "image_height": height}
    if dropped:
        notes.append(IMAGE_DROPPED)
    return {"image_url": None}


def _pixels(value: object) -> int | None:
    """A side in pixels as a media element states it ("675"); None when it is no whole
    number in range, as ``100%`` or ``0`` are."""
    if not isinstance(value, str) or not value.strip().isdigit():
        return None
    number = int(value.strip()[:6])
    return number if 1 <= number <= MAX_IMAGE_SIDE else None


def _is_image(medium: str | None, media_type: str | None) -> bool:
    # Many feeds give media:content neither attribute; their pictures are still pictures.
    if medium is None and media_type is None:
        return True
    return medium == "image" or (media_type or "").startswith("image/")


def _xml_date(entry: dict[str, Any], notes: list[str]) -> datetime | None:
    # dict.get, not entry.get: feedparser's own lookup silently (and with a warning) answers
    # "updated" with the published date, which would hide the real fallback order.
    for name in ("published", "updated"):
        parsed = dict.get(entry, f"{name}_parsed")
        if parsed is not None:  # feedparser has already converted it to UTC
            year, month, day, hour, minute, second = parsed[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    if any(dict.get(entry, name) for name in ("published", "updated")):
        notes.append(UNREADABLE_DATE)
    return None


def _parse_json_feed(data: bytes, source: str, base: str | None) -> ParsedFeed:
    notes = []
    try:
        try:
            document = json.loads(data)
        except UnicodeDecodeError:
            document = json.loads(data.decode("utf-8", errors="replace"))
            notes.append("bytes not valid utf-8 replaced with U+FFFD")
    except ValueError as error:
        raise FeedError(source, f"not valid JSON: {error}") from None
    except RecursionError:
        raise FeedError(source, "not valid JSON: nested too deeply") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise FeedError(source, "JSON but not a JSON Feed (no jsonfeed.org version)")
    if version not in JSON_FEED_VERSIONS:
        raise FeedError(source, f"unsupported JSON Feed version {version}")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError(source, "JSON Feed has no list of items")
    feed = _articles(items, partial(_json_item, base=base), base)
    feed.notes[:0] = notes
    return feed


def _json_item(item: object, notes: list[str], *, base: str | None) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ArticleError("not an object")
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    names = [author.get("name") for author in authors if isinstance(author, dict)]
    extension = item.get("_newsalerts")
    if not isinstance(extension, dict):
        extension = {}
    tags = item.get("tags") or []
    if not isinstance(tags, list):
        raise ArticleError("tags must be a list", field="topics")
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
        "image_url": _json_image([item.get("image"), item.get("banner_image")], base, notes),
        "published_at": _json_date(item.get("date_published") or item.get("date_modified"), notes),
    }


def _optional_string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ArticleError(f"{key} must be a string", field=key)
    return value


def _json_date(value: object, notes: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        notes.append(UNREADABLE_DATE)
        return None
    if instant.utcoffset() is None:
        notes.append(UNREADABLE_DATE)
        return None
    return instant


def _articles(
    raw_items: Iterable[Any], read: Callable[[Any, list[str]], dict[str, Any]], base: str | None
) -> ParsedFeed:
    """Build every item that can be an article; skip the others, saying why.

    An item without a title is titled with the first words of its summary; a relative link
    is resolved against `base` (feedparser has already applied ``xml:base``); an item whose
    identity (GUID, else link) repeats an earlier one is a duplicate and skipped."""
    feed = ParsedFeed()
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_items, start=1):
        notes: list[str] = []
        try:
            fields = read(raw, notes)
            fields["url"] = _absolute_link(fields.get("url"), base)
            if base is not None and isinstance(fields.get("summary"), str):
                fields["summary"] = resolve_links(fields["summary"], base)
            if not isinstance(fields.get("title"), str) or not plain_text(fields["title"]):
                fields["title"] = _first_words(fields.get("summary"))
            article = ArticleInput(**fields)
        except ArticleError as error:
            feed.skipped.append(Skip(number, _reason(error), f"{_label(raw)}{error.reason}"))
            continue
        except TypeError as error:
            feed.skipped.append(Skip(number, "malformed item", f"{_label(raw)}{error}"))
            continue
        identity = identity_of(article)
        if identity in seen:
            kind = "guid" if article.guid is not None else "link"
            feed.skipped.append(
                Skip(number, f"duplicate {kind}", f"{_label(raw)}same as item {seen[identity]}")
            )
            continue
        seen[identity] = number
        feed.articles.append(article)
        feed.notes.extend(notes)
    return feed


def _absolute_link(link: object, base: str | None) -> str:
    if not isinstance(link, str) or not link.strip():
        raise ArticleError("has no link", field="link")
    link = link.strip()
    if urlsplit(link).scheme:
        return link
    if base is None:
        raise ArticleError(f"relative link {link[:80]!r} and no base URL", field="relative link")
    return urljoin(base, link)


def _first_words(summary: object) -> str:
    """A title for an item that has none: the start of its summary, cut at a word."""
    text = plain_text(summary) if isinstance(summary, str) else ""
    if not text:
        raise ArticleError("has no title or description", field="untitled")
    if len(text) <= TITLE_FROM_SUMMARY:
        return text
    cut = text[: TITLE_FROM_SUMMARY + 1].rsplit(" ", 1)[0] or text[:TITLE_FROM_SUMMARY]
    return cut.rstrip(" ,;:.") + "…"


def _reason(error: ArticleError) -> str:
    """The short, countable reason for a skipped item."""
    if error.field == "link":
        return "no link"
    if error.field == "relative link":
        return "relative link"
    if error.field == "untitled":
        return "no title or description"
    if error.field == "url":
        return "link not http(s)"
    if error.field is None:
        return error.reason
    return f"bad {error.field}"


def _label(raw: object) -> str:
    title = raw.get("title") if isinstance(raw, Mapping) else None
    return f"{plain_text(title)[:60]!r}: " if isinstance(title, str) and title.strip() else ""


def _web_url(candidate: object, base: str | None) -> str | None:
    """The candidate as an absolute http(s) URL, resolved against `base` when relative;
    None when it is none."""
    if not isinstance(candidate, str) or not candidate.strip():
        return None
    url = candidate.strip()
    if base is not None and not urlsplit(url).scheme:
        url = urljoin(base, url)
    return url if url.startswith(("http://", "https://")) else None


def _json_image(candidates: Iterable[object], base: str | None, notes: list[str]) -> str | None:
    """The first candidate that is an https image URL; a note when there are web URLs
    but none of them is one."""
    urls = [url for url in (_web_url(candidate, base) for candidate in candidates) if url]
    kept = next((url for url in urls if is_image_url(url)), None)
    if urls and kept is None:
        notes.append(IMAGE_DROPPED)
    return kept


class FetchStatus(enum.StrEnum):
    FETCHED = "fetched"
    NOT_MODIFIED = "not_modified"


@dataclass(frozen=True)
class FetchResult:
    """A fetched feed; on NOT_MODIFIED the body is empty and the validators are the ones sent."""

    status: FetchStatus
    body: bytes = b""
    url: str | None = None  # where the body came from, after redirects: its links' base
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
        url=str(response.url),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_type=response.headers.get("content-type"),
    )
