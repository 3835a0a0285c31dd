"""Staff accounts: password rules, Argon2 hashing and rehashing, sessions ended on change."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.access.staff import (
    RESET_HOURS,
    add_user,
    authenticate,
    change_own_password,
    change_role,
    deactivate,
    get_user,
    issue_password_reset,
    list_users,
    password_hasher,
    reset_password,
    reset_target,
    reset_url,
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


SECRET = "staff-test-secret-key-0123456789abcdef"


def test_change_role_ends_sessions_and_audits_once(session: Session) -> None:
    _add(session)
    user = change_role(session, email="ed@newsroom.example.com", role=Role.OPERATOR, now=NOW,
                       actor="user:boss@newsroom.example.com")  # fmt: skip
    change_role(session, email="ed@newsroom.example.com", role=Role.OPERATOR, now=NOW, actor="cli")
    session.commit()
    assert (user.role, user.session_version) == (Role.OPERATOR, 2)
    actions = session.execute(select(AuditEvent.action, AuditEvent.details)).all()
    assert [tuple(row) for row in actions][-1] == (
        "user.role_changed", {"from": "editor", "to": "operator"}
    )  # fmt: skip
    assert len(actions) == 2
    with pytest.raises(UnknownStaffUser):
        change_role(session, email="nobody@example.com", role=Role.ADMIN, now=NOW, actor="cli")


def test_a_user_changes_their_own_password_given_the_current_one(session: Session) -> None:
    _add(session)
    user = get_user(session, "ed@newsroom.example.com")
    assert user is not None
    with pytest.raises(StaffError, match="current password is not right"):
        change_own_password(session, user=user, current="wrong password!", new="x" * 20,
                            now=NOW, hasher=FAST)  # fmt: skip
    with pytest.raises(WeakPassword):
        change_own_password(session, user=user, current=PASSWORD, new="short", now=NOW,
                            hasher=FAST)  # fmt: skip
    change_own_password(session, user=user, current=PASSWORD, new="a brand new passphrase",
                        now=NOW, hasher=FAST)  # fmt: skip
    session.commit()
    assert user.session_version == 2
    assert authenticate(session, email=user.email, password=PASSWORD, now=NOW, hasher=FAST) is None
    assert authenticate(session, email=user.email, password="a brand new passphrase", now=NOW,
                        hasher=FAST) is user  # fmt: skip
    assert session.scalars(select(AuditEvent.action)).all()[-1] == "user.password_changed"


def test_a_reset_code_works_once_and_expires(session: Session) -> None:
    _add(session)
    issue = issue_password_reset
    code = issue(session, email="ed@newsroom.example.com", secret_key=SECRET, now=NOW, actor="cli")
    assert reset_url("https://alerts.example.com/", code) == (
        f"https://alerts.example.com/account/reset/{code}"
    )
    with pytest.raises(StaffError, match="not valid"):
        reset_target(session, code=code + "x", secret_key=SECRET)
    with pytest.raises(StaffError, match="not valid"):
        reset_target(session, code=code, secret_key="another-secret-key-0123456789abcdef")
    with pytest.raises(WeakPassword):
        reset_password(session, code=code, password="short", secret_key=SECRET, now=NOW,
                       hasher=FAST)  # fmt: skip
    user = reset_password(session, code=code, password="a brand new passphrase",
                          secret_key=SECRET, now=NOW, hasher=FAST)  # fmt: skip
    session.commit()
    assert user.session_version == 2
    with pytest.raises(StaffError, match="used or replaced"):
        reset_password(session, code=code, password="and another passphrase",
                       secret_key=SECRET, now=NOW, hasher=FAST)  # fmt: skip
    # A code made before a later change (here a deactivation) no longer works either.
    later = issue(session, email=user.email, secret_key=SECRET, now=NOW, actor="cli")
    deactivate(session, email=user.email, now=NOW, actor="cli")
    with pytest.raises(StaffError, match="used or replaced"):
        reset_target(session, code=later, secret_key=SECRET)
    with pytest.raises(StaffError, match="deactivated"):
        issue(session, email=user.email, secret_key=SECRET, now=NOW, actor="cli")
    actions = session.scalars(select(AuditEvent.action)).all()
    assert actions[1:] == [
        "user.password_reset_issued", "user.password_reset", "user.password_reset_issued",
        "user.deactivated",
    ]  # fmt: skip


def test_an_expired_reset_code_is_refused(session: Session) -> None:
    _add(session)
    fresh = issue_password_reset(session, email="ed@newsroom.example.com", secret_key=SECRET,
                                 now=NOW, actor="cli")  # fmt: skip
    payload = URLSafeTimedSerializer(SECRET, salt="staff-password-reset").loads(fresh)
    stale = URLSafeTimedSerializer(SECRET, salt="staff-password-reset", signer=_Made25HoursAgo)
    stale_code = stale.dumps(payload)
    assert reset_target(session, code=fresh, secret_key=SECRET).email == "ed@newsroom.example.com"
    with pytest.raises(StaffError, match="expired"):
        reset_target(session, code=stale_code, secret_key=SECRET)


class _Made25HoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - (RESET_HOURS + 1) * 3600
