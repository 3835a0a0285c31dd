"""Reading bounce and complaint emails: RFC 3464 DSNs and RFC 5965 ARF reports.

Parsing only extracts what a report claims; it decides nothing and trusts nothing. What a
report claims about *which* message it concerns is gathered in a `Reference` and the
policy decides which of those claims it believes (a signed VERP address or an unguessable
Message-ID; anything else in a report can be written by anyone).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from alerts.models import FeedbackKind

# Headers where our mail server (or the bounce itself) names the address a bounce came to,
# most trustworthy first: the envelope recipient is written by our own MTA.
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BASIC_REPLY = re.compile(r"\b([245])\d\d\b")
# Permanent failures that say nothing about the address itself: a full mailbox, a message
# too big, or the receiver's policy (spam filtering, DMARC). Suppressing at once on those
# would wipe out good readers the day our own reputation or DKIM has a problem; they count
# as soft bounces, and three of them still suppress.
_NOT_THE_ADDRESS = ("5.2.2", "5.3.4", "5.7.")
DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class Reference:
    """What a report says about the message it concerns."""

    verp_addresses: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedbackReport:
    """A bounce or complaint about one message, from a DSN, an ARF report or a webhook."""

    kind: FeedbackKind
    source: str
    report_key: str
    reference: Reference = field(default_factory=Reference)
    status_code: str | None = None
    detail: str | None = None
    # When the report says it happened; the policy keeps it between the send and now.
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class NotAReport:
    """A message that is neither a bounce nor a complaint we act on, and why."""

    reason: str


def report_key(source: str, identity: str | bytes) -> str:
    """A bounded, stable key for a report, so the same report is recognised when seen again."""
    data = identity.encode() if isinstance(identity, str) else identity
    return f"{source}:{hashlib.sha256(data).hexdigest()}"


def classify(action: str, status: str | None) -> FeedbackKind | None:
    """Hard, soft, or no bounce at all, from a DSN's Action and Status (RFC 3463 codes)."""
    action = action.strip().lower()
    if action == "delayed":
        return FeedbackKind.SOFT_BOUNCE
    if action != "failed":
        return None  # delivered, relayed, expanded: good news
    if status is None or status.startswith("4."):
        return FeedbackKind.SOFT_BOUNCE
    if status.startswith("5."):
        if status.startswith(_NOT_THE_ADDRESS):
            return FeedbackKind.SOFT_BOUNCE
        return FeedbackKind.HARD_BOUNCE
    return None


def status_code(*texts: str | None) -> str | None:
    """The first enhanced status code (`5.1.1`) in the texts, else one from a basic reply."""
    for text in texts:
        match = _STATUS.search(text or "")
        if match:
            return ".".join(match.groups())
    for text in texts:
        match = _BASIC_REPLY.search(text or "")
        if match:
            return f"{match.group(1)}.0.0"
    return None


