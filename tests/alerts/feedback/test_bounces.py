"""Bounce and complaint policy on a real database, fed with DSN and ARF samples.

The samples in tests/fixtures/bounces are written the way Postfix, Exchange and a mailbox
provider's feedback loop write them; `%%NAME%%` markers are filled in per test with the
delivery's VERP address, Message-ID and reader. Their `X-Newsalerts-Delivery` header is the
bare delivery id our messages once carried: a forger can still write it, so the samples
keep it to show it proves nothing. Other bounce tests import the builders.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.feedback import Outcome, process_message
from alerts.ledger.message_ids import message_id_for
from alerts.mail.verp import verp_address
from alerts.models import Cadence, Delivery, DeliveryStatus, FeedbackEvent, FeedbackKind
from subscribers.lifecycle import unsubscribe
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from subscribers.services import Origin, is_suppressed
from tests.factories import make_reader, utc

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bounces"
SECRET = "bounce-test-secret-0123456789abcdef"
DOMAIN = "bounces.example.com"
SENT = utc(2026, 1, 5, 12)


def sent_delivery(session: Session, reader: Subscriber, *, sent_at: datetime = SENT) -> Delivery:
    """A ledger row whose digest went out at `sent_at` (its Message-ID: `message_id_of`)."""
    delivery = Delivery(
        edition=Cadence.DAILY,
        subscriber_id=reader.id,
        local_date=sent_at.date(),
        article_ids=[],
        status=DeliveryStatus.SENT,
        attempts=1,
        sent_at=sent_at,
        created_at=sent_at,
    )
    session.add(delivery)
    session.flush()
    return delivery


def message_id_of(delivery: Delivery, *, secret: str = SECRET) -> str:
    """The Message-ID the composer gave the row's digest."""
    return message_id_for(
        kind="digest",
        delivery_id=delivery.id,
        local_date=delivery.local_date,
        domain="example.com",
        secret=secret,
    )


def sample(
    name: str,
    delivery: Delivery | None = None,
    *,
    verp: str | None = None,
    recipient: str | None = None,
    message_id: str | None = None,
    delivery_header: str | None = None,
    when: datetime = SENT + timedelta(minutes=5),
) -> bytes:
    """A sample message about `delivery`, any marker overridable (to forge or mismatch)."""
    values = {
        "VERP": verp
        or (
            verp_address(delivery.id, secret=SECRET, domain=DOMAIN)
            if delivery
            else "bounces@example.com"
        ),
        "RECIPIENT": recipient
        or (delivery.subscriber.email if delivery else "nobody@example.test"),
        "MESSAGE_ID": message_id
        or (message_id_of(delivery) if delivery else None)
        or "<none@example.com>",
        "DELIVERY": delivery_header or (str(delivery.id) if delivery else "0"),
        "REPORT_ID": f"<{secrets.token_hex(8)}@mx1.example.com>",
        "DATE": when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }
    text = (FIXTURES / name).read_text()
    for marker, value in values.items():
        text = text.replace(f"%%{marker}%%", value)
    return text.encode()


def process(session: Session, raw: bytes, now: datetime = SENT + timedelta(hours=1)) -> Outcome:
    result = process_message(session, raw, secret=SECRET, now=now)
    session.commit()
    return result.outcome


def events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FeedbackEvent)) or 0


def suppressions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Suppression)) or 0


