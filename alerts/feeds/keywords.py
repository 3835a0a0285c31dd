"""Keyword alerts matched as articles come in: a percolator over the readers' keywords.

An article is never tested against every stored keyword. The keywords are indexed by
their terms; an article's terms find the candidate keywords through that index, and only
those are checked for the whole phrase. Matching is on whole words, case- and
accent-insensitive, stemmed in the site's language ("rate" finds "rates", "art" never
finds "start"), over the headline, the summary and the body when one is given.

- PostgreSQL: a keyword's lexemes (`to_tsvector` over `unaccent`) are kept with the
  longest of them (`keyword_terms.lead`, a b-tree index: the longest is usually the
  rarest). The article's lexemes find the candidates by their lead (`= ANY`), those whose
  lexemes are all among the article's (`<@`) remain, and the phrase is verified with
  `phraseto_tsquery`. A phrase query counts a stop word only as a position ("Bank of
  England" would find "Bank in England"), so a matched phrase holding one is checked once
  more on the folded text: its stop words as written, its other words by their start.
  (A GIN index answering `<@` alone was measured slower than a sequential scan: it has to
  read every phrase sharing any lexeme, "new" or "said" too.)
  The language picks the text search configuration (`english`, `german`, ...; `simple`,
  with no stemming, for a language PostgreSQL has no stemmer for).
- SQLite (the embedded default): FTS5 with the porter stemmer (English only) over
  unicode61 without diacritics. The keywords are indexed in `keyword_search`; the
  article's words, as an OR query on it, find the candidates; each is then verified as a
  phrase query on the article's row in `article_search`.

The catalogue (subscribers.models.Keyword) holds each phrase once, so the work per article
depends on the distinct phrases, not on how many readers follow them. A match is one
`keyword_matches` row (keyword, article); a reader's matches are those of the keywords
they follow, read by the digest planner a chunk of readers at a time (and by an
as-it-happens sender, when there is one, from `matched_at`).

Nothing a reader typed is ever spliced into SQL: phrases are bound parameters (on SQLite
an FTS5 phrase is built by quoting the normalised words, which hold no quote).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Integer, Text

from alerts.models import Article, KeywordMatch
from subscribers.database import UTCDateTime
from subscribers.models import ReaderKeyword

# PostgreSQL's text search configurations by a language's primary subtag.
_CONFIGURATIONS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "nb": "norwegian", "ne": "nepali", "nl": "dutch",
    "nn": "norwegian", "no": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip
# An article's text as matched: a long body is cut (PostgreSQL's tsvector holds 1 MB).
MAX_MATCHED_CHARS = 200_000
# unaccent's dictionary, named: the one-argument form looks it up again for every row.
_DICTIONARY = "unaccent"
# Phrases indexed at once after which PostgreSQL's statistics of them are renewed.
_ANALYZE_AFTER = 1000
# Distinct words of an article asked of SQLite's keyword index at once.
_WORDS_PER_QUERY = 500
_WORD = re.compile(r"\w+")
# Letters at the start of a word that English stemming never changes ("stud" of studies
# and study): SQLite's candidates are pruned on them before their phrase is checked.
_STEM_KEEPS = 3
# Readers asked about in one query (a planner's chunk is split into these).
_READERS_PER_QUERY = 1000

# A reader's matches: article id -> the keywords it matched, as the reader typed them.
ReaderMatches = dict[int, list[str]]


def text_search_configuration(language: str) -> str:
    """The PostgreSQL text search configuration for a BCP 47 tag (`simple` if none)."""
    return _CONFIGURATIONS.get(language.split("-", 1)[0].lower(), "simple")


@dataclass(frozen=True)
class MatchedText:
    """What is matched of one article: its headline, summary and body as plain text."""

    article_id: int
    text: str


@dataclass(frozen=True)
class MatchResult:
    articles: int = 0
    matches: int = 0  # (keyword, article) pairs newly found


def match_articles(
    session: Session, articles: Sequence[MatchedText], *, language: str, now: datetime
) -> MatchResult:
    """Find the keywords each article mentions and record the matches (the articles are
    stored). Does not commit. An article matched again (it was updated) keeps the matches
    it had."""
    if not articles:
        return MatchResult()
    matcher = _matcher(session, language)
    matcher.index_keywords()
    found = 0
    for article in articles:
        found += matcher.match(article.article_id, article.text[:MAX_MATCHED_CHARS], now)
    return MatchResult(len(articles), found)


def index_keywords(session: Session, *, language: str) -> None:
    """Index the catalogue's keywords that are not indexed yet (matching does it too,
    before each batch of articles). Does not commit."""
    _matcher(session, language).index_keywords()


def _matcher(session: Session, language: str) -> _PostgresMatcher | _SqliteMatcher:
    if session.get_bind().dialect.name == "postgresql":
        return _PostgresMatcher(session, language)
    return _SqliteMatcher(session)


class _PostgresMatcher:
    def __init__(self, session: Session, language: str) -> None:
        self._session = session
        self._configuration = text_search_configuration(language)

    def index_keywords(self) -> None:
        """Index the catalogue's keywords not yet indexed in this configuration. After
        many (a first run, an import, a new language) the table's statistics are renewed
        at once: without them PostgreSQL reads every phrase for each article."""
        indexed = self._session.execute(
            text(
                "INSERT INTO keyword_terms (keyword_id, language, terms, lead) "
                "SELECT k.id, CAST(:language AS varchar), x.terms, coalesce((SELECT term "
                "  FROM unnest(x.terms) AS term ORDER BY length(term) DESC, term LIMIT 1), '') "
                "FROM keywords k CROSS JOIN LATERAL (SELECT tsvector_to_array(to_tsvector("
                "  CAST(:configuration AS regconfig),"
                "  unaccent(CAST(:dictionary AS regdictionary), k.phrase))) AS terms) AS x "
                # NOT IN: one hashed look at what is indexed. A correlated NOT EXISTS was
                # planned, on an empty table's statistics, as a scan per phrase of the
                # rows this statement was writing: 91 s for 52,157 phrases instead of 2.
                "WHERE k.id NOT IN (SELECT t.keyword_id FROM keyword_terms t "
                "  WHERE t.language = :language) "
                "ON CONFLICT (keyword_id) DO UPDATE "
                "SET language = excluded.language, terms = excluded.terms, lead = excluded.lead"
            ),
            {
                "configuration": self._configuration,
                "language": self._configuration,
                "dictionary": _DICTIONARY,
            },
        )
        if int(indexed.rowcount) >= _ANALYZE_AFTER:  # type: ignore[attr-defined]
            self._session.execute(text("ANALYZE keyword_terms"))

    def match(self, article_id: int, body: str, now: datetime) -> int:
        parameters: dict[str, Any] = {
            "configuration": self._configuration, "language": self._configuration,
            "body": body, "article": article_id, "now": now, "dictionary": _DICTIONARY,
        }  # fmt: skip
        lexemes = self._session.scalar(
            text(
                "SELECT tsvector_to_array(to_tsvector(CAST(:configuration AS regconfig),"
                " unaccent(CAST(:dictionary AS regdictionary), :body)))"
            ),
            parameters,
        )
        if not lexemes:
            return 0
        # The lexemes as a constant array: the lead's index answers `= ANY` for it; the
        # document is built once (a materialised CTE) for every candidate's phrase check.
        statement = text(
            "WITH document AS MATERIALIZED (SELECT to_tsvector(CAST(:configuration AS regconfig),"
            "  unaccent(CAST(:dictionary AS regdictionary), :body)) AS vector) "
            "INSERT INTO keyword_matches (keyword_id, article_id, matched_at) "
            "SELECT t.keyword_id, :article, :now "
            "FROM keyword_terms t JOIN keywords k ON k.id = t.keyword_id, document "
            "WHERE t.lead = ANY(:lexemes) AND t.terms <@ :lexemes "
            "AND t.language = :language "
            "AND cardinality(t.terms) > 0 "
            "AND (cardinality(t.terms) = 1 OR document.vector @@ phraseto_tsquery("
            "  CAST(:configuration AS regconfig),"
            "  unaccent(CAST(:dictionary AS regdictionary), k.phrase))) "
            "ON CONFLICT DO NOTHING RETURNING keyword_id"
        ).bindparams(bindparam("lexemes", type_=ARRAY(Text)), bindparam("now", type_=UTCDateTime()))
        found = list(self._session.scalars(statement, {**parameters, "lexemes": lexemes}))
        wrong = self._stop_words_elsewhere(found, body) if found else []
        if wrong:
            self._session.execute(
                text(
                    "DELETE FROM keyword_matches WHERE article_id = :article "
                    "AND keyword_id = ANY(:wrong)"
                ).bindparams(bindparam("wrong", type_=ARRAY(Integer))),
                {"article": article_id, "wrong": wrong},
            )
        return len(found) - len(wrong)

    def _stop_words_elsewhere(self, keyword_ids: list[int], body: str) -> list[int]:
        """Of these matched keywords, the phrases whose stop words the article does not
        have in place. A phrase query skips a stop word, counting only its position, so
        "Bank of England" would otherwise match "Bank in England". Only phrases with more
        words than lexemes are looked at (few); their stop words must appear as written,
        their other words by the start that stemming keeps."""
        rows = self._session.execute(
            text(
                "SELECT k.id, k.phrase FROM keywords k "
                "JOIN keyword_terms t ON t.keyword_id = k.id "
                "WHERE k.id = ANY(:ids) AND cardinality(t.terms) < "
                "  cardinality(regexp_split_to_array(btrim(k.phrase), '\\s+'))"
            ).bindparams(bindparam("ids", type_=ARRAY(Integer))),
            {"ids": keyword_ids},
        )
        phrases: dict[int, str] = {keyword_id: phrase for keyword_id, phrase in rows}
        if not phrases:
            return []
        words = {word for phrase in phrases.values() for word in _WORD.findall(_fold(phrase))}
        stop_words = set(
            self._session.scalars(
                text(
                    "SELECT w FROM unnest(:words) AS w WHERE to_tsvector("
                    "  CAST(:configuration AS regconfig),"
                    "  unaccent(CAST(:dictionary AS regdictionary), w)) = ''::tsvector"
                ).bindparams(bindparam("words", type_=ARRAY(Text))),
                {
                    "words": sorted(words),
                    "configuration": self._configuration,
                    "dictionary": _DICTIONARY,
                },
            )
        )
        folded = _fold(body)
        return [
            keyword_id
            for keyword_id, phrase in phrases.items()
            if not _in_place(_WORD.findall(_fold(phrase)), stop_words, folded)
        ]


class _SqliteMatcher:
    def __init__(self, session: Session) -> None:
        self._session = session

    def index_keywords(self) -> None:
        """Drop the index rows of keywords gone from the catalogue (their id may be given
        again), then index the new ones."""
        session = self._session
        session.execute(
            text(
                "DELETE FROM keyword_search WHERE rowid NOT IN "
                "(SELECT keyword_id FROM keyword_terms)"
            )
        )
        new = session.execute(
            text(
                "SELECT k.id, k.phrase FROM keywords k LEFT JOIN keyword_terms t "
                "ON t.keyword_id = k.id WHERE t.keyword_id IS NULL"
            )
        ).all()
        if not new:
            return
        session.execute(
            text("INSERT INTO keyword_search (rowid, phrase) VALUES (:id, :phrase)"),
            [{"id": keyword_id, "phrase": phrase} for keyword_id, phrase in new],
        )
        session.execute(
            text(
                "INSERT INTO keyword_terms (keyword_id, language, terms, lead) "
                "VALUES (:id, 'fts5', :terms, '')"
            ),
            [{"id": keyword_id, "terms": _json_words(phrase)} for keyword_id, phrase in new],
        )

    def match(self, article_id: int, body: str, now: datetime) -> int:
        session = self._session
        session.execute(text("DELETE FROM article_search WHERE rowid = :id"), {"id": article_id})
        session.execute(
            text("INSERT INTO article_search (rowid, body) VALUES (:id, :body)"),
            {"id": article_id, "body": body},
        )
        words = list(dict.fromkeys(_WORD.findall(_fold(body))))
        # A stem keeps a word's first letters: a phrase with a word that starts like no
        # word of the article cannot match, and is not asked of FTS5 one by one.
        starts = {word[:_STEM_KEEPS] for word in words}
        single: set[int] = set()
        phrases: set[int] = set()
        for offset in range(0, len(words), _WORDS_PER_QUERY):
            query = " OR ".join(f'"{word}"' for word in words[offset : offset + _WORDS_PER_QUERY])
            for keyword_id, phrase in session.execute(
                text("SELECT rowid, phrase FROM keyword_search WHERE keyword_search MATCH :query"),
                {"query": query},
            ):
                terms = _fold(phrase).split()
                if len(terms) == 1:
                    single.add(keyword_id)  # the OR query found its one word: a match
                elif all(term[:_STEM_KEEPS] in starts for term in terms):
                    phrases.add(keyword_id)
        found = 0
        if single:
            found += self._insert(article_id, now, sorted(single), verify=False)
        if phrases:
            found += self._insert(article_id, now, sorted(phrases), verify=True)
        return found

    def _insert(
        self, article_id: int, now: datetime, candidates: list[int], *, verify: bool
    ) -> int:
        """Record the candidates as matches; with `verify`, only those whose phrase the
        article's row holds (an FTS5 phrase query)."""
        check = (
            "AND EXISTS (SELECT 1 FROM article_search WHERE article_search MATCH "
            "  '\"' || k.phrase || '\"' AND rowid = :article)"
            if verify
            else ""
        )
        statement = text(
            "INSERT OR IGNORE INTO keyword_matches (keyword_id, article_id, matched_at) "
            f"SELECT k.id, :article, :now FROM keywords k WHERE k.id IN :candidates {check}"
        ).bindparams(
            bindparam("candidates", expanding=True, type_=Integer),
            bindparam("now", type_=UTCDateTime()),
        )
        result = self._session.execute(
            statement, {"article": article_id, "now": now, "candidates": candidates}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def matches_for_readers(
    session: Session,
    subscriber_ids: Sequence[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    article_ids: Sequence[int] | None = None,
) -> dict[int, ReaderMatches]:
    """The stories published in (since, until] that mention keywords these readers
    follow: reader -> article -> keywords (as typed, in the reader's order). One query
    per thousand readers, whatever their number; `article_ids` narrows it to those."""
    found: dict[int, ReaderMatches] = {}
    ids = sorted(set(subscriber_ids))
    for offset in range(0, len(ids), _READERS_PER_QUERY):
        query = (
            select(ReaderKeyword.subscriber_id, KeywordMatch.article_id, ReaderKeyword.typed)
            .join(KeywordMatch, KeywordMatch.keyword_id == ReaderKeyword.keyword_id)
            .join(Article, Article.id == KeywordMatch.article_id)
            .where(ReaderKeyword.subscriber_id.in_(ids[offset : offset + _READERS_PER_QUERY]))
            .order_by(ReaderKeyword.subscriber_id, KeywordMatch.article_id, ReaderKeyword.position)
        )
        if since is not None:
            query = query.where(Article.published_at > since)
        if until is not None:
            query = query.where(Article.published_at <= until)
        if article_ids is not None:
            query = query.where(KeywordMatch.article_id.in_(sorted(set(article_ids))))
        for subscriber_id, article_id, typed in session.execute(query):
            found.setdefault(subscriber_id, {}).setdefault(article_id, []).append(typed)
    return found


def _in_place(words: list[str], stop_words: set[str], folded: str) -> bool:
    """Whether `folded` text has the phrase's words in a row: each stop word as written,
    each other word by the letters stemming keeps (its start), then any ending."""
    if not stop_words.intersection(words):
        return True  # the phrase query has checked it all
    parts = [
        re.escape(word) if word in stop_words
        else re.escape(word[: max(_STEM_KEEPS, len(word) - 2)]) + r"\w*"
        for word in words
    ]  # fmt: skip
    return re.search(r"(?<!\w)" + r"\W+".join(parts) + r"(?!\w)", folded) is not None


def _fold(text: str) -> str:
    """Lower case without accents, as FTS5's unicode61 tokenizer sees words."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _json_words(phrase: str) -> str:
    return json.dumps(phrase.split())


__all__ = [
    "MatchResult",
    "MatchedText",
    "ReaderMatches",
    "index_keywords",
    "match_articles",
    "matches_for_readers",
    "text_search_configuration",
]
