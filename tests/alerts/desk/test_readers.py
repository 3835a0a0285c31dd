"""The desk's readers as plain functions, on both databases: the list by keyset with its
filters, a reader's record from the ledger, and the editor's actions with their audit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.desk.readers import (
    ReaderFilter,
    erase_reader,
    lift_reader_suppression,
    list_readers,
    reader_record,
    unsubscribe_reader,
)
from alerts.errors import BadInput, NotFound
from alerts.models import AuditEvent, Click, Delivery, DeliveryStatus, FeedbackEvent, FeedbackKind
from subscribers.lifecycle import Preferences, SignupResult, request_subscription
from subscribers.models import ConsentEvent, ConsentKind, Frequency, Subscriber, SubscriberStatus
from subscribers.services import Origin, is_suppressed, suppress
from tests.support.builders import HASH_KEY, reader

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EDITOR = "user:editor@newsroom.example.com"


def _readers(session: Session, count: int) -> list[Subscriber]:
    made = [
        reader(
            session, f"reader{number:02d}@example.com", topics=("climate",) if number % 2 else ()
        )
        for number in range(count)
    ]
    session.commit()
    return made


def test_pages_go_newest_first_and_back_without_gaps_or_repeats(session: Session) -> None:
    made = _readers(session, 7)
    newest_first = [subscriber.id for subscriber in reversed(made)]
    first = list_readers(session, ReaderFilter(), limit=3)
    assert [row.id for row in first.rows] == newest_first[:3]
    assert first.newer is None and first.older == newest_first[2]
    second = list_readers(session, ReaderFilter(), after=first.older, limit=3)
    assert [row.id for row in second.rows] == newest_first[3:6]
    third = list_readers(session, ReaderFilter(), after=second.older, limit=3)
    assert [row.id for row in third.rows] == newest_first[6:]
    assert third.older is None and third.newer == newest_first[6]
    back = list_readers(session, ReaderFilter(), before=third.newer, limit=3)
    assert [row.id for row in back.rows] == newest_first[3:6]
    assert back.newer == newest_first[3] and back.older == newest_first[5]
    top = list_readers(session, ReaderFilter(), before=back.newer, limit=3)
    assert [row.id for row in top.rows] == newest_first[:3] and top.newer is None


def test_filters_by_status_topic_and_the_start_of_the_address(session: Session) -> None:
    made = _readers(session, 6)
    reader(session, "r_x%@example.com", confirmed=False)
    session.commit()
    made[0].status = SubscriberStatus.UNSUBSCRIBED
    session.commit()

    pending = list_readers(session, ReaderFilter(status=SubscriberStatus.PENDING))
    assert [row.email for row in pending.rows] == ["r_x%@example.com"]
    climate = list_readers(session, ReaderFilter(topic="climate"))
    assert [row.email for row in climate.rows] == [f"reader0{n}@example.com" for n in (5, 3, 1)]
    assert climate.rows[0].topics == ["Climate"]
    # LIKE's wildcards in a search are only characters.
    assert [row.email for row in list_readers(session, ReaderFilter(search="R_X%")).rows] == [
        "r_x%@example.com"
    ]
    assert list_readers(session, ReaderFilter(search="r%")).rows == []
    assert [row.email for row in list_readers(session, ReaderFilter(search="reader00")).rows] == [
        "reader00@example.com"
    ]
    with pytest.raises(NotFound):
        list_readers(session, ReaderFilter(topic="no-such-topic"))


def _delivery(session: Session, subscriber: Subscriber, day: int, **fields: object) -> Delivery:
    delivery = Delivery(
        edition="morning",
        subscriber_id=subscriber.id,
        local_date=date(2026, 12, day),
        article_ids=[],
        **fields,
    )
    session.add(delivery)
    session.flush()
    return delivery


def test_a_readers_record_shows_consent_deliveries_clicks_and_bounces(session: Session) -> None:
    ada = reader(session, "ada@example.com", topics=("climate",))
    sent = _delivery(session, ada, 5, status=DeliveryStatus.SENT, sent_at=NOW,
                     smtp_reply="250 2.0.0 queued as 1A")  # fmt: skip
    failed = _delivery(session, ada, 6, status=DeliveryStatus.FAILED, attempts=3,
                       smtp_reply="421 try later", last_error="550 5.1.1 no such user")  # fmt: skip
    session.add_all(
        [Click(delivery_id=sent.id, position=1), Click(delivery_id=sent.id, position=2)]
    )
    session.add(FeedbackEvent(report_key="r1", delivery_id=failed.id, subscriber_id=ada.id,
                              kind=FeedbackKind.HARD_BOUNCE, source="dsn", status_code="5.1.1",
                              detail="no such user", occurred_at=NOW))  # fmt: skip
    session.commit()

    record = reader_record(session, ada.id, hash_key=HASH_KEY)
    assert [item.local_date.day for item in record.deliveries] == [6, 5]
    newest, oldest = record.deliveries
    assert (newest.status, newest.reply, newest.attempts) == (
        DeliveryStatus.FAILED,
        "550 5.1.1 no such user",
        3,
    )
    assert (oldest.reply, oldest.clicks) == ("250 2.0.0 queued as 1A", 2)
    assert [event.kind for event in record.consents] == [ConsentKind.IMPORT]
    assert [event.kind for event in record.feedback] == [FeedbackKind.HARD_BOUNCE]
    assert record.suppressed is False
    older = reader_record(session, ada.id, hash_key=HASH_KEY, deliveries_before=failed.id)
    assert [item.id for item in older.deliveries] == [sent.id]

    [row] = list_readers(session, ReaderFilter()).rows
    assert (row.last_sent, row.bounces, row.complaints) == (NOW, 1, 0)
    with pytest.raises(NotFound):
        reader_record(session, ada.id + 1000, hash_key=HASH_KEY)


def _audit(session: Session) -> list[tuple[str, str | None, dict[str, object]]]:
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    return [(event.action, event.target, event.details) for event in events]


def test_unsubscribing_and_erasing_are_audited_and_consented(session: Session) -> None:
    ada, bo = reader(session, "ada@example.com"), reader(session, "bo@example.com")
    session.commit()
    assert unsubscribe_reader(session, ada, actor=EDITOR, now=NOW) is True
    assert unsubscribe_reader(session, ada, actor=EDITOR, now=NOW) is False
    bo_id = bo.id
    erase_reader(session, bo, actor=EDITOR, hash_key=HASH_KEY, now=NOW)
    session.commit()

    assert ada.status is SubscriberStatus.UNSUBSCRIBED
    [left] = session.scalars(
        select(ConsentEvent).where(ConsentEvent.kind == ConsentKind.UNSUBSCRIBE)
    )
    assert (left.subscriber_id, left.source, left.details) == (ada.id, "desk", {"staff": EDITOR})
    assert session.get(Subscriber, bo_id) is None
    assert is_suppressed(session, "bo@example.com", hash_key=HASH_KEY)
    assert _audit(session) == [
        ("reader.unsubscribe", f"reader/{ada.id}", {}),
        ("reader.erase", f"reader/{bo_id}", {"email": "b***@example.com"}),
    ]


def test_lifting_a_suppression_lets_a_bounced_reader_sign_up_again(session: Session) -> None:
    cy = reader(session, "cy@example.com")
    cy.status = SubscriberStatus.BOUNCED
    suppress(session, "cy@example.com", reason="hard_bounce", hash_key=HASH_KEY)
    session.commit()
    wanted = Preferences(topics=(), frequency=Frequency.DAILY, timezone="UTC", hour=7)

    def sign_up() -> SignupResult:
        signup = request_subscription(
            session, email="cy@example.com", preferences=wanted, origin=Origin("form"),
            hash_key=HASH_KEY, now=NOW,
        )  # fmt: skip
        return signup.result

    assert sign_up() is SignupResult.NOTHING
    with pytest.raises(BadInput):
        lift_reader_suppression(session, "cy@example.com", reason="  ", actor=EDITOR,
                                hash_key=HASH_KEY, now=NOW)  # fmt: skip
    assert lift_reader_suppression(session, "CY@example.com", reason="asked by phone, ticket 12",
                                   actor=EDITOR, hash_key=HASH_KEY, now=NOW)  # fmt: skip
    assert cy.status is SubscriberStatus.UNSUBSCRIBED
    assert not is_suppressed(session, "cy@example.com", hash_key=HASH_KEY)
    assert sign_up() is SignupResult.CONFIRM
    assert lift_reader_suppression(session, "cy@example.com", reason="again", actor=EDITOR,
                                   hash_key=HASH_KEY, now=NOW) is False  # fmt: skip
    session.commit()
    assert _audit(session) == [
        ("suppression.lift", f"reader/{cy.id}",
         {"email": "c***@example.com", "reason": "asked by phone, ticket 12"}),
    ]  # fmt: skip


def test_an_erased_address_can_be_lifted_by_address_alone(session: Session) -> None:
    suppress(session, "gone@example.com", reason="erased", hash_key=HASH_KEY)
    session.commit()
    assert lift_reader_suppression(session, "gone@example.com", reason="came back", actor=EDITOR,
                                   hash_key=HASH_KEY, now=NOW)  # fmt: skip
    assert _audit(session)[0][:2] == ("suppression.lift", None)
