"""The publisher API for editions and alerts, on the `/api/v1` blueprint of alerts.web.api.

- `GET /api/v1/editions` (scope "editions"): the editions and their schedules;
- `POST /api/v1/editions/<id or slug>/send` (scope "editions"): send an issue now;
- `POST /api/v1/alerts` (scope "alerts"): a breaking alert about a stored article.

Token auth is the blueprint's; each route checks its scope. Errors are
`{"error": {"message": ...}}` with a 4xx status, never a 5xx for what a client sent: the
views raise them and alerts.web.errors answers.
An article push marked breaking starts its alert through `alerts.jobs.alert_if_breaking`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import audit
from alerts.digests.selection import local_today
from alerts.editions.schedules import list_editions
from alerts.errors import AlertError, EditionNotFound, NotFound, RequestRefused
from alerts.feeds.articles import hash_identity
from alerts.jobs import send_now, start_alert
from alerts.models import ApiToken, Article, Edition
from alerts.web.api import blueprint, require_scope
from alerts.web.archive import edition_by_slug
from alerts.web.context import db, web_context
from alerts.web.ids import row_id
from alerts.web.json_bodies import json_object
from alerts.web.openapi import OPENAPI
from subscribers.database import utcnow

View = tuple[Response, int]
# How far from the publisher's today an API "send now" may name an issue's date.
SEND_DATE_RANGE = timedelta(days=7)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MAX_TEXT = 2000


def _body(allowed: frozenset[str]) -> dict[str, Any]:
    """The request's JSON object (empty when there is no body). Raises BadInput for a body
    that is not an object, RequestRefused (422) for a field not in `allowed`."""
    if not request.get_data(cache=True):
        return {}
    data = json_object("send a JSON object")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise RequestRefused(422, f"unknown field: {', '.join(unknown)[:200]}")
    return data


def edition_summary(edition: Edition) -> dict[str, Any]:
    return {
        "id": edition.id,
        "slug": edition.slug,
        "name": edition.name,
        "cadence": edition.cadence.value,
        "weekday": edition.weekday,
        "send_hour": edition.send_hour,
        "topics": [topic.slug for topic in edition.topics],
        "images": edition.images.value,
        "active": edition.active,
    }


@blueprint.get("/editions")
def editions() -> View:
    require_scope("editions")
    session = db()
    found = list_editions(session, now=utcnow())
    session.commit()
    return jsonify({"editions": [edition_summary(edition) for edition in found]}), 200


def _find_edition(session: Session, key: str) -> Edition | None:
    if key.isascii() and key.isdigit():
        number = row_id(key)
        return session.get(Edition, number) if number is not None else None
    return edition_by_slug(key)


def _send_date(value: object, *, now: datetime, timezone: str) -> date | None:
    """The issue date asked for, None for today. Raises RequestRefused (422)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise RequestRefused(422, "date must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise RequestRefused(422, "date must be a date as YYYY-MM-DD") from None
    today = local_today(now, timezone)
    if abs(day - today) > SEND_DATE_RANGE:
        message = f"date must be within {SEND_DATE_RANGE.days} days of today ({today})"
        raise RequestRefused(422, message)
    return day


@blueprint.post("/editions/<key>/send")
def send_edition(key: str) -> View:
    """Send an issue now. A switched-off edition or a cancelled issue is an IssueError
    (alerts.jobs.send_now): a 409, from the error map."""
    require_scope("editions")
    data = _body(frozenset({"date"}))
    context, now = web_context(), utcnow()
    session = db()
    edition = _find_edition(session, key)
    if edition is None:
        raise NotFound("there is no such edition")
    day = _send_date(data.get("date"), now=now, timezone=context.runtime.settings.default_timezone)
    edition_id, slug = edition.id, edition.slug
    session.rollback()  # send_now uses its own session; hold no transaction open here
    token: ApiToken = g.api_token
    try:
        started = send_now(
            context.runtime,
            edition=edition_id,
            local_date=day,
            now=now,
            actor=audit.token_actor(token.name),
            publish=context.publish,
        )
    except EditionNotFound:  # deleted since the look-up above
        raise NotFound("there is no such edition") from None
    body = {
        "edition": slug,
        "issue_id": started.issue_id,
        "planned": started.planned,
        "queued": started.queued,
    }
    return jsonify(body), 202


def find_article(session: Session, data: dict[str, Any]) -> Article | None:
    """The stored article `data` names by article_id, guid or url, None when there is none.
    Raises RequestRefused (422) when `data` does not name one article in a usable way."""
    named = [name for name in ("article_id", "guid", "url") if name in data]
    if len(named) != 1:
        raise RequestRefused(422, "name the article by exactly one of article_id, guid or url")
    [name] = named
    value = data[name]
    if name == "article_id":
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestRefused(422, "article_id must be an integer")
        number = row_id(value)
        return session.get(Article, number) if number is not None else None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT or "\x00" in value:
        raise RequestRefused(422, f"{name} must be a string of 1 to {_MAX_TEXT} characters")
    # The store keys an article on its guid when it has one, else on its url.
    try:
        identity = hash_identity(value)
    except UnicodeEncodeError:  # a lone surrogate: ingestion refuses it, so none is stored
        raise RequestRefused(422, f"{name} is not valid Unicode (a lone surrogate)") from None
    found = session.scalar(select(Article).where(Article.identity_hash == identity))
    if found is None and name == "url":
        found = session.scalar(
            select(Article).where(Article.url == value).order_by(Article.id.desc()).limit(1)
        )
    return found


@blueprint.post("/alerts")
def create_alert() -> View:
    require_scope("alerts")
    data = _body(frozenset({"article_id", "guid", "url"}))
    session = db()
    article = find_article(session, data)
    if article is None:
        raise NotFound("there is no such article")
    article_id = article.id
    session.rollback()  # start_alert uses its own session; hold no transaction open here
    context = web_context()
    token: ApiToken = g.api_token
    try:
        started = start_alert(
            context.runtime,
            article_id=article_id,
            now=utcnow(),
            actor=audit.token_actor(token.name),
            publish=context.publish,
        )
    except (AlertError, IntegrityError):
        # The one cause left once the article exists: an alert about it exists already
        # (IntegrityError when another request made it a moment ago).
        raise RequestRefused(409, "this article has been sent as an alert already") from None
    body = {
        "alert_id": started.alert_id,
        "article_id": article_id,
        "planned": started.planned,
        "queued": started.queued,
    }
    return jsonify(body), 202


_ERROR = {"description": "error", "content": {"application/json": {"schema": {"type": "object"}}}}
_STARTED = {
    "type": "object",
    "properties": {"planned": {"type": "integer"}, "queued": {"type": "integer"}},
}
OPENAPI["paths"].update(
    {
        "/api/v1/editions": {
            "get": {
                "summary": "The editions: id, slug, name, cadence, weekday, send_hour, topics",
                "description": "Needs the 'editions' scope.",
                "responses": {"200": {"description": "the editions"}, "401": _ERROR, "403": _ERROR},
            }
        },
        "/api/v1/editions/{edition}/send": {
            "post": {
                "summary": "Send an edition's issue now to every reader of it",
                "description": (
                    "Needs the 'editions' scope. `edition` is an id or a slug. `date` "
                    "(default: today in the publisher's zone) names the issue, within "
                    f"{SEND_DATE_RANGE.days} days of today. Readers who had it are not sent "
                    "it again."
                ),
                "parameters": [
                    {
                        "name": "edition",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"date": {"type": "string", "format": "date"}},
                            }
                        }
                    },
                },
                "responses": {
                    "202": {"description": "issue_id, planned and queued"},
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                    "409": {"description": "the issue was cancelled or the edition switched off"},
                    "422": _ERROR,
                },
            }
        },
        "/api/v1/alerts": {
            "post": {
                "summary": "Send a breaking alert about a stored article (once per article)",
                "description": "Needs the 'alerts' scope. Name the article by one field.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "minProperties": 1,
                                "maxProperties": 1,
                                "properties": {
                                    "article_id": {"type": "integer"},
                                    "guid": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "alert_id, article_id, planned and queued",
                        "content": {"application/json": {"schema": _STARTED}},
                    },
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                    "404": {"description": "no such article"},
                    "409": {"description": "the article was alerted already"},
                    "422": _ERROR,
                },
            }
        },
    }
)
