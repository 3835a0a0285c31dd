"""Sending a batch of ledger rows: claim, check the reader, send, record — one row at a time.

Row states: `pending` → `claimed` (the batch's worker owns it) → `sending` (its SMTP
exchange may have started) → `sent` | `failed` | `suppressed`, or back to `pending` with a
retry time. Rows are marked `sending` a small group at a time, in the same commit as the
previous group's outcomes, so a group costs one commit and one status query, and a worker
killed outright leaves at most one group in `sending`; before each message it notes in
Redis, without waiting, which row goes on the wire and which the relay accepted
(alerts.delivery.liveness), so the sweeper knows the one message whose fate is unknown.
A process whose heartbeat went stale stops before its next message and gives back what it
did not attempt. A database outage is not a death: the worker keeps the outcomes it could
not commit and writes them once the database answers again (`_save_what_is_known`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import CTE, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from alerts.delivery.liveness import NO_LIVENESS, Liveness
from alerts.delivery.transports import MailConnection, Transport
from alerts.digests.selection import next_due
from alerts.errors import ConnectionLost, DeliveryError
from alerts.ledger.claims import DEFAULT_LEASE, Accepted, claim_rows
from alerts.ledger.outcomes import outcomes_cte, unnested, write_outcomes
from alerts.ledger.outgoing import Outgoing, load_outgoing
from alerts.ledger.relay_names import register_relays
from alerts.ledger.unknowns import UNKNOWN_REPLY
from alerts.mail.mime import Envelope
from alerts.models import Delivery, DeliveryStatus
from subscribers.database import utcnow
from subscribers.services import mailable_ids

log = logging.getLogger(__name__)
DEFAULT_GROUP_SIZE = 20
Clock = Callable[[], datetime]
# Given the rows a relay refused permanently, before the commit that records them.
RefusalHook = Callable[[Session, list[Outgoing]], None]


class Composer(Protocol):
    """What sending a batch asks of whoever writes its messages (in production
    alerts.mail.digest.DigestComposer, which writes alerts' messages too)."""

    def preload(self, ids: Iterable[int]) -> None:
        """Fetch at once the articles the batch's rows name."""

    def compose(self, delivery: Outgoing) -> Envelope:
        """The row's message, ready for the relay."""


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    not_mailable: int = 0
    # The batch stopped because this process could no longer prove it was alive.
    fenced: bool = False
    # Why no connection could be had (a certificate that does not verify, refused
    # credentials): what an operator must act on, for a summary to show, each once.
    relay_problems: list[str] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.not_mailable += other.not_mailable
        self.fenced = self.fenced or other.fenced
        for problem in other.relay_problems:
            self.note(problem)

    def note(self, problem: str) -> None:
        if problem not in self.relay_problems:
            self.relay_problems.append(problem)


@dataclass(frozen=True)
class RetryPolicy:
    """Temporary failures are retried by time, not by count: after base, 2 x base, 4 x base
    ... (at most `cap`, ±20 % jitter, so a relay's outage does not bring every retry back
    in the same second) for as long as the next try still falls within `window` of the
    row's planned time and before the reader's next digest of the same edition; then the
    row is failed with the last reason. Relays greylist and throttle for hours (Postfix
    keeps trying for five days), so a count of attempts would give up on a reader whose
    tries happened to meet a throttled relay each time.
    """

    window: timedelta = timedelta(hours=6)
    base: timedelta = timedelta(minutes=2)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempts: int) -> timedelta:
        plain: timedelta = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        return plain * random.uniform(0.8, 1.2)

    def deadline(self, row: Outgoing, now: datetime) -> datetime:
        """The moment after which `row` is not tried again. A row that names no planned
        time (one written before the ledger kept it) counts from `now`."""
        end = (row.planned_at or now) + self.window
        if row.cadence is not None and row.send_hour is not None:
            following = next_due(row.local_date, timezone=row.subscriber.timezone,
                                 send_hour=row.send_hour, cadence=row.cadence)  # fmt: skip
            end = min(end, following)
        return end