def test_a_hard_bounce_suppresses_the_reader_at_once(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    result = process_message(
        session,
        sample("dsn-hard-bounce.eml", delivery),
        secret=SECRET,
        now=SENT + timedelta(hours=1),
    )
    session.commit()

    assert (result.outcome, result.kind, result.delivery_id) == (
        Outcome.SUPPRESSED,
        FeedbackKind.HARD_BOUNCE,
        delivery.id,
    )
    session.expire_all()
    assert reader.status is SubscriberStatus.BOUNCED
    assert is_suppressed(session, "ada@example.com", hash_key=SECRET)
    # The relay had accepted it: a bounce, not a failed send (never offered for a retry).
    assert delivery.status is DeliveryStatus.BOUNCED
    assert delivery.last_error is not None and "5.1.1" in delivery.last_error


def test_the_same_bounce_twice_changes_nothing_more(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = sample("dsn-hard-bounce.eml", delivery)
    assert process(session, raw) is Outcome.SUPPRESSED
    changed_at = reader.status_changed_at

    assert process(session, raw, now=SENT + timedelta(days=2)) is Outcome.DUPLICATE

    session.expire_all()
    assert (events(session), suppressions(session)) == (1, 1)
    assert reader.status_changed_at == changed_at


def test_three_soft_bounces_within_fourteen_days_suppress(session: Session) -> None:
    reader = make_reader(session, "ada")
    outcomes = []
    for day in (0, 6, 12):
        delivery = sent_delivery(session, reader, sent_at=SENT + timedelta(days=day))
        when = SENT + timedelta(days=day, hours=4)
        outcomes.append(process(session, sample("dsn-soft-bounce.eml", delivery, when=when), when))
        session.expire_all()
        if day < 12:
            assert reader.status is SubscriberStatus.ACTIVE
            assert delivery.status is DeliveryStatus.SENT  # a delay is not a failure

    assert outcomes == [Outcome.RECORDED, Outcome.RECORDED, Outcome.SUPPRESSED]
    assert reader.status is SubscriberStatus.BOUNCED
    assert is_suppressed(session, "ada@example.com", hash_key=SECRET)


def test_three_soft_bounces_spread_over_twenty_days_do_not_suppress(session: Session) -> None:
    reader = make_reader(session, "ada")
    for day in (0, 10, 20):
        delivery = sent_delivery(session, reader, sent_at=SENT + timedelta(days=day))
        when = SENT + timedelta(days=day, hours=4)
        assert (
            process(session, sample("dsn-soft-bounce.eml", delivery, when=when), when)
            is Outcome.RECORDED
        )

    session.expire_all()
    assert reader.status is SubscriberStatus.ACTIVE
    assert (events(session), suppressions(session)) == (3, 0)


def test_soft_bounces_read_late_count_by_when_they_happened(session: Session) -> None:
    """A Maildir read once, weeks later: days 0, 10, 20 are no three within 14 days,
    whatever the order; days 0, 5, 10 are, even processed newest first."""
    late = SENT + timedelta(days=40)
    spread = make_reader(session, "spread")
    for day in (20, 0, 10):
        delivery = sent_delivery(session, spread, sent_at=SENT + timedelta(days=day))
        process(
            session,
            sample("dsn-soft-bounce.eml", delivery, when=SENT + timedelta(days=day, hours=1)),
            late,
        )
    close = make_reader(session, "close")
    for day in (10, 0, 5):
        delivery = sent_delivery(session, close, sent_at=SENT + timedelta(days=day))
        outcome = process(
            session,
            sample("dsn-soft-bounce.eml", delivery, when=SENT + timedelta(days=day, hours=1)),
            late,
        )

    session.expire_all()
    assert spread.status is SubscriberStatus.ACTIVE
    assert outcome is Outcome.SUPPRESSED and close.status is SubscriberStatus.BOUNCED


def test_delay_warnings_about_one_message_count_as_one_soft_bounce(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    for hours in (4, 24, 48):
        when = SENT + timedelta(hours=hours)
        assert (
            process(session, sample("dsn-soft-bounce.eml", delivery, when=when), when)
            is Outcome.RECORDED
        )

    session.expire_all()
    assert reader.status is SubscriberStatus.ACTIVE and events(session) == 3


def test_a_complaint_suppresses_and_marks_the_reader_complained(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    assert process(session, sample("arf-complaint.eml", delivery)) is Outcome.SUPPRESSED

    session.expire_all()
    assert reader.status is SubscriberStatus.COMPLAINED
    assert is_suppressed(session, "ada@example.com", hash_key=SECRET)
    assert delivery.status is DeliveryStatus.SENT  # it arrived; the reader called it spam
    assert delivery.last_error is not None and "complaint" in delivery.last_error


def test_a_complaint_from_a_reader_who_left_keeps_the_unsubscribe(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    unsubscribe(session, reader, origin=Origin("test"), now=SENT + timedelta(minutes=1))

    assert process(session, sample("arf-complaint.eml", delivery)) is Outcome.SUPPRESSED

    session.expire_all()
    assert reader.status is SubscriberStatus.UNSUBSCRIBED
    assert is_suppressed(session, "ada@example.com", hash_key=SECRET)


def test_a_forged_verp_address_changes_nothing(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    forged = verp_address(delivery.id, secret="someone-else's-secret", domain=DOMAIN)

    result = process_message(
        session, sample("dsn-hard-bounce.eml", delivery, verp=forged), secret=SECRET, now=SENT
    )
    session.commit()

    assert result.outcome is Outcome.IGNORED and "forged" in result.reason
    session.expire_all()
    assert reader.status is SubscriberStatus.ACTIVE and delivery.status is DeliveryStatus.SENT
    assert (events(session), suppressions(session)) == (0, 0)


def test_a_message_that_is_no_report_changes_nothing(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    result = process_message(session, sample("auto-reply.eml", delivery), secret=SECRET, now=SENT)

    assert result.outcome is Outcome.IGNORED and "not a delivery status" in result.reason
    assert (events(session), suppressions(session)) == (0, 0)


def test_a_bounce_found_by_message_id_alone(session: Session) -> None:
    """Exchange answers to the From address, not the Return-Path: no VERP to go by."""
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)

    result = process_message(
        session, sample("dsn-exchange.eml", delivery), secret=SECRET, now=SENT + timedelta(hours=1)
    )

    session.commit()
    assert (result.outcome, result.delivery_id) == (Outcome.SUPPRESSED, delivery.id)
    session.expire_all()
    assert reader.status is SubscriberStatus.BOUNCED


def test_a_bounce_for_a_message_id_we_never_sent_changes_nothing(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = sample(
        "dsn-exchange.eml",
        delivery,
        message_id="<digest.1.ffffffffffffffff@example.com>",
        delivery_header="none",
    )

    result = process_message(session, raw, secret=SECRET, now=SENT)

    assert result.outcome is Outcome.IGNORED and "no delivery we sent" in result.reason
    assert reader.status is SubscriberStatus.ACTIVE and events(session) == 0


@pytest.mark.parametrize("name", ["dsn-hard-bounce.eml", "arf-complaint.eml"])
def test_a_forged_report_naming_a_delivery_id_and_its_reader_suppresses_no_one(
    session: Session, name: str
) -> None:
    """The attack: an unsigned report to plain `bounces@`, with no VERP address and no
    Message-ID we sent, naming a reader's address and a delivery id, which are sequential.
    Every part of it can be written by anyone, so it must change nothing."""
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    plain = f"bounces@{DOMAIN}"
    forged = sample(
        name,
        delivery,
        verp=plain,
        message_id="<made-up@example.com>",
        recipient=reader.email,
        delivery_header=str(delivery.id),
    )

    result = process_message(
        session, forged, secret=SECRET, now=SENT + timedelta(hours=1), envelope_recipient=plain
    )
    session.commit()

    assert result.outcome is Outcome.IGNORED and "no delivery we sent" in result.reason
    session.expire_all()
    assert reader.status is SubscriberStatus.ACTIVE and delivery.status is DeliveryStatus.SENT
    assert not is_suppressed(session, reader.email, hash_key=SECRET)
    assert (events(session), suppressions(session)) == (0, 0)


@pytest.mark.parametrize("proof", ["verp", "message-id"])
def test_a_report_with_one_proof_we_issued_still_suppresses(session: Session, proof: str) -> None:
    """Either the signed return path or the Message-ID is enough on its own."""
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = (
        sample("dsn-hard-bounce.eml", delivery, message_id="<made-up@example.com>")
        if proof == "verp"
        else sample("dsn-hard-bounce.eml", delivery, verp=f"bounces@{DOMAIN}")
    )

    result = process_message(session, raw, secret=SECRET, now=SENT + timedelta(hours=1))
    session.commit()

    assert (result.outcome, result.delivery_id) == (Outcome.SUPPRESSED, delivery.id)
    session.expire_all()
    assert reader.status is SubscriberStatus.BOUNCED


def test_a_verp_address_naming_no_delivery_changes_nothing(session: Session) -> None:
    make_reader(session, "ada")
    ghost = verp_address(999_999, secret=SECRET, domain=DOMAIN)
    raw = sample("dsn-hard-bounce.eml", verp=ghost, recipient="ada@example.com")

    result = process_message(session, raw, secret=SECRET, now=SENT)

    assert result.outcome is Outcome.IGNORED and "no delivery" in result.reason
    assert suppressions(session) == 0


def test_a_success_notification_is_not_a_bounce(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = (
        sample("dsn-hard-bounce.eml", delivery)
        .replace(b"Action: failed", b"Action: delivered")
        .replace(b"Status: 5.1.1", b"Status: 2.0.0")
    )

    result = process_message(session, raw, secret=SECRET, now=SENT)

    assert result.outcome is Outcome.IGNORED and events(session) == 0


def test_a_policy_block_is_a_soft_bounce(session: Session) -> None:
    """5.7.x says the receiver dislikes us, not that the address is dead."""
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = sample("dsn-hard-bounce.eml", delivery).replace(b"Status: 5.1.1", b"Status: 5.7.1")

    result = process_message(session, raw, secret=SECRET, now=SENT + timedelta(hours=1))

    assert (result.outcome, result.kind) == (Outcome.RECORDED, FeedbackKind.SOFT_BOUNCE)
    assert reader.status is SubscriberStatus.ACTIVE


def test_feedback_of_another_type_than_abuse_is_ignored(session: Session) -> None:
    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    raw = sample("arf-complaint.eml", delivery).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )

    result = process_message(session, raw, secret=SECRET, now=SENT)

    assert result.outcome is Outcome.IGNORED and "not-spam" in result.reason
    assert reader.status is SubscriberStatus.ACTIVE


def test_erasing_a_reader_takes_their_bounce_records_along(session: Session) -> None:
    from subscribers.lifecycle import erase

    reader = make_reader(session, "ada")
    delivery = sent_delivery(session, reader)
    process(session, sample("dsn-soft-bounce.eml", delivery))
    assert events(session) == 1

    erase(session, reader, hash_key=SECRET, origin=Origin("test"))
    session.commit()

    assert events(session) == 0
