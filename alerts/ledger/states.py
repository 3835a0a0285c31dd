"""A send's rows as its editors hold them and watch them: held back, taken back, counted.

An editor holds a send through its issue's or alert's status (alerts.editions.issues,
alerts.digests.breaking). Claims and the queue take only the rows `not_held`; `take_back`
moves the rows not yet in an SMTP exchange out of the workers' reach, to `pending` (a
pause) or to `cancelled`. A row already `sending` is left to its batch: its message may
be with the relay. `progress` counts a send's rows by state for the desk and the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.ledger.counts import state_counts
from alerts.models import BreakingAlert, Delivery, DeliveryStatus, Issue, IssueStatus

# Rows an editor's pause or cancel may still take back: not yet in an SMTP exchange.
NOT_STARTED = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
# Rows whose send is not over: not started, or started with no outcome yet.
UNSETTLED = (*NOT_STARTED, DeliveryStatus.SENDING)


def not_held() -> ColumnElement[bool]:
    """Ledger rows an editor has not held back: their issue or alert is open (or they
    have none). Claims and the queue take only these."""
    held_issues = select(Issue.id).where(Issue.status != IssueStatus.OPEN)
    held_alerts = select(BreakingAlert.id).where(BreakingAlert.status != IssueStatus.OPEN)
    return and_(
        or_(Delivery.issue_id.is_(None), Delivery.issue_id.not_in(held_issues)),
        or_(Delivery.alert_id.is_(None), Delivery.alert_id.not_in(held_alerts)),
    )


def take_back(session: Session, scope: ColumnElement[bool], status: DeliveryStatus) -> int:
    """Move the rows in `scope` not yet in an SMTP exchange to `status`; how many moved."""
    # A claimed row was counted as an attempt when its batch took it; it never was one.
    result = session.execute(
        update(Delivery)
        .where(scope, Delivery.status.in_(NOT_STARTED))
        .values(
            status=status,
            next_attempt_at=None,
            attempts=case(
                (Delivery.status == DeliveryStatus.CLAIMED, Delivery.attempts - 1),
                else_=Delivery.attempts,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Progress:
    """Where an issue's send stands, for the desk and the console."""

    total: int
    pending: int
    sending: int
    sent: int
    failed: int
    suppressed: int
    cancelled: int
    skipped: int
    per_minute: float
    oldest_pending: datetime | None
    bounced: int = 0  # accepted by the relay, then hard-bounced
    held: bool = False  # its issue or alert is paused or cancelled: nothing more goes out

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.bounced + self.suppressed + self.cancelled

    @property
    def to_send(self) -> int:
        return self.pending + self.sending

    @property
    def minutes_left(self) -> float | None:
        """None when no estimate can be made: held, or nothing sent in the last minute."""
        if self.held:
            return None
        if not self.to_send:
            return 0.0
        return self.to_send / self.per_minute if self.per_minute else None


def progress(session: Session, *, now: datetime, issue_id: int | None = None,
             alert_id: int | None = None) -> Progress:  # fmt: skip
    """Counts by state, the send rate over the last minute and the oldest pending row."""
    scope = Delivery.issue_id == issue_id if alert_id is None else Delivery.alert_id == alert_id
    # By state from the running counts (alerts.ledger.counts); the ledger only for the
    # last minute's rate and the oldest row still waiting.
    counts = state_counts(session, issue_id=issue_id, alert_id=alert_id)
    recent = session.scalar(
        select(func.count()).where(
            scope,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at > now - timedelta(minutes=1),
        )
    )
    oldest = session.scalar(
        select(func.min(Delivery.created_at)).where(
            scope, Delivery.status == DeliveryStatus.PENDING
        )
    )

    def count(*states: DeliveryStatus) -> int:
        return sum(int(counts.get(state, 0)) for state in states)

    return Progress(
        # A skipped reader had nothing to be sent: not part of the send, nor of its total.
        total=sum(int(n) for state, n in counts.items() if state != DeliveryStatus.SKIPPED),
        pending=count(DeliveryStatus.PENDING, DeliveryStatus.CLAIMED),
        sending=count(DeliveryStatus.SENDING),
        sent=count(DeliveryStatus.SENT),
        failed=count(DeliveryStatus.FAILED),
        suppressed=count(DeliveryStatus.SUPPRESSED),
        cancelled=count(DeliveryStatus.CANCELLED),
        skipped=count(DeliveryStatus.SKIPPED),
        per_minute=float(recent or 0),
        oldest_pending=oldest,
        bounced=count(DeliveryStatus.BOUNCED),
    )
