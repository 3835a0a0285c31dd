"""The audit log: who did what to which thing, appended and never changed.

An actor is `user:<email>` (a staff user in the web app), `token:<name>` (a publisher
system through the API) or `cli` (someone at the command line). Actions are dotted names
such as `user.added`, `login.failed`, `token.revoked`, `edition.sent`.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import AuditEvent, StaffUser

CLI = "cli"
ANONYMOUS = "anonymous"


def user_actor(user: StaffUser) -> str:
    return f"user:{user.email}"


def token_actor(name: str) -> str:
    return f"token:{name}"


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
    of control characters, so what a visitor typed (a login address) can be stored as is."""
    event = AuditEvent(
        actor=_clean(actor, 300),
        action=_clean(action, 100),
        target=_clean(target, 300) if target is not None else None,
        details=dict(details or {}),
        occurred_at=now,
    )
    session.add(event)
    return event


def recent(session: Session, limit: int = 50) -> list[AuditEvent]:
    """The latest events, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    return list(session.scalars(query.limit(limit)))


def _clean(text: str, limit: int) -> str:
    return "".join(char for char in text if unicodedata.category(char) != "Cc")[:limit]
