"""The web application factory: reader pages, health checks, errors, security headers.

How each error is answered is alerts.web.errors: the one map from errors to HTTP.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from jinja2 import FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from alerts.config import TEMPLATES_DIR, Settings
from alerts.ops.health import check_services, healthy
from alerts.ops.metrics import render_metrics
from alerts.runtime import Runtime
from alerts.translations import enable_i18n
from alerts.web import (
    api,
    api_editions,  # noqa: F401  (adds its routes to api.blueprint)
    archive,
    auth,
    desk,
    desk_import,
    desk_issues,
    desk_readers,
    desk_topics,
    errors,
    links,
    ops,
    ops_staff,
    ops_tokens,
    results,
    signup,
    tracking,
    webhooks,
)
from alerts.web.context import WebContext, web_context
from alerts.web.ids import RowIdConverter

MAX_BODY_BYTES = 64 * 1024
# /readyz answers within about this long even when a relay does not answer at all.
READY_TIMEOUT_SECONDS = 2.0


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.jinja_loader = FileSystemLoader(TEMPLATES_DIR)
    enable_i18n(app.jinja_env)  # reader pages take their language's callables (pages.page)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    auth.configure_sessions(app, settings)
    app.extensions["newsalerts"] = WebContext.build(runtime or Runtime.from_settings(settings))
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count
        )
    # Before any blueprint: their rules name it (`<id:...>`) and are built as they register.
    app.url_map.converters["id"] = RowIdConverter
    # Before auth's CSRF check (registered with its blueprint) reads a form: a CSV import
    # may be larger than MAX_BODY_BYTES.
    app.before_request(desk_import.allow_a_file)
    app.register_blueprint(signup.blueprint)
    app.register_blueprint(links.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(ops_tokens.blueprint)
    app.register_blueprint(ops_staff.blueprint)
    app.register_blueprint(ops_staff.account)
    app.register_blueprint(archive.blueprint)
    app.register_blueprint(tracking.blueprint)
    app.register_blueprint(results.blueprint)
    app.register_blueprint(desk.blueprint)
    app.register_blueprint(desk_issues.blueprint)
    app.register_blueprint(desk_readers.blueprint)
    app.register_blueprint(desk_import.blueprint)
    app.register_blueprint(desk_topics.blueprint)
    desk.register_template_helpers(app)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/readyz", "readyz", _readyz)
    app.add_url_rule("/metrics", "metrics", _metrics)
    app.before_request(_nonce)
    app.after_request(_security_headers)
    app.teardown_request(_close_session)
    errors.register(app)
    return app


def _nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def _security_headers(response: Response) -> Response:
    nonce = g.get("csp_nonce", "")
    settings = web_context().runtime.settings
    # The iframe form, and the answer to its post (check your inbox, or the form with an
    # error), may be shown inside publishers' pages; nothing else may be framed.
    in_frame = request.path == "/embed/frame" or (
        request.path == "/subscribe" and request.method == "POST"
    )
    framing = " ".join(sorted(settings.origins)) if in_frame else "'none'"
    # Our forms post only to this service (its public origin may differ from the Host a
    # request came in on); publishers' origins may frame the iframe form, nothing more.
    own = "{0.scheme}://{0.netloc}".format(urlsplit(settings.base_url))
    # The desk frames its own email previews (and, like the console, polls for progress).
    previews = "frame-src 'self'; " if request.path.startswith("/desk") else ""
    # The page header shows SITE_LOGO_URL (https, validated at load): its origin may serve it.
    logo = (
        " {0.scheme}://{0.netloc}".format(urlsplit(settings.site_logo_url))
        if settings.site_logo_url
        else ""
    )
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        f"img-src 'self' data:{logo}; connect-src 'self'; {previews}form-action 'self' {own}; "
        f"frame-ancestors {framing}; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def _healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200


def _readyz() -> tuple[dict[str, Any], int]:
    """200 when the database, Redis and every SMTP relay answer; else 503 naming which not."""
    checks = check_services(web_context().runtime, timeout=READY_TIMEOUT_SECONDS)
    ready = healthy(checks)
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def _metrics() -> Response:
    """Prometheus text, computed from the database and Redis at scrape time; behind a
    bearer token when METRICS_TOKEN is set."""
    runtime = web_context().runtime
    expected = runtime.settings.metrics_token
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return Response(
                "a bearer token is required\n",
                status=401,
                content_type="text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body, content_type = render_metrics(runtime)
    return Response(body, content_type=content_type)
