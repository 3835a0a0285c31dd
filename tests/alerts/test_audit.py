"""The audit log: append, clean what visitors typed, read newest first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from alerts import audit
from tests.factories import utc


def test_record_and_recent(session: Session) -> None:
    for minute, action in enumerate(["edition.sent", "token.created", "login"]):
        audit.record(
            session,
            actor="user:ed@example.com",
            action=action,
            target="edition:daily",
            details={"n": minute},
            now=utc(2026, 11, 25, 9, minute),
        )
    session.commit()
    events = audit.recent(session, limit=2)
    assert [event.action for event in events] == ["login", "token.created"]
    assert events[0].details == {"n": 2}
    assert events[0].occurred_at == utc(2026, 11, 25, 9, 2)


def test_text_from_visitors_is_cleaned_and_cut(session: Session) -> None:
    event = audit.record(
        session,
        actor=audit.ANONYMOUS,
        action="login.failed",
        target="user:" + "a\x00b\r\n" + "x" * 1000,
        now=utc(2026, 11, 25),
    )
    session.commit()
    assert event.target is not None
    assert event.target.startswith("user:ab") and len(event.target) == 300
    [stored] = audit.recent(session)
    assert stored.target == event.target and stored.details == {}
