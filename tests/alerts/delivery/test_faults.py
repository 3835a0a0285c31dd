"""Failures of real processes: whatever dies, no reader gets a digest twice, and the ledger
accounts for every reader."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from alerts.config import load_settings
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.models import DeliveryStatus
from alerts.tasks.app import create_celery
from alerts.tasks.handlers import TICK
from tests.support.ledger import UNFINISHED, ledger_statuses, seed_readers
from tests.support.processes import (
    kill_worker,
    process_environment,
    start_worker,
    stop_worker,
)
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow
READERS = 40
LEASE_SECONDS = 3
GROUP = 4


def test_worker_killed_mid_batch_and_restarted(
    postgres_database: str, broker_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    environment = process_environment(
        database_url=postgres_database,
        redis_url=broker_url,
        smtp_url=smtp_server.url,
        BATCH_SIZE="10",
        SEND_GROUP_SIZE=str(GROUP),
        CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
        # The dead worker's reserved batch stays in Redis' unacked set for the visibility
        # timeout (an hour); the ledger queues its rows again after this instead.
        REQUEUE_SECONDS=str(LEASE_SECONDS),
    )
    seed_readers(postgres_database, READERS)
    smtp_server.slow_down(0.05)
    log = tmp_path / "worker.log"
    first = start_worker(environment, log, concurrency=1)
    try:
        from click.testing import CliRunner

        from alerts.cli import main

        sent = CliRunner().invoke(main, ["digest", "send", "--now"], env=environment)
        assert "Queued 4 batches" in sent.output, sent.output
        smtp_server.wait_for(8, timeout=60)
    finally:
        kill_worker(first)
    received_before_restart = len(smtp_server.messages)
    assert received_before_restart < READERS  # the kill landed mid-send

    second = start_worker(environment, log, concurrency=1)
    try:
        time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's claims expire
        settings = load_settings(
            database_url=postgres_database, redis_url=broker_url, _env_file=None
        )
        app = create_celery(settings)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            app.send_task(TICK)  # the scheduler's tick (sped up): sweep, then queue again
            ledger = ledger_statuses(postgres_database)
            if not any(status in UNFINISHED for status, _ in ledger.values()):
                break
            time.sleep(2)
        app.close()
    finally:
        stop_worker(second)

    ledger = ledger_statuses(postgres_database)
    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert max(copies.values()) == 1, f"duplicates: {[a for a, n in copies.items() if n > 1]}"
    assert len(ledger) == READERS
    sent = {email for email, (status, _) in ledger.items() if status is DeliveryStatus.SENT}
    unknown = {
        email
        for email, (status, error) in ledger.items()
        if status is DeliveryStatus.FAILED and error == UNKNOWN_OUTCOME
    }
    # Every reader is accounted for: sent, or in the group in flight when the worker died.
    assert sent | unknown == set(ledger), {e: s for e, s in ledger.items() if e not in sent}
    assert len(unknown) <= GROUP
    assert sent <= set(copies)  # the ledger never claims a message the server did not get
    assert set(copies) - sent <= unknown
