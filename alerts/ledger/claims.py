"""A worker's claim on ledger rows, and the recovery of rows whose worker stopped.

A batch's worker claims its rows before sending them: `pending` → `claimed`, stamped with
the time of the claim and the claiming process's owner number (alerts.delivery.liveness).
The stamp and the owner together are the batch's proof of ownership: every write the
batch makes afterwards checks both in the same UPDATE, so a worker presumed dead that
comes back cannot overwrite what the rows' new owner recorded.

Two recoveries. `recover_owners`: the rows of owners whose heartbeat stopped, within
seconds, using what the dead process noted of the wire: the messages the relay accepted
are sent, the one message that may have been on the wire is an unknown outcome, and the
rest were never attempted and go back to `pending`. `sweep_stuck`, the last resort when
there is no heartbeat to go by (no Redis): rows whose claim's lease ran out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import literal, or_, select, text, update
from sqlalchemy.orm import Session

from alerts.ledger.outcomes import UNKNOWN_OUTCOME, kept_reply
from alerts.ledger.outgoing import Outgoing
from alerts.ledger.relay_names import register_relays, relay_number
from alerts.ledger.states import not_held
from alerts.models import IN_HAND, Delivery, DeliveryStatus

DEFAULT_LEASE = timedelta(minutes=10)


STOPPED_BEFORE_SENDING = "its worker stopped before sending; queued again"


def claim(
    session: Session,
    ids: Sequence[int],
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    owner: int | None = None,
) -> list[int]:
    """Take rows that are pending (or claimed by a worker whose lease ran out), unless an
    editor paused or cancelled their issue or alert.

    One UPDATE ... RETURNING: two workers given the same ids split them, never share them.
    """
    return sorted(_take(session, ids, now=now, lease=lease, owner=owner))


def claim_rows(
    session: Session,
    rows: Sequence[Outgoing],
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    owner: int | None = None,
) -> list[Outgoing]:
    """`claim` for rows a batch has read (`load_outgoing`): the ones it took, in their
    order, each with the claim and the count of attempts the claim wrote."""
    attempts = _take(session, [row.id for row in rows], now=now, lease=lease, owner=owner)
    taken = [row for row in rows if row.id in attempts]
    for row in taken:
        row.status, row.claimed_at, row.attempts = DeliveryStatus.CLAIMED, now, attempts[row.id]
    return taken


def _take(
    session: Session, ids: Sequence[int], *, now: datetime, lease: timedelta, owner: int | None
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
        .values(
            status=DeliveryStatus.CLAIMED,
            claimed_at=now,
            claimed_by=owner,
            attempts=Delivery.attempts + 1,
        )
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
            last_error=STOPPED_BEFORE_SENDING,
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


# -- recovery by liveness ----------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """A message the relay accepted, as its worker noted it on the way (see
    alerts.delivery.liveness): enough to record the row as sent."""

    sent_at: datetime
    relay: str
    reply: str

    def encode(self) -> str:
        return f"{self.sent_at.timestamp()!r}|{self.relay}|{self.reply}"

    @classmethod
    def decode(cls, raw: str) -> Accepted:
        """Raises ValueError for anything `encode` did not write."""
        stamp, relay, reply = raw.split("|", 2)
        return cls(datetime.fromtimestamp(float(stamp), UTC), relay, reply)


@dataclass(frozen=True)
class WireRecord:
    """What a worker process noted of its current batch before it died: the row whose
    message it was writing, and the rows the relay had accepted."""

    on_wire: int | None
    accepted: dict[int, Accepted] = field(default_factory=dict)


@dataclass
class Recovery:
    """What `recover_owners` did: rows sent again (to be queued), rows recorded as sent
    from the wire record, and rows whose outcome is unknown."""

    requeued: list[int] = field(default_factory=list)
    accepted: int = 0
    unknown: int = 0


def owners_in_hand(session: Session) -> list[int]:
    """The owners holding rows (claimed or sending): through a partial index as small as
    the rows in the workers' hands, whatever the size of the ledger."""
    return list(
        session.scalars(
            select(Delivery.claimed_by)
            .where(text(IN_HAND), Delivery.claimed_by.is_not(None))
            .distinct()
        )
    )


def recover_owners(
    session: Session, records: Mapping[int, WireRecord | None], *, queued_until: datetime
) -> Recovery:
    """Recover the rows of dead owners: claimed rows back to `pending`; of the rows they
    had marked `sending`, those the relay accepted recorded as sent, the one that may have
    been on the wire failed as an unknown outcome, the others (never attempted, or refused
    by the relay) back to `pending`. Where the record is None (Redis lost it), every
    `sending` row is an unknown outcome.

    The rows back to `pending` are stamped as queued until `queued_until` (see
    alerts.ledger.queue.claim_queue): the caller queues them itself. Does not commit."""
    recovery = Recovery()
    for owner, record in records.items():
        theirs = Delivery.claimed_by == owner
        recovery.requeued += _set(session, theirs & (Delivery.status == DeliveryStatus.CLAIMED),
                                  status=DeliveryStatus.PENDING, next_attempt_at=queued_until,
                                  last_error=STOPPED_BEFORE_SENDING)  # fmt: skip
        sending = list(
            session.scalars(
                select(Delivery.id).where(theirs, Delivery.status == DeliveryStatus.SENDING)
            )
        )
        if record is None:
            unknown, untried = sending, []
        else:
            for delivery_id in sending:
                if (accepted := record.accepted.get(delivery_id)) is not None:
                    register_relays(session, [accepted.relay])
                    recovery.accepted += len(_set(
                        session, theirs & (Delivery.id == delivery_id),
                        status=DeliveryStatus.SENT, sent_at=accepted.sent_at,
                        relay_id=relay_number(literal(accepted.relay)), last_error=None,
                        claimed_at=None, claimed_by=None,
                        smtp_reply=kept_reply(DeliveryStatus.SENT, accepted.reply),
                    ))  # fmt: skip
            left = [i for i in sending if i not in record.accepted]
            unknown = [i for i in left if i == record.on_wire]
            untried = [i for i in left if i != record.on_wire]
        recovery.unknown += len(_set(session, theirs & Delivery.id.in_(unknown),
                                     status=DeliveryStatus.FAILED,
                                     last_error=UNKNOWN_OUTCOME))  # fmt: skip
        recovery.requeued += _set(session, theirs & Delivery.id.in_(untried),
                                  status=DeliveryStatus.PENDING, next_attempt_at=queued_until,
                                  last_error=STOPPED_BEFORE_SENDING)  # fmt: skip
    return recovery


def _set(session: Session, where: object, **values: object) -> list[int]:
    """Rows still in a dead owner's hands matching `where`, set to `values`; their ids."""
    return list(
        session.scalars(
            update(Delivery)
            .where(where, text(IN_HAND))  # type: ignore[arg-type]
            .values(**values)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
