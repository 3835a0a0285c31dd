"""Staff sign-in: login and logout, the session cookie, CSRF for staff forms, role checks.

The session is Flask's signed cookie holding the user's id and `session_version`; raising
the version (logging out, a password change, a deactivation) ends every session of the
user at once, copies of the cookie included. Staff forms carry a per-session CSRF token
(`csrf_field()` in templates, or the `X-CSRF-Token` header for fetch() calls), checked on
every unsafe request to /desk, /ops, /login and /logout. Other blueprints call
`require_role(*STAFF_DESK)` from their `before_request`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, make_response, redirect, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from alerts import audit
from alerts.access.staff import (
    authenticate,
    log_out,
    login_key,
    password_hasher,
    record_failed_login,
)
from alerts.config import Settings
from alerts.models import Role, StaffUser
from alerts.web.context import db, web_context
from alerts.web.pages import json_error, page, wants_json
from alerts.web.ratelimit import client_network
from alerts.web.security import header_text
from subscribers.addresses import email_hash
from subscribers.database import utcnow

blueprint = Blueprint("auth", __name__)

STAFF_DESK = (Role.EDITOR, Role.ADMIN)
STAFF_OPS = (Role.OPERATOR, Role.ADMIN)

# Login attempts per client (an IPv4 address or an IPv6 /64), and per client and account,
# in a 15-minute window. The limits fall on the client that guesses: counting per account
# alone would let anyone lock a colleague out by typing wrong passwords for them.
LOGIN_IP_LIMIT, LOGIN_IP_EMAIL_LIMIT, LOGIN_WINDOW = 30, 10, 15 * 60
NOT_RIGHT = "The email or password is not right."
TOO_MANY = "Too many sign-in attempts; please wait a few minutes and try again."
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROTECTED_AREAS = ("/desk", "/ops", "/account")
_PROTECTED_PATHS = frozenset({"/login", "/logout"})
_USER_ID, _VERSION, _CSRF = "staff_id", "staff_version", "csrf"

P = ParamSpec("P")
R = TypeVar("R")
View = tuple[str, int] | Response


def configure_sessions(app: Flask, settings: Settings) -> None:
    """The session cookie: signed, HttpOnly, SameSite=Lax, Secure behind an https BASE_URL."""
    app.secret_key = settings.secret_key
    app.config.update(
        SESSION_COOKIE_NAME="newsalerts_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.staff_session_hours),
    )


# --- who is signed in ------------------------------------------------------------------


def current_staff() -> StaffUser | None:
    """The signed-in staff user of this request, or None (also for a session that a
    password change or a deactivation has ended since)."""
    if "staff_user" in g:
        user: StaffUser | None = g.staff_user
        return user
    user = None
    user_id, version = session.get(_USER_ID), session.get(_VERSION)
    if isinstance(user_id, int) and isinstance(version, int):
        found = db().get(StaffUser, user_id)
        if found is not None and found.active and found.session_version == version:
            user = found
        else:
            session.pop(_USER_ID, None)
            session.pop(_VERSION, None)
    g.staff_user = user
    return user


def require_role(*roles: Role) -> Response | None:
    """None when the signed-in user has one of `roles`; else the answer to give instead.

    Anonymous: a 303 to the login page for a page, 401 for JSON (an `Accept` of JSON or
    a path ending in .json). Signed in with another role: 403. Call it from a
    blueprint's `before_request` and return what it returns.
    """
    user = current_staff()
    as_json = wants_json() or request.path.endswith(".json")
    if user is None:
        if as_json:
            return make_response(json_error(401, None, "sign in first"))
        return redirect(url_for("auth.login", next=_here()), code=303)
    if user.role not in roles:
        message = "Your account may not open this page."
        if as_json:
            return make_response(json_error(403, None, message))
        return make_response(page("staff/error.html", 403, title="Not allowed", message=message))
    return None


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """`require_role` as a decorator of one view."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            refused = require_role(*roles)
            return refused if refused is not None else view(*args, **kwargs)

        return guarded

    return decorate


