"""Commands for staff accounts: add, list, change a role, deactivate, set a password, print
a one-time password reset link."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy.orm import Session

from alerts.cli.common import clear_errors, console, main, open_runtime, settings_from_env
from alerts.models import Role

T = TypeVar("T")
password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)


@main.group()
def users() -> None:
    """Staff accounts: editors (the desk), operators (the console), admins (both)."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _in_session(work: Callable[[Session], T]) -> T:
    """Run `work` in a session of the configured database and commit what it did."""
    with open_runtime() as runtime, runtime.session() as session:
        result = work(session)
        session.commit()
        return result


@users.command("add")
@click.argument("email")
@click.option(
    "--role", required=True, type=click.Choice([role.value for role in Role]), help="What they do."
)
@password_stdin
@clear_errors
def users_add(email: str, role: str, password_stdin: bool) -> None:
    """Add a staff user; the password (12 characters or more) is asked for twice."""
    from alerts.access.staff import add_user, check_password_rules, password_hasher, staff_email
    from alerts.audit import CLI
    from subscribers.database import utcnow

    settings = settings_from_env()
    staff_email(email)  # a malformed address fails before anyone types a password
    password = _password(password_stdin)
    check_password_rules(password)
    hasher = password_hasher(settings.password_hash_cost)
    user = _in_session(
        lambda session: add_user(
            session,
            email=email,
            password=password,
            role=Role(role),
            now=utcnow(),
            actor=CLI,
            hasher=hasher,
        )
    )
    console.print(f"Added {user.email} ({user.role.value}).", markup=False)


@users.command("list")
@clear_errors
def users_list() -> None:
    """Every staff user, with role, state and last sign-in."""
    from alerts.access.staff import list_users

    for user in _in_session(list_users):
        state = "active" if user.active else "deactivated"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
        click.echo(f"{user.email}\t{user.role.value}\t{state}\tlast sign-in: {last}")


@users.command("deactivate")
@click.argument("email")
@clear_errors
def users_deactivate(email: str) -> None:
    """Stop a user from signing in; their open sessions end at once."""
    from alerts.access.staff import deactivate
    from alerts.audit import CLI
    from subscribers.database import utcnow

    user = _in_session(lambda session: deactivate(session, email=email, now=utcnow(), actor=CLI))
    console.print(f"Deactivated {user.email}.", markup=False)


@users.command("set-password")
@click.argument("email")
@password_stdin
@clear_errors
def users_set_password(email: str, password_stdin: bool) -> None:
    """Give a user a new password; their open sessions end at once."""
    from alerts.access.staff import check_password_rules, get_user, password_hasher, set_password
    from alerts.audit import CLI
    from alerts.errors import UnknownStaffUser
    from subscribers.database import utcnow

    settings = settings_from_env()
    if _in_session(lambda session: get_user(session, email)) is None:
        raise UnknownStaffUser(email.strip()[:254])
    password = _password(password_stdin)
    check_password_rules(password)
    hasher = password_hasher(settings.password_hash_cost)
    user = _in_session(
        lambda session: set_password(
            session, email=email, password=password, now=utcnow(), actor=CLI, hasher=hasher
        )
    )
    console.print(f"New password set for {user.email}; their sessions have ended.", markup=False)


@users.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@clear_errors
def users_role(email: str, role: str) -> None:
    """Give a user another role; their open sessions end at once."""
    from alerts.access.staff import change_role
    from alerts.audit import CLI
    from subscribers.database import utcnow

    user = _in_session(
        lambda session: change_role(session, email=email, role=Role(role), now=utcnow(), actor=CLI)
    )
    console.print(f"{user.email} is now {user.role.value}.", markup=False)


@users.command("reset-password")
@click.argument("email")
@clear_errors
def users_reset_password(email: str) -> None:
    """Print a one-time link with which the user sets a new password (it expires)."""
    from alerts.access.staff import RESET_HOURS, issue_password_reset, reset_url
    from alerts.audit import CLI
    from subscribers.database import utcnow

    settings = settings_from_env()
    code = _in_session(
        lambda session: issue_password_reset(
            session, email=email, secret_key=settings.secret_key, now=utcnow(), actor=CLI
        )
    )
    console.print(reset_url(settings.base_url, code), markup=False, soft_wrap=True)
    console.print(
        f"It works once and expires in {RESET_HOURS} hours; pass it on to them privately.",
        markup=False,
    )
