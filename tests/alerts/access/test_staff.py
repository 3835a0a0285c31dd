"""Staff accounts: password rules, Argon2 hashing and rehashing, sessions ended on change."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.access.staff import (
    add_user,
    authenticate,
    deactivate,
    get_user,
    list_users,
    password_hasher,
    set_password,
)
from alerts.errors import StaffEmailTaken, StaffError, UnknownStaffUser, WeakPassword
from alerts.models import AuditEvent, Role
from tests.factories import utc

NOW = utc(2026, 11, 25, 9)
FAST = password_hasher("fast")
PASSWORD = "correct horse battery staple"


def _add(
    session: Session, email: str = "ed@newsroom.example.com", role: Role = Role.EDITOR
) -> None:
    add_user(session, email=email, password=PASSWORD, role=role, now=NOW, actor="cli", hasher=FAST)
    session.commit()


def test_add_user_stores_an_argon2_hash_and_audits(session: Session) -> None:
    _add(session, "Ed@Newsroom.Example.com")
    user = get_user(session, "ed@newsroom.example.com")
    assert user is not None and user.active and user.role is Role.EDITOR
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    [event] = session.scalars(select(AuditEvent)).all()
    assert (event.actor, event.action, event.target) == ("cli", "user.added", f"user:{user.email}")
    assert event.details == {"role": "editor"}


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 12"), ("            ", "only spaces"), ("x" * 2000, "at most")],
)
def test_password_rules(session: Session, password: str, message: str) -> None:
    with pytest.raises(WeakPassword, match=message):
        add_user(
            session, email="ed@example.com", password=password, role=Role.EDITOR, now=NOW,
            actor="cli", hasher=FAST,
        )  # fmt: skip


def test_duplicate_and_malformed_addresses(session: Session) -> None:
    _add(session)
    with pytest.raises(StaffEmailTaken):
        _add(session, "ED@newsroom.example.com")
    session.rollback()
    with pytest.raises(StaffError, match="invalid email"):
        _add(session, "not an address")


def test_authenticate(session: Session) -> None:
    _add(session)
    user = authenticate(
        session, email="ED@newsroom.example.com", password=PASSWORD, now=NOW, hasher=FAST
    )
    assert user is not None and user.last_login_at == NOW
    for email, password in [
        ("ed@newsroom.example.com", "wrong password!"),
        ("nobody@newsroom.example.com", PASSWORD),
        ("not an address", PASSWORD),
        ("ed@newsroom.example.com", PASSWORD + "x" * 5000),
    ]:
        assert authenticate(session, email=email, password=password, now=NOW, hasher=FAST) is None


def test_authenticate_rehashes_when_the_costs_changed(session: Session) -> None:
    _add(session)
    user = get_user(session, "ed@newsroom.example.com")
    assert user is not None
    old_hash = user.password_hash
    stronger = password_hasher("default")
    assert stronger.check_needs_rehash(old_hash)
    authenticate(
        session, email="ed@newsroom.example.com", password=PASSWORD, now=NOW, hasher=stronger
    )
    assert user.password_hash != old_hash
    assert not stronger.check_needs_rehash(user.password_hash)
    # ... and the new hash still verifies.
    assert authenticate(
        session, email="ed@newsroom.example.com", password=PASSWORD, now=NOW, hasher=stronger
    )


def test_set_password_bumps_the_session_version(session: Session) -> None:
    _add(session)
    user = set_password(
        session, email="ed@newsroom.example.com", password="a whole new passphrase",
        now=NOW, actor="user:admin@newsroom.example.com", hasher=FAST,
    )  # fmt: skip
    assert user.session_version == 2
    assert not authenticate(session, email=user.email, password=PASSWORD, now=NOW, hasher=FAST)
    assert authenticate(
        session, email=user.email, password="a whole new passphrase", now=NOW, hasher=FAST
    )
    with pytest.raises(WeakPassword):
        set_password(session, email=user.email, password="short", now=NOW, actor="cli")
    with pytest.raises(UnknownStaffUser):
        set_password(session, email="x@example.com", password=PASSWORD, now=NOW, actor="cli")


def test_deactivate(session: Session) -> None:
    _add(session)
    user = deactivate(session, email="ed@newsroom.example.com", now=NOW, actor="cli")
    assert not user.active and user.session_version == 2
    again = deactivate(session, email="ed@newsroom.example.com", now=NOW, actor="cli")
    assert again.session_version == 2  # idempotent
    assert authenticate(session, email=user.email, password=PASSWORD, now=NOW, hasher=FAST) is None
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["user.added", "user.deactivated"]


def test_list_users(session: Session) -> None:
    _add(session, "b@example.com", Role.OPERATOR)
    _add(session, "a@example.com", Role.ADMIN)
    assert [user.email for user in list_users(session)] == ["a@example.com", "b@example.com"]
