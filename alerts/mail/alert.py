"""The breaking-alert email: one short message about one article, composed per ledger row.

Who gets an alert, and when, is alerts.digests.breaking's business; this is its bytes.
Readers in the same time zone who follow the same topics share one encoded render.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from alerts.ledger.outgoing import LedgerRow, Reader
from alerts.mail.branding import brand_of
from alerts.mail.composing import ComposerParts
from alerts.mail.excerpts import cut_summary, cut_title
from alerts.mail.mime import Envelope, encode_email
from alerts.mail.rendering import html_to_text
from alerts.models import DEFAULT_SUMMARY_CHARS, Article
from alerts.translations import format_clock, reader_language


class AlertComposer:
    """Composes alert messages with the renderer, cache and envelopes it shares with
    DigestComposer, which hands it the rows of alerts."""

    def __init__(self, parts: ComposerParts) -> None:
        self._parts = parts

    def compose(self, delivery: LedgerRow) -> Envelope:
        parts = self._parts
        subscriber = delivery.subscriber
        [article_id] = delivery.article_ids
        article = parts.articles.article(article_id)
        language = reader_language(subscriber.language, parts.settings.default_language)
        key = ("alert", article_id, article.updated_at, subscriber.timezone, language,
               tuple(topic.name for topic in subscriber.topics))  # fmt: skip
        encoded = parts.cache.get(key)
        if encoded is None:
            context = self._context(article, subscriber, language)
            rendered = parts.renderer.render("alert", context, language=language)
            encoded = encode_email(rendered)
            parts.cache.put(key, encoded)
        reader = parts.reader_parts(subscriber.id, subscriber.email, link_key=subscriber.link_key)
        return parts.envelopes.for_delivery(
            delivery, subscriber.email, encoded, reader, {}, kind="alert"
        )

    def _context(self, article: Article, subscriber: Reader, language: str) -> dict[str, object]:
        settings = self._parts.settings
        local = article.published_at.astimezone(ZoneInfo(subscriber.timezone))
        summary_html = cut_summary(article.summary_html, DEFAULT_SUMMARY_CHARS)
        return {
            "site_name": settings.site_name,
            "site_url": settings.site_url,
            "postal_address": settings.postal_address,
            "brand": brand_of(settings),
            "article": {
                "title": cut_title(article.title),
                "url": article.url,
                "section": article.section,
                "summary_html": summary_html,
                "summary_text": html_to_text(summary_html),
            },
            "time_label": f"{format_clock(local, language)} {local.tzname()}",
            "topic_names": [topic.name for topic in subscriber.topics],
        }


__all__ = ["AlertComposer"]
