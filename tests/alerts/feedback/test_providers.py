"""Provider events on a real database: only a Message-ID we issued ties one to a delivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from alerts.feedback import FeedbackReport, Outcome, apply_report
from alerts.feedback.providers import mailgun_reports, postmark_reports, sendgrid_reports
from alerts.models import Delivery
from subscribers.models import SubscriberStatus
from tests.alerts.feedback.test_bounces import (
    SECRET,
    SENT,
    events,
    message_id_of,
    sent_delivery,
)
from tests.factories import make_reader


def postmark(delivery: Delivery, message_id: str | None) -> list[Any]:
    event = {
        "RecordType": "Bounce", "ID": delivery.id, "Type": "HardBounce",
        "Email": delivery.subscriber.email,
        "Metadata": {"newsalerts_delivery": str(delivery.id)},
        "Content": f"X-Newsalerts-Delivery: {delivery.id}\r\n"
        + (f"Message-ID: {message_id}\r\n" if message_id else ""),
        "Details": "smtp;550 5.1.1 The email account does not exist.",
    }  # fmt: skip
    return postmark_reports(event)


def sendgrid(delivery: Delivery, message_id: str | None) -> list[Any]:
    event = {
        "event": "spamreport", "email": delivery.subscriber.email, "sg_event_id": "sg-1",
        "newsalerts_delivery": str(delivery.id), "newsalerts-delivery": str(delivery.id),
    }  # fmt: skip
    if message_id:
        event["smtp-id"] = message_id
    return sendgrid_reports([event])


def mailgun(delivery: Delivery, message_id: str | None) -> list[Any]:
    data = {
        "event": "failed", "severity": "permanent", "id": "mg-1",
        "recipient": delivery.subscriber.email,
        "user-variables": {"newsalerts_delivery": str(delivery.id)},
        "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"},
        "message": {"headers": {"message-id": message_id.strip("<>")} if message_id else {}},
    }  # fmt: skip
    return mailgun_reports({"event-data": data})


PROVIDERS = {"postmark": postmark, "sendgrid": sendgrid, "mailgun": mailgun}


def apply(session: Session, reports: list[Any]) -> Outcome:
    (report,) = reports
    assert isinstance(report, FeedbackReport), report
    result = apply_report(session, report, secret=SECRET, now=SENT + timedelta(hours=1))
    session.commit()
    return result.outcome


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_an_event_naming_only_a_delivery_id_and_its_reader_suppresses_no_one(
    session: Session, provider: str
) -> None:
    """Metadata and headers holding a bare delivery id are sequential numbers anyone can
    write; a leaked webhook credential must not become a way to suppress any reader."""
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    outcome = apply(session, PROVIDERS[provider](delivery, None))

    assert outcome is Outcome.IGNORED
    session.expire_all()
    assert reader.status is SubscriberStatus.ACTIVE and events(session) == 0


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_an_event_naming_our_message_id_suppresses(session: Session, provider: str) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    outcome = apply(session, PROVIDERS[provider](delivery, message_id_of(delivery)))

    assert outcome is Outcome.SUPPRESSED
    session.expire_all()
    assert reader.status is not SubscriberStatus.ACTIVE and events(session) == 1