def parse_report(
    raw: bytes, *, envelope_recipient: str | None = None
) -> FeedbackReport | NotAReport:
    """Read one email; return what it reports, or why it reports nothing we act on."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    if message.get_content_type() != "multipart/report":
        return NotAReport("not a delivery status notification or feedback report")
    report_type = str(message.get_param("report-type") or "").lower()
    identity = _header(message, "Message-ID") or raw
    arrived_for = ([envelope_recipient] if envelope_recipient else []) + _addresses(
        message, _RECIPIENT_HEADERS
    )
    if report_type == "delivery-status":
        return _delivery_status(message, report_key("dsn", identity), arrived_for)
    if report_type == "feedback-report":
        return _feedback_report(message, report_key("arf", identity), arrived_for)
    return NotAReport(f"a report of type {report_type or 'unknown'!r}, not a DSN or ARF")


def _delivery_status(
    message: Message, key: str, arrived_for: list[str]
) -> FeedbackReport | NotAReport:
    blocks = _blocks(message, "message/delivery-status")
    if len(blocks) < 2:
        return NotAReport("a delivery report without per-recipient fields")
    worst: tuple[FeedbackKind, str | None, str | None] | None = None
    recipients: list[str] = []
    for block in blocks[1:]:  # the first block is about the message, the rest per recipient
        diagnostic = _header(block, "Diagnostic-Code")
        code = status_code(_header(block, "Status"), diagnostic)
        kind = classify(_header(block, "Action") or "", code)
        recipients += _typed_addresses(block, ("Final-Recipient", "Original-Recipient"))
        if kind is not None and (worst is None or _rank(kind) > _rank(worst[0])):
            worst = (kind, code, diagnostic)
    if worst is None:
        return NotAReport("a delivery report that reports no failure")
    returned = _returned_headers(message)
    reference = _reference(arrived_for, returned, recipients)
    kind, code, diagnostic = worst
    when = _date(_header(message, "Date"))
    return FeedbackReport(kind, "dsn", key, reference, code, _shorten(diagnostic), when)


def _feedback_report(
    message: Message, key: str, arrived_for: list[str]
) -> FeedbackReport | NotAReport:
    blocks = _blocks(message, "message/feedback-report")
    if not blocks:
        return NotAReport("a feedback report without its machine-readable part")
    fields = blocks[0]
    feedback_type = (_header(fields, "Feedback-Type") or "").strip().lower()
    if feedback_type != "abuse":
        return NotAReport(f"feedback of type {feedback_type or 'unknown'!r}, not a complaint")
    returned = _returned_headers(message)
    mail_from = _addresses(fields, ("Original-Mail-From",))
    recipients = _addresses(fields, ("Original-Rcpt-To",))
    reference = _reference(mail_from + arrived_for, returned, recipients)
    agent = _header(fields, "User-Agent") or _header(fields, "Reporting-MTA")
    detail = _shorten(f"abuse reported by {agent}" if agent else "abuse reported")
    when = _date(_header(message, "Date"))
    return FeedbackReport(FeedbackKind.COMPLAINT, "arf", key, reference, None, detail, when)


def _reference(verp: list[str], returned: Message | None, recipients: list[str]) -> Reference:
    """Everything that may name the delivery: VERP candidates and the Message-ID."""
    if returned is not None:
        verp = verp + _addresses(returned, ("Return-Path",))
        recipients = recipients + _addresses(returned, ("To",))
    message_ids = [_header(returned, "Message-ID")] if returned is not None else []
    return Reference(
        verp_addresses=tuple(dict.fromkeys(verp)),
        message_ids=tuple(filter(None, message_ids)),
        recipients=tuple(dict.fromkeys(recipients)),
    )


def _rank(kind: FeedbackKind) -> int:
    return 2 if kind is FeedbackKind.HARD_BOUNCE else 1


def _blocks(message: Message, content_type: str) -> list[Message]:
    """The header blocks of the first part of this type (the parser gives a list of them)."""
    for part in message.walk():
        if part.get_content_type() == content_type:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
    return []


def _returned_headers(message: Message) -> Message | None:
    """The original message's headers, returned whole (message/rfc822) or alone."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return HeaderParser(policy=policy.compat32).parsestr(
                    text.decode("utf-8", "replace")
                )
    return None


def _header(message: Message | None, name: str) -> str | None:
    value = message.get(name) if message is not None else None
    return " ".join(str(value).split()) if value is not None else None


def _addresses(message: Message, names: Iterable[str]) -> list[str]:
    values = [str(value) for name in names for value in message.get_all(name, [])]
    return [address.lower() for _, address in getaddresses(values) if "@" in address]


def _typed_addresses(block: Message, names: Iterable[str]) -> list[str]:
    """`rfc822; ada@example.com` fields of a DSN, without their address type."""
    found = []
    for name in names:
        value = _header(block, name)
        if value:
            kind, _, address = value.partition(";")
            if kind.strip().lower() == "rfc822" and "@" in address:
                found.append(address.strip().strip("<>").lower())
    return found


def _date(value: str | None) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _shorten(text: str | None) -> str | None:
    return text[:DETAIL_LIMIT] if text else None
