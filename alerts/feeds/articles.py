"""Articles as they come in (from a feed or the JSON API), and storing them without duplicates.

An `ArticleInput` is validated and normalised when it is built, so every one in the program is
clean: an absolute http(s) URL, a plain-text title, a sanitised summary, an aware timestamp.
Its identity is its GUID when it has one, else its URL; the store keys articles on the SHA-256
of that identity, so ingesting the same feed twice updates rather than duplicates.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from urllib.parse import urljoin, urlsplit

import nh3
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import ArticleError
from alerts.feeds.keywords import MatchedText, match_articles
from alerts.models import Article
from subscribers.models import Topic
from subscribers.topics import ensure_topics, slugify

SUMMARY_TAGS = frozenset({"p", "a", "em", "strong", "b", "i", "br", "ul", "ol", "li", "blockquote"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_SECTION_LENGTH = 100  # the width of articles.section
MAX_AUTHOR_LENGTH = 200  # the width of articles.author
MAX_TOPIC_NAME_LENGTH = 200  # the width of topics.name
MAX_IMAGE_ALT_LENGTH = 250  # an image's description, cut at a word beyond this
MAX_IMAGE_SIDE = 10_000  # pixels: a stated width or height above this is no photograph's
_LOOKUP_CHUNK = 500  # identities per SELECT, well under every driver's parameter limit


def sanitise_summary(raw_html: str) -> str:
    """Keep the few tags a standfirst needs; drop scripts, styles, handlers and odd links.

    Summaries end up in emails and web pages, so only text-level markup survives, links keep
    only an http, https or mailto `href`, and relative links (meaningless in an email) go.
    """
    cleaned = nh3.clean(
        raw_html,
        tags=set(SUMMARY_TAGS),
        attributes={"a": {"href"}},
        url_schemes=set(LINK_SCHEMES),
        url_relative="deny",
    )
    return cleaned.strip()


def resolve_links(raw_html: str, base: str) -> str:
    """`raw_html` with each relative link made absolute against `base`, the URL of the
    document it came from; sanitise_summary then keeps what is a web or mail link."""
    return nh3.clean(
        raw_html,
        tags=set(SUMMARY_TAGS),
        attributes={"a": {"href"}},
        url_relative="pass_through",
        attribute_filter=partial(_absolute_href, base),
    )


def _absolute_href(base: str, tag: str, attribute: str, value: str) -> str:
    if tag == "a" and attribute == "href" and not urlsplit(value.strip()).scheme:
        return urljoin(base, value.strip())
    return value


def plain_text(raw: str) -> str:
    """Markup-free text on one line: titles are shown as text, never as HTML."""
    text = html.unescape(nh3.clean(raw, tags=set()))
    return " ".join(text.split())


def is_web_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL that can be a link and a redirect's
    Location: a host, a port in range, and no space or control character.

    urlsplit drops tabs and line breaks silently, so they are looked for in the text
    itself: a CR or LF reaches a Location header (a 500 there, header splitting anywhere
    less careful) and the href of every email."""
    if " " in url or not url.isprintable():  # C0 and C1 controls, NUL, DEL, separators
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it raises ValueError for a port out of range
    except ValueError:  # an unclosed "[" of an IPv6 host, a port that is no number
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_image_url(url: str) -> bool:
    """Whether `url` may be an email's image: a web URL (is_web_url) over https, with no
    user name or password in it.

    An http image makes mail clients warn of mixed content or refuse it, and anyone on
    the path can swap it; credentials in an image URL would go to every reader. The URL
    is only ever written into an attribute (autoescaped), never fetched by the worker."""
    if not is_web_url(url):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.username is None and parts.password is None


def _optional_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


@dataclass(frozen=True)
class ArticleInput:
    """One article to store. Building it validates and normalises it (raises ArticleError)."""

    url: str
    title: str
    guid: str | None = None
    summary: str = ""
    section: str | None = None
    topics: tuple[str, ...] = ()
    author: str | None = None
    image_url: str | None = None
    # The image's description (its alt text; None: the headline serves) and the pixel
    # size the feed states for it (both or neither; None when unknown).
    image_alt: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    published_at: datetime | None = None  # None means "when first stored"
    breaking: bool = False
    # The story's text, when a feed or the API gives it: matched against the readers'
    # keywords (alerts.feeds.keywords), never stored or sent.
    body: str = ""

    def __post_init__(self) -> None:
        # Frozen, so normalised values are written with object.__setattr__.
        for name in _TEXT_FIELDS:
            _check_storable(name, getattr(self, name))
        for topic in self.topics:
            _check_storable("topics", topic)
        url = self.url.strip()
        if not is_web_url(url):
            raise ArticleError(
                f"url must be an absolute http(s) URL, got {self.url!r}", field="url"
            )
        title = plain_text(self.title)
        if not title:
            raise ArticleError(f"title is empty for {url}", field="title")
        image_url = _optional_text(self.image_url)
        if image_url is not None and not is_image_url(image_url):
            raise ArticleError(
                f"image_url must be an absolute https URL without credentials, got "
                f"{image_url[:200]!r}",
                field="image_url",
            )
        image_alt = _image_alt(self.image_alt) if image_url is not None else None
        width, height = _image_size(self.image_width, self.image_height)
        if image_url is None:
            width = height = None
        if self.published_at is not None:
            _check_instant(self.published_at)
        section = _optional_text(self.section)
        author = _optional_text(self.author)
        _check_length("section", section, MAX_SECTION_LENGTH)
        _check_length("author", author, MAX_AUTHOR_LENGTH)
        topics: dict[str, str] = {}
        for name in self.topics:
            text = " ".join(name.split())
            _check_length("topics", text, MAX_TOPIC_NAME_LENGTH, label="a topic")
            if slugify(text):
                topics.setdefault(slugify(text), text)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "guid", (self.guid or "").strip() or None)
        object.__setattr__(self, "summary", sanitise_summary(self.summary))
        object.__setattr__(self, "section", section)
        object.__setattr__(self, "topics", tuple(topics.values()))
        object.__setattr__(self, "author", author)
        object.__setattr__(self, "image_url", image_url)
        object.__setattr__(self, "image_alt", image_alt)
        object.__setattr__(self, "image_width", width)
        object.__setattr__(self, "image_height", height)
        object.__setattr__(self, "body", plain_text(self.body or ""))

    @property
    def topic_slugs(self) -> list[str]:
        return [slugify(name) for name in self.topics]


