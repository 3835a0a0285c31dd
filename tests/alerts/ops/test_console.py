"""The console's figures against real databases (both backends), a real Redis broker, a real
SMTP server and a real worker process."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.charts import minute_chart, nice_ceiling
from alerts.config import load_settings, parse_relay, parse_relays
from alerts.delivery.sending import UNKNOWN_REPLY
from alerts.editions.issues import issue_for, pause
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.relay_names import relay_id
from alerts.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    Issue,
)
from alerts.ops.console import feedback_per_day, per_minute, sends_in_progress
from alerts.ops.failures import dead_letters, failure_groups, retry_failures
from alerts.ops.health import check_relay, check_relays
from alerts.ops.workers import WorkerFigures, present_workers, read_workers
from alerts.tasks.app import BULK_QUEUE, FEEDS_QUEUE, URGENT_QUEUE, create_celery
from alerts.tasks.handlers import SEND_BATCH
from alerts.tasks.presence import PRESENCE_PREFIX, read_presence
from alerts.tasks.queues import FINISHED, PUBLISHED, count_task, read_broker
from tests.support.builders import reader
from tests.support.processes import start_worker, stop_worker
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 11, 25, 8, 0, 30, tzinfo=UTC)
DAY = date(2026, 11, 25)


class Ledger:
    """Ledger rows for readers at chosen domains, each row its own (edition, reader, day)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.readers = 0

    def row(self, status: DeliveryStatus, *, domain: str = "example.com", **fields: Any) -> int:
        self.readers += 1
        subscriber = reader(self.session, f"r{self.readers}@{domain}")
        self.session.flush()
        fields.setdefault("created_at", NOW - timedelta(hours=1))
        if (relay := fields.pop("relay", None)) is not None:  # rows name a relay by number
            fields["relay_id"] = relay_id(self.session, relay)
        delivery = Delivery(
            edition="daily",
            subscriber_id=subscriber.id,
            local_date=DAY,
            status=status,
            article_ids=[],
            **fields,
        )
        self.session.add(delivery)
        self.session.flush()
        return delivery.id

    def failed(self, reply: str | None, domain: str, error: str | None = None, **more: Any) -> int:
        more.setdefault("claimed_at", NOW - timedelta(minutes=5))
        return self.row(DeliveryStatus.FAILED, domain=domain, smtp_reply=reply,
                        last_error=error or reply, attempts=5, **more)  # fmt: skip


def an_edition(session: Session) -> Edition:
    edition = Edition(slug="daily-brief", name="Daily briefing", created_at=NOW, updated_at=NOW)
    session.add(edition)
    session.flush()
    return edition


# --- the broker -------------------------------------------------------------------------


def test_queue_depth_and_age_of_what_was_enqueued(database_url: str, broker_url: str) -> None:
    settings = load_settings(database_url=database_url, redis_url=broker_url, _env_file=None)
    app = create_celery(settings)
    before = time.time()
    for priority in (0, 0, 0, 9, 9):  # nobody consumes these: no worker runs here
        app.send_task(SEND_BATCH, args=[[1]], priority=priority)
    client = redis.Redis.from_url(broker_url)
    with app.connection_for_write() as connection:
        # Taken and not acknowledged, as a worker's reserved task is.
        assert connection.default_channel.basic_get(BULK_QUEUE, no_ack=False) is not None
        figures = read_broker(client, queues=(BULK_QUEUE,), now=before + 90)
    app.close()

    assert [(queue.name, queue.waiting) for queue in figures.queues] == [(BULK_QUEUE, 4)]
    assert figures.unacked == 1
    oldest = figures.queues[0].oldest_waiting_seconds
    assert oldest is not None and 85 <= oldest <= 90
    assert (figures.published_total, figures.finished_total) == (5, 0)

    # Someone else's message, without our stamp, counts but has no age.
    client.flushdb()
    client.lpush(BULK_QUEUE, b'{"body": "", "headers": {"task": "x"}, "properties": {}}')
    figures = read_broker(client, queues=(BULK_QUEUE, "other"), now=before)
    assert [(q.name, q.waiting, q.oldest_waiting_seconds) for q in figures.queues] == [
        (BULK_QUEUE, 1, None),
        ("other", 0, None),
    ]


