"""End to end: an article comes in, a real `celery worker` runs the keyword-alert tick,
and the reader who asked gets the story by SMTP exactly once, however often the tick runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.config import Settings, load_settings
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.runtime import Runtime
from alerts.tasks.app import KEYWORD_ALERTS, URGENT_QUEUE, create_celery
from subscribers.database import utcnow
from subscribers.keywords import parse_keywords, set_keywords
from subscribers.lifecycle import set_keyword_alerts
from tests.support.builders import reader
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow


@pytest.fixture
def environment(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer
) -> dict[str, str]:
    return process_environment(
        database_url=postgres_database, redis_url=broker_url, smtp_url=smtp_server.url
    )


@pytest.fixture
def settings(environment: dict[str, str]) -> Settings:
    return load_settings(
        database_url=environment["DATABASE_URL"], redis_url=environment["REDIS_URL"],
        smtp_url=environment["SMTP_URL"], _env_file=None,
    )  # fmt: skip


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


def _tick(settings: Settings) -> None:
    app = create_celery(settings)
    try:
        app.send_task(KEYWORD_ALERTS, queue=URGENT_QUEUE)
    finally:
        app.close()


def test_an_ingested_story_reaches_the_reader_as_a_keyword_alert_once(
    runtime: Runtime, settings: Settings, environment: dict[str, str],
    smtp_server: RecordingSMTPServer, tmp_path: Path,
) -> None:  # fmt: skip
    with runtime.session() as session:
        ada = reader(session, "ada@example.com", topics=("Sport",))
        set_keywords(session, ada, parse_keywords(['"Central Bank"']))
        set_keyword_alerts(ada, True)
        bram = reader(session, "bram@example.com", topics=("Sport",))  # digest only
        set_keywords(session, bram, parse_keywords(['"Central Bank"']))
        session.commit()
        time.sleep(0.01)  # the story matches after the choice was made
        upsert_articles(
            session,
            [ArticleInput(url="https://news.example.com/rates", title="Central Bank holds rates",
                          topics=("Business",))],
            source=None, now=utcnow(),
        )  # fmt: skip
        session.commit()
    log = tmp_path / "worker.log"
    worker = start_worker(environment, log, concurrency=1)
    try:
        _tick(settings)
        _tick(settings)  # a double tick
        [received] = smtp_server.wait_for(1, timeout=60)
        _tick(settings)  # and one more later: nothing new
        time.sleep(3)
    finally:
        stop_worker(worker)
    assert len(smtp_server.messages) == 1, log.read_text(errors="replace")[-3000:]
    assert received.recipients == ["ada@example.com"]
    assert received.message["Subject"] == '"Central Bank": Central Bank holds rates'
    assert received.message["List-Id"].startswith("Keyword alerts <keywords.")
