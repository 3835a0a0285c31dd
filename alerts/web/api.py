"""The publisher API (`/api/v1`): a CMS pushes articles instead of waiting to be polled.

Token auth (`Authorization: Bearer na_...`, made with `newsalerts tokens create`); JSON in,
JSON out; bad input is a 4xx with a message, never a 5xx. Views raise what they refuse
(RequestRefused, or the business error itself); alerts.web.errors shapes the answer.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, Response, g, jsonify, make_response, request
from sqlalchemy.exc import IntegrityError

from alerts import audit
from alerts.access.tokens import allows, authenticate
from alerts.errors import NotFound, RequestRefused
from alerts.feeds.articles import article_input_from_mapping, upsert_articles
from alerts.jobs import alert_if_breaking
from alerts.mail.notices import Notice
from alerts.models import ApiToken
from alerts.web.api_subscribers import (
    SubscriberRequest,
    parse_subscriber_request,
    subscriber_summary,
)
from alerts.web.context import db, web_context
from alerts.web.json_bodies import json_object
from alerts.web.openapi import OPENAPI
from alerts.web.signup import ACCEPTED, hand_over, notice_within_limit
from subscribers.database import utcnow
from subscribers.editions import editions_off
from subscribers.keywords import set_keywords
from subscribers.lifecycle import (
    SignupResult,
    erase,
    request_subscription,
    set_keyword_alerts,
)
from subscribers.models import Subscriber
from subscribers.services import AlreadySubscribed, Origin, add_subscriber, find_subscriber

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
View = tuple[Response, int]


def require_scope(scope: str) -> None:
    """Raise RequestRefused (403) unless the request's token may act on `scope`."""
    token: ApiToken = g.api_token
    if not allows(token, scope):
        message = f"this token may not use {scope}; give it the {scope!r} scope"
        raise RequestRefused(403, message)


def _actor() -> str:
    token: ApiToken = g.api_token
    return audit.token_actor(token.name)


@blueprint.before_request
def _require_token() -> None:
    if request.endpoint == "api.openapi":
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise RequestRefused(401, "send the API token as 'Authorization: Bearer <token>'")
    session = db()
    token = authenticate(session, presented.strip(), now=utcnow())
    if token is None:
        raise RequestRefused(401, "this token is not valid or has been revoked")
    session.commit()
    g.api_token = token


@blueprint.post("/articles")
def push_article() -> View:
    require_scope("articles")
    item = article_input_from_mapping(json_object("send one article as a JSON object"))
    session = db()
    token: ApiToken = g.api_token
    language = web_context().runtime.settings.default_language
    result = upsert_articles(
        session, [item], source=f"api:{token.name}", now=utcnow(), language=language
    )
    session.commit()
    [article] = result.articles
    outcome = "created" if result.created else "updated" if result.updated else "unchanged"
    if outcome != "unchanged":
        audit.record(
            session, actor=_actor(), action=f"article.{outcome}", target=f"article:{article.id}",
            now=utcnow(),
        )  # fmt: skip
        session.commit()
    body: dict[str, Any] = {
        "id": article.id,
        "url": article.url,
        "status": outcome,
        "topics": [topic.slug for topic in article.topics],
        "published_at": article.published_at.astimezone(UTC).isoformat(),
    }
    context = web_context()
    alert = alert_if_breaking(
        context.runtime, article, token, changed=outcome != "unchanged", now=utcnow(),
        publish=context.publish,
    )  # fmt: skip
    if alert is not None:
        body["alert"] = {"id": alert.alert_id, "planned": alert.planned}
    return jsonify(body), 201 if result.created else 200


@blueprint.post("/subscribers")
def add_reader() -> View:
    """Double opt-in by default; an already-consented import with `confirmed`.

    InvalidEmail and InvalidPreference (a 422 naming the field) go to the error map, and
    so does Suppressed (a 409) for an import."""
    require_scope("subscribers")
    data = json_object("send one reader as a JSON object")
    settings = web_context().runtime.settings
    wanted = parse_subscriber_request(
        data, default_timezone=settings.default_timezone,
        keyword_limit=settings.keywords_per_reader,
    )  # fmt: skip
    token: ApiToken = g.api_token
    if wanted.confirmed and not token.can_import_confirmed:
        message = "this token may not import confirmed readers"
        raise RequestRefused(403, message, field="confirmed")
    origin = Origin(
        source="api",
        ip_address=(request.remote_addr or "")[:45] or None,
        details={"token": token.name},
    )
    return _import(wanted, origin) if wanted.confirmed else _request(wanted, origin)


