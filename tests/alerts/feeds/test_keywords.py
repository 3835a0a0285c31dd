"""Keyword matching: the same cases on SQLite (FTS5) and PostgreSQL (full-text search)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.feeds.keywords import matches_for_readers, text_search_configuration
from alerts.models import KeywordMatch
from subscribers.keywords import parse_keywords, set_keywords
from subscribers.models import Keyword, Subscriber
from tests.factories import make_reader, utc

NOW = utc(2026, 3, 2, 9)

# (keyword as typed, headline, summary, whether it matches)
CASES = [
    ("rate", "Mortgage rates rise again", "", True),
    ("rates", "The rate was cut", "", True),
    ("art", "A fresh start for the season", "", False),
    ("art", "Modern art fair opens", "", True),
    ('"Central Bank"', "Central Bank holds", "", True),
    ("Central Bank", "Rates", "<p>The <b>central bank</b> said so.</p>", True),
    ('"Central Bank"', "A bank in the central square", "", False),
    ('"Central Bank"', "Central banks meet", "", True),
    ("reservoir", "RESERVOIR LEVELS FALL", "", True),
    ("Zürich", "Zurich trams return", "", True),
    ("cafe", "Café culture", "", True),
    ("Kestrel Valley", "Kestrel Valley votes", "", True),
    ("Kestrel Valley", "Valley of the kestrel", "", False),
    ("reservoir", "Reservoirs", "<p>nothing here</p>", True),
    ("reservoir", "Water", "<p>Levels at the <em>reservoir</em> fell.</p>", True),
    ("bank", "The embankment gave way", "", False),
    # A stop word inside a phrase counts as written, not as any word in its place.
    ('"Bank of England"', "Bank of England holds rates", "", True),
    ('"Bank of England"', "Bank in England warns", "", False),
    ('"Bank of England"', "Banks of England merge", "", True),
    ('"Bank of England"', "Bank. Of England, nothing", "", True),
]


def _reader_with(session: Session, keyword: str) -> Subscriber:
    reader = make_reader(session, f"reader{len(session.scalars(select(Subscriber)).all())}")
    set_keywords(session, reader, parse_keywords([keyword]))
    return reader


@pytest.mark.parametrize(("keyword", "headline", "summary", "expected"), CASES)
def test_keywords_match_whole_words_and_phrases(
    session: Session, keyword: str, headline: str, summary: str, expected: bool
) -> None:
    reader = _reader_with(session, keyword)
    item = ArticleInput(
        url="https://news.example.com/story", title=headline, summary=summary, published_at=NOW
    )
    [article] = upsert_articles(session, [item], source=None, now=NOW).articles
    found = matches_for_readers(session, [reader.id], since=utc(2026, 3, 1), until=NOW)
    assert (article.id in found.get(reader.id, {})) is expected
    if expected:
        assert found[reader.id][article.id] == [keyword.strip('"')]


def test_the_body_is_matched_but_not_stored(session: Session) -> None:
    reader = _reader_with(session, "reservoir")
    item = ArticleInput(
        url="https://news.example.com/water", title="Water news", published_at=NOW,
        body="Engineers inspected the reservoir dam on Monday.",
    )  # fmt: skip
    [article] = upsert_articles(session, [item], source=None, now=NOW).articles
    found = matches_for_readers(session, [reader.id], since=utc(2026, 3, 1), until=NOW)
    assert found == {reader.id: {article.id: ["reservoir"]}}


def test_readers_share_a_phrase_and_each_gets_the_match(session: Session) -> None:
    first = _reader_with(session, '"central bank"')
    second = _reader_with(session, "Central  Bank")
    other = _reader_with(session, "reservoir")
    item = ArticleInput(
        url="https://news.example.com/cb", title="The Central Bank acts", published_at=NOW
    )
    [article] = upsert_articles(session, [item], source=None, now=NOW).articles
    assert session.scalar(select(func.count()).select_from(Keyword)) == 2
    assert session.scalar(select(func.count()).select_from(KeywordMatch)) == 1
    found = matches_for_readers(
        session, [first.id, second.id, other.id], since=utc(2026, 3, 1), until=NOW
    )
    assert found == {
        first.id: {article.id: ["central bank"]},
        second.id: {article.id: ["Central Bank"]},
    }


def test_a_window_and_a_dropped_keyword_limit_the_matches(session: Session) -> None:
    reader = _reader_with(session, "reservoir")
    old = ArticleInput(
        url="https://news.example.com/old", title="Reservoir old", published_at=utc(2026, 2, 1)
    )
    new = ArticleInput(url="https://news.example.com/new", title="Reservoir new", published_at=NOW)
    stored = upsert_articles(session, [old, new], source=None, now=NOW).articles
    found = matches_for_readers(session, [reader.id], since=utc(2026, 3, 1), until=NOW)
    assert list(found[reader.id]) == [stored[1].id]
    set_keywords(session, reader, parse_keywords(["lighthouse"]))
    assert matches_for_readers(session, [reader.id], since=utc(2026, 1, 1), until=NOW) == {}
    # Nobody follows "reservoir" now: the phrase and its matches are gone.
    assert session.scalars(select(Keyword.phrase)).all() == ["lighthouse"]
    assert session.scalar(select(func.count()).select_from(KeywordMatch)) == 0


def test_a_keyword_added_after_a_removal_is_indexed_afresh(session: Session) -> None:
    reader = _reader_with(session, "reservoir")
    set_keywords(session, reader, parse_keywords([]))
    set_keywords(session, reader, parse_keywords(["harbour"]))
    item = ArticleInput(url="https://news.example.com/h", title="Harbour opens", published_at=NOW)
    [article] = upsert_articles(session, [item], source=None, now=NOW).articles
    found = matches_for_readers(session, [reader.id], since=utc(2026, 3, 1), until=NOW)
    assert found == {reader.id: {article.id: ["harbour"]}}


def test_text_search_configuration_follows_the_language() -> None:
    assert text_search_configuration("en-GB") == "english"
    assert text_search_configuration("de") == "german"
    assert text_search_configuration("xx") == "simple"
