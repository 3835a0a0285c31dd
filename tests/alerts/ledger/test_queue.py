"""The send queue: which planned rows claim_queue hands out, in batches, and when again.

Every test runs on SQLite and on PostgreSQL (the `session` fixture); the rows are planned
by plan_digests, as in a real run.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from alerts.digests.planning import plan_digests
from alerts.ledger.queue import REQUEUE_AFTER, claim_in_chunks, claim_queue
from alerts.models import DeliveryStatus
from tests.factories import ledger, make_article, make_reader, utc

# Tuesday 2026-03-10 06:00 UTC is 07:00 in Paris (CET): the default readers' send hour.
NOW = utc(2026, 3, 10, 6, 0)


def _three_pending_one_skipped(session: Session) -> list[int]:
    for name in ("a1", "a2", "a3"):
        make_reader(session, name, topics=["Climate"])
    make_reader(session, "quiet", topics=["Opera"])
    make_article(session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    plan_digests(session, now=NOW)
    rows = ledger(session)
    assert [row.status for row in rows] == [DeliveryStatus.PENDING] * 3 + [DeliveryStatus.SKIPPED]
    return [row.id for row in rows[:3]]


def test_claim_queue_returns_pending_rows_in_batches_and_stamps_them(session: Session) -> None:
    pending = _three_pending_one_skipped(session)
    queued_at = NOW + timedelta(minutes=1)

    batches = claim_queue(session, now=queued_at, batch_size=2)

    assert batches == [pending[:2], pending[2:]]
    assert [row.next_attempt_at for row in ledger(session)] == [queued_at + REQUEUE_AFTER] * 3 + [
        None
    ]


def test_claim_queue_does_not_hand_out_the_same_rows_twice_until_requeue(
    session: Session,
) -> None:
    pending = _three_pending_one_skipped(session)
    queued_at = NOW + timedelta(minutes=1)
    claim_queue(session, now=queued_at, batch_size=10)

    assert claim_queue(session, now=queued_at, batch_size=10) == []
    assert (
        claim_queue(session, now=queued_at + REQUEUE_AFTER - timedelta(seconds=1), batch_size=10)
        == []
    )
    requeued_at = queued_at + REQUEUE_AFTER
    assert claim_queue(session, now=requeued_at, batch_size=10) == [pending]
    assert claim_queue(session, now=requeued_at, batch_size=10) == []
    assert [row.next_attempt_at for row in ledger(session)][:3] == [requeued_at + REQUEUE_AFTER] * 3


def test_claim_queue_only_hands_out_pending_rows(session: Session) -> None:
    pending = _three_pending_one_skipped(session)
    rows = ledger(session)
    rows[0].status = DeliveryStatus.SENT
    rows[1].status = DeliveryStatus.SENDING
    session.flush()

    assert claim_queue(session, now=NOW, batch_size=1) == [[pending[2]]]


def test_claim_queue_with_nothing_pending(session: Session) -> None:
    make_reader(session, "quiet", topics=["Opera"])
    plan_digests(session, now=NOW)

    assert claim_queue(session, now=NOW, batch_size=5) == []


def test_claim_queue_waits_for_a_retry_time_in_the_future(session: Session) -> None:
    pending = _three_pending_one_skipped(session)
    retry_at = NOW + timedelta(minutes=5)
    ledger(session)[0].next_attempt_at = retry_at
    session.flush()

    assert claim_queue(session, now=NOW, batch_size=5) == [pending[1:]]
    assert claim_queue(session, now=retry_at - timedelta(seconds=1), batch_size=5) == []
    # The others were stamped NOW + REQUEUE_AFTER (10 minutes), so only the retry comes back.
    assert claim_queue(session, now=retry_at, batch_size=5) == [pending[:1]]


def test_claim_in_chunks_hands_out_every_row_once_a_chunk_at_a_time(session: Session) -> None:
    """A send of any size is queued holding one chunk of ids: each chunk is stamped and
    handed over before the next is read, and the chunks together are every ready row."""
    pending = _three_pending_one_skipped(session)
    queued_at = NOW + timedelta(minutes=1)

    chunks = []
    for batches in claim_in_chunks(session, now=queued_at, batch_size=1, chunk=2):
        session.commit()  # as the callers do before handing a chunk over
        chunks.append(batches)

    assert chunks == [[[pending[0]], [pending[1]]], [[pending[2]]]]
    assert [row.next_attempt_at for row in ledger(session)][:3] == [queued_at + REQUEUE_AFTER] * 3
    assert list(claim_in_chunks(session, now=queued_at, batch_size=1, chunk=2)) == []


def test_claim_in_chunks_stops_even_when_rows_stay_ready(session: Session) -> None:
    """With no wait before a lost batch is queued again, a claimed row is still ready:
    the chunks go forward by id, so each row is handed out once per call all the same."""
    pending = _three_pending_one_skipped(session)

    chunks = list(
        claim_in_chunks(session, now=NOW, batch_size=5, requeue_after=timedelta(0), chunk=1)
    )

    assert chunks == [[[row]] for row in pending]
