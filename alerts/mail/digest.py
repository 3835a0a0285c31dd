"""The digest email: its template context, and composing each reader's message from it.

Readers whose digest has the same articles, topics and issue share one render, whose
message body is encoded once. Article times (in the reader's zone), the reader's address,
links and tracking token are markers in it, spliced into the encoded body per message;
the markers are the render's own (RenderMarkers), so an article cannot ask for any of
these values by writing a marker's name in its link, title or summary.
Rows of breaking alerts go through the same composer, to the AlertComposer beside it, and
keyword alerts' to the KeywordAlertComposer.

Stories that match a reader's keywords (alerts.feeds.keywords) lead their digest in a
"Your alerts" section, the matched words named and highlighted; they are part of the
render's key, so readers with the same alerts and articles still share a render.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.editions.subjects import subject_line
from alerts.feeds.articles import is_image_url
from alerts.feeds.keywords import matches_for_readers
from alerts.ledger.outgoing import LedgerRow
from alerts.mail.alert import AlertComposer
from alerts.mail.branding import brand_of
from alerts.mail.composing import ArticleLoader, ComposerParts, RenderCache
from alerts.mail.dkim import DkimSigner
from alerts.mail.envelope import EnvelopeBuilder
from alerts.mail.excerpts import cut_summary, cut_title
from alerts.mail.highlights import highlighted_html, highlighted_text
from alerts.mail.keyword_alert import KeywordAlertComposer
from alerts.mail.mime import EncodedEmail, Envelope, encode_email
from alerts.mail.rendering import (
    EmailRenderer,
    ReaderParts,
    RenderedEmail,
    RenderMarkers,
    html_to_text,
)
from alerts.mail.tracking import click_url, open_pixel_url
from alerts.models import (
    DEFAULT_EDITION_IMAGES,
    DEFAULT_SUBJECT,
    DEFAULT_SUMMARY_CHARS,
    Article,
    Cadence,
    Edition,
    EditionImages,
    Issue,
    KeywordMatch,
    is_keyword_alert,
)
from alerts.translations import (
    format_clock,
    format_day,
    format_number,
    format_weekday,
    reader_language,
    translations_for,
)
from subscribers.models import Subscriber

# Gmail clips an HTML part past 102 KB (and the footer with it): stay well under, leaving
# room for each reader's links and for quoted-printable's "=3D"s.
HTML_BUDGET_BYTES = 72_000
# A link longer than this is no story for an email (it would be most of one): on the site.
MAX_STORY_URL_CHARS = 4096
MAX_TOPICS_SHOWN = 5
# The content column's width (the 600-pixel container less its padding), which the top
# story's image fills, and the width of the others' thumbnails.
LEAD_IMAGE_WIDTH = 552
THUMBNAIL_WIDTH = 120


@dataclass(frozen=True)
class DigestSpec:
    """What makes one digest render differ from another, apart from its articles."""

    edition: Edition
    issue: Issue | None
    local_date: date
    # The readers' language (BCP 47): one render per language of an issue's readers.
    language: str = "en"

    @property
    def key(self) -> tuple[object, ...]:
        issue = self.issue
        return (
            self.edition.slug,
            self.edition.updated_at,
            None if issue is None else (issue.id, issue.updated_at),
            self.local_date,
            self.language,
            self.edition.images,
        )


@dataclass(frozen=True)
class _RenderKey:
    article_ids: tuple[int, ...]
    topic_names: tuple[str, ...]
    spec: tuple[object, ...]
    # The stories that matched the reader's keywords, with the words (as typed).
    alerts: tuple[tuple[int, tuple[str, ...]], ...] = ()


def time_marker(article_id: int) -> str:
    """The name of a story's time, by which a message's slot asks for it."""
    return f"%%NEWSALERTS_TIME_{article_id}%%"


def time_label(article: Article, *, timezone: str, local_date: date, language: str = "en") -> str:
    """'07:42' on the digest's own date, 'Tue 23:41' before it, in the reader's zone and
    as the reader's locale writes them ('Di. 23:41', '7:42 ص')."""
    return _clock_label(article.published_at, timezone, local_date, language)