def _record_failure(row: Outgoing, error: DeliveryError, now: datetime, retry: RetryPolicy) -> str:
    row.last_error = error.reason[:2000]
    row.smtp_reply = error.reply or None
    if error.unknown_outcome:
        # The relay may have the message: never send it again (see alerts.ledger.outcomes).
        row.status = DeliveryStatus.FAILED
        row.last_error = f"{UNKNOWN_REPLY}: {error.reason}"[:2000]
        return "failed"
    if error.permanent:
        row.status = DeliveryStatus.FAILED
        return "failed"
    retry_at = now + retry.delay(row.attempts)
    if retry_at > retry.deadline(row, now):
        row.status = DeliveryStatus.FAILED
        row.last_error = f"{error.reason} ({GAVE_UP})"[:2000]
        return "failed"
    row.status = DeliveryStatus.PENDING
    row.next_attempt_at = retry_at
    return "retrying"


def _count(result: BatchResult, outcome: str) -> None:
    setattr(result, outcome, getattr(result, outcome) + 1)


NOT_MAILABLE = "reader is no longer active"
GAVE_UP = "temporary; no retry left within RETRY_WINDOW_HOURS or before the reader's next digest"


# Connections in a row that break before any message goes through: then the relay is down.
MAX_RECONNECTS = 3


def send_batch(
    session: Session,
    ids: Sequence[int],
    *,
    composer: Composer,
    transport: Transport,
    clock: Clock = utcnow,
    lease: timedelta = DEFAULT_LEASE,
    group_size: int = DEFAULT_GROUP_SIZE,
    retry: RetryPolicy = RetryPolicy(),
    on_message: Callable[[], None] | None = None,
    rows: Sequence[Outgoing] | None = None,
    liveness: Liveness = NO_LIVENESS,
    on_refused: RefusalHook | None = None,
) -> BatchResult:
    """Send the ledger rows `ids` that are still to send. Commits as it goes.

    Rows go in groups of `group_size`. Taking a group is one conditional UPDATE: rows
    still claimed by this batch whose readers may still be mailed become `sending`, and
    the batch's other rows have their claim renewed once it is a third of a lease old, so
    a slow batch never loses rows to the sweeper and then sends them twice. One commit
    carries it with the previous group's outcomes. A relay that drops the connection gets
    a new one (the message in flight had not reached it). A process killed mid-group
    leaves at most `group_size` rows whose fate is unknown; any other error releases the
    rows not yet attempted.

    The rows are read (`load_outgoing`) before the claim, which keeps those this batch
    takes; a caller that has read them already, to name the batch in its logs, passes
    them as `rows` and they are not read again.

    `liveness` is the process's proof of life: its owner number goes on the claim, and a
    process that can no longer prove it is alive stops before its next message, writes
    what it knows and gives back the rows it did not attempt (`fenced` in the result).
    Raises LivenessLost, having claimed nothing, when it cannot prove it at the start.

    `on_refused` is given the rows a relay refused permanently (a 5xx reply) just before
    the commit that records them, in that transaction: what it writes (a reader whose
    address does not exist suppressed) stands or falls with the outcome itself, so a
    process that dies between the two cannot record one without the other.
    """
    result = BatchResult()
    owner = liveness.begin()
    batch = _Batch(claimed_at=clock(), lease=lease, owner=owner, liveness=liveness,
                   on_refused=on_refused)  # fmt: skip
    read = load_outgoing(session, ids) if rows is None else rows
    batch.waiting = claim_rows(session, read, now=batch.claimed_at, lease=lease, owner=owner)
    owned = [row.id for row in batch.waiting]
    session.commit()
    if not owned:
        return result
    liveness.new_batch()
    try:
        composer.preload(i for row in batch.waiting for i in row.article_ids)
        _send_over_connections(session, batch, composer, transport, clock, group_size,
                               retry, result, on_message)  # fmt: skip
    except _Fenced:
        log.warning("this worker could not prove it was alive: the batch stops, %d rows "
                    "given back", len([i for i in owned if i not in batch.attempted]))  # fmt: skip
        result.fenced = True
        _save_what_is_known(session, batch, owned, patience=lease)
    except DeliveryError as error:
        # No connection could be had: every row not yet attempted is retried later.
        result.note(error.reason)
        for row in batch.waiting:
            _count(result, _record_failure(row, error, clock(), retry))
            batch.keep(row)
        _commit(session, batch)
    except BaseException as error:
        # The database going away is worth waiting for, up to the lease: the relay has
        # accepted messages that only this process knows about.
        patience = lease if isinstance(error, OperationalError) else timedelta(0)
        _save_what_is_known(session, batch, owned, patience=patience)
        raise
    finally:
        _forget_loaded_rows(session, owned)
    return result


