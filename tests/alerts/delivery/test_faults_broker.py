"""Redis restarted with its data lost during a send: the queued batches vanish, the workers
reconnect by themselves, and the sweep notices the empty Redis and queues the ledger's
pending rows again at once, not after REQUEUE_SECONDS. Every reader still gets exactly one
digest within a minute, and the ledger agrees with the SMTP server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.models import DeliveryStatus
from alerts.tasks.app import QUEUES
from alerts.tasks.queues import PRIORITY_SUFFIXES
from subscribers.database import utcnow
from tests.support.ledger import (
    UNFINISHED,
    ledger_statuses,
    seed_readers,
    settled_within,
    wait_until_settled,
)
from tests.support.processes import process_environment, start_beat, start_worker, stop_worker
from tests.support.redis_server import RedisServer
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow
READERS = 40
BATCH = 5
GROUP = 4


def _queued(server: RedisServer) -> int:
    """Batches waiting in Redis: the queues' lists (priority sub-queues too) and the unacked
    messages the workers hold."""
    client = server.client()
    try:
        keys = [f"{queue}{suffix}" for queue in QUEUES for suffix in PRIORITY_SUFFIXES]
        waiting = sum(int(client.llen(key)) for key in keys)
        return waiting + int(client.hlen("unacked"))
    finally:
        client.close()


def test_redis_restarted_without_its_data_during_a_send(
    postgres_database: str,
    private_redis: RedisServer,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
) -> None:
    environment = process_environment(
        database_url=postgres_database,
        redis_url=private_redis.url,
        smtp_url=smtp_server.url,
        BATCH_SIZE=str(BATCH),
        SEND_GROUP_SIZE=str(GROUP),
    )
    seed_readers(postgres_database, READERS)
    smtp_server.slow_down(0.05)
    log = tmp_path / "worker.log"
    worker = start_worker(environment, log, concurrency=2)
    beat = start_beat(environment, tmp_path / "beat.log", schedule=tmp_path / "schedule")
    try:
        sent = CliRunner().invoke(main, ["digest", "send", "--now"], env=environment)
        assert f"Queued {READERS // BATCH} batches" in sent.output, sent.output
        smtp_server.wait_for(5, timeout=30)
        in_redis = _queued(private_redis)
        private_redis.restart()  # SIGKILL, then a new empty server on the same port
        restarted_at = utcnow()
        # The rows of batches that were waiting in Redis are still `pending`. (A worker that
        # reconnects puts the batches it was running back into the new Redis: their rows are
        # claimed already, so that costs nothing.)
        lost = {
            e
            for e, (s, _) in ledger_statuses(postgres_database).items()
            if s is DeliveryStatus.PENDING
        }
        assert in_redis > 0, "every batch had left Redis before the restart"
        assert lost, "no row was waiting on a queued batch when Redis restarted"

        rows = wait_until_settled(postgres_database, timeout=90)
        assert worker.poll() is None, "the worker died instead of reconnecting"
    finally:
        stop_worker(worker)
        stop_worker(beat)

    ledger = ledger_statuses(postgres_database)
    unfinished = {e: s for e, (s, _) in ledger.items() if s in UNFINISHED}
    assert not unfinished, f"never settled: {unfinished}\n{log.read_text()[-3000:]}"
    copies = Counter(message.recipients[0] for message in smtp_server.messages)
    assert max(copies.values()) == 1, f"duplicates: {[a for a, n in copies.items() if n > 1]}"
    assert len(ledger) == READERS
    sent_rows = {email for email, (status, _) in ledger.items() if status is DeliveryStatus.SENT}
    unknown = {email for email, row in rows.items() if row.unknown}
    # No worker died: nobody's fate is unknown, everyone got their digest.
    assert unknown == set()
    assert sent_rows == set(ledger), {e: s for e, s in ledger.items() if e not in sent_rows}
    assert set(copies) == sent_rows
    # The readers whose batches were lost with Redis got theirs, within a minute.
    assert lost <= sent_rows
    assert settled_within(rows, restarted_at) <= 60