@lru_cache(maxsize=8192)
def _clock_label(published_at: datetime, timezone: str, local_date: date, language: str) -> str:
    # Cached: every message of a zone shows the same few dozen times.
    local = published_at.astimezone(ZoneInfo(timezone))
    clock = format_clock(local, language)
    if local.date() == local_date:
        return clock
    return f"{format_weekday(local.date(), language)} {clock}"


def _times(
    articles: Iterable[Article], timezone: str, local_date: date, language: str
) -> dict[str, str]:
    """The value of each article's time marker in one zone and language."""
    return {
        time_marker(article.id): time_label(
            article, timezone=timezone, local_date=local_date, language=language
        )
        for article in articles
    }


def image_of(article: Article, title: str, *, width: int) -> dict[str, object] | None:
    """The article's image as the digest shows it `width` pixels wide: its https URL, its
    alt text (its description, else the headline) and, when the source stated the image's
    size, the height that keeps its proportions (None: the client works it out).

    None when the article has no image, or one stored before images had to be https."""
    url = article.image_url
    if not url or not is_image_url(url):
        return None
    height = None
    if article.image_width and article.image_height:
        # Halves round up, as a browser computing the height from the ratio would.
        height = max(1, math.floor(width * article.image_height / article.image_width + 0.5))
    return {"url": url, "alt": article.image_alt or title, "width": width, "height": height}


def _show_images(shown: list[tuple[dict[str, object], Article]], images: EditionImages) -> None:
    """Give the top story (the first shown: the reader's first alert, else the first
    story) its image full width and, if the edition says so, the others theirs as
    thumbnails (alerts.models.EditionImages)."""
    in_order = sorted(shown, key=lambda pair: not pair[0]["matched"])  # alerts come first
    for position, (item, article) in enumerate(in_order):
        if images is EditionImages.NONE or (position and images is EditionImages.LEAD):
            break
        if position == 0:
            item["lead_image"] = image_of(article, str(item["title"]), width=LEAD_IMAGE_WIDTH)
        else:
            item["thumbnail"] = image_of(article, str(item["title"]), width=THUMBNAIL_WIDTH)


def _intro(count: int, *, daily: bool, followed: bool, language: str) -> str:
    """'3 new stories on the topics you follow since your last briefing.': four whole
    sentences, so that each language can order its words as it must."""
    gettext = translations_for(language)
    values = {"num": format_number(count, language)}
    if daily and followed:
        text = gettext.ngettext(
            "%(num)s new story on the topics you follow since your last briefing.",
            "%(num)s new stories on the topics you follow since your last briefing.",
            count,
        )
    elif daily:
        text = gettext.ngettext(
            "%(num)s new story from across the site since your last briefing.",
            "%(num)s new stories from across the site since your last briefing.",
            count,
        )
    elif followed:
        text = gettext.ngettext(
            "%(num)s new story on the topics you follow this week.",
            "%(num)s new stories on the topics you follow this week.",
            count,
        )
    else:
        text = gettext.ngettext(
            "%(num)s new story from across the site this week.",
            "%(num)s new stories from across the site this week.",
            count,
        )
    return text % values


