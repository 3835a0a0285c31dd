"""Webhook events of Postmark, SendGrid, Mailgun and Amazon SES, as the reports DSNs give.

Each provider's payload is mapped to the same `FeedbackReport`s, so one policy decides,
and a permanent failure goes through the same status-code rules as a DSN's (a policy
block is soft everywhere). Providers rewrite the envelope sender, so VERP survives only
SES; what survives all of them is our Message-ID, and that is what ties an event to a
delivery. A bare delivery id (in metadata or a header) is never read: it is a sequential
number anyone can write. Call these only after the request's signature has been verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email import policy
from email.parser import HeaderParser
from typing import Any

from alerts.errors import WebhookPayloadError
from alerts.feedback.reports import (
    DETAIL_LIMIT,
    FeedbackReport,
    NotAReport,
    Reference,
    classify,
    report_key,
    status_code,
)
from alerts.models import FeedbackKind

Mapped = FeedbackReport | NotAReport
_COMPLAINT = FeedbackKind.COMPLAINT
_POSTMARK_PERMANENT = {"HardBounce", "BadEmailAddress"}
_POSTMARK_TEMPORARY = {"SoftBounce", "Transient", "DnsError", "Blocked", "DMARCPolicy"}


def postmark_reports(payload: Any) -> list[Mapped]:
    """One Postmark bounce or spam-complaint webhook (one JSON object per request)."""
    event = _object(payload, "a Postmark webhook")
    kind_name = str(event.get("Type", ""))
    detail = _text(event.get("Details")) or _text(event.get("Description"))
    code = status_code(detail)
    if kind_name == "SpamComplaint":
        kind, code = _COMPLAINT, None
    elif kind_name in _POSTMARK_PERMANENT or kind_name in _POSTMARK_TEMPORARY:
        kind = _bounce_kind(kind_name in _POSTMARK_PERMANENT, code)
    else:
        return [NotAReport(f"a Postmark {kind_name or 'event'!r}, not a bounce we act on")]
    # The headers of the bounced message, one per line: folding them into one line with
    # the rest of the text would leave no Message-ID to find.
    content = event.get("Content")
    headers = (
        HeaderParser(policy=policy.compat32).parsestr(content)
        if isinstance(content, str) and content
        else None
    )
    message_ids = [_text(headers.get("Message-ID"))] if headers is not None else []
    identity = f"{event.get('RecordType')}:{event.get('ID')}"
    return [
        FeedbackReport(
            kind,
            "postmark",
            report_key("postmark", identity),
            _reference([event.get("Email")], message_ids),
            code,
            _short(detail),
            _iso(event.get("BouncedAt")),
        )
    ]


def sendgrid_reports(payload: Any) -> list[Mapped]:
    """A SendGrid Event Webhook batch: a JSON array of events of every kind."""
    if not isinstance(payload, list):
        raise WebhookPayloadError("a SendGrid event batch is a JSON array")
    return [_sendgrid_event(_object(event, "a SendGrid event")) for event in payload]


def _sendgrid_event(event: dict[str, Any]) -> Mapped:
    name = event.get("event")
    detail = _text(event.get("reason")) or _text(event.get("response"))
    code = status_code(_text(event.get("status")), detail)
    if name == "spamreport":
        kind, code = _COMPLAINT, None
    elif name in ("bounce", "deferred"):
        # A "blocked" bounce is the receiver's policy about us, not a dead address.
        kind = _bounce_kind(name == "bounce" and event.get("type") != "blocked", code)
    else:
        return NotAReport(f"a SendGrid {name!r} event, not a bounce or complaint")
    identity = event.get("sg_event_id") or f"{event.get('sg_message_id')}:{name}"
    return FeedbackReport(
        kind,
        "sendgrid",
        report_key("sendgrid", str(identity)),
        _reference([event.get("email")], [event.get("smtp-id")]),
        code,
        _short(detail),
        _epoch(event.get("timestamp")),
    )


def mailgun_reports(payload: Any) -> list[Mapped]:
    """A Mailgun webhook: `{"signature": {...}, "event-data": {...}}`."""
    data = _nested(_object(payload, "a Mailgun webhook"), "event-data")
    name = data.get("event")
    status = _nested(data, "delivery-status")
    detail = _text(status.get("description")) or _text(status.get("message"))
    code = status_code(_text(status.get("enhanced-code")), detail, _text(status.get("code")))
    if name == "complained":
        kind, code = _COMPLAINT, None
    elif name == "failed":
        kind = _bounce_kind(data.get("severity") == "permanent", code)
    else:
        return [NotAReport(f"a Mailgun {name!r} event, not a bounce or complaint")]
    headers = _nested(_nested(data, "message"), "headers")
    return [
        FeedbackReport(
            kind,
            "mailgun",
            report_key("mailgun", str(data.get("id"))),
            _reference([data.get("recipient")], [headers.get("message-id")]),
            code,
            _short(detail or _text(data.get("reason"))),
            _epoch(data.get("timestamp")),
        )
    ]


def ses_reports(notification: Any) -> list[Mapped]:
    """An SES bounce or complaint notification (the `Message` of an SNS notification)."""
    note = _object(notification, "an SES notification")
    name = note.get("notificationType") or note.get("eventType")
    mail = _nested(note, "mail")
    headers = {
        str(header.get("name", "")).lower(): header.get("value")
        for header in _list(mail.get("headers"))
    }
    message_ids = [_nested(mail, "commonHeaders").get("messageId"), headers.get("message-id")]
    if name == "Bounce":
        bounce = _nested(note, "bounce")
        permanent = bounce.get("bounceType") == "Permanent"
        recipients, feedback = _list(bounce.get("bouncedRecipients")), bounce
    elif name == "Complaint":
        feedback = _nested(note, "complaint")
        feedback_type = feedback.get("complaintFeedbackType")
        if feedback_type not in (None, "abuse"):
            return [NotAReport(f"an SES complaint of type {feedback_type!r}, not abuse")]
        permanent, recipients = True, _list(feedback.get("complainedRecipients"))
    else:
        return [NotAReport(f"an SES {name!r} notification, not a bounce or complaint")]
    reports: list[Mapped] = []
    for recipient in recipients:
        address = recipient.get("emailAddress")
        detail = _text(recipient.get("diagnosticCode"))
        code = status_code(_text(recipient.get("status")), detail)
        kind = _COMPLAINT if name == "Complaint" else _bounce_kind(permanent, code)
        reports.append(
            FeedbackReport(
                kind,
                "ses",
                report_key("ses", f"{feedback.get('feedbackId')}:{address}"),
                _reference([address], message_ids, verp=[mail.get("source")]),
                None if kind is _COMPLAINT else code,
                _short(detail or _text(feedback.get("bounceSubType"))),
                _iso(feedback.get("timestamp")),
            )
        )
    return reports or [NotAReport(f"an SES {name} notification naming no recipient")]


def _bounce_kind(permanent: bool, code: str | None) -> FeedbackKind:
    """A provider's permanent failure, judged by the same status rules as a DSN's."""
    if not permanent:
        return FeedbackKind.SOFT_BOUNCE
    return classify("failed", code) or FeedbackKind.HARD_BOUNCE


def _reference(
    recipients: Iterable[Any], message_ids: Iterable[Any], *, verp: Iterable[Any] = ()
) -> Reference:
    return Reference(
        verp_addresses=tuple(str(value).lower() for value in verp if value),
        message_ids=tuple(str(value) for value in message_ids if value),
        recipients=tuple(str(value).strip().lower() for value in recipients if value),
    )


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{what} is a JSON object")
    return value


def _nested(value: dict[str, Any], key: str) -> dict[str, Any]:
    inner = value.get(key)
    return inner if isinstance(inner, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _short(text: str | None) -> str | None:
    return text[:DETAIL_LIMIT] if text else None


def _iso(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    if parsed is None:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
