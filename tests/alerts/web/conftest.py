"""Fixtures for the web app: a real database (both backends), a real Redis for rate limits,
a real SMTP server for the emails the pages send, and a live HTTP server for browsers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from alerts.config import Settings, load_settings
from alerts.web.app import create_app
from alerts.web.context import SENDING_THREAD
from tests.support.sending import app_runtime
from tests.support.smtp_server import RecordingSMTPServer, free_port

PUBLISHER = "https://news.example.com"


@pytest.fixture
def web_settings(
    database_url: str, redis_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Settings:
    """Limits in a real Redis; emails sent inline (no REDIS_URL means no Celery) ...

    ... so the rate limiter is given Redis explicitly through `limiter_redis`."""
    redis.Redis.from_url(redis_url).flushdb()
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="web-test-secret-key-0123456789abcdef",
        base_url="https://alerts.example.com",
        allowed_origins=PUBLISHER,
        form_min_seconds=0,
        password_hash_cost="fast",
        redis_url=None,
        _env_file=None,
    )


@pytest.fixture
def app(web_settings: Settings, redis_url: str) -> Iterator[Flask]:
    from alerts.web.context import web_context  # noqa: F401  (documents where the limiter lives)
    from alerts.web.ratelimit import RedisRateLimiter

    application = create_app(web_settings)
    application.extensions["newsalerts"].limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    application.config["TESTING"] = True
    yield application
    # A request that started a send (without a broker, a thread) may return before it ends:
    # let it finish, or it holds locks while the database is emptied for the next test.
    for thread in threading.enumerate():
        if thread.name == SENDING_THREAD:
            thread.join(timeout=60)
    application.extensions["newsalerts"].runtime.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app on a free loopback port, for a real browser."""
    port = free_port()
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session on the app's database, for arranging and checking what views did."""
    with app_runtime(app).sessions() as session:
        yield session
