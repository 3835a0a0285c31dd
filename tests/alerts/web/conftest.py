"""Fixtures for the web app: a real database (both backends), a real Redis for rate limits,
a real SMTP server for the emails the pages send, and a live HTTP server with a real
headless Chromium for the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from alerts.config import Settings, load_settings
from alerts.models import Role
from alerts.web.app import create_app
from alerts.web.context import SENDING_THREAD
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import BASE_URL, EDITOR, PUBLISHER, SECRET, app_session
from tests.alerts.web.browser import CHROMIUM, DESKTOP, launch_chromium
from tests.support.sending import app_runtime
from tests.support.smtp_server import RecordingSMTPServer, free_port
from tests.support.staff import signed_in_client


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
        secret_key=SECRET,
        base_url=BASE_URL,
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
def app_port() -> int:
    """The free loopback port `live_server` listens on. Settings whose public URL must lead
    back to the live server (links in emails, a session cookie that is not Secure-only) ask
    for it too."""
    return free_port()


@pytest.fixture
def live_server(app: Flask, app_port: int) -> Iterator[str]:
    """The app on `app_port`, for a real browser."""
    server: BaseWSGIServer = make_server("127.0.0.1", app_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{app_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session on the app's database, for arranging and checking what views did."""
    with app_runtime(app).sessions() as session:
        yield session


@pytest.fixture
def editor(app: Flask) -> FlaskClient:
    """A test client signed in as a new editor, EDITOR."""
    return signed_in_client(app, Role.EDITOR, EDITOR)


@pytest.fixture
def topics(app: Flask) -> None:
    """Two topics a reader can choose on the sign-up form."""
    with app_session(app) as session:
        ensure_topics(session, ["Harbour City election", "Chip shortage"], public=True)
        session.commit()


@pytest.fixture
def limits(redis_url: str) -> redis.Redis:
    """The Redis the app keeps its rate limits in (`web_settings` empties it first)."""
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def live_settings(
    database_url: str, redis_url: str, smtp_server: RecordingSMTPServer, app_port: int
) -> Settings:
    """Settings for a browser test of the staff pages: the live server's own address as the
    public URL, so the session cookie is not Secure-only and links (a reset link, a preview)
    lead back to it. A module uses them by overriding `web_settings` with them."""
    redis.Redis.from_url(redis_url).flushdb()
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key=SECRET,
        base_url=f"http://127.0.0.1:{app_port}",
        form_min_seconds=0,
        password_hash_cost="fast",
        redis_url=None,
        _env_file=None,
    )


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page at desktop width, in British English, patient for a busy machine."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright: one per test module."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "Install it with `apt-get install chromium` (.ci/run does this in CI).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()
