"""End to end with real processes: PostgreSQL, Redis, a `celery worker`, the CLI, an SMTP server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import load_settings
from alerts.db import make_engine, make_session_factory
from alerts.models import Delivery, DeliveryStatus
from alerts.tasks.handlers import TICK
from alerts.tasks.publishing import publish_batches
from subscribers.database import utcnow
from tests.support.builders import articles, reader
from tests.support.processes import ROOT, process_environment, start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow


@pytest.fixture
def environment(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer
) -> dict[str, str]:
    return process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BASE_URL="https://news.example.com",
    )


@pytest.fixture
def worker(environment: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(environment, tmp_path / "worker.log")
    yield process
    stop_worker(process)


def _seed(database_url: str, count: int) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        now = utcnow()
        for number in range(count):
            reader(session, f"reader{number}@example.com", topics=("Drought emergency",), hour=0)
        reader(session, "nothing-new@example.com", topics=("Champions Cup",), hour=0)
        articles(session, now, ("rain", ("Drought emergency",), timedelta(minutes=30)))
        session.commit()
    engine.dispose()


def _statuses(database_url: str) -> list[DeliveryStatus]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        statuses = list(session.scalars(select(Delivery.status).order_by(Delivery.id)))
    engine.dispose()
    return statuses


def _cli(environment: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alerts.cli", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.usefixtures("worker")
def test_cli_send_goes_to_celery_workers_and_delivers_once(
    environment: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    database_url = environment["DATABASE_URL"]
    _seed(database_url, 30)

    output = _cli(environment, "digest", "send", "--now")
    assert "30 digests planned, 1 skipped" in output
    assert "Queued 1 batches for the Celery workers" in output
    received = smtp_server.wait_for(30, timeout=60)
    assert sorted(m.recipients[0] for m in received) == sorted(
        f"reader{n}@example.com" for n in range(30)
    )
    deadline = time.monotonic() + 10
    while DeliveryStatus.SENDING in _statuses(database_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(_statuses(database_url)) == sorted(
        [DeliveryStatus.SENT] * 30 + [DeliveryStatus.SKIPPED]
    )

    again = _cli(environment, "digest", "send", "--now")
    assert "0 digests planned" in again
    time.sleep(1.5)
    assert len(smtp_server.messages) == 30


@pytest.mark.usefixtures("worker")
def test_scheduler_tick_plans_and_sends_in_the_worker(
    environment: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    database_url = environment["DATABASE_URL"]
    _seed(database_url, 5)
    settings = load_settings(
        database_url=database_url, redis_url=environment["REDIS_URL"], _env_file=None
    )
    from alerts.tasks.app import create_celery

    app = create_celery(settings)
    app.send_task(TICK)
    app.send_task(TICK)  # a doubled tick (two beats, a redelivery) changes nothing
    smtp_server.wait_for(5, timeout=60)
    time.sleep(1.5)
    assert len(smtp_server.messages) == 5
    app.close()


@pytest.mark.usefixtures("worker")
def test_a_batch_published_twice_is_sent_once(
    environment: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    from alerts.jobs import plan_and_queue
    from alerts.runtime import Runtime

    database_url = environment["DATABASE_URL"]
    _seed(database_url, 10)
    settings = load_settings(
        database_url=database_url,
        redis_url=environment["REDIS_URL"],
        smtp_url=environment["SMTP_URL"],
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    batches: list[list[int]] = []
    plan_and_queue(
        runtime, now=utcnow(), force=True,
        publish=lambda handed, *, urgent: batches.extend(handed),
    )  # fmt: skip
    runtime.close()
    publish_batches(settings, batches + batches, urgent=False)
    smtp_server.wait_for(10, timeout=60)
    time.sleep(1.5)
    assert len(smtp_server.messages) == 10