def _forget_loaded_rows(session: Session, ids: Sequence[int]) -> None:
    """Rows the caller's session holds were changed behind its back by Core statements."""
    for delivery_id in ids:
        loaded = session.identity_map.get(identity_key(Delivery, delivery_id))
        if loaded is not None:
            session.expire(loaded)


class _Fenced(Exception):
    """This process's heartbeat went stale: it must not send another message."""


@dataclass
class _Batch:
    """What one batch owns: rows waiting (claimed), rows of the group in flight.

    `claimed_at` and `owner` are the claim the waiting rows carry: the batch's proof of
    ownership.
    """

    claimed_at: datetime
    lease: timedelta
    owner: int | None = None
    liveness: Liveness = NO_LIVENESS
    # Rows the relay accepted since the wire was last noted (alerts.delivery.liveness).
    accepted: list[tuple[int, Accepted]] = field(default_factory=list)
    waiting: list[Outgoing] = field(default_factory=list)
    in_flight: list[Outgoing] = field(default_factory=list)
    attempted: set[int] = field(default_factory=set)
    # Every claim time this batch wrote on its rows: a row carrying one is still ours.
    claims: set[datetime] = field(default_factory=set)
    # Outcomes not yet committed, by row: written with the next commit.
    unsaved: dict[int, Outgoing] = field(default_factory=dict)
    # Relay names this batch made sure have a number (alerts.ledger.relay_names).
    relays: set[str] = field(default_factory=set)
    on_refused: RefusalHook | None = None

    def __post_init__(self) -> None:
        self.claims.add(self.claimed_at)

    def keep(self, row: Outgoing) -> None:
        self.unsaved[row.id] = row

    def committed(self) -> None:
        self.unsaved.clear()

    def before_commit(self, session: Session) -> None:
        """Once the outcomes not yet committed are written: hand the permanent refusals
        among them to `on_refused`, in the same transaction."""
        if self.on_refused is None:
            return
        refused = [
            row
            for row in self.unsaved.values()
            if row.status is DeliveryStatus.FAILED and (row.smtp_reply or "").startswith("5")
        ]
        if refused:
            self.on_refused(session, refused)

    def mine(self) -> Any:
        """Rows still claimed by this batch and not yet taken for sending."""
        return (
            (Delivery.status == DeliveryStatus.CLAIMED)
            & (Delivery.claimed_at == self.claimed_at)
            & Delivery.claimed_by.is_not_distinct_from(self.owner)
        )

    def on_wire(self, row: Outgoing | None) -> None:
        """Before `row`'s message is written (or, None, once a group is done): note it,
        and the messages accepted since the last note. Stops a process no longer alive."""
        if row is not None and not self.liveness.alive():
            raise _Fenced
        self.liveness.on_wire(row.id if row is not None else None, self.accepted)
        self.accepted.clear()

    def sent(self, row: Outgoing) -> None:
        if row.status is DeliveryStatus.SENT and row.sent_at is not None:
            self.accepted.append(
                (row.id, Accepted(row.sent_at, row.relay or "", row.smtp_reply or ""))
            )


