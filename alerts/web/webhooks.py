"""Bounce and complaint webhooks of mail providers: `POST /webhooks/<provider>`.

Each request is verified first (Postmark: basic auth; SendGrid: ECDSA; Mailgun: HMAC;
SES: the SNS message signature) and nothing in it is read into the database before
that. A rejected request answers 401/403 and changes nothing; a verified one is mapped
to the same reports as a bounce email and goes through the same policy. Answers are
JSON, since only machines call here. A provider without credentials has no endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from alerts.errors import FeedbackError, WebhookPayloadError, WebhookRejected
from alerts.feedback.policy import FeedbackResult, Outcome, apply_report
from alerts.feedback.providers import (
    Mapped,
    mailgun_reports,
    postmark_reports,
    sendgrid_reports,
    ses_reports,
)
from alerts.feedback.reports import NotAReport
from alerts.feedback.settings import PROVIDERS, WebhookSettings
from alerts.feedback.signatures import check_basic_auth, check_mailgun, check_sendgrid
from alerts.feedback.sns import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    Fetch,
    check_sns,
    confirm_subscription,
    http_get,
)
from alerts.web.context import db, web_context
from subscribers.database import utcnow

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")
EXTENSION = "newsalerts.webhooks"
# Providers post events in batches (SendGrid up to thousands); the app's 64 KiB limit is
# for forms.
MAX_WEBHOOK_BYTES = 4 * 1024 * 1024
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass
class WebhookConfig:
    """What the endpoints need besides the database; tests swap `fetch` and `clock`."""

    settings: WebhookSettings
    fetch: Fetch = http_get
    clock: Callable[[], datetime] = field(default=utcnow)


def webhook_config() -> WebhookConfig:
    """The app's config, built on first use from Settings and the environment."""
    config = current_app.extensions.get(EXTENSION)
    if config is None:
        config = WebhookConfig(WebhookSettings.load(web_context().runtime.settings))
        current_app.extensions[EXTENSION] = config
    assert isinstance(config, WebhookConfig)
    return config


@blueprint.before_request
def _allow_batches() -> None:
    request.max_content_length = MAX_WEBHOOK_BYTES


@blueprint.post("/<provider>")
def receive(provider: str) -> tuple[Response, int]:
    config = webhook_config()
    if provider not in PROVIDERS or not config.settings.enabled(provider):
        abort(404)
    try:
        reports = _READERS[provider](config)
    except WebhookRejected as error:
        log.warning("rejected %s webhook from %s: %s", provider, request.remote_addr, error)
        response = jsonify({"error": error.reason})
        if error.status == 401 and provider == "postmark":
            response.headers["WWW-Authenticate"] = 'Basic realm="webhooks"'
        return response, error.status
    except WebhookPayloadError as error:
        return jsonify({"error": str(error)}), 400
    except FeedbackError as error:  # e.g. the SNS certificate could not be fetched: retry
        log.error("%s webhook could not be checked: %s", provider, error)
        return jsonify({"error": "try again later"}), 503
    session = db()
    secret = web_context().runtime.settings.secret_key
    now = config.clock()
    results = [
        FeedbackResult(Outcome.IGNORED, item.reason)
        if isinstance(item, NotAReport)
        else apply_report(session, item, secret=secret, now=now)
        for item in reports
    ]
    session.commit()
    return jsonify({"results": [_describe(result) for result in results]}), 200


def _describe(result: FeedbackResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome.value,
        "reason": result.reason,
        "kind": result.kind.value if result.kind else None,
        "delivery_id": result.delivery_id,
    }


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        raise WebhookPayloadError("the body is not JSON") from None
    except RecursionError:  # nested deeper than the parser goes; read before any signature
        raise WebhookPayloadError("the body is nested too deep") from None


def _postmark(config: WebhookConfig) -> list[Mapped]:
    settings = config.settings
    assert settings.postmark_user and settings.postmark_password
    check_basic_auth(
        request.headers.get("Authorization"),
        user=settings.postmark_user,
        password=settings.postmark_password,
    )
    return postmark_reports(_json(request.get_data()))


def _sendgrid(config: WebhookConfig) -> list[Mapped]:
    assert config.settings.sendgrid_public_key
    body = request.get_data()
    check_sendgrid(
        body,
        signature=request.headers.get(SENDGRID_SIGNATURE),
        timestamp=request.headers.get(SENDGRID_TIMESTAMP),
        public_key=config.settings.sendgrid_public_key,
        now=config.clock(),
        max_age=config.settings.max_age,
    )
    return sendgrid_reports(_json(body))


def _mailgun(config: WebhookConfig) -> list[Mapped]:
    assert config.settings.mailgun_signing_key
    payload = _json(request.get_data())  # the signature travels inside the body
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise WebhookRejected("signature missing", status=401)
    check_mailgun(
        timestamp=_string(signature.get("timestamp")),
        token=_string(signature.get("token")),
        signature=_string(signature.get("signature")),
        signing_key=config.settings.mailgun_signing_key,
        now=config.clock(),
        max_age=config.settings.max_age,
    )
    return mailgun_reports(payload)


def _ses(config: WebhookConfig) -> list[Mapped]:
    message = _json(request.get_data())  # SNS posts JSON as text/plain
    if not isinstance(message, dict):
        raise WebhookRejected("not an SNS message", status=401)
    check_sns(
        message,
        topic_arns=config.settings.ses_topic_arns,
        fetch=config.fetch,
        now=config.clock(),
        max_age=config.settings.max_age,
    )
    if message["Type"] == SUBSCRIPTION_CONFIRMATION:
        confirm_subscription(message, fetch=config.fetch)
        log.info("confirmed the SNS subscription to %s", message["TopicArn"])
        return []
    if message["Type"] != NOTIFICATION:
        return []
    return ses_reports(_json(str(message["Message"]).encode()))


def _string(value: Any) -> str | None:
    return str(value) if value is not None else None


_READERS: dict[str, Callable[[WebhookConfig], list[Mapped]]] = {
    "postmark": _postmark,
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
    "ses": _ses,
}
