"""`newsalerts users ...` and the token commands' scopes, as an administrator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from alerts.access.staff import authenticate, password_hasher
from alerts.cli import main
from alerts.db import make_engine, make_session_factory
from alerts.models import ApiToken, AuditEvent, Role, StaffUser
from tests.factories import utc

PASSWORD = "correct horse battery staple"


def _run(env: dict[str, str], *arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), env=env, input=input)


def _users(database_url: str) -> list[StaffUser]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(StaffUser).order_by(StaffUser.email)))
    finally:
        engine.dispose()


def _actions(database_url: str) -> list[tuple[str, str, str | None]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.target).order_by(
                    AuditEvent.id
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_add_with_password_stdin(env: dict[str, str], database_url: str) -> None:
    result = _run(
        env, "users", "add", "Ed@Newsroom.example.com", "--role", "editor", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Added ed@newsroom.example.com (editor)." in result.output
    [user] = _users(database_url)
    assert (user.email, user.role, user.active) == ("ed@newsroom.example.com", Role.EDITOR, True)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        assert authenticate(
            session, email=user.email, password=PASSWORD, now=utc(2026, 1, 1),
            hasher=password_hasher("fast"),
        )  # fmt: skip
    engine.dispose()
    assert _actions(database_url) == [("cli", "user.added", "user:ed@newsroom.example.com")]


def test_add_with_the_prompt(env: dict[str, str], database_url: str) -> None:
    result = _run(
        env, "users", "add", "op@newsroom.example.com", "--role", "operator",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input
    assert [user.role for user in _users(database_url)] == [Role.OPERATOR]


def test_prompt_repeats_until_both_entries_match(env: dict[str, str], database_url: str) -> None:
    result = _run(
        env, "users", "add", "op@newsroom.example.com", "--role", "admin",
        input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["--role", "owner"], PASSWORD, "'owner' is not one of"),
        (["--role", "editor"], "short", "at least 12 characters"),
    ],
)
def test_bad_input_is_one_clear_line(
    env: dict[str, str], arguments: list[str], stdin: str, message: str
) -> None:
    result = _run(
        env, "users", "add", "ed@newsroom.example.com", *arguments, "--password-stdin",
        input=stdin + "\n",
    )  # fmt: skip
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_duplicate_and_bad_address(env: dict[str, str], database_url: str) -> None:
    add = ["users", "add", "--role", "editor", "--password-stdin"]
    assert _run(env, *add, "ed@newsroom.example.com", input=PASSWORD).exit_code == 0
    duplicate = _run(env, *add, "ED@newsroom.example.com", input=PASSWORD)
    assert duplicate.exit_code == 1
    assert duplicate.output.strip() == "error: a staff user ed@newsroom.example.com exists already"
    bad = _run(env, *add, "not-an-address", input=PASSWORD)
    assert bad.exit_code == 1 and bad.output.startswith("error: invalid email address")


def test_list_deactivate_and_set_password(env: dict[str, str], database_url: str) -> None:
    add = ["users", "add", "--password-stdin"]
    _run(env, *add, "ed@newsroom.example.com", "--role", "editor", input=PASSWORD)
    _run(env, *add, "admin@newsroom.example.com", "--role", "admin", input=PASSWORD)
    listed = _run(env, "users", "list")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "admin@newsroom.example.com\tadmin\tactive\tlast sign-in: never",
        "ed@newsroom.example.com\teditor\tactive\tlast sign-in: never",
    ]
    changed = _run(
        env, "users", "set-password", "ed@newsroom.example.com", "--password-stdin",
        input="a whole new passphrase\n",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    deactivated = _run(env, "users", "deactivate", "ed@newsroom.example.com")
    assert deactivated.exit_code == 0, deactivated.output
    assert "ed@newsroom.example.com\teditor\tdeactivated" in _run(env, "users", "list").output
    ed = next(user for user in _users(database_url) if user.email.startswith("ed@"))
    assert ed.session_version == 3
    unknown = _run(env, "users", "deactivate", "nobody@newsroom.example.com")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "error: no staff user nobody@newsroom.example.com"
    unknown = _run(env, "users", "set-password", "nobody@example.com", "--password-stdin", input="")
    assert unknown.exit_code == 1 and "no staff user" in unknown.output
    assert [action for _, action, _ in _actions(database_url)] == [
        "user.added", "user.added", "user.password_set", "user.deactivated",
    ]  # fmt: skip


def test_token_scopes_and_audit(env: dict[str, str], database_url: str) -> None:
    scoped = _run(
        env, "tokens", "create", "--name", "cms", "--scope", "articles", "--scope", "subscribers"
    )
    assert scoped.exit_code == 0, scoped.output
    everything = _run(env, "tokens", "create", "--name", "all")
    assert everything.exit_code == 0
    bad = _run(env, "tokens", "create", "--name", "x", "--scope", "root")
    assert bad.exit_code == 2 and "'root' is not one of" in bad.output
    assert _run(env, "tokens", "revoke", "cms").exit_code == 0
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        scopes = {
            name: value for name, value in session.execute(select(ApiToken.name, ApiToken.scopes))
        }
    engine.dispose()
    assert scopes == {"cms": ["articles", "subscribers"], "all": None}
    assert _actions(database_url) == [
        ("cli", "token.created", "token:cms"),
        ("cli", "token.created", "token:all"),
        ("cli", "token.revoked", "token:cms"),
    ]


def test_production_refuses_the_fast_hash(tmp_path: Path) -> None:
    env = {
        "NEWSALERTS_ENV": "production",
        "SECRET_KEY": "users-test-secret-key-0123456789abcdef",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "PASSWORD_HASH_COST": "fast",
    }
    result = _run(env, "users", "list")
    assert result.exit_code == 1
    assert "PASSWORD_HASH_COST=fast is for development and tests only" in result.output


def test_role_and_a_printed_reset_link(env: dict[str, str], database_url: str) -> None:
    add = ["users", "add", "--password-stdin"]
    _run(env, *add, "ed@newsroom.example.com", "--role", "editor", input=PASSWORD)
    changed = _run(env, "users", "role", "ed@newsroom.example.com", "operator")
    assert (changed.exit_code, changed.output) == (0, "ed@newsroom.example.com is now operator.\n")
    printed = _run(env, "users", "reset-password", "ED@newsroom.example.com")
    assert printed.exit_code == 0, printed.output
    link, note = printed.output.splitlines()
    assert "/account/reset/" in link and " " not in link
    assert "works once and expires in 24 hours" in note
    unknown = _run(env, "users", "reset-password", "nobody@newsroom.example.com")
    assert (unknown.exit_code, unknown.output.strip()) == (
        1, "error: no staff user nobody@newsroom.example.com"
    )  # fmt: skip
    assert [action for _, action, _ in _actions(database_url)] == [
        "user.added", "user.role_changed", "user.password_reset_issued",
    ]  # fmt: skip
