"""The audit log: who did what to the service, and when. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> AuditEvent:
    """Append an event (actor: `user:<email>`, `token:<name>` or `cli`). Does not commit."""
    event = AuditEvent(
        actor=actor[:300],
        action=action[:100],
        target=None if target is None else target[:300],
        details=details or {},
        occurred_at=now,
    )
    session.add(event)
    return event


def recent(session: Session, limit: int = 100) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
