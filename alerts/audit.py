"""The audit log: who did what to which thing, appended and never changed.

An actor is `user:<email>` (a staff user in the web app), `token:<name>` (a publisher
system through the API) or `cli` (someone at the command line). Actions are dotted names
such as `user.added`, `login.failed`, `token.revoked`, `edition.sent`. Admins read it
with `newsalerts audit` and at /ops/audit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from alerts.logs import mask_addresses
from alerts.models import AuditEvent, StaffUser
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidEmail

CLI = "cli"
ANONYMOUS = "anonymous"
PAGE_SIZE = 50
HIDDEN = "***"


def user_actor(user: StaffUser) -> str:
    return f"user:{user.email}"


def token_actor(name: str) -> str:
    return f"token:{name}"


def masked(typed: str) -> str:
    """What a visitor typed, as the log may keep it: an address masked as the process logs
    mask addresses (`a***@example.com`: the domain stays), anything else `***` (it may be a
    password typed into the address field)."""
    try:
        address = normalise_email(typed)
    except InvalidEmail:
        return HIDDEN
    shown = mask_addresses(address)
    return shown if shown != address else HIDDEN


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> AuditEvent:
    """Append one event (the caller commits). Text is cut to the columns' sizes and stripped
    of control characters; what a visitor typed goes through `masked` first."""
    event = AuditEvent(
        actor=_clean(actor, 300),
        action=_clean(action, 100),
        target=_clean(target, 300) if target is not None else None,
        details=dict(details or {}),
        occurred_at=now,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditPage:
    """Events newest first; `older` is the `before` that reads the next page, or None."""

    events: list[AuditEvent]
    older: int | None


def read(
    session: Session, *, limit: int = PAGE_SIZE, actor: str | None = None, before: int | None = None
) -> AuditPage:
    """The log newest first, `limit` events at a time.

    `actor` keeps one actor's events: written in full (`user:ed@example.com`,
    `token:cms`, `cli`) or without its kind (`ed@example.com`, `cms`). `before` is an
    event's id: only events older than it are read (the next page after it); an id that
    does not exist reads nothing.
    """
    query = select(AuditEvent)
    if actor is not None:
        query = query.where(AuditEvent.actor.in_(_actor_spellings(actor)))
    if before is not None:
        anchor = session.get(AuditEvent, before)
        if anchor is None:
            return AuditPage([], None)
        query = query.where(
            or_(
                AuditEvent.occurred_at < anchor.occurred_at,
                and_(AuditEvent.occurred_at == anchor.occurred_at, AuditEvent.id < anchor.id),
            )
        )
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit + 1)
    found = list(session.scalars(query))
    more = len(found) > limit
    events = found[:limit]
    return AuditPage(events, events[-1].id if more else None)


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """An event as JSON: what `newsalerts audit --json` prints."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "details": event.details,
    }


def _actor_spellings(actor: str) -> list[str]:
    actor = actor.strip()
    return [actor, f"user:{_normalised(actor)}", token_actor(actor)]


def _normalised(email: str) -> str:
    try:
        return normalise_email(email)
    except InvalidEmail:
        return email


def _clean(text: str, limit: int) -> str:
    return "".join(char for char in text if unicodedata.category(char) != "Cc")[:limit]
