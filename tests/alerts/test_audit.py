"""The audit log: append, clean and mask what visitors typed, read newest first a page at a time."""

from __future__ import annotations

from sqlalchemy.orm import Session

from alerts import audit
from tests.factories import utc


def test_record_and_read(session: Session) -> None:
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
    page = audit.read(session, limit=2)
    assert [event.action for event in page.events] == ["login", "token.created"]
    assert page.events[0].details == {"n": 2}
    assert page.events[0].occurred_at == utc(2026, 11, 25, 9, 2)
    assert page.older == page.events[-1].id
    rest = audit.read(session, limit=2, before=page.older)
    assert [event.action for event in rest.events] == ["edition.sent"]
    assert rest.older is None


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
    [stored] = audit.read(session).events
    assert stored.target == event.target and stored.details == {}


def test_pages_follow_time_then_id_and_lose_nothing(session: Session) -> None:
    """Events of one instant (one request's several records) are split across pages by
    id, and an event recorded late with an earlier time still lands in its place."""
    for number in range(7):
        audit.record(session, actor=audit.CLI, action=f"a.{number}",
                     now=utc(2026, 11, 25, 9, 0 if number < 5 else number))  # fmt: skip
    audit.record(session, actor=audit.CLI, action="late", now=utc(2026, 11, 25, 8))
    session.commit()
    seen: list[str] = []
    before = None
    for _ in range(10):
        page = audit.read(session, limit=3, before=before)
        seen += [event.action for event in page.events]
        if page.older is None:
            break
        before = page.older
    assert seen == ["a.6", "a.5", "a.4", "a.3", "a.2", "a.1", "a.0", "late"]


def test_read_one_actor_in_any_spelling(session: Session) -> None:
    for actor in ("user:ed@example.com", "token:cms", "cli", "user:ops@example.com"):
        audit.record(session, actor=actor, action="x", now=utc(2026, 11, 25))
    session.commit()

    def actors(spelling: str) -> list[str]:
        return [event.actor for event in audit.read(session, actor=spelling).events]

    assert actors("user:ed@example.com") == ["user:ed@example.com"]
    assert actors("Ed@Example.com") == ["user:ed@example.com"]
    assert actors("cms") == actors("token:cms") == ["token:cms"]
    assert actors("cli") == ["cli"]
    assert actors("nobody@example.com") == []


def test_an_unknown_page_is_empty(session: Session) -> None:
    audit.record(session, actor=audit.CLI, action="x", now=utc(2026, 11, 25))
    session.commit()
    assert audit.read(session, before=10_000) == audit.AuditPage([], None)


def test_as_dict_is_what_the_json_output_shows(session: Session) -> None:
    event = audit.record(
        session,
        actor="token:cms",
        action="article.created",
        target="article:7",
        details={"n": 1},
        now=utc(2026, 11, 25, 9),
    )
    session.commit()
    assert audit.as_dict(event) == {
        "id": event.id,
        "occurred_at": "2026-11-25T09:00:00+00:00",
        "actor": "token:cms",
        "action": "article.created",
        "target": "article:7",
        "details": {"n": 1},
    }


def test_what_a_visitor_typed_is_kept_masked() -> None:
    assert audit.masked("Nobody@Example.COM") == "n***@example.com"
    assert audit.masked("jose{secret}@example.com") == "j***@example.com"
    # Not an address (a password typed into the address field): nothing of it is kept.
    assert audit.masked("hunter2 secret") == audit.HIDDEN == "***"
    assert audit.masked("secret@") == "***"
    assert audit.masked("") == "***"
