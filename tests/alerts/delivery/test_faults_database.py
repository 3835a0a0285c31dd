"""PostgreSQL crashes and comes back during a send. The workers live through it; the messages
the relay accepted while the database was away are recorded as sent once it is back, the
rows not yet attempted are sent after it, and the scheduler settles the rest within a
minute. Every reader gets exactly one digest, and the ledger agrees with the SMTP server.

The test runs a PostgreSQL server of its own (the shared one is never stopped).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.db import upgrade
from alerts.models import DeliveryStatus
from subscribers.database import utcnow
from tests.support.ledger import UNFINISHED, seed_readers, settled_within, wait_until_settled
from tests.support.postgres_server import PostgresServer, server_binaries
from tests.support.processes import process_environment, start_beat, start_worker, stop_worker
from tests.support.redis_server import RedisServer
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        server_binaries() is None,
        reason="needs PostgreSQL's server binaries (initdb, pg_ctl) to run a private server",
    ),
]
READERS = 300
BATCH = 25
GROUP = 5
OUTAGE_SECONDS = 4


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.initialise()
    server.start()
    yield server
    server.remove()


def test_postgresql_crashes_and_restarts_during_a_send(
    private_postgres: PostgresServer,
    private_redis: RedisServer,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
) -> None:
    database_url = private_postgres.create_database("newsalerts")
    upgrade(database_url)
    seed_readers(database_url, READERS)
    environment = process_environment(
        database_url=database_url,
        redis_url=private_redis.url,
        smtp_url=smtp_server.url,
        BATCH_SIZE=str(BATCH),
        SEND_GROUP_SIZE=str(GROUP),
    )
    smtp_server.slow_down(0.01)
    log = tmp_path / "worker.log"
    worker = start_worker(environment, log, concurrency=2)
    beat = start_beat(environment, tmp_path / "beat.log", schedule=tmp_path / "schedule")
    try:
        sent = CliRunner().invoke(main, ["digest", "send", "--now"], env=environment)
        assert f"Queued {READERS // BATCH} batches" in sent.output, sent.output
        smtp_server.wait_for(60, timeout=60)
        private_postgres.stop("immediate")  # a crash: connections cut mid-transaction
        at_crash = len(smtp_server.messages)
        time.sleep(OUTAGE_SECONDS)
        during_outage = len(smtp_server.messages) - at_crash
        private_postgres.start()
        restarted_at = utcnow()
        assert at_crash < READERS, "the send was over before the database went away"
        # Groups already marked `sending` finish; nothing new starts without the ledger.
        assert during_outage <= 2 * GROUP, during_outage

        ledger = wait_until_settled(database_url, timeout=90)
        assert worker.poll() is None, "the worker died with the database"
    finally:
        stop_worker(worker)
        stop_worker(beat)

    unfinished = {e: row for e, row in ledger.items() if row.status in UNFINISHED}
    assert not unfinished, f"never settled: {unfinished}\n{log.read_text()[-3000:]}"
    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert [a for a, n in copies.items() if n > 1] == [], "duplicates"
    assert len(ledger) == READERS
    sent_rows = {e for e, row in ledger.items() if row.status is DeliveryStatus.SENT}
    unknown = {e for e, row in ledger.items() if row.unknown}
    # No process died, so no outcome is unknown: the messages the relay accepted while the
    # database was down were recorded once it came back.
    assert unknown == set(), f"outcomes lost with the database: {sorted(unknown)}"
    assert sent_rows == set(ledger), {e: row for e, row in ledger.items() if e not in sent_rows}
    assert set(copies) == sent_rows
    assert settled_within(ledger, restarted_at) <= 60
