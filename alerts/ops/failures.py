"""Failed deliveries grouped by reason, the ones that may be tried again, the unknowns,
and the dead letters.

A failed row is one of three kinds:

- `unknown`: the connection broke after the message was handed over, or the worker died
  during the exchange (alerts.ledger.unknowns says which rows). The reader may have it:
  such a row is listed apart, as "may have arrived", and is sent again only when an
  operator confirms it (`resend_unknowns`), never by the ordinary retry.
- `permanent`: the relay refused it with a 5xx reply (unknown user, policy block).
- `temporary`: a 4xx reply or no reply at all (the relay did not answer), after every
  attempt was used. Only these are retried by `retry_failures` — after the cause is fixed.

The ledger does not record which relay took part in an exchange: with one relay it is
that one; with several (failover), a group names them all.

The dead letters are the failed rows that will not be tried again by themselves:
`permanent` and `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from alerts.ledger.states import not_held
from alerts.ledger.unknowns import unknown_outcome
from alerts.logs import mask_addresses
from alerts.models import Delivery, DeliveryStatus
from subscribers.models import Subscriber

NO_REPLY = "none"
UNKNOWN, PERMANENT, TEMPORARY = "unknown", "permanent", "temporary"
DEAD_LETTERS_SHOWN = 50
UNKNOWNS_SHOWN = 50


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


def _kind() -> ColumnElement[str]:
    return case(
        (unknown_outcome(), UNKNOWN),
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
    largest groups first. Unknowns are among them as groups of kind `unknown` (for the
    JSON's readers); the pages list them apart, from `unknowns`."""
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


def retry_failures(
    session: Session, *, reply_code: str | None, domain: str | None, since: datetime
) -> list[int]:
    """Put the group's temporary failures back to `pending` (attempts from zero, no wait)
    and return their ids, to be queued by the caller after it commits. With `reply_code`
    and `domain` None, every group's.

    Never touches unknowns (`resend_unknowns` does, when confirmed), refusals (5xx), or
    rows of paused or cancelled issues and alerts. Does not commit.
    """
    conditions = [
        Delivery.status == DeliveryStatus.FAILED,
        Delivery.created_at >= since,
        ~unknown_outcome(),
        _kind() == TEMPORARY,
        not_held(),
    ]
    if reply_code is not None:
        conditions.append(_reply_code() == reply_code)
    if domain is not None:
        recipients = select(Subscriber.id).where(_domain(session) == domain.lower())
        conditions.append(Delivery.subscriber_id.in_(recipients))
    retried = session.scalars(
        update(Delivery)
        .where(*conditions)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(retried)


@dataclass(frozen=True)
class Unknown:
    """A failed row whose message may have arrived."""

    delivery_id: int
    edition: str
    local_date: str
    recipient: str  # masked: a***@example.com
    reason: str
    attempted_at: datetime | None


@dataclass(frozen=True)
class Unknowns:
    """The unknowns planned since a time: how many, the newest of them, and the newest id,
    which a confirmed re-send names so that it covers only the rows the operator saw."""

    count: int
    rows: list[Unknown]
    newest_id: int | None


def unknowns(session: Session, *, since: datetime, limit: int = UNKNOWNS_SHOWN) -> Unknowns:
    """The rows planned since `since` whose message may have reached the reader."""
    where = (Delivery.created_at >= since, unknown_outcome())
    count, newest = session.execute(select(func.count(), func.max(Delivery.id)).where(*where)).one()
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition,
            Delivery.local_date,
            Subscriber.email,
            Delivery.last_error,
            Delivery.claimed_at,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(*where)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return Unknowns(
        count=int(count),
        rows=[
            Unknown(
                delivery_id=delivery_id,
                edition=edition,
                local_date=local_date.isoformat(),
                recipient=mask_addresses(email),
                reason=mask_addresses(error or "")[:300],
                attempted_at=attempted_at,
            )
            for delivery_id, edition, local_date, email, error, attempted_at in rows
        ],
        newest_id=None if newest is None else int(newest),
    )


def resend_unknowns(session: Session, *, since: datetime, up_to: int) -> list[int]:
    """Put the unknowns planned since `since`, of ids up to `up_to` (the newest the
    operator was shown), back to `pending` and return their ids, to be queued by the caller
    after it commits. Their readers may get the message twice: call this only on an
    operator's explicit confirmation. Rows of paused or cancelled sends stay. Does not
    commit.
    """
    resent = session.scalars(
        update(Delivery)
        .where(
            Delivery.created_at >= since,
            Delivery.id <= up_to,
            unknown_outcome(),
            not_held(),
        )
        .values(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0, last_error=None)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(resent)


def dead_letters(
    session: Session, *, since: datetime, limit: int = DEAD_LETTERS_SHOWN
) -> list[DeadLetter]:
    """The newest failed rows that will not be tried again by themselves: refusals, and
    unknowns (until an operator confirms a re-send)."""
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