def _send_over_connections(
    session: Session,
    batch: _Batch,
    composer: Composer,
    transport: Transport,
    clock: Clock,
    group_size: int,
    retry: RetryPolicy,
    result: BatchResult,
    on_message: Callable[[], None] | None,
) -> None:
    reconnects = 0
    while batch.waiting:
        try:
            with transport.connect() as connection:
                while batch.waiting:
                    group = _start_group(session, batch, group_size, composer, clock, result)
                    for index, (row, envelope) in enumerate(group):
                        # The next message's envelope may go out with this one's end.
                        then = group[index + 1][1] if index + 1 < len(group) else None
                        batch.on_wire(row)
                        batch.attempted.add(row.id)
                        _send_one(row, envelope, connection, clock, result, retry, then)
                        batch.sent(row)
                        batch.keep(row)
                        batch.in_flight.remove(row)
                        reconnects = 0  # the relay is taking messages: keep going
                        if on_message is not None:
                            on_message()
                    batch.on_wire(None)
            _commit(session, batch)
        except ConnectionLost as lost:
            # The message in flight never reached the relay, nor did the rest of its group:
            # they wait again, and a new connection takes them.
            _unsend(session, batch)
            _commit(session, batch)
            reconnects += 1
            if reconnects > MAX_RECONNECTS:
                raise DeliveryError(f"the relay keeps dropping the connection: {lost.reason}",
                                    permanent=False) from lost  # fmt: skip


def _unsend(session: Session, batch: _Batch) -> None:
    """Give the group in flight back to the batch's waiting rows (claimed, not sending)."""
    returned = batch.in_flight
    if returned:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([row.id for row in returned]),
                   Delivery.status == DeliveryStatus.SENDING,
                   Delivery.claimed_at.in_({row.claimed_at for row in returned}),
                   Delivery.claimed_by.is_not_distinct_from(batch.owner))
            .values(status=DeliveryStatus.CLAIMED, claimed_at=batch.claimed_at)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    for row in returned:
        row.status, row.claimed_at = DeliveryStatus.CLAIMED, batch.claimed_at
        batch.attempted.discard(row.id)
    batch.waiting = returned + batch.waiting
    batch.in_flight = []


def _start_group(
    session: Session,
    batch: _Batch,
    group_size: int,
    composer: Composer,
    clock: Clock,
    result: BatchResult,
) -> list[tuple[Outgoing, Envelope]]:
    """Take the next group (its readers checked in the same statement), renew the batch's
    claim when it ages, compose, commit."""
    if not batch.liveness.alive():
        raise _Fenced
    now = clock()
    batch.claims.add(now)
    head, rest = batch.waiting[:group_size], batch.waiting[group_size:]
    mine = batch.mine()
    # On PostgreSQL the previous group's outcomes ride along in the same statement, their
    # relays numbered first (once a batch: a name's number is never taken back).
    carried = None
    if batch.unsaved and unnested(session):
        relays = {row.relay for row in batch.unsaved.values() if row.relay} - batch.relays
        register_relays(session, relays)
        batch.relays |= relays
        carried = outcomes_cte(list(batch.unsaved.values()), batch.owner)
    taken = _owned(session, [row.id for row in head],
                   mine & Delivery.subscriber_id.in_(mailable_ids()),
                   status=DeliveryStatus.SENDING, now=now, carrying=carried)  # fmt: skip
    if len(taken) < len(head):
        # Readers who left since planning (or rows the sweeper took back): never sent.
        left = _owned(session, [row.id for row in head if row.id not in taken], mine,
                      status=DeliveryStatus.SUPPRESSED, now=now,
                      last_error=NOT_MAILABLE)  # fmt: skip
        result.not_mailable += len(left)
    group = [row for row in head if row.id in taken]
    for row in group:
        row.status, row.claimed_at = DeliveryStatus.SENDING, now
    batch.waiting = rest
    # Renewing the rest of the batch rewrites every waiting row, so only do it once the
    # claim is a third of the way to expiry, well before the sweeper could take it back.
    if rest and now - batch.claimed_at > batch.lease / 3:
        kept = _owned(session, [row.id for row in rest], mine, status=DeliveryStatus.CLAIMED,
                      now=now)  # fmt: skip
        batch.claimed_at = now
        batch.waiting = [row for row in rest if row.id in kept]
        for row in batch.waiting:
            row.claimed_at = now
    ready = [(row, composer.compose(row)) for row in group]
    batch.in_flight = list(group)
    _commit(session, batch, carried=carried is not None)  # the previous group's outcomes too
    return ready


