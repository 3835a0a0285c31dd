"""Feed polling runs in a queue of its own, under a time limit: real `celery worker`
processes on Redis and PostgreSQL, polling a real HTTP server on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from alerts.config import load_settings
from alerts.db import make_engine, make_session_factory
from alerts.feeds.polling import set_polling
from alerts.models import Article, FeedSource
from alerts.tasks.app import (
    BULK_QUEUE,
    FEEDS_QUEUE,
    POLL_FEEDS,
    POLL_SOFT_TIME_LIMIT_SECONDS,
    POLL_TIME_LIMIT_SECONDS,
    create_celery,
)
from subscribers.database import utcnow
from tests.support.feed_server import FeedServer, Route
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Harbour bridge reopens</title><link>/local/bridge</link></item>
<item><title>Untitled without a link</title></item>
</channel></rss>
"""


def _articles_and_source(database_url: str) -> tuple[int, FeedSource | None]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Article)) or 0
        source = session.scalars(select(FeedSource)).first()
    engine.dispose()
    return count, source


def test_polling_waits_for_a_feeds_worker_and_not_for_the_digests_workers(
    postgres_database: str,
    broker_url: str,
    smtp_server: RecordingSMTPServer,
    feed_server: FeedServer,
    tmp_path: Path,
) -> None:
    url = feed_server.serve("/feed.xml", Route(FEED))
    engine = make_engine(postgres_database)
    with make_session_factory(engine)() as session:
        set_polling(session, url=url, minutes=15, now=utcnow())
        session.commit()
    engine.dispose()
    environment = process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        FEEDS_ALLOW_PRIVATE="true",
    )
    app = create_celery(load_settings(redis_url=broker_url, _env_file=None))
    client = redis.Redis.from_url(broker_url)

    # The digests' worker (compose's `worker`) leaves the poll where it is.
    digests = start_worker(
        environment, tmp_path / "digests.log", queues="newsalerts.urgent,newsalerts"
    )
    try:
        app.send_task(POLL_FEEDS)
        time.sleep(3)
        assert client.llen(FEEDS_QUEUE) == 1
        assert client.llen(BULK_QUEUE) == 0
        assert feed_server.requests == []
    finally:
        stop_worker(digests)

    polling = start_worker(environment, tmp_path / "feeds.log", concurrency=1, queues=FEEDS_QUEUE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _articles_and_source(postgres_database)[0] == 0:
            time.sleep(0.2)
    finally:
        stop_worker(polling)
    count, source = _articles_and_source(postgres_database)
    assert count == 1, (tmp_path / "feeds.log").read_text()
    assert source is not None and source.last_skips == "no link ×1"
    assert client.llen(FEEDS_QUEUE) == 0


def test_the_poll_task_is_routed_to_the_feeds_queue_with_a_time_limit() -> None:
    app = create_celery(load_settings(redis_url="redis://127.0.0.1:6379/0", _env_file=None))
    app.loader.import_default_modules()
    task = app.tasks[POLL_FEEDS]
    assert (task.soft_time_limit, task.time_limit) == (
        POLL_SOFT_TIME_LIMIT_SECONDS,
        POLL_TIME_LIMIT_SECONDS,
    )
    assert POLL_SOFT_TIME_LIMIT_SECONDS < POLL_TIME_LIMIT_SECONDS
    assert app.amqp.router.route({}, POLL_FEEDS)["queue"].name == FEEDS_QUEUE
