"""The publisher API (`/api/v1`): a CMS pushes articles instead of waiting to be polled.

Token auth (`Authorization: Bearer na_...`, made with `newsalerts tokens create`); JSON in,
JSON out; bad input is a 4xx with a message, never a 5xx.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from alerts.api_tokens import authenticate
from alerts.articles import article_input_from_mapping, upsert_articles
from alerts.errors import ArticleError
from alerts.models import ApiToken
from alerts.web.context import db
from subscribers.database import utcnow

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
View = tuple[Response, int]


def _error(status: int, message: str) -> View:
    response = jsonify({"error": {"message": message}})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsalerts"'
    return response, status


@blueprint.before_request
def _require_token() -> View | None:
    if request.endpoint == "api.openapi":
        return None
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return _error(401, "send the API token as 'Authorization: Bearer <token>'")
    session = db()
    token = authenticate(session, presented.strip(), now=utcnow())
    if token is None:
        return _error(401, "this token is not valid or has been revoked")
    session.commit()
    g.api_token = token
    return None


@blueprint.post("/articles")
def push_article() -> View:
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "send one article as a JSON object")
    try:
        item = article_input_from_mapping(data)
    except ArticleError as error:
        return _error(422, str(error))
    session = db()
    token: ApiToken = g.api_token
    result = upsert_articles(session, [item], source=f"api:{token.name}", now=utcnow())
    session.commit()
    [article] = result.articles
    outcome = "created" if result.created else "updated" if result.updated else "unchanged"
    body = {
        "id": article.id,
        "url": article.url,
        "status": outcome,
        "topics": [topic.slug for topic in article.topics],
        "published_at": article.published_at.astimezone(UTC).isoformat(),
    }
    return jsonify(body), 201 if result.created else 200


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)


_ARTICLE = {
    "type": "object",
    "required": ["url", "title"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "format": "uri", "description": "absolute http(s) URL"},
        "title": {"type": "string"},
        "guid": {"type": "string", "description": "the identity when present, else url"},
        "summary": {"type": "string", "description": "HTML, sanitised on the way in"},
        "section": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "author": {"type": "string"},
        "image_url": {"type": "string", "format": "uri"},
        "published_at": {"type": "string", "format": "date-time", "description": "with offset"},
        "breaking": {"type": "boolean"},
    },
}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"type": "object"}}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "newsalerts publisher API", "version": "1"},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {
        "/api/v1/articles": {
            "post": {
                "summary": "Create or update an article (by guid, else url)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ARTICLE}},
                },
                "responses": {
                    "201": {"description": "created"},
                    "200": {"description": "updated or unchanged"},
                    "400": _ERROR,
                    "401": _ERROR,
                    "422": _ERROR,
                },
            }
        }
    },
}
