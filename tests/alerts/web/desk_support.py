"""Helpers for the desk's tests: a newsroom's worth of readers and articles, the ledger."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from alerts.digests.selection import local_today
from alerts.editions.schedules import ensure_default_editions
from alerts.models import Article, AuditEvent, Delivery
from subscribers.database import utcnow
from subscribers.models import Subscriber
from tests.alerts.web.app_support import app_session
from tests.support.builders import articles, reader
from tests.support.ledger import UNFINISHED
from tests.support.staff import csrf_token


def today(app: Flask) -> date:
    return local_today(utcnow(), app.extensions["newsalerts"].runtime.settings.default_timezone)


def newsroom(app: Flask) -> dict[str, int]:
    """Three readers and four fresh articles; returns article ids by slug.

    ann follows climate, bob follows business, cat follows nothing (gets everything).
    """
    now = utcnow()
    with app_session(app) as session:
        ensure_default_editions(session, now=now)
        reader(session, "ann@example.com", topics=("climate",))
        reader(session, "bob@example.com", topics=("business",))
        reader(session, "cat@example.com")
        articles(
            session,
            now,
            ("heatwave", ("climate",), timedelta(hours=1)),
            ("markets", ("business",), timedelta(hours=2)),
            ("glaciers", ("climate",), timedelta(hours=3)),
            ("merger", ("business",), timedelta(hours=4)),
        )
        session.commit()
        return article_ids(session)


def article_ids(session: Session) -> dict[str, int]:
    return {
        url.rsplit("/", 1)[1]: article_id
        for article_id, url in session.execute(select(Article.id, Article.url))
    }


def post(client: FlaskClient, path: str, **form: str | list[str]) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client), **form})


def follow(client: FlaskClient, answer: TestResponse) -> str:
    """The page a 303 leads to, with its one-time notice."""
    assert answer.status_code == 303, answer.get_data(as_text=True)[:2000]
    return client.get(answer.headers["Location"]).get_data(as_text=True)


def rows(app: Flask) -> dict[str, Delivery]:
    """Ledger rows by reader address (one edition in play)."""
    with app_session(app) as session:
        found = session.execute(
            select(Subscriber.email, Delivery).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
        return {email: delivery for email, delivery in found}


def settle(app: Flask, timeout: float = 30.0) -> dict[str, Delivery]:
    """Wait until the background thread has sent every row (none left to send)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(app)
        if found and not any(row.status in UNFINISHED for row in found.values()):
            return found
        time.sleep(0.05)
    raise AssertionError(
        f"the ledger did not settle: {[(e, r.status) for e, r in rows(app).items()]}"
    )


def audit_actions(app: Flask) -> list[str]:
    with app_session(app) as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def titles_in(html: str) -> list[str]:
    return re.findall(r"Story [a-z]+", html)
