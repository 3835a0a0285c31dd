"""Helpers for any test of the web app: the values the shared `web_settings` and `editor`
fixtures use, a session on the test app's database, a row count, the value of a form's field."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.models import Subscriber
from subscribers.tokens import Purpose, TokenSigner
from tests.support.rows import count_rows
from tests.support.sending import app_runtime

# What `web_settings` configures: tests sign tokens with the key and follow links under the URL.
SECRET = "web-test-secret-key-0123456789abcdef"
BASE_URL = "https://alerts.example.com"
# The one publisher's site allowed to post the sign-up form.
PUBLISHER = "https://news.example.com"
# The staff user the `editor` fixture signs in as.
EDITOR = "editor@newsroom.example.com"


def app_session(app: Flask) -> Session:
    """A new session on the test app's database; use it in a `with` block."""
    return app_runtime(app).sessions()


def count_app_rows(app: Flask, model: type[Any]) -> int:
    """How many rows of `model` the test app's database holds now."""
    with app_session(app) as session:
        return count_rows(session, model)


def link_key(app: Flask, subscriber_id: int) -> str | None:
    """The reader's link key now (None for a reader who does not exist)."""
    with app_session(app) as session:
        return session.scalar(select(Subscriber.link_key).where(Subscriber.id == subscriber_id))


def link_token(app: Flask, purpose: Purpose, subscriber_id: int) -> str:
    """The token of a reader's link as their emails carry it, signed with their link key."""
    key = link_key(app, subscriber_id)
    return TokenSigner([SECRET]).sign(purpose, subscriber_id, link_key=key)


def form_field(html: bytes, name: str) -> str:
    """The value of the form field `name` in a page (the page must have one)."""
    match = re.search(rb'name="' + name.encode() + rb'" value="([^"]*)"', html)
    assert match, name
    return match.group(1).decode()
