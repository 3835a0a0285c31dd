from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from subscribers.errors import InvalidEmail, InvalidPreference
from subscribers.models import ConsentEvent, ConsentKind, SubscriberStatus
from subscribers.services import (
    AlreadySubscribed,
    Origin,
    Suppressed,
    add_subscriber,
    suppress,
)

KEY = "hash-key"


def test_add_subscriber_normalises_and_records_consent(session: Session) -> None:
    reader = add_subscriber(
        session,
        email="  Ada.Lindqvist@Example.COM ",
        origin=Origin(source="form", ip_address="192.0.2.1"),
        hash_key=KEY,
        topics=["Business", "Climate Talks"],
        timezone="Europe/Paris",
        send_hour="6",
    )
    session.commit()
    assert reader.email == "ada.lindqvist@example.com"
    assert reader.status is SubscriberStatus.PENDING
    assert reader.topic_slugs == ["business", "climate-talks"]
    assert (reader.timezone, reader.send_hour) == ("Europe/Paris", 6)
    event = session.query(ConsentEvent).one()
    assert (event.kind, event.subscriber_id, event.ip_address) == (
        ConsentKind.SUBSCRIBE,
        reader.id,
        "192.0.2.1",
    )


def test_same_address_in_other_case_is_the_same_reader(session: Session) -> None:
    add_subscriber(session, email="bo@example.com", origin=Origin("form"), hash_key=KEY)
    with pytest.raises(AlreadySubscribed):
        add_subscriber(session, email="BO@example.com", origin=Origin("form"), hash_key=KEY)


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b.test\r\nBcc: c@d.test",
        "a@b.test\nBcc: c@d.test",
        "Ada <ada@example.com>",
        "x" * 250 + "@example.com",
        "tab\tchar@example.com",
        "",
    ],
)
def test_invalid_addresses_are_refused(session: Session, address: str) -> None:
    with pytest.raises(InvalidEmail):
        add_subscriber(session, email=address, origin=Origin("form"), hash_key=KEY)


@pytest.mark.parametrize(
    ("field", "value"), [("timezone", "Mars/Olympus"), ("send_hour", "24"), ("send_hour", "seven")]
)
def test_invalid_preferences_are_refused(session: Session, field: str, value: str) -> None:
    with pytest.raises(InvalidPreference):
        add_subscriber(
            session, email="cy@example.com", origin=Origin("form"), hash_key=KEY, **{field: value}
        )


def test_suppressed_address_cannot_subscribe_again(session: Session) -> None:
    suppress(session, "Dee@Example.com", reason="erased", hash_key=KEY)
    with pytest.raises(Suppressed):
        add_subscriber(session, email="dee@example.com", origin=Origin("form"), hash_key=KEY)