def digest_context(
    articles: Iterable[Article],
    *,
    settings: Settings,
    spec: DigestSpec,
    topic_names: tuple[str, ...],
    markers: RenderMarkers | None = None,
    shown: int | None = None,
    alerts: Mapping[int, Sequence[str]] | None = None,
) -> dict[str, object]:
    """Everything the digest templates need; nothing in it is specific to one reader,
    and article times and tracking tokens are `markers` (fresh ones if not given), to
    fill per zone and per reader.

    Headlines and summaries are cut to fit (alerts.mail.excerpts, the edition's
    `summary_chars`); only the first `shown` stories appear (all when None), and a story
    whose link alone would burden the email (over MAX_STORY_URL_CHARS) never does: the
    rest are counted as "more on the site". Stories in `alerts` (matched by the reader's
    keywords: the words) come in `alert_articles`, the others in `articles`."""
    alerts = alerts or {}
    markers = markers or RenderMarkers.fresh()
    edition, issue, local_date = spec.edition, spec.issue, spec.local_date
    tracked = edition.click_tracking
    # An edition made in memory, never stored, has no value yet: the column's default.
    summary_chars = edition.summary_chars
    if summary_chars is None:
        summary_chars = DEFAULT_SUMMARY_CHARS
    articles = list(articles)
    items: list[dict[str, object]] = []
    shown_articles: list[Article] = []
    for position, article in enumerate(articles, start=1):
        if len(items) == shown:
            break
        if len(article.url) > MAX_STORY_URL_CHARS:
            continue
        marker = markers.of(time_marker(article.id))
        url = (
            click_url(settings.base_url, markers.tracking_token, position)
            if tracked
            else article.url
        )
        summary_html = cut_summary(article.summary_html, summary_chars)
        title = cut_title(article.title)
        matched = list(alerts.get(article.id, ()))
        items.append(
            {
                "title": title,
                "matched": matched,
                "title_html": highlighted_html(title, matched),
                "title_text": highlighted_text(title, matched),
                "url": url,
                "section": article.section,
                "time_label": marker,
                "meta_label": " · ".join(filter(None, [article.section, marker])),
                "summary_html": summary_html,
                "summary_text": html_to_text(summary_html),
                "topics": [topic.name for topic in article.topics[:MAX_TOPICS_SHOWN]],
                "lead_image": None,
                "thumbnail": None,
            }
        )
        shown_articles.append(article)
    _show_images(list(zip(items, shown_articles, strict=True)), images_of(edition))
    count = len(articles)
    alerted = sum(1 for article in articles if article.id in alerts)
    language = spec.language
    subject_template = (issue.subject if issue else None) or edition.subject_template
    archive_url = f"{settings.base_url}/archive/{edition.slug}/{local_date.isoformat()}"
    lead = cut_title(articles[0].title) if articles else ""
    return {
        "site_name": settings.site_name,
        "site_url": settings.site_url,
        "postal_address": settings.postal_address,
        "brand": brand_of(settings),
        "edition_title": edition.name,
        "frequency_label": edition.cadence.value,
        "date_label": format_day(local_date, language),
        "editor_intro": (issue.intro if issue else None) or edition.intro,
        "intro": _intro(
            count,
            daily=edition.cadence is Cadence.DAILY,
            followed=bool(topic_names),
            language=language,
        ),
        "subject_line": subject_line(
            subject_template,
            edition=edition.name,
            lead=lead,
            count=count,
            local_date=local_date,
            site=settings.site_name,
            language=language,
        ),
        "archive_url": archive_url,
        "open_pixel_url": (
            open_pixel_url(settings.base_url, markers.tracking_token)
            if edition.open_tracking
            else None
        ),
        "reader": markers,
        "alert_articles": [item for item in items if item["matched"]],
        "alert_count": alerted,
        "articles": [item for item in items if not item["matched"]],
        "more_count": count - len(items),
        "topic_names": list(topic_names),
    }


def images_of(edition: Edition) -> EditionImages:
    # An edition made in memory, never stored, has no value yet: the column's default.
    return edition.images or DEFAULT_EDITION_IMAGES


def render_digest(
    renderer: EmailRenderer,
    articles: Sequence[Article],
    *,
    settings: Settings,
    spec: DigestSpec,
    topic_names: tuple[str, ...],
    alerts: Mapping[int, Sequence[str]] | None = None,
) -> RenderedEmail:
    """The digest rendered with as many of its stories as keep the HTML part within
    HTML_BUDGET_BYTES, the last ones left out and counted as "more on the site".

    Gmail clips an HTML part past 102 KB, and what it hides is the end: the footer with
    the unsubscribe link. Headlines and summaries are bounded already, so a digest rarely
    needs this; when it does, each render drops about as many stories as the excess
    takes on average, and a few renders settle it."""
    markers = RenderMarkers.fresh()
    shown = len(articles)
    while True:
        context = digest_context(
            articles, settings=settings, spec=spec, topic_names=topic_names,
            markers=markers, shown=shown, alerts=alerts,
        )  # fmt: skip
        rendered = renderer.render("digest", context, language=spec.language)
        size = len(rendered.html.encode())
        stories = len(context["articles"]) + len(context["alert_articles"])  # type: ignore[arg-type]
        if size <= HTML_BUDGET_BYTES or stories == 0:
            return rendered
        excess = size - HTML_BUDGET_BYTES
        shown = max(0, stories - max(1, math.ceil(excess * stories / size)))


