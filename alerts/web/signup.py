"""Signing up: the full page, the embeddable snippet and iframe, and the form's POST."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.delivery.notices import queue_notice
from alerts.mail.notices import Notice
from alerts.web.context import WORDING_VERSION, db, web_context
from alerts.web.forms import form_values, parse_signup
from alerts.web.json_bodies import json_body
from alerts.web.pages import (
    N_,
    browser_language,
    field_error,
    form_context,
    json_error,
    page,
)
from alerts.web.ratelimit import client_network
from alerts.web.security import FormRejected, header_text, request_origin
from subscribers.addresses import email_hash, normalise_email
from subscribers.database import utcnow
from subscribers.errors import InvalidEmail, InvalidPreference
from subscribers.lifecycle import SignupResult, request_subscription
from subscribers.services import Origin

blueprint = Blueprint("signup", __name__)

# Per client address: sign-up attempts an hour. Per target address: emails a day.
IP_LIMIT, IP_WINDOW = 20, 3600
CONFIRM_LIMIT, MANAGE_LIMIT, ADDRESS_WINDOW = 3, 1, 24 * 3600
ACCEPTED = N_("Check your inbox: if this address can receive our alerts, we have sent it an email.")

View = tuple[str, int] | tuple[Response, int] | Response


# Flask would answer OPTIONS for the GET and POST rules itself, before the preflight view
# below could add its CORS headers: those rules opt out of automatic OPTIONS.
@blueprint.after_request
def _vary_by_language(response: Response) -> Response:
    """The sign-up pages are in the browser's language unless their address names one
    (`?lang=`): a cache must keep one copy per Accept-Language."""
    if request.method == "GET":
        response.vary.add("Accept-Language")
    return response


@blueprint.get("/subscribe", provide_automatic_options=False)
def subscribe_page() -> View:
    return page("subscribe.html", **form_context())


@blueprint.get("/embed")
def embed_snippet() -> View:
    """The HTML a publisher pastes under an article; it posts to this service. `?lang=de`
    gives it in German, and signs its readers up in German."""
    body, status = page("embed_snippet.html", **form_context())
    response = make_response(body, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/embed/frame")
def embed_frame() -> View:
    return page("embed_frame.html", **form_context())


@blueprint.route("/subscribe", methods=["OPTIONS"])
def subscribe_preflight() -> Response:
    response = make_response("", 204)
    _allow_cors(response)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _allow_cors(response: Response) -> None:
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin in web_context().runtime.settings.origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"


@blueprint.post("/subscribe", provide_automatic_options=False)
def subscribe() -> View:
    as_json = request.is_json
    response = _subscribe(as_json)
    if as_json:
        answer = response if isinstance(response, Response) else make_response(response)
        _allow_cors(answer)
        return answer
    return response


def _too_many(retry_after: int, as_json: bool) -> View:
    message = N_("Too many sign-up attempts; please try again later.")
    body = json_error(429, None, message) if as_json else page("error.html", 429, message=message)
    response = make_response(body)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _refuse(as_json: bool, status: int, field: str | None, message: str, data: Any) -> View:
    if as_json:
        return json_error(status, field, message)
    return page("subscribe.html", status, error=message, error_field=field, **form_context(data))


def _subscribe(as_json: bool) -> View:
    context = web_context()
    settings = context.runtime.settings
    client = (request.remote_addr or "unknown")[:45]
    retry_after = context.limiter.hit(
        f"ip:{client_network(request.remote_addr)}", limit=IP_LIMIT, window_seconds=IP_WINDOW
    )
    if retry_after:
        return _too_many(retry_after, as_json)

    data: Any = json_body() if as_json else form_values(request.form)
    if not isinstance(data, dict):
        return _refuse(as_json, 400, None, "Send a JSON object with an email field.", {})
    try:
        form = parse_signup(
            data, default_timezone=settings.default_timezone,
            keyword_limit=settings.keywords_per_reader, language=browser_language(),
        )  # fmt: skip
        address = normalise_email(form.email)
    except InvalidEmail as error:
        message = field_error("email", f"Please check the address: {error.reason.rstrip('.')}.")
        return _refuse(as_json, 422, "email", message, data)
    except InvalidPreference as error:
        return _refuse(as_json, 422, error.field, field_error(error.field, str(error)), data)

    if form.honeypot_filled:  # a bot filled the invisible field: say yes, do nothing
        return _accepted(as_json)
    try:
        if form.stamp is not None:
            context.guard.check_stamp(form.stamp)
        elif (
            # A browser says where a post comes from: a form post must say it, and JSON
            # that says it (a page's script) is held to the same list. JSON without an
            # Origin is a server's call, which no browser can be tricked into making.
            (not as_json or "Origin" in request.headers)
            and request_origin(request.headers.get("Origin"), request.referrer)
            not in settings.origins
        ):
            raise FormRejected("this form cannot be posted from that site")
    except FormRejected as error:
        return _refuse(as_json, 400, None, str(error).capitalize() + ".", data)

    session = db()
    origin = Origin(
        source="api" if as_json else "form",
        ip_address=client,
        user_agent=header_text(request.user_agent.string, 500),
        wording_version=WORDING_VERSION,
        details={"referer": header_text(request.referrer, 300) or ""},
    )
    for attempt in (1, 2):
        try:
            signup = request_subscription(
                session,
                email=address,
                preferences=form.preferences,
                origin=origin,
                hash_key=settings.secret_key,
                now=utcnow(),
            )
            # The email it asks for is written in the same transaction: once the sign-up
            # is stored, so is its confirmation, whatever happens to the broker.
            notice_id = _ask_for_notice(session, signup.result, signup.subscriber_id, address)
            session.commit()
            break
        except InvalidPreference as error:
            session.rollback()
            message = field_error(error.field, str(error))
            return _refuse(as_json, 422, error.field, message, data)
        except IntegrityError:
            # A simultaneous request (a double click) created this address first: the
            # second attempt finds that reader and goes on as for a pending one.
            session.rollback()
            if attempt == 2:
                raise
    hand_over(notice_id)
    return _accepted(as_json)


def _ask_for_notice(
    session: Session, result: SignupResult, subscriber_id: int | None, address: str
) -> int | None:
    """Write what the outcome asks for, within the per-address limit; silently otherwise."""
    if result is SignupResult.NOTHING or subscriber_id is None:
        return None
    notice = Notice.CONFIRM if result is SignupResult.CONFIRM else Notice.MANAGE
    return notice_within_limit(session, notice, subscriber_id, address)


def notice_within_limit(
    session: Session, notice: Notice, subscriber_id: int, address: str
) -> int | None:
    """Write a notice to the outbox unless this address had its daily share of that kind;
    its id, for `hand_over` after the caller commits, or None. Does not commit.

    The count is per address (as a keyed hash), whatever asked for the email: the sign-up
    form, the JSON API, or the "send me a new link" button of an expired confirmation.
    """
    context = web_context()
    limit = CONFIRM_LIMIT if notice is Notice.CONFIRM else MANAGE_LIMIT
    key = f"{notice.value}:{email_hash(address, context.runtime.settings.secret_key)}"
    if context.limiter.hit(key, limit=limit, window_seconds=ADDRESS_WINDOW) is not None:
        return None
    return queue_notice(session, notice, subscriber_id, settings=context.runtime.settings,
                        now=utcnow())  # fmt: skip


def hand_over(notice_id: int | None) -> None:
    """After the commit: hand the notice to a worker (or send it here, without a broker)."""
    if notice_id is not None:
        web_context().notify(notice_id)


def _accepted(as_json: bool) -> View:
    if as_json:
        return jsonify({"status": "accepted", "message": ACCEPTED}), 202
    return page("check_inbox.html", message=ACCEPTED)
