"""A worker's claim on ledger rows, and the recovery of rows whose worker stopped.

A batch's worker claims its rows before sending them: `pending` → `claimed`, stamped with
the time of the claim. The claim is a lease: a worker renews it while it sends
(alerts.delivery.sending), and rows whose lease ran out belong to no one, so another
claim or the sweeper (`sweep_stuck`) may take them. The stamp is the batch's proof of
ownership: every write the batch makes afterwards checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.outgoing import Outgoing
from alerts.ledger.states import not_held
from alerts.models import Delivery, DeliveryStatus

DEFAULT_LEASE = timedelta(minutes=10)


def claim(
    session: Session, ids: Sequence[int], *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[int]:
    """Take rows that are pending (or claimed by a worker whose lease ran out), unless an
    editor paused or cancelled their issue or alert.

    One UPDATE ... RETURNING: two workers given the same ids split them, never share them.
    """
    return sorted(_take(session, ids, now=now, lease=lease))


def claim_rows(
    session: Session, rows: Sequence[Outgoing], *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[Outgoing]:
    """`claim` for rows a batch has read (`load_outgoing`): the ones it took, in their
    order, each with the claim and the count of attempts the claim wrote."""
    attempts = _take(session, [row.id for row in rows], now=now, lease=lease)
    taken = [row for row in rows if row.id in attempts]
    for row in taken:
        row.status, row.claimed_at, row.attempts = DeliveryStatus.CLAIMED, now, attempts[row.id]
    return taken


def _take(
    session: Session, ids: Sequence[int], *, now: datetime, lease: timedelta
) -> dict[int, int]:
    """The UPDATE of `claim`: each row taken, with its count of attempts (this one too)."""
    if not ids:
        return {}
    claimable = (
        or_(
            Delivery.status == DeliveryStatus.PENDING,
            (Delivery.status == DeliveryStatus.CLAIMED) & (Delivery.claimed_at < now - lease),
        )
        & not_held()
    )
    taken = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), claimable)
        .values(status=DeliveryStatus.CLAIMED, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.attempts)
        .execution_options(synchronize_session=False)
    )
    return {delivery_id: attempts for delivery_id, attempts in taken}


@dataclass
class SweepResult:
    requeued: int = 0
    abandoned: int = 0


def sweep_stuck(
    session: Session, *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> SweepResult:
    """Recover rows whose worker vanished (killed, or its broker message lost).

    Claimed but never attempted: back to pending, to be queued again. In the SMTP
    exchange when the worker died: marked failed with the reason, never re-sent — a
    possible duplicate is worse for a reader than one missing digest, and the ledger
    says which readers those are. Does not commit.
    """
    expired = Delivery.claimed_at < now - lease
    requeued = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED, expired)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=None,
            last_error="its worker stopped before sending; queued again",
        )
        .execution_options(synchronize_session=False)
    )
    abandoned = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, expired)
        .values(status=DeliveryStatus.FAILED, last_error=UNKNOWN_OUTCOME)
        .execution_options(synchronize_session=False)
    )
    return SweepResult(requeued.rowcount or 0, abandoned.rowcount or 0)  # type: ignore[attr-defined]
