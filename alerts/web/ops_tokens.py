"""/ops/tokens: the publisher API's tokens, for admins: list, create (shown once), revoke.

A token's value is shown once, on the answer to the POST that made it, and never stored
(only its hash is): the page says to copy it now. Each change is in the audit log as the
admin who made it (alerts.access.tokens records it).
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from alerts.access.tokens import SCOPES, create_token, list_tokens, revoke_token
from alerts.audit import user_actor
from alerts.errors import AlertsError, BadInput
from alerts.models import Role
from alerts.web.auth import View, current_staff, require_role
from alerts.web.context import db
from alerts.web.pages import page
from subscribers.database import utcnow

blueprint = Blueprint("ops_tokens", __name__, url_prefix="/ops/tokens")
NOTICES = {"revoked": "Revoked: it no longer opens the API.", "none": "No live token by that name."}


@blueprint.before_request
def _admins_only() -> Response | None:
    return require_role(Role.ADMIN)


def _actor() -> str:
    user = current_staff()
    assert user is not None  # the guard let the request in
    return user_actor(user)


def _name() -> str:
    name = (request.form.get("name") or "").strip()[:200]
    if not name.isprintable():  # a NUL or a line break: no token can be named so
        raise BadInput("a token's name is one line of text")
    return name


def _page(status: int = 200, **extra: object) -> View:
    return page("staff/ops/tokens.html", status, title="API tokens", tokens=list_tokens(db()),
                scopes=SCOPES, **extra)  # fmt: skip


@blueprint.get("")
def tokens() -> View:
    return _page(notice=NOTICES.get(request.args.get("done", "")))


@blueprint.post("")
def create() -> View:
    """Make a token and show it this once."""
    name = _name()
    chosen = [scope for scope in request.form.getlist("scopes") if scope][:10]
    session = db()
    try:
        value = create_token(session, name=name, scopes=chosen or None, now=utcnow(),
                             can_import_confirmed=request.form.get("import_confirmed") == "yes",
                             actor=_actor())  # fmt: skip
    except AlertsError as error:
        session.rollback()
        return _page(422, error=f"Not created: {error}.", typed=name)
    session.commit()
    return _page(201, created=name, value=value)


@blueprint.post("/revoke")
def revoke() -> Response:
    name = _name()
    session = db()
    revoked = revoke_token(session, name=name, now=utcnow(), actor=_actor())
    session.commit()
    return redirect(url_for("ops_tokens.tokens", done="revoked" if revoked else "none"), code=303)
