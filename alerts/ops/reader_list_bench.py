"""How long the desk's reader list takes for one page at a million readers, on PostgreSQL.

A throw-away database is filled by SQL (`generate_series`) and vacuumed: readers with a mix
of statuses, two topics each out of twenty, a ledger row for one reader in ten, so the
page's "last digest" and "bounces" columns read something. Then each kind of page the desk
asks for is read a few times through `alerts.desk.readers.list_readers`, the function the
page calls, and the median is reported. Nothing is asserted: the figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from alerts.db import make_engine, make_session_factory, upgrade
from alerts.desk.readers import ReaderFilter, list_readers
from alerts.ops.bench import throwaway_database
from subscribers.models import SubscriberStatus

TOPICS = 20
RUNS = 7

_FILL = [
    f"""INSERT INTO topics (slug, name, public, created_at)
    SELECT 'topic-' || n, 'Topic ' || n, true, now() FROM generate_series(1, {TOPICS}) AS n""",
    """INSERT INTO subscribers (email, status, frequency, timezone, send_hour, created_at,
                             status_changed_at, breaking_alerts, link_key)
    SELECT 'reader' || n || '@example.com',
           CASE WHEN n % 1000 = 0 THEN 'bounced' WHEN n % 50 = 0 THEN 'pending'
                WHEN n % 97 = 0 THEN 'unsubscribed' ELSE 'active' END,
           CASE WHEN n % 7 = 0 THEN 'weekly' ELSE 'daily' END,
           'Europe/Paris', n % 24, now() - make_interval(secs => :readers - n), now(),
           false, left(md5(n::text), 22)
    FROM generate_series(1, :readers) AS n""",
    f"""INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT s.id, t.id FROM subscribers AS s
    JOIN topics AS t ON t.id IN (1 + s.id % {TOPICS}, 1 + (s.id * 7 + 3) % {TOPICS})""",
    """INSERT INTO deliveries (edition, subscriber_id, local_date, status, attempts, sent_at,
                            created_at)
    SELECT 'morning', id, current_date, 'sent', 1, now(), now()
    FROM subscribers WHERE id % 10 = 0""",
]


@dataclass(frozen=True)
class PageTiming:
    label: str
    rows: int
    median_ms: float
    slowest_ms: float


def run_reader_list_bench(
    *, admin_url: str, readers: int, say: Callable[[str], None] = print
) -> list[PageTiming]:
    """Fill a throw-away database with `readers` readers and time the list's pages."""
    with throwaway_database(admin_url, prefix="newsalerts_readers") as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            with engine.begin() as connection:
                for statement in _FILL:
                    connection.execute(sa.text(statement), {"readers": readers})
            # As autovacuum would have left a live table: hint bits set, statistics known.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
            say(f"filled {readers:,} readers in {time.perf_counter() - started:.0f} s")
            return _time_pages(engine, readers)
        finally:
            engine.dispose()


def _time_pages(engine: sa.Engine, readers: int) -> list[PageTiming]:
    sessions = make_session_factory(engine)
    middle = readers // 2
    cases: list[tuple[str, ReaderFilter, int | None]] = [
        ("first page, no filter", ReaderFilter(), None),
        (f"page below id {middle:,}", ReaderFilter(), middle),
        ("status pending (2 %)", ReaderFilter(status=SubscriberStatus.PENDING), None),
        ("status bounced (0.1 %)", ReaderFilter(status=SubscriberStatus.BOUNCED), None),
        ("topic-3 (one in ten)", ReaderFilter(topic="topic-3"), None),
        ("topic-3, below the middle", ReaderFilter(topic="topic-3"), middle),
        ("address starts with reader12345", ReaderFilter(search="reader12345"), None),
        ("address starts with nobody", ReaderFilter(search="nobody"), None),
    ]
    timings = []
    for label, wanted, after in cases:
        samples, rows = [], 0
        for _ in range(RUNS):
            with sessions() as session:
                started = time.perf_counter()
                page = list_readers(session, wanted, after=after)
                samples.append((time.perf_counter() - started) * 1000)
                rows = len(page.rows)
        timings.append(PageTiming(label, rows, statistics.median(samples), max(samples)))
    return timings


__all__ = ["PageTiming", "run_reader_list_bench"]
