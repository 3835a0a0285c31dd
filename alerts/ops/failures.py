"""Failed deliveries grouped by reason, the ones that may be tried again, and the dead letters.

A failed row is one of three kinds:

- `unknown`: the connection broke after the message was handed over, or the worker died
  during the exchange (`last_error` starts with `UNKNOWN_REPLY` / `UNKNOWN_OUTCOME`). The
  reader may have it: such a row is never sent again, by anyone.
- `permanent`: the relay refused it with a 5xx reply (unknown user, policy block).
- `temporary`: a 4xx reply or no reply at all (the relay did not answer), after every
  attempt was used. Only these are retryable — after the cause is fixed.

The ledger does not record which relay took part in an exchange: with one relay it is
that one; with several (failover), a group names them all.

The dead letters are the failed rows that will not be tried again: `unknown` and `permanent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.delivery.sending import UNKNOWN_REPLY
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.states import not_held
from alerts.logs import mask_addresses
from alerts.models import Delivery, DeliveryStatus
from subscribers.models import Subscriber

NO_REPLY = "none"
UNKNOWN, PERMANENT, TEMPORARY = "unknown", "permanent", "temporary"
DEAD_LETTERS_SHOWN = 50


@dataclass(frozen=True)
class FailureGroup:
    reply_code: str  # "550", "421", or "none" (no reply: the relay did not answer)
    domain: str  # the recipients' domain
    kind: str  # unknown | permanent | temporary
    relay: str
    count: int
    example: str  # one of the group's reasons, addresses masked

    @property
    def reply_class(self) -> str:
        return f"{self.reply_code[0]}.x.x" if self.reply_code != NO_REPLY else NO_REPLY

    @property
    def retryable(self) -> bool:
        return self.kind == TEMPORARY


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: int
    edition: str
    local_date: str
    recipient: str  # masked: a***@example.com
    kind: str
    reason: str
    failed_at: datetime | None


def _unknown_outcome() -> ColumnElement[bool]:
    error = Delivery.last_error
    return or_(
        error.startswith(UNKNOWN_REPLY, autoescape=True),
        error.startswith(UNKNOWN_OUTCOME, autoescape=True),
    )


def _kind() -> ColumnElement[str]:
    return case(
        (_unknown_outcome(), UNKNOWN),
        (Delivery.smtp_reply.startswith("5"), PERMANENT),
        else_=TEMPORARY,
    )


def _reply_code() -> ColumnElement[str]:
    first = func.substr(Delivery.smtp_reply, 1, 1)
    code = func.substr(Delivery.smtp_reply, 1, 3)
    return case((first.in_(["2", "3", "4", "5"]), code), else_=NO_REPLY)


def _domain(session: Session) -> ColumnElement[str]:
    email = Subscriber.email
    at = func.strpos(email, "@") if _dialect(session) == "postgresql" else func.instr(email, "@")
    return func.lower(func.substr(email, at + 1))


def failure_groups(
    session: Session, *, since: datetime, relays: list[str], limit: int = 50
) -> list[FailureGroup]:
    """Failed rows planned since `since`, by reply code, recipient domain and kind; the
    largest groups first."""
    code, domain, kind = _reply_code(), _domain(session), _kind()
    rows = session.execute(
        select(
            code,
            domain,
            kind,
            func.count(),
            func.max(Delivery.last_error),
            func.min(Delivery.relay),
            func.max(Delivery.relay),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.status == DeliveryStatus.FAILED, Delivery.created_at >= since)
        .group_by(code, domain, kind)
        .order_by(func.count().desc(), code, domain)
        .limit(limit)
    )
    # Rows older than the ledger's relay column (or never attempted) name no relay.
    unnamed = relays[0] if len(relays) == 1 else " or ".join(relays)
    return [
        FailureGroup(
            reply_code=str(reply_code),
            domain=str(group_domain),
            kind=str(group_kind),
            relay=_relays(first, last) or unnamed,
            count=int(count),
            example=mask_addresses(example or "")[:200],
        )
        for reply_code, group_domain, group_kind, count, example, first, last in rows
    ]


def _relays(first: str | None, last: str | None) -> str | None:
    """The relays a group's rows went through (of a failover list, usually one or two)."""
    if first is None or first == last:
        return first
    return f"{first} or {last}"


def retry_failures(session: Session, *, reply_code: str, domain: str, since: datetime) -> list[int]:
    """Put the group's temporary failures back to `pending` (attempts from zero, no wait)
    and return their ids, to be queued by the caller after it commits.

    Never touches rows whose outcome is unknown, refusals (5xx), or rows of paused or
    cancelled issues and alerts. Does not commit.
    """
    code = _reply_code()
    recipients = select(Subscriber.id).where(_domain(session) == domain.lower())
    retried = session.scalars(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.created_at >= since,
            code == reply_code,
            Delivery.subscriber_id.in_(recipients),
            _kind() == TEMPORARY,
            not_held(),
        )
        .values(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(retried)


def dead_letters(
    session: Session, *, since: datetime, limit: int = DEAD_LETTERS_SHOWN
) -> list[DeadLetter]:
    """The newest failed rows that will not be tried again."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition,
            Delivery.local_date,
            Subscriber.email,
            _kind(),
            Delivery.smtp_reply,
            Delivery.last_error,
            Delivery.claimed_at,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.created_at >= since,
            _kind() != TEMPORARY,
        )
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return [
        DeadLetter(
            delivery_id=delivery_id,
            edition=edition,
            local_date=local_date.isoformat(),
            recipient=mask_addresses(email),
            kind=str(kind),
            reason=mask_addresses(error or reply or "")[:300],
            failed_at=failed_at,
        )
        for delivery_id, edition, local_date, email, kind, reply, error, failed_at in rows
    ]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
