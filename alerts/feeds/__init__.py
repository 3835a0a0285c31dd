"""Ingestion: articles come in from news feeds (RSS, Atom, JSON Feed) and the publisher API.

- `articles.py`: an article as it comes in, validated and cleaned, and storing articles
  without duplicates (keyed on their identity).
- `reading.py`: fetching a feed over HTTP with conditional GETs, and reading its items.
- `network.py`: where a fetch may connect (public addresses, unless FEEDS_ALLOW_PRIVATE)
  and its one deadline.
- `ingest.py`: one source (a feed URL or a local file) into the article store, all or nothing.
- `polling.py`: the feed sources the scheduler polls, each on its own interval.

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
from alerts.feeds.ingest import SourceResult, SourceStatus, ingest_source
from alerts.feeds.polling import PollOutcome, due_sources, poll_due_sources, set_polling
from alerts.feeds.reading import FetchResult, FetchStatus, fetch_feed, parse_feed

__all__ = [
    "ArticleInput",
    "FetchResult",
    "FetchStatus",
    "IngestResult",
    "PollOutcome",
    "SourceResult",
    "SourceStatus",
    "article_input_from_mapping",
    "due_sources",
    "fetch_feed",
    "hash_identity",
    "identity_hash",
    "identity_of",
    "ingest_source",
    "parse_feed",
    "plain_text",
    "poll_due_sources",
    "sanitise_summary",
    "set_polling",
    "upsert_articles",
]
