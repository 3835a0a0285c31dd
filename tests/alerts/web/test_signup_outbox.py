"""Sign-up emails go through the notices outbox (both backends, a real SMTP server and a real
Redis): the row is written with the sign-up, sent once, and a broker that cannot take the
task costs the visitor nothing — the row waits for the tick."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from alerts.config import Settings
from alerts.models import NoticeDelivery, NoticeStatus
from alerts.web.app import create_app
from alerts.web.ratelimit import RedisRateLimiter
from subscribers.models import Subscriber
from tests.alerts.web.app_support import app_session
from tests.support.smtp_server import RecordingSMTPServer, free_port


def _notices(app: Flask) -> list[tuple[str, NoticeStatus, int, str]]:
    with app_session(app) as session:
        rows = session.execute(
            select(Subscriber.email, NoticeDelivery.status, NoticeDelivery.attempts,
                   NoticeDelivery.kind)
            .join(Subscriber, Subscriber.id == NoticeDelivery.subscriber_id)
            .order_by(NoticeDelivery.id)
        )  # fmt: skip
        return [(email, status, attempts, kind) for email, status, attempts, kind in rows]


def test_a_sign_up_writes_its_confirmation_and_sends_it_once(
    app: Flask, smtp_server: RecordingSMTPServer
) -> None:
    client = app.test_client()
    assert client.post("/subscribe", json={"email": "ada@example.com"}).status_code == 202
    smtp_server.wait_for(1)
    assert _notices(app) == [("ada@example.com", NoticeStatus.SENT, 1, "confirm")]
    # Signing up again while pending asks for a second confirmation: a row of its own.
    assert client.post("/subscribe", json={"email": "ada@example.com"}).status_code == 202
    smtp_server.wait_for(2)
    assert [row[1] for row in _notices(app)] == [NoticeStatus.SENT] * 2
    assert [m.recipients for m in smtp_server.messages] == [["ada@example.com"]] * 2


def test_an_address_over_its_daily_share_gets_no_row(app: Flask) -> None:
    client = app.test_client()
    for _ in range(5):
        assert client.post("/subscribe", json={"email": "bo@example.com"}).status_code == 202
    assert len(_notices(app)) == 3  # CONFIRM_LIMIT a day


@pytest.fixture
def app_without_broker(web_settings: Settings, redis_url: str) -> Iterator[Flask]:
    """Celery pointed at a port where nothing listens: every publish fails."""
    settings = web_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    application = create_app(settings)
    application.extensions["newsalerts"].limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    application.config["TESTING"] = True
    yield application
    application.extensions["newsalerts"].runtime.close()


def test_a_broker_that_cannot_take_the_task_costs_the_visitor_nothing(
    app_without_broker: Flask, smtp_server: RecordingSMTPServer
) -> None:
    answer = app_without_broker.test_client().post("/subscribe", json={"email": "cy@example.com"})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    # The sign-up and its confirmation are stored; the tick sends it (tests/alerts/delivery).
    assert _notices(app_without_broker) == [("cy@example.com", NoticeStatus.PENDING, 0, "confirm")]
    assert smtp_server.messages == []
