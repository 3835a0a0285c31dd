"""/ops/staff: staff accounts, for admins (list, add, change a role, deactivate, make a
one-time password reset link); /account: a signed-in user's own password, and the page a
reset link opens.

The views are thin: alerts.access.staff does the work and records each change in the audit
log as the admin (or the user) who made it. No email goes to staff (the project's mail is
for readers), so a reset link is shown once to the admin who made it, to pass on; `newsalerts
users reset-password` prints one at the command line.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from flask import Blueprint, redirect, request, session, url_for
from werkzeug.wrappers import Response

from alerts.access.staff import (
    RESET_HOURS,
    RESET_PATH,
    add_user,
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
)
from alerts.audit import user_actor
from alerts.errors import StaffError
from alerts.models import Role, StaffUser
from alerts.web.auth import View, current_staff, require_role, sign_in_again
from alerts.web.context import db, web_context
from alerts.web.pages import page
from subscribers.database import utcnow

blueprint = Blueprint("ops_staff", __name__, url_prefix="/ops/staff")
account = Blueprint("account", __name__, url_prefix="/account")
NOTICES = {
    "added": "Added: they can sign in now.",
    "role": "Role changed: their open sessions ended, the new role applies when they sign in.",
    "same": "Nothing changed.",
    "deactivated": "Deactivated: they cannot sign in, and their open sessions ended.",
}
ROLES = [role.value for role in Role]


@blueprint.before_request
def _admins_only() -> Response | None:
    return require_role(Role.ADMIN)


def _admin() -> StaffUser:
    user = current_staff()
    assert user is not None  # the guard let the request in
    return user


def _hasher() -> PasswordHasher:
    return password_hasher(web_context().runtime.settings.password_hash_cost)


def _page(status: int = 200, **extra: object) -> View:
    return page("staff/ops/staff.html", status, title="Staff", users=list_users(db()),
                roles=ROLES, reset_hours=RESET_HOURS, **extra)  # fmt: skip


def _form(name: str, size: int = 320) -> str:
    return (request.form.get(name) or "")[:size]


def _role(raw: str) -> Role:
    if raw not in ROLES:
        raise StaffError(f"choose a role: {', '.join(ROLES)}")
    return Role(raw)


@blueprint.get("")
def staff() -> View:
    return _page(notice=NOTICES.get(request.args.get("done", "")))


@blueprint.post("")
def add() -> View:
    email, session_ = _form("email").strip(), db()
    try:
        add_user(session_, email=email, password=_form("password", 2000),
                 role=_role(_form("role", 20)), now=utcnow(), actor=user_actor(_admin()),
                 hasher=_hasher())  # fmt: skip
    except StaffError as error:
        session_.rollback()
        return _page(422, error=f"Not added: {error}.", typed=email)
    session_.commit()
    return redirect(url_for("ops_staff.staff", done="added"), code=303)


@blueprint.post("/role")
def role() -> View:
    session_, admin = db(), _admin()
    email = _form("email")
    try:
        chosen = _role(_form("role", 20))
        if admin.email == email.strip().lower() and chosen != Role.ADMIN:
            raise StaffError("you cannot take away your own admin role; ask another admin")
        known = get_user(session_, email)
        before = known.role if known is not None else None
        user = change_role(session_, email=email, role=chosen, now=utcnow(),
                           actor=user_actor(admin))  # fmt: skip
    except StaffError as error:
        session_.rollback()
        return _page(422, error=f"Not changed: {error}.")
    changed = user.role != before
    session_.commit()
    return redirect(url_for("ops_staff.staff", done="role" if changed else "same"), code=303)


@blueprint.post("/deactivate")
def deactivate_user() -> View:
    session_, admin = db(), _admin()
    email = _form("email")
    try:
        if admin.email == email.strip().lower():
            raise StaffError("you cannot deactivate yourself; ask another admin")
        deactivate(session_, email=email, now=utcnow(), actor=user_actor(admin))
    except StaffError as error:
        session_.rollback()
        return _page(422, error=f"Not deactivated: {error}.")
    session_.commit()
    return redirect(url_for("ops_staff.staff", done="deactivated"), code=303)


@blueprint.post("/reset")
def reset_link() -> View:
    """Make a one-time reset link and show it this once."""
    session_, settings = db(), web_context().runtime.settings
    email = _form("email")
    try:
        code = issue_password_reset(session_, email=email, secret_key=settings.secret_key,
                                    now=utcnow(), actor=user_actor(_admin()))  # fmt: skip
    except StaffError as error:
        session_.rollback()
        return _page(422, error=f"No link made: {error}.")
    session_.commit()
    link = reset_url(settings.base_url, code)
    return _page(201, reset_for=email.strip().lower(), reset_link=link)


# --- a user's own password -------------------------------------------------------------------


@account.get("/password")
def password() -> View:
    guard = require_role(*Role)
    return guard or page("staff/account/password.html", title="Your password", done=False)


@account.post("/password")
def password_submit() -> View:
    guard = require_role(*Role)
    if guard is not None:
        return guard
    user, session_ = current_staff(), db()
    assert user is not None
    try:
        change_own_password(session_, user=user, current=_form("current", 2000),
                            new=_form("new", 2000), now=utcnow(), hasher=_hasher())  # fmt: skip
    except StaffError as error:
        session_.rollback()
        return page("staff/account/password.html", 422, title="Your password",
                    error=f"Not changed: {error}.", done=False)  # fmt: skip
    session_.commit()
    sign_in_again(user)  # this browser stays signed in; every other session ended
    return page("staff/account/password.html", title="Your password", done=True)


@account.get(f"{RESET_PATH.removeprefix('/account')}<code>")
def reset(code: str) -> View:
    try:
        user = reset_target(db(), code=code, secret_key=web_context().runtime.settings.secret_key)
    except StaffError as error:
        return page("staff/account/reset.html", 410, title="Reset your password",
                    error=f"{str(error).capitalize()}.", usable=False)  # fmt: skip
    return page("staff/account/reset.html", title="Reset your password", email=user.email,
                usable=True)  # fmt: skip


@account.post(f"{RESET_PATH.removeprefix('/account')}<code>")
def reset_submit(code: str) -> View:
    session_, settings = db(), web_context().runtime.settings
    try:
        reset_password(session_, code=code, password=_form("new", 2000),
                       secret_key=settings.secret_key, now=utcnow(), hasher=_hasher())  # fmt: skip
    except StaffError as error:
        session_.rollback()
        usable = True
        try:
            email = reset_target(session_, code=code, secret_key=settings.secret_key).email
        except StaffError:
            usable, email = False, ""
        return page("staff/account/reset.html", 422, title="Reset your password",
                    error=f"Not changed: {error}.", usable=usable, email=email)  # fmt: skip
    session_.commit()
    session.clear()  # whoever was signed in in this browser: sign in with the new password
    return page("staff/account/reset.html", title="Reset your password", done=True,
                usable=False)  # fmt: skip
