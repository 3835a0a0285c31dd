"""The outbox of notices on both backends, against a real SMTP server on loopback that
misbehaves on cue: written with what asked for it, sent by id once, refusals retried or
failed, a broken reply an unknown, lost messages and due retries sent by the tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from alerts.config import Settings, load_settings
from alerts.delivery.notices import (
    NoticeSender,
    queue_notice,
    send_notice,
    send_waiting_notices,
)
from alerts.jobs import plan_and_queue
from alerts.ledger.notices import take_notice
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.unknowns import UNKNOWN_REPLY
from alerts.mail.notices import Notice
from alerts.models import NoticeDelivery, NoticeStatus
from alerts.runtime import Runtime
from subscribers.database import utcnow
from subscribers.lifecycle import erase
from subscribers.models import Subscriber
from subscribers.services import Origin
from tests.support.builders import reader
from tests.support.flaky_smtp import TRY_AGAIN, FlakySMTPServer

NOW = utcnow()
ADDRESS = "ada@example.com"


@pytest.fixture
def smtp() -> Iterator[FlakySMTPServer]:
    server = FlakySMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, smtp: FlakySMTPServer, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        smtp_url=smtp.url,
        secret_key="notice-test-secret-key-0123456789abcdef",
        base_url="https://news.example.com",
        redis_url=None,
        notice_requeue_seconds=60,
        claim_lease_seconds=600,
        _env_file=None,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


class Clock:
    """The time the sender reads, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _sender(runtime: Runtime, clock: Clock) -> NoticeSender:
    base = runtime.notice_sender()
    return NoticeSender(settings=base.settings, renderer=base.renderer,
                        transport=base.transport, clock=clock)  # fmt: skip


def _queued(
    runtime: Runtime,
    notice: Notice = Notice.CONFIRM,
    *,
    confirmed: bool = False,
    at: datetime = NOW,
) -> int:
    """A reader signs up: the reader and the notice in one transaction, as the web does."""
    with runtime.session() as session:
        subscriber = reader(session, ADDRESS, confirmed=confirmed)
        session.flush()
        notice_id = queue_notice(session, notice, subscriber.id, settings=runtime.settings,
                                 now=at)  # fmt: skip
        session.commit()
        return notice_id


def _row(runtime: Runtime, notice_id: int) -> NoticeDelivery:
    with runtime.session() as session:
        row = session.get(NoticeDelivery, notice_id)
        assert row is not None
        session.expunge(row)
        return row


def test_the_row_is_written_with_the_sign_up_and_rolls_back_with_it(runtime: Runtime) -> None:
    with runtime.session() as session:
        subscriber = reader(session, ADDRESS, confirmed=False)
        session.flush()
        queue_notice(session, Notice.CONFIRM, subscriber.id, settings=runtime.settings, now=NOW)
        session.rollback()
        assert session.scalars(select(NoticeDelivery)).all() == []
    notice_id = _queued(runtime)
    row = _row(runtime, notice_id)
    assert (row.kind, row.status, row.attempts) == ("confirm", NoticeStatus.PENDING, 0)
    assert row.queued_at == NOW and row.next_attempt_at == NOW + timedelta(seconds=60)