def test_tasks_per_second_come_from_the_last_full_minute(broker_url: str) -> None:
    minute_start = 1_800_000_000.0 - 1_800_000_000.0 % 60
    for _ in range(30):
        count_task(PUBLISHED, broker_url, now=minute_start + 5)
    for _ in range(12):
        count_task(FINISHED, broker_url, now=minute_start + 59)
    count_task(FINISHED, broker_url, now=minute_start + 61)  # the current minute: not yet
    client = redis.Redis.from_url(broker_url)
    figures = read_broker(client, queues=(BULK_QUEUE,), now=minute_start + 75)
    assert (figures.tasks_in_per_second, figures.tasks_out_per_second) == (0.5, 0.2)
    assert (figures.published_total, figures.finished_total) == (30, 13)
    count_task(PUBLISHED, "redis://127.0.0.1:9/0")  # a broker that is down: no error


@pytest.fixture
def worker_environment(database_url: str, broker_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_url,
        "SMTP_URL": f"file://{tmp_path / 'outbox'}",
        "SECRET_KEY": "console-test-secret-key-0123456789abcdef",
    }


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_workers_answer_with_their_figures_and_are_remembered(
    worker_environment: dict[str, str], broker_url: str, tmp_path: Path
) -> None:
    settings = load_settings(redis_url=broker_url, _env_file=None)
    app = create_celery(settings)
    client = redis.Redis.from_url(broker_url)
    process = start_worker(worker_environment, tmp_path / "worker.log", concurrency=2)
    try:
        deadline = time.monotonic() + 30
        workers: list[WorkerFigures] = []
        while time.monotonic() < deadline and not workers:
            workers = read_workers(app, client, waiting={}, now=time.time(), timeout=1.0)
        assert len(workers) == 1, (tmp_path / "worker.log").read_text()
        worker = workers[0]
        assert worker.answering and not worker.stalled
        # All three by default, urgent first, feed polling last.
        assert worker.queues == (URGENT_QUEUE, BULK_QUEUE, FEEDS_QUEUE)
        assert (worker.pid, worker.concurrency, worker.running) == (process.pid, 2, 0)
        assert worker.name.startswith("celery@") and worker.host == worker.name[7:]
        # Tasks wait and this worker has finished none since it started: stalled.
        stalled = read_workers(
            app, client, waiting={BULK_QUEUE: 3}, now=time.time(), timeout=1.0, stall_seconds=0
        )
        assert [w.stalled for w in stalled] == [True]
    finally:
        stop_worker(process)
    seen_at = time.time()
    gone = read_workers(app, client, waiting={}, now=seen_at + 120, timeout=0.3)
    app.close()
    assert [(w.name, w.answering, w.pid) for w in gone] == [(worker.name, False, process.pid)]
    assert seen_at + 120 - gone[0].last_seen >= 120


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_kept_for_urgent_work_is_not_stalled_by_a_digest_backlog(
    worker_environment: dict[str, str], broker_url: str, tmp_path: Path
) -> None:
    settings = load_settings(redis_url=broker_url, _env_file=None)
    app = create_celery(settings)
    client = redis.Redis.from_url(broker_url)
    process = start_worker(worker_environment, tmp_path / "worker.log", concurrency=1,
                           queues=URGENT_QUEUE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        workers: list[WorkerFigures] = []
        while time.monotonic() < deadline and not workers:
            workers = read_workers(app, client, waiting={BULK_QUEUE: 3, URGENT_QUEUE: 0},
                                   now=time.time(), timeout=1.0, stall_seconds=0)  # fmt: skip
        assert [(w.queues, w.stalled) for w in workers] == [((URGENT_QUEUE,), False)], (
            tmp_path / "worker.log"
        ).read_text()
        # Urgent work waits and it finishes nothing: that is a stall.
        stalled = read_workers(app, client, waiting={BULK_QUEUE: 3, URGENT_QUEUE: 1},
                               now=time.time(), timeout=1.0, stall_seconds=0)  # fmt: skip
        assert [w.stalled for w in stalled] == [True]
    finally:
        stop_worker(process)
        app.close()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_keeps_its_key_and_the_console_reads_it_without_asking(
    worker_environment: dict[str, str], broker_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(broker_url)
    process = start_worker(worker_environment, tmp_path / "worker.log", concurrency=2)
    try:
        deadline = time.monotonic() + 30
        workers: list[WorkerFigures] = []
        while time.monotonic() < deadline and not workers:
            workers = present_workers(client, waiting={}, now=time.time())
            time.sleep(0.2)
        assert len(workers) == 1, (tmp_path / "worker.log").read_text()
        worker = workers[0]
        assert worker.answering and not worker.stalled
        assert worker.queues == (URGENT_QUEUE, BULK_QUEUE, FEEDS_QUEUE)
        assert (worker.pid, worker.concurrency, worker.running) == (process.pid, 2, 0)
        assert worker.name.startswith("celery@") and worker.host == worker.name[7:]
        stalled = present_workers(client, waiting={BULK_QUEUE: 3}, now=time.time(), stall_seconds=0)
        assert [w.stalled for w in stalled] == [True]
    finally:
        stop_worker(process)
    # A worker that shuts down removes its key: it is listed as not answering at once.
    assert read_presence(client) == []
    gone = present_workers(client, waiting={}, now=time.time())
    assert [(w.name, w.answering, w.pid) for w in gone] == [(worker.name, False, process.pid)]


def test_a_broken_worker_key_reads_as_a_worker_with_no_figures(broker_url: str) -> None:
    client = redis.Redis.from_url(broker_url)
    client.set(PRESENCE_PREFIX + "celery@mail-3.example.net", "not json", ex=30)
    try:
        assert [(w.name, w.host, w.pid, w.queues) for w in read_presence(client)] == [
            ("celery@mail-3.example.net", "mail-3.example.net", None, ())
        ]
    finally:
        client.delete(PRESENCE_PREFIX + "celery@mail-3.example.net")


# --- the ledger -------------------------------------------------------------------------


def test_failure_groups_name_the_relays_their_rows_went_through(session: Session) -> None:
    ledger = Ledger(session)
    ledger.failed("550 5.1.1 no such user", "gmail.example", relay="smtp:a.test:25")
    ledger.failed("550 5.1.1 no such user", "gmail.example", relay="smtp:b.test:25")
    ledger.failed("421 4.7.0 later", "gmail.example", relay="smtp:b.test:25")
    ledger.failed("421 4.7.0 later", "yahoo.example")  # before the ledger named relays
    session.commit()

    groups = failure_groups(session, since=NOW - timedelta(hours=24),
                            relays=["smtp:a.test:25", "smtp:b.test:25"])  # fmt: skip
    assert {(g.reply_code, g.domain): g.relay for g in groups} == {
        ("550", "gmail.example"): "smtp:a.test:25 or smtp:b.test:25",
        ("421", "gmail.example"): "smtp:b.test:25",
        ("421", "yahoo.example"): "smtp:a.test:25 or smtp:b.test:25",
    }


def test_failures_are_grouped_by_reply_domain_and_kind(session: Session) -> None:
    ledger = Ledger(session)
    for _ in range(3):
        ledger.failed("550 5.1.1 <x@gmail.example> no such user", "gmail.example")
    ledger.failed("421 4.7.0 try again later", "gmail.example")
    ledger.failed("421 4.7.0 try again later", "yahoo.example")
    ledger.failed(None, "yahoo.example", "cannot connect to SMTP server relay:25")
    ledger.failed(None, "yahoo.example", UNKNOWN_OUTCOME)
    ledger.failed("421 4.4.2 timeout", "yahoo.example", f"{UNKNOWN_REPLY}: timed out")
    ledger.failed("550 old", "gmail.example", created_at=NOW - timedelta(days=2))
    ledger.row(DeliveryStatus.SENT, sent_at=NOW)
    session.commit()

    groups = failure_groups(session, since=NOW - timedelta(hours=24), relays=["smtp:relay:25"])
    assert [(g.reply_code, g.domain, g.kind, g.count, g.retryable) for g in groups] == [
        ("550", "gmail.example", "permanent", 3, False),
        ("421", "gmail.example", "temporary", 1, True),
        ("421", "yahoo.example", "temporary", 1, True),
        ("421", "yahoo.example", "unknown", 1, False),
        ("none", "yahoo.example", "temporary", 1, True),
        ("none", "yahoo.example", "unknown", 1, False),
    ]
    assert groups[0].reply_class == "5.x.x" and groups[0].relay == "smtp:relay:25"
    assert groups[0].example == "550 5.1.1 <x***@gmail.example> no such user"  # masked

    letters = dead_letters(session, since=NOW - timedelta(hours=24))
    assert sorted(letter.kind for letter in letters) == ["permanent"] * 3 + ["unknown"] * 2
    assert all("***@" in letter.recipient for letter in letters)


def test_retry_takes_only_temporary_failures_of_open_sends(session: Session) -> None:
    ledger = Ledger(session)
    edition = an_edition(session)
    held = issue_for(session, edition, DAY, now=NOW)
    retryable = ledger.failed(None, "yahoo.example", "cannot connect to SMTP server relay:25")
    never = [
        ledger.failed(None, "yahoo.example", UNKNOWN_OUTCOME),
        ledger.failed(None, "yahoo.example", f"{UNKNOWN_REPLY}: reset by peer"),
        ledger.failed("550 5.7.1 blocked", "yahoo.example"),
        ledger.failed(None, "gmail.example", "cannot connect to SMTP server relay:25"),
        ledger.failed(None, "yahoo.example", "cannot connect", issue_id=held.id),
        ledger.failed(None, "yahoo.example", "cannot connect", created_at=NOW - timedelta(days=3)),
    ]
    pause(session, held, now=NOW)
    session.commit()

    ids = retry_failures(session, reply_code="none", domain="Yahoo.example",
                         since=NOW - timedelta(hours=24))  # fmt: skip
    session.commit()
    assert ids == [retryable]
    rows = {d.id: d for d in session.scalars(select(Delivery))}
    assert (rows[retryable].status, rows[retryable].attempts) == (DeliveryStatus.PENDING, 0)
    assert rows[retryable].next_attempt_at is None
    assert {rows[i].status for i in never} == {DeliveryStatus.FAILED}
    assert retry_failures(session, reply_code="550", domain="yahoo.example",
                          since=NOW - timedelta(hours=24)) == []  # fmt: skip


def test_sends_in_progress_with_their_progress(session: Session) -> None:
    ledger = Ledger(session)
    edition = an_edition(session)
    issue = issue_for(session, edition, DAY, now=NOW)
    done = issue_for(session, edition, DAY - timedelta(days=1), now=NOW)
    for _ in range(4):
        ledger.row(DeliveryStatus.PENDING, issue_id=issue.id, created_at=NOW - timedelta(minutes=7))
    for seconds in (10, 20, 90):
        ledger.row(DeliveryStatus.SENT, issue_id=issue.id, sent_at=NOW - timedelta(seconds=seconds))
    ledger.failed("550 no", "example.com", issue_id=issue.id)
    ledger.row(DeliveryStatus.SENT, issue_id=done.id, sent_at=NOW)
    session.commit()

    sends = sends_in_progress(session, now=NOW)
    assert [(s.kind, s.id, s.label, s.status) for s in sends] == [
        ("issue", issue.id, "Daily briefing, 25 Nov 2026", "open")
    ]
    progress = sends[0].progress
    assert (progress.total, progress.sent, progress.pending, progress.failed) == (8, 3, 4, 1)
    assert progress.per_minute == 2 and progress.minutes_left == 2
    assert progress.oldest_pending == NOW - timedelta(minutes=7)
    assert session.get(Issue, issue.id) is not None


def test_messages_a_minute_and_the_chart(session: Session) -> None:
    ledger = Ledger(session)
    this_minute = NOW.replace(second=0)
    for minutes_ago, count in ((0, 2), (1, 5), (90, 1), (24 * 60, 7)):  # the last: too old
        for _ in range(count):
            moment = this_minute - timedelta(minutes=minutes_ago) + timedelta(seconds=3)
            ledger.row(DeliveryStatus.SENT, sent_at=moment)
    ledger.failed("421 later", "example.com", claimed_at=this_minute - timedelta(minutes=1))
    session.commit()

    series = per_minute(session, now=NOW)
    assert len(series.sent) == 24 * 60 and series.start == this_minute - timedelta(
        hours=24, minutes=-1
    )
    assert (series.sent[-1], series.sent[-2], series.sent[-91]) == (2, 5, 1)
    assert series.failed[-2] == 1
    assert (series.total_sent, series.total_failed) == (8, 1)
    assert series.failure_rate == pytest.approx(1 / 9)

    svg = minute_chart(series)
    root = ElementTree.fromstring(svg)  # well-formed
    namespace = "{http://www.w3.org/2000/svg}"
    description = root.find(f"{namespace}desc")
    assert description is not None and description.text is not None
    assert description.text.startswith("8 sent and 1 failed in the last 24 hours")
    assert len(root.findall(f"{namespace}path")) == 2  # sent, failed
    assert "No messages" in minute_chart(per_minute(session, now=NOW + timedelta(days=3)))
    assert [nice_ceiling(v) for v in (0, 3, 7, 11, 240)] == [1, 5, 10, 20, 250]


def test_bounces_and_complaints_a_day(session: Session) -> None:
    ledger = Ledger(session)
    sent_today = [ledger.row(DeliveryStatus.SENT, sent_at=NOW) for _ in range(4)]
    ledger.row(DeliveryStatus.SENT, sent_at=NOW - timedelta(days=1))
    for key, (delivery, kind, when) in enumerate(
        [
            (sent_today[0], FeedbackKind.HARD_BOUNCE, NOW),
            (sent_today[1], FeedbackKind.SOFT_BOUNCE, NOW),
            (sent_today[2], FeedbackKind.COMPLAINT, NOW),
            (sent_today[3], FeedbackKind.HARD_BOUNCE, NOW - timedelta(days=20)),
        ]
    ):
        row = session.get(Delivery, delivery)
        assert row is not None
        session.add(FeedbackEvent(report_key=str(key), delivery_id=delivery,
                                  subscriber_id=row.subscriber_id, kind=kind, source="dsn",
                                  occurred_at=when))  # fmt: skip
    session.commit()

    days = feedback_per_day(session, now=NOW)
    assert len(days) == 14 and days[0].day == DAY
    today = days[0]
    assert (today.sent, today.hard_bounces, today.soft_bounces, today.complaints) == (4, 1, 1, 1)
    assert (today.bounce_rate, today.complaint_rate) == (0.5, 0.25)
    assert (days[1].sent, days[1].bounce_rate) == (1, 0.0)


# --- services ---------------------------------------------------------------------------


@pytest.fixture
def stopped_smtp_server() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer()
    server.start()
    yield server


def test_relays_are_checked_with_ehlo(stopped_smtp_server: RecordingSMTPServer,
                                      tmp_path: Path) -> None:  # fmt: skip
    server = stopped_smtp_server
    assert check_relay(parse_relay(server.url), timeout=2) == "ok"
    folder = tmp_path / "outbox" / "not-yet"
    assert check_relay(parse_relay(f"file://{folder}")) == "ok"
    assert not folder.exists()  # checked, not created
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        assert check_relay(parse_relay(f"file://{read_only}")).startswith("error: PermissionError")
    server.stop()
    relays = check_relays(parse_relays(f"{server.url},smtp://user:secret@127.0.0.1:9"), timeout=1)
    assert list(relays) == [f"smtp:127.0.0.1:{server.port}", "smtp:127.0.0.1:9"]
    assert all(state.startswith("error: ConnectionRefusedError") for state in relays.values())
    assert "secret" not in str(relays)