def _owned(
    session: Session,
    ids: list[int],
    mine: Any,
    *,
    status: DeliveryStatus,
    now: datetime,
    carrying: CTE | None = None,
    **values: Any,
) -> set[int]:
    """Move rows this batch still owns to `status` with a fresh claim (and any other
    `values`); the ids it owns. `carrying`, a data-modifying CTE, runs in the same
    statement.

    A row the sweeper took back (its claim expired) is not touched: another batch owns it.
    """
    if not ids:
        return set()
    values.update(status=status, claimed_at=now)
    statement = update(Delivery).where(Delivery.id.in_(ids), mine).values(**values)
    if carrying is not None:
        statement = statement.add_cte(carrying)
    return set(
        session.scalars(
            statement.returning(Delivery.id).execution_options(synchronize_session=False)
        )
    )


def _send_one(
    row: Outgoing,
    envelope: Envelope,
    connection: MailConnection,
    clock: Clock,
    result: BatchResult,
    retry: RetryPolicy,
    then: Envelope | None,
) -> None:
    row.relay = connection.relay
    try:
        reply = connection.send(envelope, then=then)
    except ConnectionLost:
        raise
    except DeliveryError as error:
        _count(result, _record_failure(row, error, clock(), retry))
        return
    row.status = DeliveryStatus.SENT
    row.sent_at = clock()
    row.smtp_reply = str(reply)[:500]
    row.last_error = None
    result.sent += 1


def _commit(session: Session, batch: _Batch, *, carried: bool = False) -> None:
    """Commit, with the outcomes not yet written (unless a statement `carried` them)."""
    if not carried:
        write_outcomes(session, list(batch.unsaved.values()), batch.owner)
    batch.before_commit(session)
    session.commit()
    batch.committed()


def _save_what_is_known(
    session: Session, batch: _Batch, owned: Sequence[int], *, patience: timedelta
) -> None:
    """After an error in this process: write the outcomes not yet committed, and give the
    rows never attempted back to the queue.

    When the database is away, try again until `patience` runs out: a message the relay
    accepted while the ledger could not be written is still recorded as sent, never
    re-sent nor failed as unknown. A row the sweeper failed as unknown meanwhile gets its
    true outcome. Gives up (logging what only this process knew) after `patience`; the
    sweeper then treats those rows as any worker's that died mid-exchange.
    """
    ours = Delivery.claimed_at.in_(batch.claims) & Delivery.claimed_by.is_not_distinct_from(
        batch.owner
    )
    untried = [i for i in owned if i not in batch.attempted]
    give_up_at = time.monotonic() + patience.total_seconds()
    pause = 0.5
    while True:
        try:
            session.rollback()
            write_outcomes(session, list(batch.unsaved.values()), batch.owner)
            if untried:
                session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(untried),
                        Delivery.status.in_([DeliveryStatus.CLAIMED, DeliveryStatus.SENDING]),
                        ours,
                    )
                    .values(status=DeliveryStatus.PENDING, next_attempt_at=None)
                    .execution_options(synchronize_session=False)
                )
            batch.before_commit(session)
            session.commit()
            batch.committed()
            return
        except OperationalError as error:
            if time.monotonic() + pause > give_up_at:
                log.error(
                    "database unreachable: outcomes of %d messages not recorded: %s (%s)",
                    len(batch.unsaved),
                    {i: row.status.value for i, row in batch.unsaved.items()},
                    error,
                )
                session.rollback()
                return
            log.warning("database unreachable, holding %d outcomes: %s", len(batch.unsaved), error)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
