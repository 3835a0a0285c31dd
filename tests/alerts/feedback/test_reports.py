"""Reading DSN and ARF samples, and VERP addresses, without a database."""

from __future__ import annotations

import pytest

from alerts.feedback import FeedbackReport, NotAReport, parse_report
from alerts.feedback.reports import classify, status_code
from alerts.mail.verp import is_verp_address, parse_verp, verp_address
from alerts.models import FeedbackKind
from tests.alerts.feedback.test_bounces import FIXTURES, SECRET

VERP = verp_address(42, secret=SECRET, domain="bounces.example.com")


def fill(name: str, **values: str) -> bytes:
    defaults = {
        "VERP": VERP,
        "RECIPIENT": "ada@example.com",
        "MESSAGE_ID": "<digest.42.0123456789abcdef@example.com>",
        "DELIVERY": "42",
        "REPORT_ID": "<report.1@mx1.example.com>",
        "DATE": "Mon, 05 Jan 2026 12:05:00 +0000",
    }
    text = (FIXTURES / name).read_text()
    for marker, value in {**defaults, **values}.items():
        text = text.replace(f"%%{marker}%%", value)
    return text.encode()


def report(raw: bytes) -> FeedbackReport:
    parsed = parse_report(raw)
    assert isinstance(parsed, FeedbackReport), parsed
    return parsed


def test_verp_round_trip() -> None:
    assert VERP.startswith("bounces+42-") and VERP.endswith("@bounces.example.com")
    assert parse_verp(VERP, secret=SECRET) == 42
    # Mail servers may change the case of a local part; display names and brackets occur.
    assert parse_verp(VERP.upper(), secret=SECRET) == 42
    assert parse_verp(f"Mail Delivery <{VERP}>", secret=SECRET) == 42


@pytest.mark.parametrize(
    "address",
    [
        verp_address(42, secret="another-secret", domain="bounces.example.com"),
        VERP.replace("bounces+42-", "bounces+43-"),
        "bounces+42@bounces.example.com",
        "alerts@example.com",
        "bounces+" + "9" * 40 + "-00000000@example.com",
    ],
)
def test_verp_refuses_what_we_did_not_sign(address: str) -> None:
    assert parse_verp(address, secret=SECRET) is None


def test_verp_tells_forged_from_foreign() -> None:
    forged = verp_address(42, secret="another-secret", domain="bounces.example.com")
    assert is_verp_address(forged) and not is_verp_address("alerts@example.com")


def test_verp_refuses_a_domain_that_is_an_address() -> None:
    with pytest.raises(ValueError):
        verp_address(1, secret=SECRET, domain="a@b.example.com")


def test_a_postfix_hard_bounce() -> None:
    parsed = report(fill("dsn-hard-bounce.eml"))
    assert (parsed.kind, parsed.source, parsed.status_code) == (
        FeedbackKind.HARD_BOUNCE,
        "dsn",
        "5.1.1",
    )
    assert parsed.detail is not None and "User unknown" in parsed.detail
    assert VERP in parsed.reference.verp_addresses
    assert parsed.reference.message_ids == ("<digest.42.0123456789abcdef@example.com>",)
    assert "ada@example.com" in parsed.reference.recipients
    assert parsed.occurred_at is not None and parsed.occurred_at.hour == 12


def test_a_delay_warning_with_headers_only() -> None:
    parsed = report(fill("dsn-soft-bounce.eml"))
    assert (parsed.kind, parsed.status_code) == (FeedbackKind.SOFT_BOUNCE, "4.2.2")
    assert parsed.reference.message_ids == ("<digest.42.0123456789abcdef@example.com>",)


def test_an_exchange_bounce_names_the_message_but_no_verp() -> None:
    parsed = report(fill("dsn-exchange.eml"))
    assert (parsed.kind, parsed.status_code) == (FeedbackKind.HARD_BOUNCE, "5.1.10")
    assert parsed.reference.verp_addresses == ("alerts@example.com",)


def test_an_arf_complaint() -> None:
    parsed = report(fill("arf-complaint.eml"))
    assert (parsed.kind, parsed.source) == (FeedbackKind.COMPLAINT, "arf")
    assert parsed.reference.verp_addresses[0] == VERP  # Original-Mail-From
    assert parsed.detail == "abuse reported by ExampleFBL/1.0"


def test_the_report_key_is_the_reports_own_message_id() -> None:
    first = report(fill("dsn-hard-bounce.eml", REPORT_ID="<a@mx1.example.com>"))
    again = report(fill("dsn-hard-bounce.eml", REPORT_ID="<a@mx1.example.com>"))
    other = report(fill("dsn-hard-bounce.eml", REPORT_ID="<b@mx1.example.com>"))
    assert first.report_key == again.report_key != other.report_key


def test_an_auto_reply_is_not_a_report() -> None:
    parsed = parse_report(fill("auto-reply.eml"))
    assert isinstance(parsed, NotAReport)


def test_a_multipart_report_of_another_type() -> None:
    raw = fill("dsn-hard-bounce.eml").replace(
        b"report-type=delivery-status", b"report-type=disposition-notification"
    )
    parsed = parse_report(raw)
    assert isinstance(parsed, NotAReport) and "disposition-notification" in parsed.reason


@pytest.mark.parametrize(
    ("action", "status", "kind"),
    [
        ("failed", "5.1.1", FeedbackKind.HARD_BOUNCE),
        ("failed", "5.4.4", FeedbackKind.HARD_BOUNCE),
        ("Failed", "4.4.7", FeedbackKind.SOFT_BOUNCE),
        ("failed", "5.7.1", FeedbackKind.SOFT_BOUNCE),
        ("failed", "5.2.2", FeedbackKind.SOFT_BOUNCE),
        ("delayed", "4.2.2", FeedbackKind.SOFT_BOUNCE),
        ("delivered", "2.0.0", None),
        ("relayed", "2.0.0", None),
    ],
)
def test_classify(action: str, status: str, kind: FeedbackKind | None) -> None:
    assert classify(action, status) is kind


def test_status_code_from_a_diagnostic_when_status_is_missing() -> None:
    assert status_code(None, "smtp; 550 5.1.1 unknown user") == "5.1.1"
    assert status_code(None, "smtp; 550 mailbox unavailable") == "5.0.0"
    assert status_code(None, "no code here") is None
