"""/readyz against services that really stop and start: a Redis started for this test, the
test's SMTP server, the database; and the bearer token that can guard /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask

from alerts.config import Settings, load_settings
from alerts.web.app import create_app
from tests.support.redis_server import RedisServer
from tests.support.smtp_server import RecordingSMTPServer


@pytest.fixture
def relay() -> Iterator[RecordingSMTPServer]:
    """An SMTP relay of this test only (the test stops it; it cannot start again)."""
    server = RecordingSMTPServer()
    server.start()
    yield server
    if server.running:
        server.stop()


@pytest.fixture
def ready_app(
    web_settings: Settings, private_redis: RedisServer, relay: RecordingSMTPServer
) -> Iterator[Flask]:
    overrides = {"redis_url": private_redis.url, "smtp_url": relay.url, "_env_file": None}
    application = create_app(load_settings(**{**web_settings.model_dump(), **overrides}))
    yield application
    application.extensions["newsalerts"].runtime.close()


def test_readyz_names_what_failed(
    ready_app: Flask, private_redis: RedisServer, relay: RecordingSMTPServer
) -> None:
    client = ready_app.test_client()
    relay_name = f"smtp:127.0.0.1:{relay.port}"
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", relay_name: "ok"},
    }

    private_redis.kill()
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"].startswith("error: ConnectionError")
    assert (body["checks"]["database"], body["checks"][relay_name]) == ("ok", "ok")

    private_redis.start()
    assert client.get("/readyz").status_code == 200

    relay.stop()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.get_json()["checks"]
    assert checks[relay_name].startswith("error: ConnectionRefusedError")
    assert (checks["database"], checks["redis"]) == ("ok", "ok")


def test_metrics_may_require_a_bearer_token(web_settings: Settings) -> None:
    settings = load_settings(
        **{**web_settings.model_dump(), "metrics_token": "s3cret-token", "_env_file": None}
    )
    application = create_app(settings)
    try:
        client = application.test_client()
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (
            401,
            'Bearer realm="metrics"',
        )
        right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200 and b"newsalerts_up" in right.data
    finally:
        application.extensions["newsalerts"].runtime.close()