def test_a_notice_is_sent_once_however_often_its_task_runs(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    notice_id = _queued(runtime)
    clock = Clock()
    with runtime.session() as session:
        assert send_notice(session, notice_id, sender=_sender(runtime, clock)) is NoticeStatus.SENT
        assert send_notice(session, notice_id, sender=_sender(runtime, clock)) is None
    assert [m.recipients for m in smtp.messages] == [[ADDRESS]]
    message = smtp.messages[0].message
    assert "confirm" in message["Subject"].lower() or "/confirm/" in message.as_string()
    row = _row(runtime, notice_id)
    assert (row.status, row.attempts, row.sent_at) == (NoticeStatus.SENT, 1, NOW)
    assert (row.created_at, row.queued_at, row.attempted_at) == (NOW, NOW, NOW)
    assert row.message_id == message["Message-ID"]
    assert (row.smtp_reply or "").startswith("250")


def test_a_temporary_refusal_is_retried_at_its_time_by_the_tick(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    notice_id = _queued(runtime)
    smtp.defer(ADDRESS, times=1)
    clock = Clock()
    sender = _sender(runtime, clock)
    with runtime.session() as session:
        assert send_notice(session, notice_id, sender=sender) is NoticeStatus.PENDING
        row = _row(runtime, notice_id)
        assert (row.attempts, row.smtp_reply, row.last_error) == (1, TRY_AGAIN, TRY_AGAIN)
        assert row.next_attempt_at is not None
        wait = row.next_attempt_at - NOW
        assert timedelta(minutes=1.5) <= wait <= timedelta(minutes=2.5)  # 2 min, jittered
        # Not before its time ...
        assert send_waiting_notices(session, sender=sender).sent == 0
        # ... then the tick sends it.
        clock.now = NOW + wait + timedelta(seconds=1)
        assert send_waiting_notices(session, sender=sender).sent == 1
    assert smtp.attempts(ADDRESS) == 2 and len(smtp.messages) == 1
    assert _row(runtime, notice_id).status is NoticeStatus.SENT


def test_a_permanent_refusal_or_the_last_attempt_fails_it(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    notice_id = _queued(runtime)
    smtp.defer(ADDRESS, stage="RCPT", reply="550 5.1.1 no such user", times=None)
    with runtime.session() as session:
        status = send_notice(session, notice_id, sender=_sender(runtime, Clock()))
    assert status is NoticeStatus.FAILED
    row = _row(runtime, notice_id)
    assert (row.attempts, (row.smtp_reply or "")[:3], row.next_attempt_at) == (1, "550", None)

    with runtime.session() as session:
        session.execute(update(NoticeDelivery).values(status=NoticeStatus.PENDING, attempts=4))
        session.commit()
    smtp.defer(ADDRESS, times=None)  # 451s from now on
    with runtime.session() as session:
        assert send_notice(session, notice_id, sender=_sender(runtime, Clock())) is (
            NoticeStatus.FAILED
        )  # the fifth attempt was the last
    assert _row(runtime, notice_id).attempts == 5


def test_a_reply_lost_after_the_message_is_an_unknown_never_sent_again(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    notice_id = _queued(runtime)
    smtp.drop(ADDRESS, stage="ACCEPTED")  # the relay keeps it; the client never hears 250
    clock = Clock()
    with runtime.session() as session:
        assert send_notice(session, notice_id, sender=_sender(runtime, clock)) is (
            NoticeStatus.FAILED
        )
        clock.now = NOW + timedelta(hours=1)
        assert send_waiting_notices(session, sender=_sender(runtime, clock)).sent == 0
    assert (_row(runtime, notice_id).last_error or "").startswith(UNKNOWN_REPLY)
    assert len(smtp.messages) == 1 and smtp.attempts(ADDRESS) == 1


def test_a_row_left_sending_by_a_dead_worker_is_failed_as_unknown_after_the_lease(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    notice_id = _queued(runtime)
    with runtime.session() as session:
        assert take_notice(session, notice_id, now=NOW) is not None  # then the worker died
        session.commit()
        clock = Clock()
        clock.now = NOW + timedelta(minutes=5)
        run = send_waiting_notices(session, sender=_sender(runtime, clock))
        assert (run.swept, run.sent) == (0, 0)
        assert send_notice(session, notice_id, sender=_sender(runtime, clock)) is None
        clock.now = NOW + timedelta(minutes=11)
        assert send_waiting_notices(session, sender=_sender(runtime, clock)).swept == 1
    row = _row(runtime, notice_id)
    assert (row.status, row.last_error) == (NoticeStatus.FAILED, UNKNOWN_OUTCOME)
    assert smtp.messages == []


def test_the_tick_sends_a_notice_whose_message_was_lost(
    runtime: Runtime, smtp: FlakySMTPServer
) -> None:
    """No worker ever saw the task: plan_and_queue (the minute tick) sends the row once
    NOTICE_REQUEUE_SECONDS have passed, and only once however many ticks run."""
    notice_id = _queued(runtime, at=utcnow())
    plan_and_queue(runtime, now=utcnow())
    assert smtp.messages == []  # too early: a worker may still take it
    with runtime.session() as session:  # a minute later, nobody did
        session.execute(
            update(NoticeDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    for _ in range(3):
        plan_and_queue(runtime, now=utcnow())
    assert [m.recipients for m in smtp.messages] == [[ADDRESS]]
    row = _row(runtime, notice_id)
    assert (row.status, row.attempts) == (NoticeStatus.SENT, 1)


def test_an_erased_readers_notice_goes_with_them(runtime: Runtime, smtp: FlakySMTPServer) -> None:
    notice_id = _queued(runtime, Notice.MANAGE, confirmed=True)
    with runtime.session() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        erase(session, subscriber, hash_key="erase-key", origin=Origin("test"))
        session.commit()
        session.expunge_all()
        assert session.scalars(select(NoticeDelivery)).all() == []
        assert send_notice(session, notice_id, sender=_sender(runtime, Clock())) is None
    assert smtp.messages == []
