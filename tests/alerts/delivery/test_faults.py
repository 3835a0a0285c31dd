"""Failures of real processes: whatever dies, no reader gets a digest twice, the ledger
accounts for every reader, and a dead worker's rows are back within a minute, whatever
the claim's lease."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import main
from subscribers.database import utcnow
from tests.support.ledger import seed_readers, settled_within, wait_until_settled
from tests.support.processes import (
    kill_worker,
    process_environment,
    start_beat,
    start_worker,
    stop_worker,
)
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow
READERS = 60
GROUP = 4
CONCURRENCY = 2


def test_worker_killed_mid_batch_and_restarted(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    # The default lease (ten minutes) and requeue time: recovery must come from liveness.
    environment = process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BATCH_SIZE="10",
        SEND_GROUP_SIZE=str(GROUP),
    )
    seed_readers(postgres_database, READERS)
    smtp_server.slow_down(0.05)
    log = tmp_path / "worker.log"
    first = start_worker(environment, log, concurrency=CONCURRENCY)
    beat = start_beat(environment, tmp_path / "beat.log", schedule=tmp_path / "schedule")
    try:
        sent = CliRunner().invoke(main, ["digest", "send", "--now"], env=environment)
        assert "Queued 6 batches" in sent.output, sent.output
        smtp_server.wait_for(8, timeout=60)
        kill_worker(first)  # the main process and both pool processes at once
        killed_at = utcnow()
        received_before_restart = len(smtp_server.messages)
        assert received_before_restart < READERS  # the kill landed mid-send
        second = start_worker(environment, log, concurrency=CONCURRENCY)
        try:
            ledger = wait_until_settled(postgres_database, timeout=90)
        finally:
            stop_worker(second)
    finally:
        kill_worker(first)
        stop_worker(beat)

    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert max(copies.values()) == 1, f"duplicates: {[a for a, n in copies.items() if n > 1]}"
    assert len(ledger) == READERS
    sent_rows = {email for email, row in ledger.items() if row.status.value == "sent"}
    unknown = {email for email, row in ledger.items() if row.unknown}
    # Every reader is accounted for: sent, or the one message on the wire of each process.
    assert sent_rows | unknown == set(ledger), {
        e: row for e, row in ledger.items() if e not in sent_rows | unknown
    }
    assert len(unknown) <= CONCURRENCY, unknown
    assert sent_rows <= set(copies)  # the ledger never claims a message the server did not get
    assert set(copies) - sent_rows <= unknown
    # The dead worker's rows were finished by the new one within a minute of the kill.
    assert settled_within(ledger, killed_at) <= 60, log.read_text()[-3000:]
