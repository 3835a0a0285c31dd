"""A misbehaving SMTP server: temporary refusals (451) and dropped connections are retried
from the ledger with backoff until every reader has exactly one message, or the reader's
row is `failed` with the server's last reply once the retry window (`RETRY_WINDOW_HOURS`,
here a minute or less) has passed. Real worker processes, a private Redis, and the
scheduler's tick sent by the test.

The tests at the end pin bugs found this way (a lost reply, a relay that closes
connections, a batch slower than its claim lease)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.config import load_settings
from alerts.delivery.sending import GAVE_UP, UNKNOWN_REPLY
from alerts.models import DeliveryStatus
from alerts.tasks.app import create_celery
from alerts.tasks.handlers import TICK
from tests.support.flaky_smtp import TRY_AGAIN, FlakySMTPServer, Stage
from tests.support.ledger import UNFINISHED, Row, ledger_rows, reader_address, seed_readers
from tests.support.processes import process_environment, start_worker, stop_worker
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow
# Retries 1, 2, 2, 2 ... seconds apart (±20 %) for at most a minute.
WINDOW_SECONDS = 60.0


@pytest.fixture(params=[False, True], ids=["step-by-step", "pipelined"])
def flaky_smtp(request: pytest.FixtureRequest) -> Iterator[FlakySMTPServer]:
    """The relay, with and without PIPELINING: workers use it when the relay offers it."""
    server = FlakySMTPServer(pipelining=request.param)
    server.start()
    yield server
    server.stop()


def _send_until_settled(
    database_url: str,
    redis: RedisServer,
    smtp: FlakySMTPServer,
    log: Path,
    *,
    batch_size: int,
    timeout: float,
    tick_every: float = 1.0,
    **settings: str,
) -> dict[str, Row]:
    """`digest send --now` to a real worker, then tick like the scheduler until no row is
    pending, claimed or sending. Returns the ledger."""
    environment = process_environment(
        database_url=database_url,
        redis_url=redis.url,
        smtp_url=smtp.url,
        **{
            "BATCH_SIZE": str(batch_size),
            "SEND_GROUP_SIZE": "4",
            "RETRY_BASE_SECONDS": "1",
            "RETRY_MAX_DELAY_SECONDS": "2",
            "RETRY_WINDOW_HOURS": str(WINDOW_SECONDS / 3600),
            "CLAIM_LEASE_SECONDS": "10",
            "REQUEUE_SECONDS": "3",
        }
        | settings,  # a test's own settings win
    )
    worker = start_worker(environment, log, concurrency=2)
    try:
        sent = CliRunner().invoke(main, ["digest", "send", "--now"], env=environment)
        assert "Queued" in sent.output, sent.output
        app = create_celery(
            load_settings(database_url=database_url, redis_url=redis.url, _env_file=None)
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(tick_every)
            ledger = ledger_rows(database_url)
            if not any(row.status in UNFINISHED for row in ledger.values()):
                break
            app.send_task(TICK)  # the scheduler's tick (sped up): queue rows that are due
        app.close()
    finally:
        stop_worker(worker)
    ledger = ledger_rows(database_url)
    unfinished = {email: row for email, row in ledger.items() if row.status in UNFINISHED}
    assert not unfinished, f"never settled: {unfinished}\n{log.read_text()[-3000:]}"
    return ledger


def _copies(smtp: FlakySMTPServer) -> Counter[str]:
    return Counter(address for message in smtp.messages for address in message.recipients)


def test_451s_and_dropped_connections_are_retried_until_everyone_has_one_digest(
    postgres_database: str, private_redis: RedisServer, flaky_smtp: FlakySMTPServer, tmp_path: Path
) -> None:
    readers = 40
    everyone = {reader_address(number) for number in range(readers)}
    # A fifth of the readers: their first attempt is refused for now, at DATA or at RCPT.
    deferred: dict[str, Literal["RCPT", "DATA"]] = {
        reader_address(n): "DATA" if n % 10 == 0 else "RCPT" for n in range(0, readers, 5)
    }
    for address, where in deferred.items():
        flaky_smtp.defer(address, stage=where)
    # A few connections cut: before the message (RCPT), or after the server read it and
    # threw it away (DATA). One in each batch of ten; the batch goes on over a new one.
    # A cut after the message was sent and before the reply is indistinguishable from a
    # lost "250": the reader may have it, so it is failed as unknown, never sent twice.
    dropped: dict[str, Stage] = {
        reader_address(3): "RCPT",
        reader_address(17): "DATA",
        reader_address(26): "RCPT",
        reader_address(38): "DATA",
    }
    for address, stage in dropped.items():
        flaky_smtp.drop(address, stage=stage)
    seed_readers(postgres_database, readers)

    ledger = _send_until_settled(
        postgres_database,
        private_redis,
        flaky_smtp,
        tmp_path / "worker.log",
        batch_size=10,
        timeout=45,
    )

    copies = _copies(flaky_smtp)
    unknown = {address for address, stage in dropped.items() if stage == "DATA"}
    assert [a for a, n in copies.items() if n > 1] == [], "duplicates"
    assert set(copies) == everyone - unknown, f"no message for {everyone - set(copies)}"
    assert set(ledger) == everyone
    not_sent = {
        email: row for email, row in ledger.items() if row.status is not DeliveryStatus.SENT
    }
    assert set(not_sent) == unknown
    for address in unknown:
        assert not_sent[address].status is DeliveryStatus.FAILED
        assert (not_sent[address].last_error or "").startswith(UNKNOWN_REPLY)
        assert flaky_smtp.attempts(address) == 1  # never tried again
    refused = set(deferred) | (set(dropped) - unknown)
    outcomes = Counter(event.outcome for event in flaky_smtp.events)
    assert outcomes["deferred at DATA"] == 4 and outcomes["deferred at RCPT"] == 4, outcomes
    assert outcomes["dropped at RCPT"] == 2 and outcomes["dropped at DATA"] == 2, outcomes
    for address in refused:
        # Refused once at the server, then accepted. A 451 waits for a later claim (the
        # ledger counts it); a cut before the message goes again on a new connection of
        # the same batch (one claim).
        assert flaky_smtp.attempts(address) == 2, address
        claims = 2 if address in deferred else 1
        assert ledger[address].attempts >= claims, (address, ledger[address])
        assert ledger[address].last_error is None, ledger[address]
    # The rows after a cut connection never reached the server on that try, and nobody
    # who was accepted the first time was tried again.
    assert all(flaky_smtp.attempts(address) == 1 for address in everyone - refused - unknown)


def test_every_fifth_message_refused_for_now_still_reaches_every_reader_once(
    postgres_database: str, private_redis: RedisServer, flaky_smtp: FlakySMTPServer, tmp_path: Path
) -> None:
    """A relay that throttles: every fifth DATA is answered 451, whoever it is for. One
    reader is also refused seven times in a row (more than the five attempts that used to
    be the end), another every time: only the last fails, once the window has passed."""
    readers = 60
    flaky_smtp.defer_every(5)
    patient, stubborn = reader_address(7), reader_address(2)
    flaky_smtp.defer(patient, stage="DATA", times=7)
    flaky_smtp.defer(stubborn, stage="DATA", times=None)
    seed_readers(postgres_database, readers)
    window = 45.0  # seven retries a few seconds apart, each waiting for a tick
    started = time.monotonic()

    ledger = _send_until_settled(
        postgres_database,
        private_redis,
        flaky_smtp,
        tmp_path / "worker.log",
        batch_size=10,
        timeout=window + 60,
        RETRY_WINDOW_HOURS=str(window / 3600),
    )

    everyone = {reader_address(number) for number in range(readers)}
    copies = _copies(flaky_smtp)
    assert [a for a, n in copies.items() if n > 1] == [], "duplicates"
    assert set(copies) == everyone - {stubborn}, f"no message for {everyone - set(copies)}"
    assert {e for e, row in ledger.items() if row.status is DeliveryStatus.SENT} == set(copies)
    outcomes = Counter(event.outcome for event in flaky_smtp.events)
    assert outcomes["deferred at DATA"] >= readers // 5, outcomes
    # The patient reader was refused seven times, then took the eighth try.
    assert flaky_smtp.attempts(patient) >= 8
    assert ledger[patient].status is DeliveryStatus.SENT
    # The stubborn one was tried until the window ran out (never a try after it), then
    # failed with the relay's reply.
    row = ledger[stubborn]
    assert row.status is DeliveryStatus.FAILED, row
    assert row.smtp_reply == TRY_AGAIN, row
    assert TRY_AGAIN in (row.last_error or "") and GAVE_UP in (row.last_error or ""), row
    assert flaky_smtp.attempts(stubborn) == row.attempts > 5, row
    assert time.monotonic() - started >= window - 3  # it was not given up early


def test_a_reply_lost_after_the_server_accepted_is_not_sent_again(
    postgres_database: str, private_redis: RedisServer, flaky_smtp: FlakySMTPServer, tmp_path: Path
) -> None:
    readers = 6
    # The server keeps the message, then the connection dies before the client reads "250".
    flaky_smtp.drop(reader_address(2), stage="ACCEPTED")
    seed_readers(postgres_database, readers)

    ledger = _send_until_settled(
        postgres_database,
        private_redis,
        flaky_smtp,
        tmp_path / "worker.log",
        batch_size=10,
        timeout=30,
    )

    assert _copies(flaky_smtp) == Counter(reader_address(n) for n in range(readers)), ledger


def test_a_relay_that_closes_after_a_few_messages_fails_nobody_it_did_not_refuse(
    postgres_database: str, private_redis: RedisServer, flaky_smtp: FlakySMTPServer, tmp_path: Path
) -> None:
    readers = 20
    flaky_smtp.limit_per_connection(2)  # the third RCPT on a connection: 421, and it closes
    seed_readers(postgres_database, readers)

    ledger = _send_until_settled(
        postgres_database,
        private_redis,
        flaky_smtp,
        tmp_path / "worker.log",
        batch_size=20,
        timeout=60,
    )

    # The relay refused no one for good: retried by time, every reader gets one message.
    copies = _copies(flaky_smtp)
    assert [a for a, n in copies.items() if n > 1] == [], "duplicates"
    sent = {email for email, row in ledger.items() if row.status is DeliveryStatus.SENT}
    assert sent == set(copies) == set(ledger), ledger


def test_a_batch_slower_than_the_claim_lease_is_not_sent_twice(
    postgres_database: str, private_redis: RedisServer, flaky_smtp: FlakySMTPServer, tmp_path: Path
) -> None:
    readers = 8
    # A slow relay: the batch's four groups start at 0, 1, 2 and 3 s; the lease is 2 s, so
    # the last group's rows are still `claimed` (never renewed) from 2 s to 3 s.
    flaky_smtp.slow_down(0.5)
    seed_readers(postgres_database, readers)

    ledger = _send_until_settled(
        postgres_database,
        private_redis,
        flaky_smtp,
        tmp_path / "worker.log",
        batch_size=readers,
        timeout=30,
        tick_every=0.5,
        SEND_GROUP_SIZE="2",
        CLAIM_LEASE_SECONDS="2",
    )

    copies = _copies(flaky_smtp)
    assert [a for a, n in copies.items() if n > 1] == [], ("duplicates", ledger)
    assert set(copies) == set(ledger)
