"""The beat schedule end to end: a real `newsalerts beat` and worker, PostgreSQL, Redis, SMTP.

Beat's first tick comes a full interval (TICK_SECONDS) after it starts, and a restarted
beat's a full interval after the last one it saved, so this test takes two to three
minutes.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from alerts.db import make_engine, make_session_factory
from alerts.feeds.polling import set_polling
from alerts.models import Article, DeliveryStatus
from alerts.tasks.app import QUEUES
from alerts.tasks.beat import LAST_TICK_KEY
from alerts.tasks.queues import read_broker
from subscribers.database import utcnow
from tests.support.builders import articles, reader
from tests.support.feed_server import FeedServer, Route
from tests.support.ledger import ledger_rows
from tests.support.processes import process_environment, start_beat, start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow

DUE = [f"due{number}@example.com" for number in range(4)]
NOTHING_NEW = "nothing-new@example.com"
NOT_YET = "not-yet@example.com"
# Beat publishes its first tick one interval after it starts; then the worker runs it.
DEADLINE_SECONDS = 150.0
POLLED_URL = "https://news.example.com/story/polled"
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Polled story</title><link>{link}</link><pubDate>{published}</pubDate></item>
</channel></rss>
"""


@pytest.fixture
def broker(broker_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(broker_url)
    yield client
    client.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process the test starts, stopped at teardown however the test ended."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        stop_worker(process)


def _zone_at_six(now: datetime) -> str:
    """A fixed-offset zone where it is 6 o'clock now: readers there with a send hour of 6
    are due, those with 12 are not, and neither changes within the test's few minutes."""
    offset = (6 - now.hour) % 24
    if offset > 14:  # Etc zones run from UTC-12 to UTC+14
        offset -= 24
    return f"Etc/GMT{-offset:+d}"  # the Etc names' signs are inverted: Etc/GMT-3 is UTC+3


def _seed(database_url: str, feed_url: str) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        now = utcnow()
        zone = _zone_at_six(now)
        for address in DUE:
            reader(session, address, timezone=zone, hour=6)
        reader(session, NOTHING_NEW, topics=("Champions Cup",), timezone=zone, hour=6)
        reader(session, NOT_YET, timezone=zone, hour=12)
        articles(session, now, ("flood", ("Drought emergency",), timedelta(minutes=30)))
        set_polling(session, url=feed_url, minutes=1, now=now)
        session.commit()
    engine.dispose()


def _article_stored(database_url: str, url: str) -> bool:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        found = session.scalar(select(Article.id).where(Article.url == url))
    engine.dispose()
    return found is not None


def _last_tick(client: redis.Redis) -> bytes | None:
    value = client.get(LAST_TICK_KEY)
    assert value is None or isinstance(value, bytes)
    return value


def _idle(client: redis.Redis) -> bool:
    """Every task published so far (ticks, polls, batches) has finished."""
    figures = read_broker(client, queues=QUEUES, now=time.time())
    return figures.waiting == 0 and figures.published_total == figures.finished_total


def _tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else "(not started)"


def _wait_for(condition: Callable[[], bool], what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{_tail(log)}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def test_beat_ticks_send_each_due_reader_one_digest_across_a_restart(
    postgres_database: str,
    broker_url: str,
    broker: redis.Redis,
    smtp_server: RecordingSMTPServer,
    feed_server: FeedServer,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    feed_url = feed_server.serve(
        "/news.xml",
        Route(FEED.format(link=POLLED_URL, published=format_datetime(utcnow())).encode()),
    )
    _seed(postgres_database, feed_url)
    environment = process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BASE_URL="https://news.example.com",
        FEEDS_ALLOW_PRIVATE="true",  # the feed server is on loopback
    )
    schedule = tmp_path / "beat-schedule"
    worker_log, first_log, second_log = (
        tmp_path / "worker.log",
        tmp_path / "beat-first.log",
        tmp_path / "beat-second.log",
    )
    processes.append(start_worker(environment, worker_log, through_cli=True))
    first_beat = start_beat(environment, first_log, schedule=schedule)
    processes.append(first_beat)

    def all_sent() -> bool:
        rows = ledger_rows(postgres_database)
        return (
            all(address in rows and rows[address].status is DeliveryStatus.SENT for address in DUE)
            and NOTHING_NEW in rows
            and _article_stored(postgres_database, POLLED_URL)
            and _idle(broker)
        )

    _wait_for(all_sent, "the first tick's digests and the feed poll", [first_log, worker_log])
    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert copies == Counter(DUE)
    ledger = {address: row.status for address, row in ledger_rows(postgres_database).items()}
    assert ledger == {
        **dict.fromkeys(DUE, DeliveryStatus.SENT),
        NOTHING_NEW: DeliveryStatus.SKIPPED,
    }

    # Restart the scheduler on the same schedule file, as a redeploy or a crash-loop would.
    stop_worker(first_beat)
    assert first_beat.returncode == 0, _tail(first_log)
    _wait_for(lambda: _idle(broker), "the first beat's last tasks", [first_log, worker_log])
    before = _last_tick(broker)
    assert before is not None
    processes.append(start_beat(environment, second_log, schedule=schedule))
    _wait_for(
        lambda: _last_tick(broker) != before and _idle(broker),
        "a tick from the restarted beat",
        [second_log, worker_log],
    )

    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert copies == Counter(DUE), "a due reader got a second digest, or a reader not due got one"
    after = {address: row.status for address, row in ledger_rows(postgres_database).items()}
    assert after == ledger
