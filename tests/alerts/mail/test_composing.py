"""The parts both composers share: a render cache bounded by its bytes, an article loader
that fetches each article once and skips the ones gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from alerts.mail.composing import ArticleLoader, RenderCache
from alerts.mail.mime import encode_email
from alerts.mail.rendering import RenderedEmail
from alerts.models import Article
from tests.support.builders import articles

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_the_render_cache_is_bounded_by_the_bytes_it_holds() -> None:
    encoded = [
        encode_email(RenderedEmail(subject=str(n), text="x" * 1000, html="y" * 1000))
        for n in range(3)
    ]
    cache = RenderCache(max_bytes=encoded[0].size * 2 + 10)
    for number, entry in enumerate(encoded):
        cache.put(number, entry)
    assert cache.get(0) is None  # least recently used, out first
    assert cache.get(1) is encoded[1] and cache.get(2) is encoded[2]


def test_the_article_loader_fetches_a_batch_once_and_skips_articles_gone(
    session: Session,
) -> None:
    articles(session, NOW, ("a", (), timedelta(hours=1)), ("b", (), timedelta(hours=2)))
    session.commit()
    first, second = session.scalars(select(Article.id).order_by(Article.id)).all()
    gone = second + 1000
    loader = ArticleLoader(session)
    queries: list[object] = []

    def count(*args: object) -> None:
        queries.append(args)

    event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        loader.preload([first, second, gone])
        assert queries
        queries.clear()
        assert [article.id for article in loader.load([second, first])] == [second, first]
        assert queries == []  # fetched with the batch
        assert [article.id for article in loader.load([second, gone, first])] == [second, first]
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", count)
    with pytest.raises(KeyError):
        loader.article(gone)
