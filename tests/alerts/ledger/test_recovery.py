"""Recovery by liveness: the rows of a worker process that stopped proving it was alive,
sorted by what it noted of the wire; and the fence that keeps a worker presumed dead from
overwriting what the rows' new owner recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.digests.planning import plan_digests
from alerts.ledger.claims import (
    STOPPED_BEFORE_SENDING,
    Accepted,
    WireRecord,
    claim,
    claim_rows,
    owners_in_hand,
    recover_owners,
)
from alerts.ledger.outcomes import UNKNOWN_OUTCOME, write_outcomes
from alerts.ledger.outgoing import load_outgoing
from alerts.ledger.queue import claim_queue
from alerts.models import Delivery, DeliveryStatus
from tests.support.builders import articles, reader

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
DEAD, ALIVE = 4242, 777


def _planned(session: Session, count: int) -> list[int]:
    for number in range(count):
        reader(session, f"r{number}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=50)
    session.commit()
    return batch


def _sending(session: Session, ids: list[int]) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(ids)).values(status=DeliveryStatus.SENDING)
    )


def _states(session: Session) -> dict[int, tuple[DeliveryStatus, str | None, str | None]]:
    session.expire_all()
    return {
        row.id: (row.status, row.last_error, row.smtp_reply)
        for row in session.scalars(select(Delivery))
    }


def test_a_dead_owners_rows_are_sorted_by_what_it_noted_of_the_wire(session: Session) -> None:
    ids = _planned(session, 8)
    mine, theirs = ids[:6], ids[6:]
    assert claim(session, mine, now=NOW, owner=DEAD) == mine
    assert claim(session, theirs, now=NOW, owner=ALIVE) == theirs
    # The dead process had a group of four in `sending`: the relay accepted the first,
    # refused the second, the third was on the wire, the fourth never attempted.
    group = mine[:4]
    _sending(session, group)
    session.commit()
    assert sorted(owners_in_hand(session)) == [ALIVE, DEAD]

    accepted = Accepted(NOW + timedelta(seconds=1), "smtp:relay.example.com:25", "250 2.0.0 ok")
    record = WireRecord(on_wire=group[2], accepted={group[0]: accepted})
    recovery = recover_owners(session, {DEAD: record}, queued_until=NOW)
    session.commit()

    states = _states(session)
    assert states[group[0]] == (DeliveryStatus.SENT, None, None)  # a 2xx is not kept
    assert states[group[2]] == (DeliveryStatus.FAILED, UNKNOWN_OUTCOME, None)
    for untried in (group[1], group[3], *mine[4:]):
        assert states[untried][:2] == (DeliveryStatus.PENDING, STOPPED_BEFORE_SENDING)
    assert all(states[i][0] is DeliveryStatus.CLAIMED for i in theirs)  # the living keep theirs
    assert (recovery.accepted, recovery.unknown) == (1, 1)
    assert sorted(recovery.requeued) == sorted([group[1], group[3], *mine[4:]])
    assert owners_in_hand(session) == [ALIVE]
    sent_at = session.scalar(select(Delivery.sent_at).where(Delivery.id == group[0]))
    assert sent_at is not None and sent_at.replace(tzinfo=UTC) == accepted.sent_at


def test_without_a_record_every_row_in_the_exchange_is_an_unknown(session: Session) -> None:
    ids = _planned(session, 3)
    claim(session, ids, now=NOW, owner=DEAD)
    _sending(session, ids[:2])
    session.commit()
    recovery = recover_owners(session, {DEAD: None}, queued_until=NOW)  # Redis lost the record
    session.commit()
    states = _states(session)
    assert [states[i][0] for i in ids] == [
        DeliveryStatus.FAILED,
        DeliveryStatus.FAILED,
        DeliveryStatus.PENDING,
    ]
    assert (recovery.unknown, recovery.requeued) == (2, [ids[2]])


def test_a_worker_presumed_dead_cannot_overwrite_the_new_owners_outcome(
    session: Session,
) -> None:
    ids = _planned(session, 2)
    first = claim_rows(session, load_outgoing(session, ids), now=NOW, owner=DEAD)
    session.commit()
    recover_owners(session, {DEAD: WireRecord(on_wire=None)}, queued_until=NOW)
    session.commit()
    # The new owner claims the rows (at the very same instant, even) and sends them.
    claim(session, ids, now=NOW, owner=ALIVE)
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(status=DeliveryStatus.SENT, smtp_reply="250 new owner", last_error=None)
    )
    session.commit()
    # The old owner comes back and writes what it believes happened.
    for row in first:
        row.status, row.last_error = DeliveryStatus.FAILED, "refused, as the old owner saw it"
    write_outcomes(session, first, DEAD)
    session.commit()
    states = _states(session)
    assert {states[i] for i in ids} == {(DeliveryStatus.SENT, None, "250 new owner")}
