"""A row's Message-ID is derived from the row and proves itself: its round trip, forgeries
refused, and the stored Message-IDs of rows sent before revision 0028 (both backends)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from alerts.ledger.message_ids import (
    MAC_DIGITS,
    delivery_named_by,
    message_id_for,
    named_delivery_id,
)
from alerts.models import Delivery, DeliveryStatus, legacy_message_ids
from tests.support.builders import reader

SECRET = "message-id-test-secret-0123456789abcdef"
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 7, tzinfo=UTC)


def _sent(session: Session, name: str, local_date: date = DAY) -> Delivery:
    subscriber = reader(session, f"{name}@example.com")
    session.flush()
    delivery = Delivery(
        edition="daily", subscriber_id=subscriber.id, local_date=local_date,
        status=DeliveryStatus.SENT, attempts=1, created_at=AT, sent_at=AT,
    )  # fmt: skip
    session.add(delivery)
    session.flush()
    return delivery


def _of(delivery: Delivery, *, kind: str = "digest", secret: str = SECRET) -> str:
    return message_id_for(kind=kind, delivery_id=delivery.id, local_date=delivery.local_date,
                          domain="news.example.com", secret=secret)  # fmt: skip


def test_a_message_id_names_its_row_and_nothing_is_stored(session: Session) -> None:
    ada = _sent(session, "ada")
    message_id = _of(ada)

    local, _, domain = message_id.strip("<>").partition("@")
    kind, number, mac = local.split(".")
    assert (kind, int(number), len(mac), domain) == ("digest", ada.id, MAC_DIGITS,
                                                     "news.example.com")  # fmt: skip
    assert message_id == _of(ada)  # every attempt sends the same one
    assert delivery_named_by(session, message_id, secret=SECRET) is ada
    # Reports quote it with or without brackets, in any case, with spaces around.
    assert delivery_named_by(session, f"  {message_id.strip('<>')} ", secret=SECRET) is ada
    assert delivery_named_by(session, message_id.upper(), secret=SECRET) is ada
    assert "message_id" not in {column["name"] for column in inspect(session.connection())
                                .get_columns("deliveries")}  # fmt: skip


def test_the_kind_follows_the_row_and_the_proof_does_not_depend_on_it(session: Session) -> None:
    ada = _sent(session, "ada")
    alert = _of(ada, kind="alert")
    assert alert.startswith(f"<alert.{ada.id}.")
    assert delivery_named_by(session, alert, secret=SECRET) is ada


def test_forged_message_ids_name_no_row(session: Session) -> None:
    ada = _sent(session, "ada")
    bram = _sent(session, "bram")
    other_day = _sent(session, "cleo", date(2026, 3, 3))
    ours = _of(ada)
    mac = ours.split(".")[2].split("@")[0]

    forgeries = [
        ours.replace(f".{ada.id}.", f".{bram.id}."),  # someone else's id, ada's MAC
        _of(bram, secret="another-secret-0123456789abcdef-another"),  # not our key
        # The right id and key for another date: the MAC covers the date too.
        message_id_for(
            kind="digest",
            delivery_id=other_day.id,
            local_date=DAY,
            domain="news.example.com",
            secret=SECRET,
        ),
        f"<digest.{bram.id}.{'0' * MAC_DIGITS}@news.example.com>",
        f"<digest.{bram.id}.{mac[:-1]}@news.example.com>",  # a MAC cut short
        f"<digest.{bram.id}.{mac}é@news.example.com>",  # not ASCII
        f"<digest.{bram.id + 100}.{mac}@news.example.com>",  # no such row
        f"<{bram.id}@news.example.com>",
        "<made-up@example.com>",
        "",
    ]
    for forged in forgeries:
        assert delivery_named_by(session, forged, secret=SECRET) is None, forged
    assert named_delivery_id(f"<digest.{'9' * 19}.{mac}@news.example.com>") is None


def test_a_row_sent_before_revision_0028_is_found_by_its_stored_message_id(
    session: Session,
) -> None:
    ada = _sent(session, "ada")
    bram = _sent(session, "bram")
    stored = f"<digest.{ada.id}.0123456789abcdef@example.com>"
    session.execute(legacy_message_ids.insert().values(delivery_id=ada.id, message_id=stored))

    assert delivery_named_by(session, stored, secret=SECRET) is ada
    assert delivery_named_by(session, stored.strip("<>"), secret=SECRET) is ada
    # Another random part, or ada's stored one with bram's id, is nobody's.
    assert delivery_named_by(session, stored.replace("0123", "3210"), secret=SECRET) is None
    assert delivery_named_by(
        session, stored.replace(f".{ada.id}.", f".{bram.id}."), secret=SECRET
    ) is None  # fmt: skip
    assert delivery_named_by(session, _of(ada), secret=SECRET) is ada  # and the derived one
