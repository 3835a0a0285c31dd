"""A sign-up's confirmation survives a broker that lost its message: the web app writes it
to the outbox with the sign-up, Redis is flushed before any worker took the task, and the
scheduler's tick, run by a real worker process, sends it — exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import load_settings
from alerts.db import make_engine, make_session_factory
from alerts.models import NoticeDelivery, NoticeStatus
from alerts.tasks.app import create_celery
from alerts.tasks.handlers import TICK
from alerts.web.app import create_app
from tests.support.processes import SECRET_KEY, process_environment, start_worker, stop_worker
from tests.support.redis_server import RedisServer
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow
ADDRESS = "ada@example.com"
REQUEUE_SECONDS = 2


def _notices(database_url: str) -> list[tuple[NoticeStatus, int, str]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(NoticeDelivery.status, NoticeDelivery.attempts, NoticeDelivery.kind)
            )
            return [(status, attempts, kind) for status, attempts, kind in rows]
    finally:
        engine.dispose()


def test_a_confirmation_lost_with_the_broker_arrives_once_after_the_tick(
    postgres_database: str,
    private_redis: RedisServer,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
) -> None:
    settings = load_settings(
        database_url=postgres_database,
        redis_url=private_redis.url,
        smtp_url=smtp_server.url,
        secret_key=SECRET_KEY,
        base_url="https://news.example.com",
        form_min_seconds=0,
        notice_requeue_seconds=REQUEUE_SECONDS,
        _env_file=None,
    )
    app = create_app(settings)
    answer = app.test_client().post("/subscribe", json={"email": ADDRESS})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert _notices(postgres_database) == [(NoticeStatus.PENDING, 0, "confirm")]

    client = private_redis.client()
    assert client.dbsize() > 0  # the task is waiting in the queue ...
    client.flushdb()  # ... and Redis loses it before any worker took it
    client.close()
    app.extensions["newsalerts"].runtime.close()

    environment = process_environment(
        database_url=postgres_database,
        redis_url=private_redis.url,
        smtp_url=smtp_server.url,
        BASE_URL="https://news.example.com",
        NOTICE_REQUEUE_SECONDS=str(REQUEUE_SECONDS),
    )
    log = tmp_path / "worker.log"
    worker = start_worker(environment, log, concurrency=2)
    celery = create_celery(settings)
    try:
        time.sleep(REQUEUE_SECONDS + 1)
        assert smtp_server.messages == []  # nothing came: the task is gone for good
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not smtp_server.messages:
            celery.send_task(TICK)  # the scheduler's minute tick (sped up)
            time.sleep(1)
        assert smtp_server.messages, f"the confirmation never came\n{log.read_text()[-3000:]}"
        for _ in range(3):  # more ticks, with the row sent: nothing more
            celery.send_task(TICK)
        time.sleep(REQUEUE_SECONDS + 3)
    finally:
        celery.close()
        stop_worker(worker)

    assert [message.recipients for message in smtp_server.messages] == [[ADDRESS]]
    assert "/confirm/" in smtp_server.messages[0].message.as_string()
    assert _notices(postgres_database) == [(NoticeStatus.SENT, 1, "confirm")]
