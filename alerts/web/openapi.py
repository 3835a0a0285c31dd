"""The OpenAPI description of the publisher API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from subscribers.languages import SHIPPED_LANGUAGES

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
        "image_url": {
            "type": "string",
            "format": "uri",
            "description": "absolute https URL without credentials; shown, never fetched",
        },
        "image_alt": {"type": "string", "description": "the image's description (alt text)"},
        "image_width": {"type": "integer", "minimum": 1, "maximum": 10000},
        "image_height": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000,
            "description": "pixels; give image_width and image_height together",
        },
        "published_at": {"type": "string", "format": "date-time", "description": "with offset"},
        "breaking": {"type": "boolean"},
        "body": {"type": "string", "description": "the story's text: matched, not stored"},
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
                    "403": _ERROR,
                    "422": _ERROR,
                },
            }
        }
    },
}
_SUBSCRIBER_IN = {
    "type": "object",
    "required": ["email"],
    "additionalProperties": False,
    "properties": {
        "email": {"type": "string", "format": "email"},
        "topics": {"type": "array", "items": {"type": "string"}, "description": "slugs"},
        "frequency": {"type": "string", "enum": ["daily", "weekly"]},
        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "send_hour": {
            "type": "integer",
            "minimum": 0,
            "maximum": 23,
            "description": "another name for `hour`, kept for existing clients",
        },
        "timezone": {"type": "string", "description": "IANA zone such as Europe/Paris"},
        "breaking_alerts": {"type": "boolean"},
        "keywords": {
            "type": "array",
            "items": {"type": "string"},
            "description": "words or phrases to be alerted about (KEYWORDS_PER_READER at most)",
        },
        "keyword_alerts": {
            "type": "boolean",
            "description": "also an email as it happens when a story mentions the keywords "
            "(at most one per KEYWORD_ALERT_MINUTES, within ALERTS_PER_DAY)",
        },
        "language": {
            "type": ["string", "null"],
            "enum": [*SHIPPED_LANGUAGES, "", None],
            "description": "BCP 47 language of the reader's pages and emails; empty or null: "
            "the site's DEFAULT_LANGUAGE",
        },
        "confirmed": {
            "type": "boolean",
            "description": "consent obtained elsewhere: active at once, no email; needs a "
            "token made with --import-confirmed",
        },
    },
}
_SUBSCRIBER_OUT = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["pending", "active", "unsubscribed", "bounced", "complained"],
        },
        "topics": {"type": "array", "items": {"type": "string"}},
        "frequency": {"type": "string"},
        "hour": {"type": "integer"},
        "send_hour": {"type": "integer", "description": "the same as `hour`"},
        "timezone": {"type": "string"},
        "breaking_alerts": {"type": "boolean"},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "keyword_alerts": {"type": "boolean"},
        "language": {"type": ["string", "null"], "description": "null: the site's default"},
        "editions_off": {
            "type": "array",
            "items": {"type": "string"},
            "description": "slugs of the editions the reader turned off; every other "
            "edition they are eligible for is on",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "confirmed_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_EMAIL_PARAMETER = {"name": "email", "in": "path", "required": True, "schema": {"type": "string"}}
OPENAPI["paths"]["/api/v1/subscribers"] = {
    "post": {
        "summary": "Sign a reader up (double opt-in), or import a consented reader",
        "description": "Without `confirmed` the reader gets a confirmation email and the "
        "answer is 202 whether or not the address was known.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _SUBSCRIBER_IN}},
        },
        "responses": {
            "202": {"description": "accepted: a confirmation email is on its way if due"},
            "201": {
                "description": "imported as active",
                "content": {"application/json": {"schema": _SUBSCRIBER_OUT}},
            },
            "200": {"description": "import of an address already stored; nothing changed"},
            "400": _ERROR,
            "401": _ERROR,
            "403": _ERROR,
            "409": _ERROR,
            "422": _ERROR,
        },
    }
}
OPENAPI["paths"]["/api/v1/subscribers/{email}"] = {
    "parameters": [_EMAIL_PARAMETER],
    "get": {
        "summary": "A reader's status and choices",
        "responses": {
            "200": {
                "description": "the reader",
                "content": {"application/json": {"schema": _SUBSCRIBER_OUT}},
            },
            "401": _ERROR,
            "403": _ERROR,
            "404": _ERROR,
            "422": _ERROR,
        },
    },
    "delete": {
        "summary": "Erase a reader's data; the address is never mailed again",
        "responses": {
            "204": {"description": "erased"},
            "401": _ERROR,
            "403": _ERROR,
            "404": _ERROR,
            "422": _ERROR,
        },
    },
}
