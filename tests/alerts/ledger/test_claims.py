"""Claims: a worker's lease on its batch's rows, and the sweeper that recovers a lost one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from alerts.digests.planning import plan_digests
from alerts.ledger.claims import DEFAULT_LEASE, claim, sweep_stuck
from alerts.ledger.queue import claim_queue
from tests.support.builders import articles, reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_rows_claimed_by_a_vanished_worker_are_queued_again(session: Session) -> None:
    for number in range(3):
        reader(session, f"v{number}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    assert claim(session, batch, now=NOW) == batch  # a worker takes them, then dies
    session.commit()
    # Within the lease nobody else may take them; after it, another worker may.
    assert claim(session, batch, now=NOW + timedelta(minutes=1)) == []
    later = NOW + DEFAULT_LEASE + timedelta(seconds=1)
    assert claim(session, batch, now=later) == batch
    session.commit()
    # The sweeper puts expired claims back in the queue for the next tick.
    swept = sweep_stuck(session, now=later + DEFAULT_LEASE + timedelta(seconds=1))
    session.commit()
    assert swept.requeued == 3
    requeued = claim_queue(session, now=later + DEFAULT_LEASE + timedelta(seconds=2), batch_size=10)
    assert requeued == [batch]
