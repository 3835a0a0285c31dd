"""How the web app answers an error: the one map from our error trees to HTTP.

A view raises and lets the error through; it catches one only to do something other than
answer it (show it on a form, as a notice after a redirect, or in the preview pane).
`register` gives the app three handlers:

- our own errors (alerts.errors and subscribers.errors): `_described` says the status,
  message and field at fault of each one the web expects; any other is a 500;
- HTTP errors (an unknown address, a method not allowed, a body too large): the status
  Flask chose, with a message a reader can understand;
- anything else: a 500, logged with its traceback.

The answer's shape follows where the request went: the publisher API answers JSON,
`{"error": {"field": ..., "message": ...}}` (with the bearer challenge on a 401); the desk
its own error page, or that JSON for a .json address, the message written as a sentence;
any other page the reader's error page, or that JSON when the client asked for JSON. The
webhook receiver answers the providers in their own shape (alerts.web.webhooks).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from alerts.errors import (
    AlertError,
    AlertsError,
    ArticleError,
    EditionError,
    EditionNotFound,
    IssueError,
    RequestRefused,
    UnknownArticle,
)
from alerts.web.pages import N_, json_error, page, wants_json
from subscribers.errors import InvalidEmail, InvalidPreference, SubscribersError
from subscribers.services import Suppressed

log = logging.getLogger(__name__)

_MESSAGES = {
    400: N_("The request could not be understood."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not accept that kind of request."),
    413: N_("That was more data than a sign-up form sends."),
}


def register(app: Flask) -> None:
    app.register_error_handler(AlertsError, answer_error)
    app.register_error_handler(SubscribersError, answer_error)
    app.register_error_handler(HTTPException, answer_http_error)
    app.register_error_handler(Exception, answer_unexpected_error)


def _described(error: Exception) -> tuple[int, str, str | None] | None:
    """The status, message and field at fault that `error` is answered with; None for an
    error no view lets through on purpose."""
    if isinstance(error, RequestRefused):
        return error.status, error.message, error.field
    if isinstance(error, EditionNotFound):
        return 404, str(error), None
    if isinstance(error, EditionError):
        return 400, error.message, error.field
    if isinstance(error, UnknownArticle):
        return 400, str(error), None
    if isinstance(error, IssueError | AlertError):
        return 409, str(error), None
    if isinstance(error, ArticleError):
        return 422, error.reason, error.field
    if isinstance(error, InvalidEmail):
        return 422, str(error), "email"
    if isinstance(error, InvalidPreference):
        return 422, error.reason, error.field
    if isinstance(error, Suppressed):
        return 409, str(error), "email"
    return None


def answer_error(error: AlertsError | SubscribersError) -> ResponseReturnValue:
    described = _described(error)
    if described is None:
        return answer_unexpected_error(error)
    status, message, field = described
    path = request.path
    if path.startswith("/api/"):
        response = jsonify({"error": {"field": field, "message": message}})
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="newsalerts"'
        return response, status
    if path == "/desk" or path.startswith("/desk/"):
        sentence = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
        if path.endswith(".json"):
            return json_error(status, None, sentence)
        title = "Not found" if status == 404 else "Please check"
        return page("staff/error.html", status, title=title, message=sentence)
    if wants_json():
        return json_error(status, field, message)
    return page("error.html", status, message=message)


def answer_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = _MESSAGES.get(status, error.description or N_("Something went wrong."))
    if wants_json():
        response = make_response(json_error(status, None, message))
    else:
        response = make_response(page("error.html", status, message=message))
    # Keep what the error says besides its body: Allow on a 405, Retry-After, ...
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def answer_unexpected_error(error: Exception) -> ResponseReturnValue:
    log.exception("unexpected error on %s %s", request.method, request.path)
    message = N_("Something went wrong on our side; please try again in a moment.")
    if wants_json():
        return json_error(500, None, message)
    return page("error.html", 500, message=message)
