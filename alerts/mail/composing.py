"""What the digest and alert composers share, handed to both: one renderer, one render cache,
one article loader and one envelope builder.

Neither composer reaches into the other: `DigestComposer` builds these parts once per
session and gives them to the `AlertComposer` beside it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.mail.envelope import EnvelopeBuilder
from alerts.mail.mime import EncodedEmail
from alerts.mail.notices import reader_links
from alerts.mail.rendering import EmailRenderer, ReaderParts
from alerts.mail.tracking import tracking_token
from alerts.models import Article


class RenderCache:
    """Renders kept across batches in one process, least recently used out first.

    Keys carry each article's `updated_at` (and the edition's and issue's), so an edited
    headline or intro is rendered afresh. Renders are kept encoded, one for every time
    zone (times are filled per message), and bounded by their bytes, so a worker's memory
    stays flat whatever the list size or the digests' length. 24 MB holds some 800
    digests of 30 KB: every mix of the benchmark's 10,000 readers, the most read of its
    100,000 readers' 1,200.
    """

    def __init__(self, max_bytes: int = 24 * 2**20) -> None:
        self._entries: OrderedDict[Hashable, EncodedEmail] = OrderedDict()
        self._max_bytes = max_bytes
        self._bytes = 0

    def get(self, key: Hashable) -> EncodedEmail | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, value: EncodedEmail) -> None:
        replaced = self._entries.pop(key, None)
        if replaced is not None:
            self._bytes -= replaced.size
        self._entries[key] = value
        self._bytes += value.size
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size


class ArticleLoader:
    """The articles one session's messages name, each fetched once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._articles: dict[int, Article] = {}

    def preload(self, ids: Iterable[int]) -> None:
        """Fetch the articles a batch names in one query rather than one per digest."""
        missing = set(ids) - self._articles.keys()
        if missing:
            for article in self._session.scalars(select(Article).where(Article.id.in_(missing))):
                self._articles[article.id] = article

    def load(self, ids: Sequence[int]) -> list[Article]:
        """The articles `ids` that still exist, in that order."""
        self.preload(ids)
        articles = self._articles
        return [articles[i] for i in ids if i in articles]

    def article(self, article_id: int) -> Article:
        """One article; KeyError if there is none."""
        self.preload([article_id])
        return self._articles[article_id]


@dataclass(frozen=True)
class ComposerParts:
    """The parts both composers are built from."""

    settings: Settings
    renderer: EmailRenderer
    cache: RenderCache
    articles: ArticleLoader
    envelopes: EnvelopeBuilder

    def reader_parts(
        self,
        subscriber_id: int,
        email: str,
        delivery_id: int = 0,
        *,
        link_key: str | None,
        edition: str | None = None,
    ) -> ReaderParts:
        """The reader's own values: address and links (signed with the reader's
        `link_key`; the unsubscribe link of `edition` when one is named), and the tracking
        token of `delivery_id` when its message is tracked."""
        links = reader_links(
            self.settings, subscriber_id, email, link_key=link_key, edition=edition
        )
        if not delivery_id:
            return links
        token = tracking_token(self.settings.secret_key, delivery_id)
        return replace(links, tracking_token=token)


__all__ = ["ArticleLoader", "ComposerParts", "RenderCache"]