def _here() -> str:
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this site, else None: never a way off it."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


# --- CSRF ------------------------------------------------------------------------------


@blueprint.app_template_global()
def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF] = token
    return token


@blueprint.app_template_global()
def csrf_field() -> Markup:
    """The hidden input every staff form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


blueprint.add_app_template_global(current_staff, "current_staff")


def _csrf_protected(path: str) -> bool:
    return path in _PROTECTED_PATHS or any(
        path == area or path.startswith(area + "/") for area in _PROTECTED_AREAS
    )


@blueprint.before_app_request
def _check_csrf() -> View | None:
    if request.method not in UNSAFE_METHODS or not _csrf_protected(request.path):
        return None
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    expected = session.get(_CSRF)
    if isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode()):
        return None
    message = "This form has expired or did not come from this site; please reload the page."
    if wants_json():
        return make_response(json_error(400, CSRF_FIELD, message))
    return page("staff/error.html", 400, title="Please try again", message=message)


# --- login and logout ------------------------------------------------------------------


def _landing(user: StaffUser) -> str:
    return "/desk" if user.role in STAFF_DESK else "/ops"


@blueprint.get("/login")
def login() -> View:
    wanted = safe_next(request.args.get("next"))
    user = current_staff()
    if user is not None:
        return redirect(wanted or _landing(user), code=303)
    return page("login.html", next=wanted or "", email="")


@blueprint.post("/login")
def login_submit() -> View:
    context = web_context()
    settings = context.runtime.settings
    email = header_text(request.form.get("email"), 320) or ""
    password = request.form.get("password") or ""
    wanted = safe_next(request.form.get("next"))
    client = (request.remote_addr or "unknown")[:45]
    network = client_network(request.remote_addr)
    # Every spelling of one account is one key (the lookup normalises, so must the count).
    account = email_hash(login_key(email), settings.secret_key)
    retry_after = context.limiter.hit(
        f"login-ip:{network}", limit=LOGIN_IP_LIMIT, window_seconds=LOGIN_WINDOW
    ) or context.limiter.hit(
        f"login-ip-email:{network}:{account}",
        limit=LOGIN_IP_EMAIL_LIMIT,
        window_seconds=LOGIN_WINDOW,
    )
    if retry_after:
        response = make_response(page("login.html", 429, error=TOO_MANY, next=wanted, email=email))
        response.headers["Retry-After"] = str(retry_after)
        return response

    database, now = db(), utcnow()
    hasher = password_hasher(settings.password_hash_cost)
    user = authenticate(database, email=email, password=password, now=now, hasher=hasher)
    if user is None:
        record_failed_login(database, email=email, client=client, now=now)
        database.commit()
        return page("login.html", 422, error=NOT_RIGHT, next=wanted or "", email=email)

    audit.record(
        database,
        actor=audit.user_actor(user),
        action="login",
        details={"ip": client},
        now=now,
    )
    database.commit()
    # A fresh session: nothing from before the login (a planted CSRF token) carries over.
    session.clear()
    session.permanent = True
    session[_USER_ID] = user.id
    session[_VERSION] = user.session_version
    session[_CSRF] = secrets.token_urlsafe(32)
    g.staff_user = user
    return redirect(wanted or _landing(user), code=303)


def sign_in_again(user: StaffUser) -> None:
    """Keep this browser signed in after a change that ended the user's other sessions (a
    new password): the cookie takes the user's new session version."""
    session[_USER_ID] = user.id
    session[_VERSION] = user.session_version
    g.staff_user = user


@blueprint.post("/logout")
def logout() -> View:
    user = current_staff()
    if user is not None:
        database = db()
        log_out(database, user=user, now=utcnow())
        database.commit()
    session.clear()
    g.staff_user = None
    return redirect(url_for("auth.login"), code=303)
