"""The subscription store: readers, the topics they follow, their consent and suppressions.

The lowest layer: it never imports alerts. Functions take a Session; the caller commits.

- `models.py`: readers, topics, consent events, suppressions; `database.py`: the declarative
  base every model shares, and column types that behave the same on every database.
- `lifecycle.py`: a reader's journey: sign up, confirm, change preferences, pause,
  unsubscribe, export, erase.
- `services.py`: the business functions of the store; `topics.py`: the topic catalogue.
- `addresses.py`: what an email address is; `preferences.py`: frequency, time zone, send hour.
- `editions.py`: a reader's choice of editions: the ones they turned off, by slug.
- `keywords.py`: the words and phrases a reader follows: cleaned, limited, stored once.
- `tokens.py`: signed, purpose-bound tokens for the links in emails.
- `csv_io.py`: importing and exporting readers as CSV; `bulk.py`: writing an import's new
  readers a chunk at a time (COPY on PostgreSQL, multi-row INSERTs on SQLite).
- `buckets.py`: readers per (frequency, time zone, hour) for the digest planner, from deltas
  the database's triggers append (a tick reads the buckets, not the list).
- `errors.py`: the package's errors, one base, each carrying the offending value.
"""
