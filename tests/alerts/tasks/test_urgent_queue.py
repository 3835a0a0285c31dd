"""Breaking alerts do not wait behind the morning's digests: real `celery worker` processes
on Redis, PostgreSQL, and a real SMTP server whose order of arrival is the evidence.

One worker process with one pool process takes one batch at a time, so the order in which
messages reach the SMTP server is the order in which the worker took their batches."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import Settings, load_settings
from alerts.editions.schedules import ensure_default_editions
from alerts.jobs import send_now, start_alert
from alerts.runtime import Runtime
from alerts.tasks.app import BULK_QUEUE, SEND_NOTICE, URGENT_QUEUE, create_celery
from alerts.tasks.publishing import batch_publisher
from subscribers.database import utcnow
from subscribers.models import Frequency, Subscriber
from tests.factories import make_article
from tests.support.builders import reader
from tests.support.ledger import seed_readers
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.smtp_server import Received, RecordingSMTPServer

pytestmark = pytest.mark.slow
DIGEST_READERS = 600  # reader0@ ... reader599@: 60 digest batches
ALERT_READERS = 25  # alert0@ ... alert24@: 3 alert batches
BATCH = 10


@pytest.fixture
def environment(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer
) -> dict[str, str]:
    return process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BATCH_SIZE=str(BATCH),
        SEND_GROUP_SIZE="5",
    )


@pytest.fixture
def settings(environment: dict[str, str]) -> Settings:
    return load_settings(
        database_url=environment["DATABASE_URL"], redis_url=environment["REDIS_URL"],
        smtp_url=environment["SMTP_URL"], batch_size=BATCH, _env_file=None,
    )  # fmt: skip


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """DIGEST_READERS readers due today's daily digest; ALERT_READERS weekly readers of
    "Storms" who asked for breaking alerts (so they get no daily digest); one pending reader
    waiting for a confirmation email."""
    seed_readers(settings.database_url, DIGEST_READERS)
    runtime = Runtime.from_settings(settings)
    with runtime.session() as session:
        ensure_default_editions(session, now=utcnow())
        for number in range(ALERT_READERS):
            alerted = reader(session, f"alert{number}@example.com", topics=("Storms",),
                             frequency=Frequency.WEEKLY)  # fmt: skip
            alerted.breaking_alerts = True
        reader(session, "pending@example.com", confirmed=False)
        session.commit()
    yield runtime
    runtime.close()


@pytest.fixture
def worker_log(tmp_path: Path) -> Path:
    return tmp_path / "worker.log"


def _storm(runtime: Runtime) -> int:
    """The breaking article the alert is about."""
    with runtime.session() as session:
        published = utcnow() - timedelta(minutes=1)
        article = make_article(session, "storm-warning", published_at=published,
                               topics=("Storms",))  # fmt: skip
        session.commit()
        return article


def _kinds(received: list[Received]) -> list[str]:
    """What each message was (alert, digest or notice), in the order they arrived."""
    names = {"alert": "alert", "reader": "digest", "pending": "notice"}
    return [
        names[message.recipients[0].partition("@")[0].rstrip("0123456789")] for message in received
    ]


def _stop(worker: subprocess.Popen[bytes], log: Path) -> str:
    stop_worker(worker)
    return log.read_text(errors="replace")[-3000:]


def test_an_alert_overtakes_the_digest_backlog_of_a_running_worker(
    runtime: Runtime, settings: Settings, environment: dict[str, str],
    smtp_server: RecordingSMTPServer, worker_log: Path,
) -> None:  # fmt: skip
    smtp_server.slow_down(0.01)  # the backlog lasts seconds, not milliseconds
    worker = start_worker(environment, worker_log, concurrency=1)  # both queues, by default
    try:
        with batch_publisher(settings) as publish:
            digest = send_now(runtime, edition="daily", local_date=None, now=utcnow(),
                              actor="test", publish=publish)  # fmt: skip
            assert digest.queued == DIGEST_READERS
            smtp_server.wait_for(1, timeout=60)  # the worker has a digest batch in hand
            alert = start_alert(runtime, article_id=_storm(runtime), now=utcnow(),
                                actor="test", publish=publish)  # fmt: skip
            assert alert.queued == ALERT_READERS
            # At least as many digests as had arrived when the alert was queued.
            digests_by_then = len(smtp_server.messages)
        received = smtp_server.wait_for(DIGEST_READERS + ALERT_READERS, timeout=300)
    finally:
        log = _stop(worker, worker_log)
    kinds = _kinds(received)
    assert sorted(kinds) == ["alert"] * ALERT_READERS + ["digest"] * DIGEST_READERS, log
    first = kinds.index("alert")
    # The alert waited for the batch the worker had in hand (acks_late and a prefetch of one
    # mean the worker holds no other), not for the backlog: with one FIFO queue every digest
    # would have gone first.
    assert first - digests_by_then <= BATCH, (first, digests_by_then)
    # Its three batches were taken one after the other, ahead of every digest batch still
    # waiting, and a good part of the backlog went out after it.
    assert kinds[first : first + ALERT_READERS] == ["alert"] * ALERT_READERS
    assert kinds[first + ALERT_READERS :].count("digest") >= BATCH


def test_urgent_work_goes_first_whatever_order_the_queues_are_named_in(
    runtime: Runtime, settings: Settings, environment: dict[str, str],
    smtp_server: RecordingSMTPServer, worker_log: Path,
) -> None:  # fmt: skip
    """Everything is queued before the worker starts: the digests first, then the alert, then
    a sign-up's confirmation. `newsalerts worker -Q newsalerts,newsalerts.urgent` names the
    bulk queue first; the worker still takes every urgent message before any digest."""
    with batch_publisher(settings) as publish:
        send_now(runtime, edition="daily", local_date=None, now=utcnow(), actor="test",
                 publish=publish)  # fmt: skip
        start_alert(runtime, article_id=_storm(runtime), now=utcnow(), actor="test",
                    publish=publish)  # fmt: skip
    with runtime.session() as session:
        pending = session.scalar(
            select(Subscriber.id).where(Subscriber.email == "pending@example.com")
        )
    app = create_celery(settings)
    app.send_task(SEND_NOTICE, args=["confirm", pending])
    app.close()
    worker = start_worker(environment, worker_log, concurrency=1, through_cli=True,
                          queues=f"{BULK_QUEUE},{URGENT_QUEUE}")  # fmt: skip
    try:
        received = smtp_server.wait_for(DIGEST_READERS + ALERT_READERS + 1, timeout=300)
    finally:
        log = _stop(worker, worker_log)
    kinds = _kinds(received)
    assert kinds[: ALERT_READERS + 1] == ["alert"] * ALERT_READERS + ["notice"], log
    assert kinds[ALERT_READERS + 1 :] == ["digest"] * DIGEST_READERS
