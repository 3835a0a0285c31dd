"""Time `GET /metrics` on a large ledger: a throw-away PostgreSQL database with N ledger rows.

    .venv/bin/python scripts/bench_metrics.py --rows 1000000

Creates a database on the server (dropped afterwards), migrates it with the checkout's
migrations, writes N/10 readers and ten days of ledger rows each (mostly sent; some failed,
bounced, skipped; relays and replies as the workers write them), then scrapes `/metrics`
through the Flask test client `--scrapes` times and prints the median and the spread.
Redis (`--redis`, a database of its own) is the broker the scrape reads, with no worker
running. Independent of the tests, and of which revision of the code it measures.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import sqlalchemy as sa

from alerts.config import load_settings
from alerts.db import upgrade
from alerts.web.app import create_app

FILL = """
INSERT INTO subscribers (email, status, frequency, timezone, send_hour, created_at,
                         status_changed_at)
SELECT 'reader' || n || '@example.com', 'active', 'daily', 'UTC', 7, now(), now()
FROM generate_series(1, :readers) AS n;

INSERT INTO deliveries (edition, subscriber_id, local_date, status, window_start, window_end,
                        article_ids, attempts, created_at, sent_at, relay, smtp_reply,
                        message_id)
SELECT 'daily', s.id, DATE '2026-11-01' + d,
       CASE WHEN s.id % 50 = 0 THEN 'failed' WHEN s.id % 97 = 0 THEN 'bounced'
            WHEN s.id % 31 = 0 THEN 'skipped' ELSE 'sent' END,
       TIMESTAMPTZ '2026-11-01 07:00+00' + d * interval '1 day' - interval '1 day',
       TIMESTAMPTZ '2026-11-01 07:00+00' + d * interval '1 day',
       '[1, 2, 3]', 1,
       TIMESTAMPTZ '2026-11-01 07:00+00' + d * interval '1 day',
       TIMESTAMPTZ '2026-11-01 07:00+00' + d * interval '1 day' + (s.id % 600) * interval '1 s',
       'smtp:relay.example.com:25',
       CASE WHEN s.id % 50 = 0 THEN '550 5.1.1 no such user' ELSE '250 2.0.0 queued' END,
       '<' || s.id || '.' || d || '@news.example.com>'
FROM subscribers s CROSS JOIN generate_series(0, 9) AS d;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"newsalerts_metrics_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = sa.create_engine(url)
        started = time.perf_counter()
        with engine.begin() as connection:
            for statement in FILL.split(";"):
                if statement.strip():
                    connection.execute(sa.text(statement), {"readers": args.rows // 10})
            connection.execute(sa.text("ANALYZE"))
            rows = connection.scalar(sa.text("SELECT count(*) FROM deliveries"))
        engine.dispose()
        print(f"{rows:,} ledger rows written in {time.perf_counter() - started:.1f} s")
        settings = load_settings(
            database_url=url,
            redis_url=args.redis,
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            _env_file=None,
        )
        app = create_app(settings)
        client = app.test_client()
        timings = []
        for _ in range(args.scrapes):
            began = time.perf_counter()
            response = client.get("/metrics")
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
        print(
            f"/metrics over {args.scrapes} scrapes: median {statistics.median(timings):.1f} ms, "
            f"min {min(timings):.1f} ms, max {max(timings):.1f} ms"
        )
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