def _request(wanted: SubscriberRequest, origin: Origin) -> View:
    """Double opt-in: the same answer whether or not the address was known."""
    session = db()
    settings = web_context().runtime.settings
    for attempt in (1, 2):
        try:
            signup = request_subscription(
                session, email=wanted.email, preferences=wanted.preferences, origin=origin,
                hash_key=settings.secret_key, now=utcnow(),
            )  # fmt: skip
            notice_id = None
            if signup.subscriber_id is not None:
                audit.record(
                    session, actor=_actor(), action="subscriber.requested",
                    target=f"subscriber:{signup.subscriber_id}", now=utcnow(),
                )  # fmt: skip
                if signup.result is not SignupResult.NOTHING:
                    # Written with the sign-up: a lost broker message loses no email.
                    notice = (
                        Notice.CONFIRM if signup.result is SignupResult.CONFIRM else Notice.MANAGE
                    )
                    notice_id = notice_within_limit(
                        session, notice, signup.subscriber_id, wanted.email
                    )
            session.commit()
            break
        except IntegrityError:
            session.rollback()  # a simultaneous request stored the address first
            if attempt == 2:
                raise
    hand_over(notice_id)
    return jsonify({"status": "accepted", "message": ACCEPTED}), 202


def _import(wanted: SubscriberRequest, origin: Origin) -> View:
    """A reader who consented on the publisher's side: active at once, no email."""
    session = db()
    preferences = wanted.preferences
    try:
        subscriber = add_subscriber(
            session, email=wanted.email, origin=origin,
            hash_key=web_context().runtime.settings.secret_key, topics=preferences.topics,
            frequency=preferences.frequency, timezone=preferences.timezone,
            send_hour=preferences.hour, confirmed=True, now=utcnow(),
        )  # fmt: skip
    except AlreadySubscribed as error:
        session.rollback()
        known = error.subscriber
        summary = subscriber_summary(known, editions_off=editions_off(session, known.id))
        return jsonify({"result": "exists", **summary}), 200
    subscriber.breaking_alerts = preferences.breaking_alerts
    set_keyword_alerts(subscriber, preferences.keyword_alerts)
    if preferences.language is not None:
        subscriber.language = preferences.language
    if preferences.keywords:
        set_keywords(session, subscriber, preferences.keywords)
    audit.record(
        session, actor=_actor(), action="subscriber.imported",
        target=f"subscriber:{subscriber.id}", now=utcnow(),
    )  # fmt: skip
    session.commit()
    return jsonify({"result": "created", **subscriber_summary(subscriber)}), 201


def _reader(email: str) -> Subscriber:
    """The reader with this address. Raises InvalidEmail, or NotFound."""
    subscriber = find_subscriber(db(), email)
    if subscriber is None:
        raise NotFound("no reader with this address")
    return subscriber


@blueprint.get("/subscribers/<path:email>")
def get_reader(email: str) -> View:
    require_scope("subscribers")
    subscriber = _reader(email)
    summary = subscriber_summary(subscriber, editions_off=editions_off(db(), subscriber.id))
    return jsonify(summary), 200


@blueprint.delete("/subscribers/<path:email>")
def erase_reader(email: str) -> View:
    """Erase a reader's data for good; the address stays suppressed as a keyed hash."""
    require_scope("subscribers")
    found = _reader(email)
    session = db()
    reader_id = found.id
    origin = Origin(source="api", details={"token": g.api_token.name})
    erase(session, found, hash_key=web_context().runtime.settings.secret_key, origin=origin)
    audit.record(
        session, actor=_actor(), action="subscriber.erased", target=f"subscriber:{reader_id}",
        now=utcnow(),
    )  # fmt: skip
    session.commit()
    return make_response("", 204), 204


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)
