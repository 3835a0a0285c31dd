"""Pausing, resuming and cancelling a real send: real Celery workers on Redis, a real
(slowed) SMTP server, PostgreSQL. Whatever the editor clicks, no reader gets two copies;
after a pause at most the group each running batch has in flight still leaves."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from alerts.config import load_settings
from alerts.editions.issues import IssueError
from alerts.editions.schedules import ensure_default_editions, issue_date
from alerts.jobs import Publish, change_issue, plan_and_queue, send_now
from alerts.models import Cadence, DeliveryStatus, Edition
from alerts.runtime import Runtime
from alerts.tasks.publishing import batch_publisher
from subscribers.database import utcnow
from tests.support.ledger import UNFINISHED, ledger_rows, seed_readers
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow
READERS = 300
GROUP = 5
CONCURRENCY = 2
# Messages that may still leave after a pause: the group in flight in each running batch.
IN_FLIGHT = GROUP * CONCURRENCY


@pytest.fixture
def sending(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Iterator[tuple[Runtime, Publish]]:
    """READERS readers due a digest, a worker pool, and a relay taking ~25 messages/s."""
    environment = process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BATCH_SIZE="30",
        SEND_GROUP_SIZE=str(GROUP),
    )
    seed_readers(postgres_database, READERS)
    smtp_server.slow_down(0.04)
    settings = load_settings(database_url=postgres_database, redis_url=broker_url,
                             smtp_url=smtp_server.url, _env_file=None)  # fmt: skip
    runtime = Runtime.from_settings(settings)
    with runtime.session() as session:
        ensure_default_editions(session, now=utcnow())
        session.commit()
    worker = start_worker(environment, tmp_path / "worker.log", concurrency=CONCURRENCY)
    try:
        with batch_publisher(settings) as publish:
            yield runtime, publish
    finally:
        stop_worker(worker)
        runtime.close()


def _issue_id(runtime: Runtime, publish: Publish) -> int:
    started = send_now(runtime, edition="daily", local_date=None, now=utcnow(), actor="test",
                       publish=publish)  # fmt: skip
    assert started.planned == READERS and started.issue_id is not None
    return started.issue_id


def _quiet(server: RecordingSMTPServer, seconds: float = 2.0, timeout: float = 20.0) -> int:
    """Wait until no message has arrived for `seconds`; how many arrived in all."""
    deadline = time.monotonic() + timeout
    count, since = len(server.messages), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_count = len(server.messages)
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return count
    raise AssertionError("messages kept arriving")


def _copies(server: RecordingSMTPServer) -> Counter[str]:
    return Counter(message.recipients[0] for message in server.messages)


def test_pause_stops_a_send_within_a_group_and_resume_finishes_it_once(
    sending: tuple[Runtime, Publish], postgres_database: str, smtp_server: RecordingSMTPServer
) -> None:
    runtime, publish = sending
    issue_id = _issue_id(runtime, publish)
    smtp_server.wait_for(40, timeout=60)
    at_pause = len(smtp_server.messages)
    change_issue(runtime, issue_id=issue_id, action="pause", now=utcnow(), actor="test",
                 publish=publish)  # fmt: skip
    stopped_at = _quiet(smtp_server)
    assert stopped_at - at_pause <= IN_FLIGHT, (at_pause, stopped_at)
    assert stopped_at < READERS
    time.sleep(2)
    assert len(smtp_server.messages) == stopped_at  # paused means paused
    statuses = Counter(row.status for row in ledger_rows(postgres_database).values())
    assert statuses[DeliveryStatus.SENT] == stopped_at
    assert statuses[DeliveryStatus.PENDING] == READERS - stopped_at  # all waiting, none held

    change_issue(runtime, issue_id=issue_id, action="resume", now=utcnow(), actor="test",
                 publish=publish)  # fmt: skip
    smtp_server.wait_for(READERS, timeout=90)
    _quiet(smtp_server)
    copies = _copies(smtp_server)
    assert len(copies) == READERS and max(copies.values()) == 1
    ledger = ledger_rows(postgres_database)
    assert {row.status for row in ledger.values()} == {DeliveryStatus.SENT}


def test_cancel_stops_a_send_for_good(
    sending: tuple[Runtime, Publish], postgres_database: str, smtp_server: RecordingSMTPServer
) -> None:
    runtime, publish = sending
    issue_id = _issue_id(runtime, publish)
    smtp_server.wait_for(40, timeout=60)
    at_cancel = len(smtp_server.messages)
    change_issue(runtime, issue_id=issue_id, action="cancel", now=utcnow(), actor="test",
                 publish=publish)  # fmt: skip
    stopped_at = _quiet(smtp_server)
    assert stopped_at - at_cancel <= IN_FLIGHT
    copies = _copies(smtp_server)
    assert max(copies.values()) == 1

    ledger = ledger_rows(postgres_database)
    statuses = Counter(row.status for row in ledger.values())
    assert not any(status in UNFINISHED for status in statuses)
    assert statuses[DeliveryStatus.SENT] == stopped_at
    assert statuses[DeliveryStatus.CANCELLED] == READERS - stopped_at
    sent = {email for email, row in ledger.items() if row.status is DeliveryStatus.SENT}
    assert sent == set(copies)
    # Neither another click on "send now" nor a scheduler tick sends any of the rest.
    with pytest.raises(IssueError):
        send_now(runtime, edition="daily", local_date=None, now=utcnow(), actor="test",
                 publish=publish)  # fmt: skip
    assert plan_and_queue(runtime, now=utcnow(), force=True, publish=publish).queued == 0
    time.sleep(1)
    assert len(smtp_server.messages) == stopped_at


def test_weekly_send_now_uses_the_weeks_issue_date() -> None:
    edition = Edition(slug="weekly", name="Weekly", cadence=Cadence.WEEKLY, weekday=None)
    wednesday = date(2026, 12, 9)
    assert issue_date(edition, wednesday) == date(2026, 12, 7)
    edition.weekday = 4
    assert issue_date(edition, wednesday) == date(2026, 12, 11)
    assert issue_date(edition, wednesday + timedelta(days=5)) == date(2026, 12, 18)
