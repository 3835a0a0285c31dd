"""Tracked links and the open pixel: `/c/<token>/<position>` and `/o/<token>.gif`.

Thin adapters over alerts.results.clicks. A click always goes to the article the ledger names,
scanner or not; anything that is not one of our links is a 404 page, and so is an article
whose stored URL cannot be a Location (one stored before ingestion refused control
characters): a reader is never sent a 500 or a split header. The pixel answers
the same transparent GIF to everyone, so a mail client never shows a broken image.
Neither answer may be cached, or a second click or open would never reach us.
"""

from __future__ import annotations

import base64
import re

from flask import Blueprint, Response, make_response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from alerts.feeds.articles import is_web_url
from alerts.mail.tracking import read_tracking_token
from alerts.results.clicks import follow_click, record_open
from alerts.web.context import db, web_context
from alerts.web.pages import N_, page
from subscribers.database import utcnow

blueprint = Blueprint("tracking", __name__)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_POSITION = re.compile(r"^[0-9]{1,4}$")
NOT_OURS = N_("This link is not valid: it may have been copied incompletely.")
UNUSABLE = N_("This story's address cannot be opened; find it on the publisher's site.")


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")[:500]


def _no_store(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/c/<token>/<position>", methods=["GET", "HEAD"])
def click(token: str, position: str) -> BaseResponse:
    delivery_id = read_tracking_token(web_context().runtime.settings.secret_key, token)
    if delivery_id is None or not _POSITION.match(position):
        return make_response(page("error.html", 404, message=NOT_OURS))
    session = db()
    followed = follow_click(
        session,
        delivery_id=delivery_id,
        position=int(position),
        method=request.method,
        user_agent=_user_agent(),
        now=utcnow(),
    )
    if followed is None:
        return make_response(page("error.html", 404, message=NOT_OURS))
    if not is_web_url(followed.url):
        return make_response(page("error.html", 404, message=UNUSABLE))
    session.commit()
    return _no_store(redirect(followed.url, code=302))


@blueprint.route("/o/<token>.gif", methods=["GET", "HEAD"])
def open_pixel(token: str) -> BaseResponse:
    delivery_id = read_tracking_token(web_context().runtime.settings.secret_key, token)
    if delivery_id is not None:
        session = db()
        record_open(session, delivery_id=delivery_id, method=request.method, now=utcnow())
        session.commit()
    response = Response(PIXEL, mimetype="image/gif")
    return _no_store(response)