class DigestComposer:
    """Turns ledger rows into messages, rendering each distinct digest once; an alert's
    row goes to the AlertComposer, which shares its parts (alerts.mail.composing)."""

    def __init__(
        self,
        session: Session,
        *,
        settings: Settings,
        renderer: EmailRenderer,
        cache: RenderCache | None = None,
        signer: DkimSigner | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._parts = ComposerParts(
            settings=settings,
            renderer=renderer,
            cache=cache if cache is not None else RenderCache(),
            articles=ArticleLoader(session),
            envelopes=EnvelopeBuilder(settings, signer),
        )
        self._issues: dict[int, Issue] = {}
        self._editions: dict[str, Edition] = {}
        self._alerts = AlertComposer(self._parts)
        self._keyword_alert_composer = KeywordAlertComposer(self._parts, session)
        # The story times of a render in one zone, shared by its readers in that zone.
        self._fills: dict[tuple[int, str, str], tuple[EncodedEmail, dict[str, str]]] = {}
        # Of the articles a batch names, those some keyword matched (None: not loaded).
        self._matched: set[int] | None = None

    def _versions(self, key: _RenderKey) -> tuple[list[Article], tuple[object, ...]]:
        found = self._parts.articles.load(key.article_ids)
        return found, tuple(article.updated_at for article in found)

    def _encoded(self, key: _RenderKey, spec: DigestSpec) -> tuple[EncodedEmail, list[Article]]:
        """The digest encoded once for every reader who gets it, in any zone; its articles."""
        found, versions = self._versions(key)
        cache = self._parts.cache
        encoded = cache.get((key, versions))
        if encoded is None:
            markers = [time_marker(article.id) for article in found]
            encoded = encode_email(self._render_markers(key, spec, found), markers)
            cache.put((key, versions), encoded)
        return encoded, found

    def _render_markers(
        self, key: _RenderKey, spec: DigestSpec, found: list[Article]
    ) -> RenderedEmail:
        return render_digest(
            self._parts.renderer,
            found,
            settings=self._settings,
            spec=spec,
            topic_names=key.topic_names,
            alerts=dict(key.alerts),
        )

    def _render(self, key: _RenderKey, spec: DigestSpec, timezone: str) -> RenderedEmail:
        """The digest in one time zone, reader markers still in (for previews: not cached)."""
        found, _ = self._versions(key)
        rendered = self._render_markers(key, spec, found)
        return rendered.replace_all(_times(found, timezone, spec.local_date, spec.language))

    def preload(self, ids: Iterable[int]) -> None:
        """Fetch the articles a batch names in one query rather than one per digest, and
        learn which of them matched any keyword."""
        wanted = sorted(set(ids))
        self._parts.articles.preload(wanted)
        self._matched = set()
        for offset in range(0, len(wanted), 1000):
            self._matched.update(
                self._session.scalars(
                    select(KeywordMatch.article_id)
                    .where(KeywordMatch.article_id.in_(wanted[offset : offset + 1000]))
                    .distinct()
                )
            )

    def _keyword_alerts(
        self, subscriber_id: int, article_ids: Sequence[int]
    ) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The stories of a digest that matched this reader's keywords, with the words.
        Looked up only for a digest holding a story some keyword matched."""
        if self._matched is not None and not self._matched.intersection(article_ids):
            return ()
        found = matches_for_readers(self._session, [subscriber_id], article_ids=article_ids)
        own = found.get(subscriber_id, {})
        return tuple((i, tuple(own[i])) for i in article_ids if i in own)

    def reader_parts(
        self,
        subscriber_id: int,
        email: str,
        delivery_id: int = 0,
        *,
        link_key: str | None,
        edition: str | None = None,
    ) -> ReaderParts:
        return self._parts.reader_parts(
            subscriber_id, email, delivery_id, link_key=link_key, edition=edition
        )

    def spec_for(self, delivery: LedgerRow) -> DigestSpec:
        """The edition and issue a ledger row belongs to, looked up once per batch, in
        the language of the row's reader."""
        issue = None
        if delivery.issue_id is not None:
            issue = self._issues.get(delivery.issue_id)
            if issue is None:
                issue = self._session.get(Issue, delivery.issue_id)
                if issue is not None:
                    self._issues[issue.id] = issue
        edition = issue.edition if issue is not None else self._edition(delivery.edition)
        language = reader_language(delivery.subscriber.language, self._settings.default_language)
        return DigestSpec(edition, issue, delivery.local_date, language)

    def _edition(self, slug: str) -> Edition:
        found = self._editions.get(slug)
        if found is None:
            found = self._session.scalar(select(Edition).where(Edition.slug == slug))
            if found is None:  # a row older than editions, or of a deleted edition
                cadence = Cadence.WEEKLY if slug == Cadence.WEEKLY else Cadence.DAILY
                found = Edition(slug=slug, name=slug.title(), cadence=cadence,
                                subject_template=DEFAULT_SUBJECT, intro="",
                                summary_chars=DEFAULT_SUMMARY_CHARS,
                                images=DEFAULT_EDITION_IMAGES,
                                click_tracking=False, open_tracking=False,
                                updated_at=None)  # fmt: skip
            self._editions[slug] = found
        return found

    def render_for(
        self,
        subscriber: Subscriber,
        article_ids: Sequence[int],
        spec: DigestSpec,
        *,
        delivery_id: int = 0,
    ) -> RenderedEmail:
        """The digest this reader gets, personalised (no message assembled), in the
        reader's language."""
        language = reader_language(subscriber.language, self._settings.default_language)
        spec = replace(spec, language=language)
        key = _RenderKey(
            article_ids=tuple(article_ids),
            topic_names=tuple(topic.name for topic in subscriber.topics),
            spec=spec.key,
            alerts=self._keyword_alerts(subscriber.id, article_ids),
        )
        rendered = self._render(key, spec, subscriber.timezone)
        reader = self.reader_parts(
            subscriber.id,
            subscriber.email,
            delivery_id,
            link_key=subscriber.link_key,
            edition=spec.edition.slug,
        )
        return rendered.personalise(reader)

    def compose(self, delivery: LedgerRow) -> Envelope:
        if delivery.alert_id is not None:
            return self._alerts.compose(delivery)
        if is_keyword_alert(delivery.edition):
            return self._keyword_alert_composer.compose(delivery)
        subscriber = delivery.subscriber
        spec = self.spec_for(delivery)
        key = _RenderKey(
            article_ids=tuple(delivery.article_ids),
            topic_names=tuple(topic.name for topic in subscriber.topics),
            spec=spec.key,
            alerts=self._keyword_alerts(subscriber.id, delivery.article_ids),
        )
        email, found = self._encoded(key, spec)
        tracked = spec.edition.click_tracking or spec.edition.open_tracking
        reader = self._parts.reader_parts(
            subscriber.id,
            subscriber.email,
            delivery.id if tracked else 0,
            link_key=subscriber.link_key,
            edition=delivery.edition,
        )
        fill = self._fill(email, found, subscriber.timezone, spec)
        return self._parts.envelopes.for_delivery(
            delivery, subscriber.email, email, reader, fill, kind="digest",
            list_name=spec.edition.name,
        )  # fmt: skip

    def _fill(
        self, email: EncodedEmail, found: list[Article], timezone: str, spec: DigestSpec
    ) -> dict[str, str]:
        """The values of a render's story times in one zone and language, worked out
        once per zone.

        Keyed by the render's identity; the entry holds the render, so that identity is
        never reused for another render while the entry lives.
        """
        key = (id(email), timezone, spec.language)
        cached = self._fills.get(key)
        if cached is not None and cached[0] is email:
            return cached[1]
        if len(self._fills) >= 256:  # it keeps renders alive: stay small
            self._fills.clear()
        fill = _times(found, timezone, spec.local_date, spec.language)
        self._fills[key] = (email, fill)
        return fill
