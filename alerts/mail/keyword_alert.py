"""The keyword-alert email: the stories that mentioned a reader's words since their last one.

Who gets one, and when, is alerts.digests.as_it_happens's business; this is its bytes.
The subject names the matched words and the lead headline; each headline has the words
highlighted (alerts.mail.highlights), in both parts. The words are read again at send
time from the reader's matches (alerts.feeds.keywords), so the ledger row holds only the
stories. Readers with the same stories, words and time zone share one encoded render.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.feeds.keywords import matches_for_readers
from alerts.ledger.outgoing import LedgerRow
from alerts.mail.branding import brand_of
from alerts.mail.composing import ComposerParts
from alerts.mail.excerpts import cut_summary, cut_title
from alerts.mail.highlights import highlighted_html, highlighted_text
from alerts.mail.mime import Envelope, encode_email
from alerts.mail.rendering import html_to_text
from alerts.models import DEFAULT_SUMMARY_CHARS, Article
from alerts.translations import format_clock, reader_language

# The message's kind: its List-Id, Feedback-ID and Message-ID name it.
KEYWORD_ALERT_KIND = "keyword-alert"
# Words named in the subject at most (the rest as "and N more").
SUBJECT_WORDS = 3


class KeywordAlertComposer:
    """Composes keyword alerts with the renderer, cache and envelopes it shares with
    DigestComposer, which hands it their rows."""

    def __init__(self, parts: ComposerParts, session: Session) -> None:
        self._parts = parts
        self._session = session

    def compose(self, delivery: LedgerRow) -> Envelope:
        parts = self._parts
        subscriber = delivery.subscriber
        articles = parts.articles.load(delivery.article_ids)
        matched = matches_for_readers(
            self._session, [subscriber.id], article_ids=[article.id for article in articles]
        ).get(subscriber.id, {})
        words = {article.id: tuple(matched.get(article.id, ())) for article in articles}
        language = reader_language(subscriber.language, parts.settings.default_language)
        key = (
            KEYWORD_ALERT_KIND,
            tuple((article.id, article.updated_at, words[article.id]) for article in articles),
            subscriber.timezone,
            language,
        )
        encoded = parts.cache.get(key)
        if encoded is None:
            context = self.context(articles, words, timezone=subscriber.timezone, language=language)
            rendered = parts.renderer.render("keyword_alert", context, language=language)
            encoded = encode_email(rendered)
            parts.cache.put(key, encoded)
        reader = parts.reader_parts(subscriber.id, subscriber.email, link_key=subscriber.link_key)
        return parts.envelopes.for_delivery(
            delivery, subscriber.email, encoded, reader, {}, kind=KEYWORD_ALERT_KIND
        )

    def context(
        self,
        articles: list[Article],
        words: dict[int, tuple[str, ...]],
        *,
        timezone: str,
        language: str = "en",
    ) -> dict[str, object]:
        """The templates' context: nothing in it is specific to one reader but the words,
        the time zone and the language."""
        settings = self._parts.settings
        zone = ZoneInfo(timezone)
        every_word = list(dict.fromkeys(word for article in articles for word in words[article.id]))
        stories = []
        for article in articles:
            title = cut_title(article.title)
            summary_html = cut_summary(article.summary_html, DEFAULT_SUMMARY_CHARS)
            local = article.published_at.astimezone(zone)
            stories.append(
                {
                    "title": title,
                    "title_html": highlighted_html(title, words[article.id]),
                    "title_text": highlighted_text(title, words[article.id]),
                    "matched": list(words[article.id]),
                    "url": article.url,
                    "section": article.section,
                    "time_label": f"{format_clock(local, language)} {local.tzname()}",
                    "summary_html": summary_html,
                    "summary_text": html_to_text(summary_html),
                }
            )
        shown = [f'"{word}"' if " " in word else word for word in every_word[:SUBJECT_WORDS]]
        return {
            "site_name": settings.site_name,
            "site_url": settings.site_url,
            "postal_address": settings.postal_address,
            "brand": brand_of(settings),
            "stories": stories,
            "words": every_word,
            "subject_words": ", ".join(shown),
            "more_words": len(every_word) - len(shown),
            "lead": stories[0]["title"] if stories else "",
            "more_count": max(len(stories) - 1, 0),
        }


__all__ = ["KEYWORD_ALERT_KIND", "SUBJECT_WORDS", "KeywordAlertComposer"]