_TEXT_FIELDS = (
    "url", "title", "guid", "summary", "section", "author", "image_url", "image_alt", "body",
)  # fmt: skip


def _image_alt(raw: str | None) -> str | None:
    """An image's description as plain text, cut at a word past MAX_IMAGE_ALT_LENGTH: a
    caption longer than that is an article of its own, not alt text."""
    text = plain_text(raw) if raw else ""
    if len(text) > MAX_IMAGE_ALT_LENGTH:
        cut = text[: MAX_IMAGE_ALT_LENGTH + 1].rsplit(" ", 1)[0] or text[:MAX_IMAGE_ALT_LENGTH]
        text = cut.rstrip(" ,;:.") + "…"
    return text or None


def _image_size(width: object, height: object) -> tuple[int | None, int | None]:
    """The stated size: both sides, whole numbers of pixels in range, or neither.
    Raises ArticleError otherwise (feeds pass only sizes they could read whole)."""
    if width is None and height is None:
        return None, None
    if width is None or height is None:
        given = "image_width" if height is None else "image_height"
        raise ArticleError("give image_width and image_height together", field=given)
    sides = []
    for name, value in (("image_width", width), ("image_height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArticleError(f"{name} must be a whole number of pixels", field=name)
        if not 1 <= value <= MAX_IMAGE_SIDE:
            raise ArticleError(f"{name} must be from 1 to {MAX_IMAGE_SIDE:,} pixels", field=name)
        sides.append(value)
    return sides[0], sides[1]


def _check_storable(name: str, value: str | None) -> None:
    """Refuse text no database column can hold: NUL (PostgreSQL refuses it) and lone
    surrogates (which JSON can carry as "\\ud800" but UTF-8 cannot encode)."""
    if value is None:
        return
    if "\x00" in value:
        raise ArticleError(f"{name} must not contain NUL characters", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ArticleError(f"{name} is not valid Unicode (a lone surrogate)", field=name) from None


def _check_instant(instant: datetime) -> None:
    if instant.utcoffset() is None:
        raise ArticleError("published_at must carry a UTC offset", field="published_at")
    try:
        instant.astimezone(UTC)  # 0001-01-01T00:00+05:00 has no UTC time
    except OverflowError:
        raise ArticleError(
            f"published_at is out of range: {instant.isoformat()}", field="published_at"
        ) from None


def _check_length(name: str, value: str | None, limit: int, *, label: str | None = None) -> None:
    if value is not None and len(value) > limit:
        raise ArticleError(
            f"{label or name} is longer than {limit} characters: {value[:40]!r}...", field=name
        )


_FIELDS = frozenset(f.name for f in fields(ArticleInput))


def article_input_from_mapping(data: Mapping[str, object]) -> ArticleInput:
    """Build an ArticleInput from decoded JSON, as the API receives it.

    Unknown keys are refused so that a misspelt field is an error, not silently ignored.
    Optional fields may be absent or null.
    """
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ArticleError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    for required in ("url", "title"):
        if not isinstance(data.get(required), str):
            raise ArticleError(f"{required} is required and must be a string", field=required)
    optional_strings = {}
    for name in ("guid", "summary", "section", "author", "image_url", "image_alt", "body"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ArticleError(f"{name} must be a string", field=name)
        optional_strings[name] = value
    topics = data.get("topics")
    if topics is None:
        topics = []
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ArticleError("topics must be a list of strings", field="topics")
    breaking = data.get("breaking", False)
    if breaking is None:
        breaking = False
    if not isinstance(breaking, bool):
        raise ArticleError("breaking must be true or false", field="breaking")
    return ArticleInput(
        url=str(data["url"]),
        title=str(data["title"]),
        guid=optional_strings["guid"],
        summary=optional_strings["summary"] or "",
        section=optional_strings["section"],
        topics=tuple(topics),
        author=optional_strings["author"],
        image_url=optional_strings["image_url"],
        image_alt=optional_strings["image_alt"],
        image_width=_optional_integer(data, "image_width"),
        image_height=_optional_integer(data, "image_height"),
        published_at=_parse_instant(data.get("published_at")),
        breaking=breaking,
        body=optional_strings["body"] or "",
    )


def _optional_integer(data: Mapping[str, object], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArticleError(f"{name} must be a whole number of pixels", field=name)
    return value


def _parse_instant(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ArticleError(
            "published_at must be an ISO 8601 string with a UTC offset", field="published_at"
        )
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ArticleError(
            f"published_at is not ISO 8601: {value!r}", field="published_at"
        ) from None
    if instant.utcoffset() is None:
        raise ArticleError(
            f"published_at needs a UTC offset (e.g. +00:00 or Z): {value!r}", field="published_at"
        )
    return instant


def identity_of(item: ArticleInput) -> str:
    return item.guid if item.guid is not None else item.url


def identity_hash(item: ArticleInput) -> str:
    return hash_identity(identity_of(item))


def hash_identity(identity: str) -> str:
    """The key the store matches an article on: the SHA-256 of its identity in UTF-8.

    Raises UnicodeEncodeError for text UTF-8 cannot encode (a lone surrogate); no stored
    article has such an identity, since ArticleInput refuses it."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


@dataclass
class IngestResult:
    """What a batch did to the store; `articles` follows the order of the input items."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    articles: list[Article] = field(default_factory=list)


def upsert_articles(
    session: Session,
    items: Sequence[ArticleInput],
    *,
    source: str | None,
    now: datetime,
    language: str = "en",
    new_topics_public: bool = False,
) -> IngestResult:
    """Insert new articles and update changed ones, matching on identity. Does not commit.

    A topic first named here is offered on the sign-up form only when `new_topics_public`
    (the publisher's own feeds, whose categories are the site's sections); one first named
    by an API article waits for an editor on /desk/topics.

    Existing articles are found with one query per few hundred items, and topics with one
    more. An item without a date keeps the stored date (or gets `now` when new), so a feed
    that omits dates does not make old stories look new on every run. `breaking` is only
    ever raised, because feeds cannot express it and must not lower what the API set.
    `source` is recorded when an article is first seen and kept afterwards. New and
    changed articles are matched against the readers' keywords, stemmed in `language`
    (the site's, DEFAULT_LANGUAGE).
    """
    hashes = [identity_hash(item) for item in items]
    existing: dict[str, Article] = {}
    unique_hashes = list(dict.fromkeys(hashes))
    for start in range(0, len(unique_hashes), _LOOKUP_CHUNK):
        chunk = unique_hashes[start : start + _LOOKUP_CHUNK]
        query = select(Article).where(Article.identity_hash.in_(chunk))
        existing.update((article.identity_hash, article) for article in session.scalars(query))
    topics = {
        topic.slug: topic
        for topic in ensure_topics(
            session,
            (name for item in items for name in item.topics),
            public=new_topics_public,
        )
    }

    result = IngestResult()
    seen: dict[str, Article] = {}
    touched: list[tuple[Article, ArticleInput]] = []
    for item, key in zip(items, hashes, strict=True):
        if key in seen:  # a repeated item in one batch: the first one wins
            result.articles.append(seen[key])
            continue
        item_topics = [topics[slug] for slug in item.topic_slugs]
        article = existing.get(key)
        if article is None:
            article = Article(identity_hash=key, source=source, ingested_at=now)
            _apply(article, item, item_topics, now)
            session.add(article)
            result.created += 1
            touched.append((article, item))
        elif _apply(article, item, item_topics, now):
            result.updated += 1
            touched.append((article, item))
        else:
            result.unchanged += 1
        seen[key] = article
        result.articles.append(article)
    session.flush()
    matched = [MatchedText(article.id, _matched_text(item)) for article, item in touched]
    match_articles(session, matched, language=language, now=now)
    return result


def _matched_text(item: ArticleInput) -> str:
    return "\n".join(filter(None, [item.title, plain_text(item.summary), item.body]))


def _apply(article: Article, item: ArticleInput, topics: list[Topic], now: datetime) -> bool:
    """Copy the item onto the article; return whether anything changed."""
    wanted: dict[str, object] = {
        "guid": item.guid,
        "url": item.url,
        "title": item.title,
        "summary_html": item.summary,
        "section": item.section,
        "author": item.author,
        "image_url": item.image_url,
        "image_alt": item.image_alt,
        "image_width": item.image_width,
        "image_height": item.image_height,
        "breaking": bool(article.breaking) or item.breaking,
    }
    if item.published_at is not None:
        wanted["published_at"] = item.published_at
    elif article.published_at is None:
        wanted["published_at"] = now
    changed = False
    for name, value in wanted.items():
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed = True
    if {topic.slug for topic in article.topics} != {topic.slug for topic in topics}:
        article.topics = sorted(topics, key=lambda topic: topic.slug)  # as the relationship loads
        changed = True
    if changed:
        article.updated_at = now
    return changed
