"""Ingestion: articles come in from news feeds (RSS, Atom, JSON Feed) and the publisher API.

- `articles.py`: an article as it comes in, validated and cleaned, and storing articles
  without duplicates (keyed on their identity).
- `reading.py`: fetching a feed over HTTP with conditional GETs, and reading its items
  (a bad item is skipped and reported, not the whole feed).
- `documents.py`: what readers forgive in a feed's XML (leading blank lines, HTML entities,
  bytes invalid in its charset), repaired before parsing.
- `network.py`: where a fetch may connect (public addresses, unless FEEDS_ALLOW_PRIVATE)
  and its one deadline.
- `ingest.py`: one source (a feed URL or a local file) into the article store, its skips
  counted by reason.
- `polling.py`: the feed sources the scheduler polls, each on its own interval.
- `keywords.py`: readers' keywords matched in each article as it is stored (a percolator:
  PostgreSQL full-text search, SQLite FTS5), and a chunk of readers' matches read back.

Each module's docstring says why it works the way it does.
"""

from alerts.feeds.articles import (
    ArticleInput,
    IngestResult,
    article_input_from_mapping,
    hash_identity,
    identity_hash,
    identity_of,
    plain_text,
    sanitise_summary,
    upsert_articles,
)
from alerts.feeds.ingest import SourceResult, SourceStatus, ingest_source, tally
from alerts.feeds.keywords import (
    MatchedText,
    MatchResult,
    ReaderMatches,
    index_keywords,
    match_articles,
    matches_for_readers,
    text_search_configuration,
)
from alerts.feeds.polling import (
    PollOutcome,
    add_source,
    due_sources,
    feed_sources,
    poll_due_sources,
    remove_source,
    set_polling,
)
from alerts.feeds.reading import (
    FetchResult,
    FetchStatus,
    ParsedFeed,
    Skip,
    fetch_feed,
    parse_feed,
)

__all__ = [
    "ArticleInput",
    "FetchResult",
    "FetchStatus",
    "IngestResult",
    "MatchResult",
    "MatchedText",
    "ParsedFeed",
    "PollOutcome",
    "ReaderMatches",
    "Skip",
    "SourceResult",
    "SourceStatus",
    "add_source",
    "article_input_from_mapping",
    "due_sources",
    "feed_sources",
    "fetch_feed",
    "hash_identity",
    "identity_hash",
    "identity_of",
    "index_keywords",
    "ingest_source",
    "match_articles",
    "matches_for_readers",
    "parse_feed",
    "plain_text",
    "poll_due_sources",
    "remove_source",
    "sanitise_summary",
    "set_polling",
    "tally",
    "text_search_configuration",
    "upsert_articles",
]
